"""Serving stored models over the KServe v2 / Open Inference Protocol, and a client for it.

:func:`create_router` returns a FastAPI ``APIRouter`` the service mounts::

    GET  /v2/health/live            GET  /v2/health/ready          GET /v2
    GET  /v2/models/{name}          GET  /v2/models/{name}/ready
    POST /v2/models/{name}/infer
    GET  /v2/models/{name}/versions/{version}   POST .../versions/{version}/infer

A v2 model name is ``<namespace>:<model>`` (``:`` is never part of a store
name, so the split is unambiguous); without a version the production version is
served. The request's inputs are the frame's columns (``BYTES`` group columns,
``INT64`` ``timestamp``, ``FP64`` values with ``null`` for missing); the outputs
are ``raw_score``, ``anomaly_score`` (0-100), ``is_anomaly``, ``severity``,
``threshold`` and ``top_features``, computed by :meth:`TrainedModel.predict`, the
same path scheduled runs use, so both give identical scores.

:class:`V2Client` talks to any such endpoint; :func:`resolve_model` lets an
entity point at one (``inference_model = "http://host:port/v2/models/ns:model"``)
instead of loading its model locally.

Who may use a model. The routes take the access decision from a dependency the service
passes (``create_router(access=...)``, :func:`admon.service.deps.get_model_grant`), with the
rule every admon endpoint keeps (:func:`admon.service.access.can_see_model`):

* a model run by an entity of a **private project** is that project's: only members of its
  egroup (and admins) may use it -- its post-rules hold quantiles of the project's data;
* a model run only by entities of **public projects** is public, like those projects;
* a model **no entity runs** belongs to no project, so no group can vouch for who should see
  it: it is served to authenticated callers (any valid token), never to anonymous ones.

A model the caller may not see is answered exactly as a missing one (404, the same body, on
every route, before the request body is looked at), and no answer lists other models or
shows a store path. An unknown, revoked or expired token is a 401, as everywhere.

Which content is served. A model is loaded only after every artifact hash matched its
manifest *and* the content hash matched the one the registry recorded for it (the check
scheduled runs make, :func:`admon.models.store.recorded_sha256`): the production version
against every entity running the model, an explicit version against the records of that
version. A version re-written in the store (files, manifest and pointer together) is refused
with 409. Content the registry recorded no hash for is served, and its metadata says so in
``parameters.integrity`` ("no recorded hash for ...: content checked against its own manifest
only").

>>> frame_to_v2_inputs(pd.DataFrame({"host": ["a"], "timestamp": [0], "v": [float("nan")]}))
[{'name': 'host', 'datatype': 'BYTES', 'shape': [1], 'data': ['a']}, {'name': 'timestamp', 'datatype': 'INT64', 'shape': [1], 'data': [0]}, {'name': 'v', 'datatype': 'FP64', 'shape': [1], 'data': [None]}]
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from fastapi import Depends, Request  # Request is resolved by name in the route signatures below

from admon.errors import AdmonError, ConfigError, DataError, NotFoundError, PermissionDeniedError

NAME_SEPARATOR = ":"
OUTPUT_TYPES = {
    "raw_score": "FP64",
    "anomaly_score": "FP64",
    "severity": "BYTES",
    "is_anomaly": "BOOL",
    "threshold": "FP64",
    "top_features": "BYTES",
}


# ---------------------------------------------------------------------- encoding
def frame_to_v2_inputs(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One v2 input tensor per column of ``frame`` (shape ``[rows]``)."""
    inputs = []
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_bool_dtype(s):
            dtype, data = "BOOL", [bool(v) for v in s]
        elif pd.api.types.is_integer_dtype(s):
            dtype, data = "INT64", [int(v) for v in s]
        elif pd.api.types.is_float_dtype(s):
            dtype, data = "FP64", [None if not np.isfinite(v) else float(v) for v in s.to_numpy(dtype=float)]
        else:
            dtype, data = "BYTES", [None if pd.isna(v) else str(v) for v in s]
        inputs.append({"name": str(col), "datatype": dtype, "shape": [len(s)], "data": data})
    return inputs


