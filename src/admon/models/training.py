"""Training: the same DataSource and transforms as inference, then fit, validate and store.

Stages, as in the Cloud AD pipeline, each timed and recorded in the manifest:

1. ``data_presence`` -- read ``[start, end)`` (transient read errors are retried)
   and check that there are rows, groups and non-missing values.
2. ``normalisation`` -- per-feature statistics (median, MAD, mean, std, missing share).
3. ``transform`` -- the user's named transforms, exactly as inference applies them.
4. ``train`` -- fit the detector on the earlier part of the window (deep detectors
   checkpoint every epoch and resume after a kill; a progress bar if asked).
5. ``validate`` -- score the held-out later part, calibrate the post-rules on all
   scores, record score statistics and the share flagged at the threshold.

>>> import numpy as np, pandas as pd, tempfile
>>> frame = pd.DataFrame({"host": "h", "timestamp": np.arange(200, dtype="int64") * 300_000,
...                       "v": np.sin(np.arange(200) / 5.0)})
>>> res = train(None, 0, 200 * 300_000, "robust_zscore", namespace="ns", model="m",
...             store=tempfile.mkdtemp(), frame=frame)
>>> res.manifest.version, [s["stage"] for s in res.manifest.stages]
('1', ['data_presence', 'normalisation', 'transform', 'train', 'validate'])
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import admon.detectors as detectors
from admon.config import InputDataConfig
from admon.data.source import DataSource
from admon.detectors.base import Detector
from admon.detectors.postrules import PostRuleChain
from admon.errors import ConfigError, DataError
from admon.models.store import ModelManifest, ModelStore, is_runs_store
from admon.models.transforms import apply_transforms, validate_transforms
from admon.registry.api import record_model
from admon.timeutil import check_window

#: Errors worth retrying when reading the lake (network file systems, object stores).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError, ConnectionError)


@dataclasses.dataclass
class TrainingResult:
    """What :func:`train` produced: the stored manifest, the fitted model and the stage records."""

    manifest: ModelManifest
    detector: Detector
    post_rules: PostRuleChain
    stages: list[dict[str, Any]]
    metrics: dict[str, Any]
    #: Ids of the registry entities whose recorded model content is now this version.
    recorded_entities: list[int] = dataclasses.field(default_factory=list)


def read_with_retry(read: Callable[[], pd.DataFrame], *, attempts: int = 3, backoff_seconds: float = 0.5,
                    sleep: Callable[[float], None] = time.sleep) -> pd.DataFrame:
    """Call ``read()``; retry transient errors (OSError, timeouts) with exponential backoff.

    >>> calls = []
    >>> def flaky():
    ...     calls.append(1)
    ...     if len(calls) < 3:
    ...         raise ConnectionError("lake is busy")
    ...     return "frame"
    >>> read_with_retry(flaky, attempts=3, sleep=lambda s: None), len(calls)
    ('frame', 3)
    """
    if attempts < 1:
        raise ConfigError(f"read attempts must be >= 1, got {attempts}")
    for attempt in range(1, attempts + 1):
        try:
            return read()
        except TRANSIENT_ERRORS as exc:
            if attempt == attempts:
                raise DataError(
                    f"reading the training data failed {attempts} times, last with {type(exc).__name__}: "
                    f"{exc}; check the lake and retry"
                ) from exc
            sleep(backoff_seconds * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


class _Stages:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    @contextmanager
    def stage(self, name: str):
        record: dict[str, Any] = {"stage": name, "status": "running"}
        started = time.perf_counter()
        try:
            yield record
        except BaseException as exc:
            record.update(status="failed", error=f"{type(exc).__name__}: {exc}")
            raise
        else:
            record["status"] = "ok"
        finally:
            record["seconds"] = round(time.perf_counter() - started, 4)
            self.records.append(record)


def normalisation_stats(frame: pd.DataFrame, columns: list[str]) -> dict[str, dict[str, float | None]]:
    """Per-column median, MAD, mean, std and missing share (None where undefined).

    >>> normalisation_stats(pd.DataFrame({"v": [1.0, 2.0, None]}), ["v"])["v"]["missing_share"]
    0.333333
    """
    out = {}
    for c in columns:
        x = pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float)
        ok = x[np.isfinite(x)]

        def r(v: float) -> float | None:
            return None if v is None or not np.isfinite(v) else round(float(v), 6)

        med = float(np.median(ok)) if ok.size else None
        out[c] = {
            "median": r(med) if med is not None else None,
            "mad": r(float(np.median(np.abs(ok - med)))) if ok.size else None,
            "mean": r(float(ok.mean())) if ok.size else None,
            "std": r(float(ok.std())) if ok.size else None,
            "missing_share": r(1.0 - ok.size / max(len(x), 1)),
        }
    return out


def _detector_from(spec: Any, params: dict[str, Any] | None) -> Detector:
    if isinstance(spec, Detector):
        if params:
            raise ConfigError("give detector params only with a detector name, not with a Detector object")
        return spec
    if isinstance(spec, dict):
        return detectors.from_config({**spec, **(params or {})})
    if isinstance(spec, str):
        return detectors.create(spec, **(params or {}))
    raise ConfigError(f"detector must be a name, a config dict or a Detector; got {type(spec).__name__}")


def train(
    input_data_config: InputDataConfig | None,
    start: Any,
    end: Any,
    detector: Any = "robust_zscore",
    detector_params: dict[str, Any] | None = None,
    *,
    namespace: str,
    model: str,
    store: Any = None,
    transforms: list[dict[str, Any]] | None = None,
    threshold: float = 75.0,
    validation_fraction: float = 0.2,
    promote: bool = True,
    frame: pd.DataFrame | None = None,
    engine: Any = None,
    lake_root: str | None = None,
    read_attempts: int = 3,
    checkpoint_dir: str | Path | None = None,
    progress: bool = False,
    on_epoch: Callable[[int, int, float], None] | None = None,
    record: bool | None = None,
    database_url: str | None = None,
) -> TrainingResult:
    """Train ``detector`` on ``[start, end)`` of ``input_data_config`` and store it as ``namespace/model``.

    ``frame`` skips the read (notebooks, tests); otherwise
    ``DataSource(engine, input_data_config).read_pandas(start, end)`` is used, the
    read of every scheduled run. ``store``: a :class:`~admon.models.store.ModelStore`,
    a root URL, or None for ``ADMON_MODEL_STORE``.

    A promoted version's content hash is recorded in the registry (``database_url``,
    default ``ADMON_DATABASE_URL``) on every detection entity whose model is
    ``namespace/model``, so their runs load it and refuse any other content
    (:func:`admon.registry.api.record_model`). ``record=None`` (default) records only when
    ``store`` is the store scheduled runs load from (``ADMON_MODEL_STORE``); ``True`` or
    ``False`` forces it either way.
    """
    start_ms, end_ms = check_window(start, end)
    if not 0.0 <= validation_fraction < 1.0:
        raise ConfigError(f"validation_fraction {validation_fraction} must be in [0, 1)")
    det = _detector_from(detector, detector_params)
    transforms = validate_transforms(transforms or [])
    store = store if isinstance(store, ModelStore) else ModelStore(store)
    idc_dict = None
    if input_data_config is not None:
        idc_dict = json.loads(input_data_config.to_json())
    stages = _Stages()
    metrics: dict[str, Any] = {}

    # 1. data presence
    with stages.stage("data_presence") as rec:
        if frame is None:
            if input_data_config is None:
                raise ConfigError("give an InputDataConfig to read from, or a frame")
            source = DataSource(engine, input_data_config, lake_root=lake_root)
            frame = read_with_retry(lambda: source.read_pandas(start_ms, end_ms), attempts=read_attempts)
        if "timestamp" in frame.columns:
            frame = frame[(frame["timestamp"] >= start_ms) & (frame["timestamp"] < end_ms)]
        if frame.empty:
            raise DataError(
                f"no data in [{start_ms}, {end_ms}) for this input config; check the lake root, "
                "the filter and the window"
            )
        group_cols = list(input_data_config.group_by) if input_data_config is not None else None
        if group_cols is not None and det.config.group_by is None:
            det = type(det)(**{**det.config.model_dump(), "group_by": group_cols})
        rec.update(rows=len(frame), groups=int(len(frame.drop_duplicates(group_cols))) if group_cols else None)
        metrics["rows"] = len(frame)
        metrics["groups"] = rec["groups"]

    # 2. normalisation statistics (on the raw values, before transforms)
    with stages.stage("normalisation") as rec:
        value_cols = [c for c in frame.columns if c != "timestamp" and pd.api.types.is_float_dtype(frame[c])]
        stats = normalisation_stats(frame, value_cols)
        all_missing = [c for c, s in stats.items() if s["missing_share"] == 1.0]
        rec["columns"] = len(value_cols)
        metrics["normalisation"] = stats
        if value_cols and len(all_missing) == len(value_cols):
            raise DataError(f"every value column {all_missing} is missing in the training window")

    # 3. transforms
    with stages.stage("transform") as rec:
        prepared = apply_transforms(frame, transforms)
        rec["transforms"] = [t["name"] for t in transforms]

    # 4. train on the earlier part, keep the later part for validation
    with stages.stage("train") as rec:
        split_ts = _split_timestamp(prepared, validation_fraction)
        fit_part = prepared if split_ts is None else prepared[prepared["timestamp"] < split_ts]
        val_part = prepared.iloc[0:0] if split_ts is None else prepared[prepared["timestamp"] >= split_ts]
        if hasattr(det, "checkpoint_dir"):
            det.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else _default_checkpoint_dir(
                namespace, model)
        with _progress(det, progress, on_epoch):
            det.fit(fit_part)
        rec.update(rows=len(fit_part), split_timestamp=split_ts)
        losses = getattr(det, "losses_", None)  # detectors trained in epochs (admon.detectors.deep)
        if losses:
            metrics["training_loss"] = [round(float(v), 6) for v in losses]

    # 5. validate and calibrate
    with stages.stage("validate") as rec:
        train_scores = det.score(fit_part)
        # the detector's own rules (e.g. the default detector's suppress), calibrate, threshold
        rules = PostRuleChain.for_detector(det, threshold=threshold)
        all_scores, scored = train_scores, fit_part
        if len(val_part):
            val_scores = det.score(val_part)
            all_scores, scored = pd.concat([train_scores, val_scores]), pd.concat([fit_part, val_part])
            metrics["validation"] = _score_stats(val_scores)
        rules.fit(all_scores, scored, group_by=det.group_columns_)
        if len(val_part):
            calibrated = rules.apply(val_scores, val_part, group_by=det.group_columns_)
            metrics["validation"]["flagged_share"] = round(float(calibrated["is_anomaly"].mean()), 6)
        metrics["training_scores"] = _score_stats(train_scores)
        rec.update(rows=len(val_part))

    # the manifest records the five stages; the save itself is timed in the result
    with stages.stage("save") as rec:
        manifest = store.put(
            namespace, model, det, post_rules=rules, metrics=metrics, training_window=(start_ms, end_ms),
            input_data_config=idc_dict, transforms=transforms, stages=list(stages.records),
            promote=promote,
        )
        rec.update(version=manifest.version, content_sha256=manifest.content_sha256)
    if hasattr(det, "checkpoint_dir") and det.checkpoint_dir is not None:
        _clear_checkpoint(Path(det.checkpoint_dir))
    recorded: list[int] = []
    if promote and (record if record is not None else is_runs_store(store)):
        recorded = [e.id for e in record_model(namespace, model, manifest.version, store=store,
                                               database_url=database_url)]
    return TrainingResult(manifest, det, rules, stages.records, metrics, recorded)


def _split_timestamp(frame: pd.DataFrame, fraction: float) -> int | None:
    if fraction <= 0 or "timestamp" not in frame.columns:
        return None
    ts = np.sort(frame["timestamp"].unique())
    if len(ts) < 10:
        return None  # too short to hold anything out
    return int(ts[int(len(ts) * (1 - fraction))])


def _score_stats(scores: pd.Series) -> dict[str, float | None]:
    s = scores.to_numpy(dtype=float)
    return {
        "count": int(s.size),
        "mean": round(float(s.mean()), 6) if s.size else None,
        "p50": round(float(np.quantile(s, 0.5)), 6) if s.size else None,
        "p99": round(float(np.quantile(s, 0.99)), 6) if s.size else None,
        "max": round(float(s.max()), 6) if s.size else None,
    }


def _default_checkpoint_dir(namespace: str, model: str) -> Path:
    key = hashlib.sha256(f"{namespace}/{model}".encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "admon-checkpoints" / key


def _clear_checkpoint(path: Path) -> None:
    for name in ("checkpoint.json", "checkpoint.safetensors"):
        (path / name).unlink(missing_ok=True)


@contextmanager
def _progress(det: Any, show: bool, on_epoch: Callable[[int, int, float], None] | None):
    """Per-epoch progress (a rich bar for long training) through the detector's epoch callbacks."""
    callbacks = getattr(det, "epoch_callbacks", None)
    if callbacks is None:
        yield
        return
    added: list[Callable[[int, int, float], None]] = []
    bar = None
    if show:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(TextColumn("training {task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} epochs"),
                       TextColumn("loss {task.fields[loss]:.4g}"), TimeRemainingColumn())
        task = bar.add_task(det.name, total=det.config.epochs, loss=float("nan"))

        def advance(epoch: int, total: int, loss: float) -> None:
            bar.update(task, completed=epoch, loss=loss)

        added.append(advance)
    if on_epoch is not None:
        added.append(on_epoch)
    callbacks.extend(added)
    try:
        if bar is not None:
            with bar:
                yield
        else:
            yield
    finally:
        for cb in added:
            callbacks.remove(cb)
