"""The Open Inference Protocol (KServe v2) as admon speaks it: tensors, a client, a remote scorer.

A v2 model name is ``<namespace>:<model>`` (``:`` is never part of a store name, so the
split is unambiguous). A request's inputs are the frame's columns (``BYTES`` group
columns, ``INT64`` ``timestamp``, ``FP64`` values with ``null`` for missing); a
response's outputs are the per-row :data:`~admon.models.scoring.SCORE_COLUMNS`
(``top_features`` as comma-joined names) and ``contributions``, rows x features with the
feature names in the tensor's ``parameters``.

:class:`V2Client` talks to any such endpoint (admon's own routes are
:mod:`admon.service.routes.v2`); :class:`RemoteScorer` is a model served there, used as
the :class:`~admon.models.scoring.Scorer` of an entity whose ``inference_model`` is the
model's URL (:func:`admon.models.reference.parse_model_ref`).

>>> frame_to_v2_inputs(pd.DataFrame({"host": ["a"], "timestamp": [0], "v": [float("nan")]}))
[{'name': 'host', 'datatype': 'BYTES', 'shape': [1], 'data': ['a']}, {'name': 'timestamp', 'datatype': 'INT64', 'shape': [1], 'data': [0]}, {'name': 'v', 'datatype': 'FP64', 'shape': [1], 'data': [None]}]
"""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pandas as pd

from admon.detectors.postrules import top_features
from admon.errors import DataError, NotFoundError, PermissionDeniedError
from admon.models.scoring import TOP_FEATURES, Scores

NAME_SEPARATOR = ":"
#: The per-row output tensors and their datatypes, in the order a response lists them.
OUTPUT_TYPES = {
    "raw_score": "FP64",
    "anomaly_score": "FP64",
    "severity": "BYTES",
    "is_anomaly": "BOOL",
    "threshold": "FP64",
    "top_features": "BYTES",
}
#: The rows x features output tensor of each feature's share of a row's score.
CONTRIBUTIONS = "contributions"

Tensor = dict[str, Any]


# ---------------------------------------------------------------------- names
def v2_model_name(namespace: str, model: str) -> str:
    """The v2 name of a stored model.

    >>> v2_model_name("admon-dev", "xrootd-model")
    'admon-dev:xrootd-model'
    """
    return f"{namespace}{NAME_SEPARATOR}{model}"


def split_name(name: str) -> tuple[str, str]:
    """``"ns:model"`` -> ``("ns", "model")``; NotFoundError for a name of another shape.

    >>> split_name("admon-dev:xrootd-model")
    ('admon-dev', 'xrootd-model')
    """
    ns, sep, model = name.partition(NAME_SEPARATOR)
    if not sep or not ns or not model:
        raise NotFoundError(f"v2 model name {name!r} must be '<namespace>{NAME_SEPARATOR}<model>', "
                            "e.g. 'admon-dev:xrootd-model'")
    return ns, model


# ---------------------------------------------------------------------- inputs
def frame_to_v2_inputs(frame: pd.DataFrame) -> list[Tensor]:
    """One v2 input tensor per column of ``frame`` (shape ``[rows]``)."""
    inputs = []
    for col in frame.columns:
        s = frame[col]
        dtype: str
        data: list[Any]
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


def v2_inputs_to_frame(inputs: Any) -> pd.DataFrame:
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


# ---------------------------------------------------------------------- outputs
def scores_to_v2_outputs(scores: Scores) -> list[Tensor]:
    """The output tensors of ``scores``: the per-row columns of :data:`OUTPUT_TYPES` it has, then
    ``contributions`` (rows x features, row-major; the feature names in its ``parameters``)."""
    out: list[Tensor] = []
    rows = scores.rows
    for name, dtype in OUTPUT_TYPES.items():
        if name not in rows.columns:
            continue
        s = rows[name]
        data: list[Any]
        if name == "top_features":
            data = [",".join(v) for v in s]
        elif dtype == "FP64":
            data = [float(v) for v in s]
        elif dtype == "BOOL":
            data = [bool(v) for v in s]
        else:  # a normal row's severity is None: sent as null, not as "None"
            data = [None if v is None else str(v) for v in s]
        out.append({"name": name, "datatype": dtype, "shape": [len(s)], "data": data})
    shares = scores.contributions
    if shares is not None:
        out.append({"name": CONTRIBUTIONS, "datatype": "FP64", "shape": list(shares.shape),
                    "data": [float(v) for v in shares.to_numpy(dtype=float).ravel()],
                    "parameters": {"features": [str(c) for c in shares.columns]}})
    return out