def v2_inputs_to_frame(inputs: list[dict[str, Any]]) -> pd.DataFrame:
    """The frame a v2 request carries (the inverse of :func:`frame_to_v2_inputs`)."""
    if not isinstance(inputs, list) or not inputs:
        raise DataError("a v2 infer request needs 'inputs': one tensor per frame column")
    columns: dict[str, Any] = {}
    length = None
    for tensor in inputs:
        try:
            name, dtype, shape, data = tensor["name"], tensor["datatype"], tensor["shape"], tensor["data"]
        except (KeyError, TypeError):
            raise DataError(f"v2 input {tensor!r} lacks one of name, datatype, shape, data") from None
        n = int(np.prod(shape)) if shape else 0
        if len(data) != n or (len(shape) != 1 and not (len(shape) == 2 and shape[1] == 1)):
            raise DataError(f"input {name!r}: shape {shape} must be [rows] (or [rows, 1]) and match {len(data)} values")
        if length is not None and n != length:
            raise DataError(f"input {name!r} has {n} rows, the others {length}; every column needs the same rows")
        length = n
        if dtype == "FP64" or dtype == "FP32":
            columns[name] = np.array([np.nan if v is None else v for v in data], dtype=float)
        elif dtype in ("INT64", "INT32", "UINT64", "UINT32"):
            columns[name] = np.asarray(data, dtype="int64")
        elif dtype == "BOOL":
            columns[name] = np.asarray(data, dtype=bool)
        elif dtype == "BYTES":
            columns[name] = pd.array(data, dtype="str")
        else:
            raise DataError(f"input {name!r}: datatype {dtype!r} is not supported; use FP64, INT64, BOOL or BYTES")
    return pd.DataFrame(columns)


