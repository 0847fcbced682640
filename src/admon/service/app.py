"""The FastAPI application: :func:`create_app` wires settings, database, routers and errors.

Nothing runs at import time; ``admon serve`` calls ``create_app(load_settings())``.
Every error reaches the client through :func:`error_response`, the one place that
turns :class:`~admon.errors.AdmonError` (and request-validation failures) into
HTTP: JSON ``{"detail": "..."}`` under ``/api``, an HTML page elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio.to_thread
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException
from swagger_ui_bundle import swagger_ui_path

import admon
from admon.errors import AdmonError, AuthenticationError, explain_validation
from admon.registry.db import get_engine, session_factory
from admon.registry.repository import public_entity_ids
from admon.runs.runner import Runner
from admon.runs.scheduler import Scheduler
from admon.service.cache import ResponseCache
from admon.service.deps import get_model_grant
from admon.service.routes import alerts, api, overview, queue, thresholds, tokens, ui
from admon.service.routes.v2 import create_router
from admon.settings import Settings, load_settings
from admon.sinks.prometheus import METRICS_TOKEN_NEEDED, exposition, scrape_scope, serves_results

log = logging.getLogger("admon.service")
HERE = Path(__file__).parent
#: Largest request body accepted (bytes); larger ones get 413 before any parsing.
MAX_BODY_BYTES = 1_048_576


def create_app(
    settings: Settings | None = None,
    *,
    scheduler: bool = False,
    max_body_bytes: int = MAX_BODY_BYTES,
    results_cache: int = 512,
    threads: int = 12,
) -> FastAPI:
    """The admon web service for ``settings`` (default: from the environment).

    ``scheduler=True`` runs the embedded scheduler in this process while the app lives;
    ``results_cache`` is how many serialized results responses are kept (0: none);
    ``threads`` is the size of the worker pool sync routes run in.
    """
    settings = settings or load_settings()
    get_engine(settings.database_url)  # fails fast on a bad URL; migrates the schema

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        # Sync routes run in this pool; more threads than database connections only queue
        # on the connection pool (and thrash the GIL) instead of on the thread limiter.
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        stop = _start_scheduler(settings) if scheduler else None
        try:
            yield
        finally:
            if stop is not None:
                stop()

    app = FastAPI(
        title="admon",
        summary="Anomaly detection on monitoring data: projects, entities, runs, results, labels.",
        version=_version(),
        lifespan=lifespan,
        docs_url=None,  # served below from the installed Swagger UI, not from a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.session_factory = session_factory(settings.database_url)
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.state.scheduler_enabled = scheduler
    app.state.results_cache = ResponseCache(results_cache)

    for exc_class in (AdmonError, RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(exc_class, error_response)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)

    app.include_router(api.router)
    app.include_router(alerts.router)
    app.include_router(tokens.router)
    app.include_router(overview.router)
    app.include_router(thresholds.router)
    app.include_router(queue.router)
    app.include_router(ui.router)
    _mount_model_serving(app)
    _mount_offline_docs(app)  # before /static, which would shadow /static/swagger-ui
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        """Run metrics and exported anomaly scores; a private project's entities only for a
        scraper with ADMON_METRICS_TOKEN (see :func:`admon.sinks.prometheus.scrape_scope`)."""
        scope = scrape_scope(settings, request.headers.get("authorization"))
        if scope is None:
            raise AuthenticationError(METRICS_TOKEN_NEEDED)
        with request.app.state.session_factory() as s:  # results and run health come from the registry
            visible = public_entity_ids(s) if scope == "public" else None
            body = exposition(visible, session=s, results=serves_results(settings))
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return app


def _mount_offline_docs(app: FastAPI) -> None:
    """OpenAPI docs at ``/docs`` with Swagger UI's files from the swagger-ui-bundle package, so
    the page works on a machine without internet access, like the rest of the UI."""
    app.mount("/static/swagger-ui", StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title="admon — API",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui/favicon-32x32.png",
        )


#: Environment variable ``admon serve`` passes its options to worker processes in.
SERVE_OPTIONS_ENV = "ADMON_SERVE_OPTIONS"


def create_app_from_env() -> FastAPI:
    """``create_app`` with settings from ``ADMON_*`` and the options of ``admon serve``."""
    options = json.loads(os.environ.get(SERVE_OPTIONS_ENV) or "{}")
    return create_app(load_settings(), **options)


# --- errors -------------------------------------------------------------------------------------


def _request_field(loc: Sequence[object]) -> str:
    """A request error's location without FastAPI's leading ``body``: ``start_ms``, or ``body``."""
    return ".".join(str(p) for p in loc if p != "body") or "body"


def _shown(given: object) -> str:
    """A value from a request as JSON, cut short; a container by its type only."""
    return json.dumps(given)[:80] if isinstance(given, str | int | float | bool | None) else type(given).__name__


def _explain_validation(exc: RequestValidationError) -> tuple[int, str]:
    status = 400 if any(err.get("type") == "json_invalid" for err in exc.errors()) else 422
    return status, explain_validation(exc, "request", name_of=_request_field, show=_shown)


async def error_response(request: Request, exc: Exception) -> Response:
    """The one place where errors become HTTP responses."""
    if isinstance(exc, RequestValidationError):
        status, detail = _explain_validation(exc)
    elif isinstance(exc, AdmonError):
        status, detail = exc.http_status, str(exc)
    elif isinstance(exc, HTTPException | StarletteHTTPException):
        status, detail = exc.status_code, str(exc.detail)
        if status == 404 and detail == "Not Found":
            detail = f"no such path {request.url.path}; the API is described at /docs"
    else:  # pragma: no cover - only registered classes arrive here
        status, detail = 500, "internal error"
    if request.url.path.startswith(("/api", "/v2", "/docs", "/openapi", "/metrics", "/static")):
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)
    if isinstance(exc, AuthenticationError):
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response = RedirectResponse(f"/login?next={quote(here, safe='/')}", status_code=303)  # back to this page
        response.delete_cookie("admon_token")
        return response
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "detail": detail, "viewer": None}, status_code=status
    )


# --- request size -------------------------------------------------------------------------------


class BodyLimit:
    """Answer 413 for a body larger than ``max_bytes``, declared or streamed, before parsing it."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = (f"request body is larger than {self.max_bytes} bytes; "
                   "send less (e.g. fewer annotations per request)")
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await JSONResponse({"detail": message}, status_code=413)(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> dict:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    # FastAPI re-raises HTTPException from body reading; the handler answers 413.
                    raise HTTPException(status_code=413, detail=message)
            return msg

        await self.app(scope, limited_receive, send)


# --- optional parts built elsewhere -------------------------------------------------------------


def _mount_model_serving(app: FastAPI) -> None:
    """Mount the KServe v2 routes (:mod:`admon.service.routes.v2`) over the settings' model store,
    behind the access rule of every endpoint (a private project's model is not found for others)."""
    app.include_router(create_router(app.state.settings.model_store, access=get_model_grant))


def _start_scheduler(settings: Settings):
    """Run the embedded scheduler of :mod:`admon.runs` in a thread; returns its stop function."""
    stop = threading.Event()
    scheduler = Scheduler(Runner(settings))
    thread = threading.Thread(target=scheduler.run_forever, kwargs={"stop": stop},
                              name="admon-scheduler", daemon=True)
    thread.start()
    log.info("embedded scheduler started (poll every %s s)", settings.scheduler_poll_seconds)

    def halt() -> None:
        stop.set()
        thread.join(timeout=30)

    return halt


def _version() -> str:
    return admon.__version__


def html_page(request: Request, name: str, context: dict, status: int = 200) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, name, context, status_code=status)


__all__ = ["create_app", "error_response", "BodyLimit", "PlainTextResponse"]