def v2_outputs_to_scores(tensors: dict[str, Tensor], index: pd.Index) -> Scores:
    """The :class:`~admon.models.scoring.Scores` a response's output tensors (by name) carry,
    aligned to ``index`` (the index of the frame that was sent)."""
    rows: dict[str, Any] = {}
    for name, tensor in tensors.items():
        if name == CONTRIBUTIONS:
            continue
        if len(tensor.get("shape", [])) != 1 or len(tensor.get("data", [])) != len(index):
            raise DataError(f"v2 output {name!r} has shape {tensor.get('shape')}; expected [{len(index)}], "
                            "one value per row sent")
        data = tensor["data"]
        if name == "top_features":
            data = [d.split(",") if d else [] for d in data]
        rows[name] = data
    table = pd.DataFrame(rows, index=index)
    if "severity" in table:  # None on normal rows stays None (not NaN of a string column)
        table["severity"] = pd.Series(rows["severity"], index=index, dtype=object)
    for col in ("raw_score", "anomaly_score", "threshold"):
        if col in table:
            table[col] = table[col].astype(float)
    shares = None
    t = tensors.get(CONTRIBUTIONS)
    if t is not None:
        features = t.get("parameters", {}).get("features", [])
        values = np.asarray(t["data"], dtype=float)
        if list(t.get("shape", [])) != [len(index), len(features)] or values.size != len(index) * len(features):
            raise DataError(f"v2 output {CONTRIBUTIONS!r} has shape {t.get('shape')} for {len(features)} "
                            f"features; expected [{len(index)}, {len(features)}]")
        shares = pd.DataFrame(values.reshape(len(index), len(features)), index=index, columns=features)
    return Scores(rows=table, contributions=shares)


# ---------------------------------------------------------------------- client
class V2Client:
    """A small client for a KServe v2 endpoint (admon's or any compatible server).

    ``token``: an admon API token, sent as ``Authorization: Bearer``; a private project's
    model is served to its members only.
    """

    def __init__(self, base_url: str, *, timeout: float = 30.0, headers: dict[str, str] | None = None,
                 token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, headers=headers)

    def close(self) -> None:
        self._http.close()

    def _check(self, response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = {"error": response.text}
        if not isinstance(body, dict):
            body = {"error": body}
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

    @staticmethod
    def _path(name: str, version: str | None) -> str:
        return f"/v2/models/{name}" + (f"/versions/{version}" if version else "")

    def live(self) -> bool:
        return bool(self._check(self._http.get("/v2/health/live")).get("live"))

    def metadata(self, name: str, *, version: str | None = None) -> dict[str, Any]:
        """The model's metadata (``parameters`` hold admon's version, content hash, lookback, ...)."""
        return self._check(self._http.get(self._path(name, version)))

    def infer_outputs(self, name: str, frame: pd.DataFrame, *, version: str | None = None) -> dict[str, Tensor]:
        """The raw v2 output tensors by name."""
        body = self._check(self._http.post(self._path(name, version) + "/infer",
                                           json={"inputs": frame_to_v2_inputs(frame)}))
        return {t["name"]: t for t in body.get("outputs", [])}

    def infer(self, name: str, frame: pd.DataFrame, *, version: str | None = None) -> Scores:
        """The remote model's :class:`~admon.models.scoring.Scores` of ``frame``, aligned to its index."""
        return v2_outputs_to_scores(self.infer_outputs(name, frame, version=version), frame.index)


class RemoteScorer:
    """A model served over v2 elsewhere, as a :class:`~admon.models.scoring.Scorer`.

    Its identity (version, content hash, lookback, detector) comes from the server's model
    metadata, read once by :meth:`connect`; each :meth:`score` is one infer request of that
    version.
    """

    def __init__(self, client: V2Client, name: str, metadata: dict[str, Any]) -> None:
        params = metadata.get("parameters") or {}
        self.client = client
        self.name = name
        self.metadata = metadata
        self._version = str(params.get("version", ""))
        self._content_hash = str(params.get("content_sha256", ""))
        self._lookback = int(params.get("lookback", 0))
        self._detector = str(params.get("detector", "remote"))

    @classmethod
    def connect(cls, base_url: str, name: str, *, version: str | None = None,
                client: V2Client | None = None) -> RemoteScorer:
        """The model ``name`` (``<namespace>:<model>``) of the v2 server at ``base_url``."""
        client = client or V2Client(base_url)
        metadata = client.metadata(name, version=version)
        return cls(client, name, metadata)

    @property
    def model_id(self) -> str:
        return f"{self.client.base_url}/v2/models/{self.name}/versions/{self._version}"

    @property
    def content_hash(self) -> str:
        return self._content_hash

    @property
    def version(self) -> str:
        return self._version

    @property
    def lookback(self) -> int:
        return self._lookback

    @property
    def fit_on_window(self) -> bool:
        return False

    @property
    def config(self) -> dict[str, Any]:
        return {"name": self._detector}

    def score(self, frame: pd.DataFrame, *, top: int = TOP_FEATURES) -> Scores:
        """The server's scores of ``frame``; ``top_features`` from the contributions, ``top`` of them."""
        # the version this scorer was connected to: the content whose hash was checked
        scores = self.client.infer(self.name, frame, version=self._version or None)
        if scores.contributions is None or "top_features" not in scores.rows:
            return scores
        anomalous = scores.rows["is_anomaly"].to_numpy(dtype=bool) if "is_anomaly" in scores.rows else None
        rows = scores.rows.assign(top_features=top_features(scores.contributions, top=top, anomalous=anomalous))
        return Scores(rows=rows, contributions=scores.contributions)
