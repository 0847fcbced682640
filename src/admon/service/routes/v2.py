"""The KServe v2 / Open Inference Protocol routes over the model store.

::

    GET  /v2/health/live            GET  /v2/health/ready          GET /v2
    GET  /v2/models/{name}          GET  /v2/models/{name}/ready
    POST /v2/models/{name}/infer
    GET  /v2/models/{name}/versions/{version}   POST .../versions/{version}/infer

``name`` is ``<namespace>:<model>``; without a version the production version is served.
Each route asks :class:`admon.models.serving.ServedModels` and answers its result, or its
error as the protocol's ``{"error": "..."}`` with the error's status. Who may use a model is
decided by the ``access`` dependency before anything else (:mod:`admon.models.serving` has
the rule); ``admon serve`` mounts these routes through :func:`admon.service.app.create_app`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

import admon
from admon.errors import AdmonError
from admon.models.serving import ModelGrant, ServedModels
from admon.models.store import ModelStore


def _error(exc: AdmonError) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=exc.http_status)


def create_router(store: ModelStore | str | None = None, *, access: Callable[..., ModelGrant]) -> APIRouter:
    """The v2 routes over ``store`` (a ModelStore, a root URL, or None for ``ADMON_MODEL_STORE``).

    ``access`` is a FastAPI dependency returning the :class:`~admon.models.serving.ModelGrant`
    of the model named by the path parameter ``name`` for the caller of the request; it runs
    before the request body is read. The service passes
    :func:`admon.service.deps.get_model_grant`.
    """
    served = ServedModels(store)
    router = APIRouter(tags=["v2 inference"])
    granted = Depends(access)  # one dependency object for every model route

    @router.get("/v2/health/live")
    def live() -> dict:
        return {"live": True}

    @router.get("/v2/health/ready")
    def ready() -> dict:
        return {"ready": True}

    @router.get("/v2")
    def server_metadata() -> dict:
        return {"name": "admon", "version": admon.__version__, "extensions": []}

    def metadata(name: str, version: str | None, grant: ModelGrant) -> Any:
        try:
            return served.metadata(served.get(name, version, grant))
        except AdmonError as exc:
            return _error(exc)

    async def infer(name: str, version: str | None, request: Request, grant: ModelGrant) -> Any:
        try:
            # the model first: a caller who may not see it learns nothing from how its body fails
            model = await run_in_threadpool(served.get, name, version, grant)
            body = await request.body()
            return await run_in_threadpool(served.infer, model, body)
        except AdmonError as exc:
            return _error(exc)

    @router.get("/v2/models/{name}")
    def model_metadata(name: str, grant: ModelGrant = granted):
        return metadata(name, None, grant)

    @router.get("/v2/models/{name}/versions/{version}")
    def model_version_metadata(name: str, version: str, grant: ModelGrant = granted):
        return metadata(name, version, grant)

    @router.get("/v2/models/{name}/ready")
    def model_ready(name: str, grant: ModelGrant = granted):
        try:
            served.get(name, None, grant)
        except AdmonError as exc:
            return JSONResponse({"name": name, "ready": False, "error": str(exc)}, status_code=exc.http_status)
        return {"name": name, "ready": True}

    @router.post("/v2/models/{name}/infer")
    async def model_infer(name: str, request: Request, grant: ModelGrant = granted):
        return await infer(name, None, request, grant)

    @router.post("/v2/models/{name}/versions/{version}/infer")
    async def model_version_infer(name: str, version: str, request: Request, grant: ModelGrant = granted):
        return await infer(name, version, request, grant)

    return router