def _outputs(result: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for name, dtype in OUTPUT_TYPES.items():
        if name not in result.columns:
            continue
        s = result[name]
        if name == "top_features":
            data = [",".join(v) for v in s]
        elif dtype == "FP64":
            data = [float(v) for v in s]
        elif dtype == "BOOL":
            data = [bool(v) for v in s]
        else:
            data = [str(v) for v in s]
        out.append({"name": name, "datatype": dtype, "shape": [len(s)], "data": data})
    return out


def split_name(name: str) -> tuple[str, str]:
    """``"ns:model"`` -> ``("ns", "model")``.

    >>> split_name("admon-dev:xrootd-model")
    ('admon-dev', 'xrootd-model')
    """
    ns, sep, model = name.partition(NAME_SEPARATOR)
    if not sep or not ns or not model:
        raise NotFoundError(f"v2 model name {name!r} must be '<namespace>{NAME_SEPARATOR}<model>', e.g. 'admon-dev:xrootd-model'")
    return ns, model


# ---------------------------------------------------------------------- server
@dataclass(frozen=True)
class ModelGrant:
    """The access decision on one model for one request (what the ``access`` dependency returns).

    ``visible``: whether the caller may see the model at all; if not, it is answered as missing.
    ``recorded``: the ``(model_version, model_sha256)`` the registry recorded on the entities
    running it, which the served content must match (see :func:`~admon.models.store.recorded_sha256`).
    """

    visible: bool
    recorded: tuple[tuple[str | None, str | None], ...] = ()


def model_not_found(name: str) -> NotFoundError:
    """The one answer for a model that is missing *or* hidden from the caller: it names only ``name``."""
    return NotFoundError(
        f"no model {name!r}; the models of the entities you can see are listed at /api/models "
        "(a private project's model needs a token of one of its members)"
    )


class ModelCache:
    """Loaded models by (namespace, model, version, recorded hash); reloaded when production moves
    or the registry records other content."""

    def __init__(self, store_factory: Callable[[], Any]) -> None:
        self._factory = store_factory
        self._store = None
        self._models: dict[tuple[str, str, str, str | None], Any] = {}
        self._lock = threading.Lock()

    @property
    def store(self):
        if self._store is None:
            self._store = self._factory()
        return self._store

    def get(self, name: str, version: str | None, grant: ModelGrant) -> tuple[Any, str | None]:
        """The model ``name`` (version: None for production) and the registry's hash it matched
        (None: none recorded); :func:`model_not_found` for a hidden or missing model."""
        from admon.models.store import recorded_sha256

        ns, model = split_name(name)
        if not grant.visible or not self.store.has_model(ns, model):
            raise model_not_found(name)
        try:
            concrete = self.store.resolve(ns, model, version)
        except NotFoundError:
            if not self.store.has_model(ns, model):  # removed meanwhile; the store's message lists the others
                raise model_not_found(name) from None
            raise  # no such version of a model the caller may see: the store's message says which exist
        expected = recorded_sha256(ns, model, concrete, grant.recorded, production=version in (None, "production"))
        key = (ns, model, concrete, expected)
        with self._lock:
            cached = self._models.get(key)
        if cached is None:
            cached = self.store.load(ns, model, concrete, expected_sha256=expected)
            with self._lock:
                self._models[key] = cached
        return cached, expected


def _integrity(loaded: Any, expected: str | None) -> str:
    from admon.models.store import unrecorded_note

    m = loaded.manifest
    if expected is None:
        return unrecorded_note(m.namespace, m.model, m.version)
    return f"content sha256 {m.content_sha256} matches the hash the registry recorded: verified"


def create_router(store: Any = None, *, access: Callable[..., ModelGrant]) -> Any:
    """The KServe v2 routes over ``store`` (a ModelStore, a root URL, or None for ``ADMON_MODEL_STORE``).

    ``access`` is a FastAPI dependency returning the :class:`ModelGrant` of the model named by
    the path parameter ``name`` for the caller of the request; it runs before the request body
    is read. The service passes :func:`admon.service.deps.get_model_grant` (``admon serve``
    mounts this router through :func:`admon.service.app.create_app`).
    """
    from fastapi import APIRouter
    from fastapi.responses import JSONResponse

    import admon

    def factory():
        from admon.models.store import ModelStore

        return store if hasattr(store, "load") else ModelStore(store)

    cache = ModelCache(factory)
    router = APIRouter(tags=["v2 inference"])
    granted = Depends(access)  # one dependency object for every model route

    def error(exc: AdmonError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.http_status)

    @router.get("/v2/health/live")
    def live() -> dict:
        return {"live": True}

    @router.get("/v2/health/ready")
    def ready() -> dict:
        return {"ready": True}

    @router.get("/v2")
    def server_metadata() -> dict:
        return {"name": "admon", "version": admon.__version__, "extensions": []}

    def metadata(name: str, version: str | None, grant: ModelGrant):
        try:
            loaded, expected = cache.get(name, version, grant)
        except AdmonError as exc:
            return error(exc)
        m = loaded.manifest
        versions = [v.version for v in cache.store.versions(m.namespace, m.model)]
        inputs = [{"name": c, "datatype": "BYTES", "shape": [-1]} for c in m.group_columns]
        inputs.append({"name": "timestamp", "datatype": "INT64", "shape": [-1]})
        inputs += [{"name": c, "datatype": "FP64", "shape": [-1]} for c in m.feature_columns]
        return {
            "name": name,
            "versions": versions,
            "platform": "admon",
            "inputs": inputs,
            "outputs": [{"name": k, "datatype": v, "shape": [-1]} for k, v in OUTPUT_TYPES.items()]
            + [{"name": "contributions", "datatype": "FP64", "shape": [-1, len(m.feature_columns)]}],
            "parameters": {
                "version": m.version,
                "detector": m.detector,
                "lookback": int(getattr(loaded.detector, "lookback", 0)),
                "content_sha256": m.content_sha256,
                "recorded_sha256": expected,
                "integrity": _integrity(loaded, expected),
                "transforms": m.transforms,
                "post_rules": loaded.post_rules.to_dict() if loaded.post_rules is not None else None,
            },
        }

    async def infer(name: str, version: str | None, request: Request, grant: ModelGrant):
        try:
            # the model first: a caller who may not see it learns nothing from how its body fails
            loaded, expected = cache.get(name, version, grant)
            try:
                body = json.loads(await request.body())
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise DataError(f"request body is not JSON: {exc}; send a JSON object with 'inputs'") from None
            if not isinstance(body, dict):
                raise DataError("a v2 infer request is a JSON object with 'inputs'")
            frame = v2_inputs_to_frame(body.get("inputs"))
            result = loaded.predict(frame)
            from admon.detectors.postrules import contributions

            shares = contributions(loaded.detector, frame) if len(frame) else None
        except AdmonError as exc:
            return error(exc)
        wanted = [o.get("name") for o in body.get("outputs") or [] if isinstance(o, dict)]
        outputs = _outputs(result)
        if shares is not None:
            # rows x features, row-major; the feature names are the tensor's parameters
            outputs.append({"name": "contributions", "datatype": "FP64", "shape": list(shares.shape),
                            "data": [float(v) for v in shares.to_numpy().ravel()],
                            "parameters": {"features": list(shares.columns)}})
        if wanted:
            outputs = [o for o in outputs if o["name"] in wanted]
        response = {"model_name": name, "model_version": loaded.manifest.version, "outputs": outputs,
                    "parameters": {"content_sha256": loaded.manifest.content_sha256, "recorded_sha256": expected}}
        if "id" in body:
            response["id"] = body["id"]
        return response

    @router.get("/v2/models/{name}")
    def model_metadata(name: str, grant: ModelGrant = granted):
        return metadata(name, None, grant)

    @router.get("/v2/models/{name}/versions/{version}")
    def model_version_metadata(name: str, version: str, grant: ModelGrant = granted):
        return metadata(name, version, grant)

    @router.get("/v2/models/{name}/ready")
    def model_ready(name: str, grant: ModelGrant = granted):
        try:
            cache.get(name, None, grant)
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


# ---------------------------------------------------------------------- client
class V2Client:
    """A small client for a KServe v2 endpoint (admon's or any compatible server)."""

    def __init__(self, base_url: str, *, timeout: float = 30.0, headers: dict[str, str] | None = None,
                 token: str | None = None) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        headers = dict(headers or {})
        if token:  # an admon API token: a private project's model is served to its members only
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, headers=headers)

    def close(self) -> None:
        self._http.close()

    def _check(self, response) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = {"error": response.text}
        # the v2 routes answer {"error": ...}; the service's own checks (a bad token) {"detail": ...}
        message = body.get("error") or body.get("detail") or body
        if response.status_code == 404:
            raise NotFoundError(f"{self.base_url}: {message}")
        if response.status_code in (401, 403):
            raise PermissionDeniedError(f"{self.base_url} answered {response.status_code}: {message}; "
                                        "give V2Client a valid token (token=...)")
        if response.status_code >= 400:
            raise DataError(f"{self.base_url} answered {response.status_code}: {message}")
        return body

    def live(self) -> bool:
        return bool(self._check(self._http.get("/v2/health/live")).get("live"))

    def metadata(self, name: str) -> dict[str, Any]:
        return self._check(self._http.get(f"/v2/models/{name}"))

    def infer_outputs(self, name: str, frame: pd.DataFrame, *, version: str | None = None) -> dict[str, Any]:
        """The raw v2 output tensors by name (``data`` reshaped to ``shape``, ``parameters`` kept)."""
        path = f"/v2/models/{name}" + (f"/versions/{version}" if version else "") + "/infer"
        body = self._check(self._http.post(path, json={"inputs": frame_to_v2_inputs(frame)}))
        return {t["name"]: t for t in body.get("outputs", [])}

    def infer(self, name: str, frame: pd.DataFrame, *, version: str | None = None) -> pd.DataFrame:
        """Scores of ``frame`` from the remote model, as a frame aligned to ``frame.index``."""
        return _scores_frame(self.infer_outputs(name, frame, version=version), frame.index)


def _scores_frame(tensors: dict[str, Any], index: pd.Index) -> pd.DataFrame:
    out = {}
    for name, tensor in tensors.items():
        if len(tensor.get("shape", [])) != 1:
            continue  # contributions: see _contributions_frame
        data = tensor["data"]
        if name == "top_features":
            data = [d.split(",") if d else [] for d in data]
        out[name] = data
    result = pd.DataFrame(out, index=index)
    for col in ("raw_score", "anomaly_score", "threshold"):
        if col in result:
            result[col] = result[col].astype(float)
    return result


def _contributions_frame(tensors: dict[str, Any], index: pd.Index) -> pd.DataFrame | None:
    t = tensors.get("contributions")
    if t is None:
        return None
    features = t.get("parameters", {}).get("features", [])
    return pd.DataFrame(np.asarray(t["data"], dtype=float).reshape(t["shape"]), index=index, columns=features)


class _RemoteDetector:
    """Scores through the remote endpoint; one request serves score() and feature_scores() of a frame."""

    def __init__(self, model: RemoteModel) -> None:
        self._model = model
        self._last: tuple[str, dict[str, Any]] | None = None
        meta = model.metadata
        self.name = meta.get("parameters", {}).get("detector", "remote")
        #: history the remote model's scores depend on (see Detector.lookback)
        self.lookback = int(meta.get("parameters", {}).get("lookback", 0))
        self.feature_columns_ = [i["name"] for i in meta.get("inputs", []) if i["datatype"] == "FP64"]
        self.group_columns_ = [i["name"] for i in meta.get("inputs", []) if i["datatype"] == "BYTES"]

    def _tensors(self, frame: pd.DataFrame) -> dict[str, Any]:
        import hashlib

        key = hashlib.sha256(json.dumps(frame_to_v2_inputs(frame)).encode()).hexdigest()
        if self._last is None or self._last[0] != key:
            self._last = (key, self._model.client.infer_outputs(self._model.name, frame))
        return self._last[1]

    def score(self, frame: pd.DataFrame) -> pd.Series:
        raw = _scores_frame(self._tensors(frame), frame.index)["raw_score"]
        return pd.Series(raw.to_numpy(dtype=float), index=frame.index, name="anomaly_score")

    def feature_scores(self, frame: pd.DataFrame) -> pd.DataFrame | None:
        """The remote's per-feature shares (contributions sum to 1 per row, as locally)."""
        return _contributions_frame(self._tensors(frame), frame.index)


class RemoteModel:
    """A model served elsewhere over v2, used like a locally loaded :class:`TrainedModel`."""

    def __init__(self, base_url: str, name: str, *, client: V2Client | None = None) -> None:
        from admon.detectors.postrules import PostRules

        self.client = client or V2Client(base_url)
        self.name = name
        self.metadata = self.client.metadata(name)
        params = self.metadata.get("parameters", {})
        rules = params.get("post_rules")
        self.post_rules = PostRules.from_dict(rules) if rules else None
        self.detector = _RemoteDetector(self)
        self.model_id = f"{self.client.base_url}/v2/models/{name}/versions/{params.get('version', '')}"
        self.content_hash = params.get("content_sha256", "")
        self.config = {"name": self.detector.name}

    def predict(self, frame: pd.DataFrame, *, top: int = 3) -> pd.DataFrame:
        """Like :meth:`TrainedModel.predict`, computed by the remote endpoint."""
        out = _scores_frame(self.detector._tensors(frame), frame.index)
        if "top_features" in out:
            shares = _contributions_frame(self.detector._tensors(frame), frame.index)
            if shares is not None:
                from admon.detectors.postrules import top_features

                out["top_features"] = top_features(shares, top=top)
        return out


def resolve_model(namespace: str, model: str, *, store: Any = None, version: str | None = None,
                  expected_sha256: str | None = None):
    """The model an entity names: a remote v2 endpoint if ``model`` is a URL, else the store's.

    ``model = "http://host:8080/v2/models/admon-dev:xrootd-model"`` scores remotely;
    ``model = "xrootd-model"`` loads ``namespace/xrootd-model`` from the model store.
    """
    if model.startswith(("http://", "https://")):
        base, sep, name = model.partition("/v2/models/")
        if not sep or not name:
            raise ConfigError(f"remote model URL {model!r} must look like http://host:port/v2/models/<namespace>:<model>")
        remote = RemoteModel(base, name.strip("/"))
        if expected_sha256 is not None and remote.content_hash != expected_sha256:
            from admon.errors import IntegrityError

            raise IntegrityError(
                f"remote model {model} serves content sha256 {remote.content_hash}, the registry "
                f"recorded {expected_sha256}; refusing to use it. Fix: serve the recorded model again"
            )
        return remote
    from admon.models.store import ModelStore

    st = store if hasattr(store, "load") else ModelStore(store)
    return st.load(namespace, model, version, expected_sha256=expected_sha256)
