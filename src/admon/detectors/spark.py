"""Scoring on Spark: a thin ``applyInPandas`` adapter around the same pandas code.

Every detector scores each group (e.g. host) from that group's rows alone, so
``groupBy(*group_columns).applyInPandas`` over :meth:`Detector.score` gives the
scores of the pandas path, row for row. The fitted detector travels to the
executors in its safe saved form (JSON + npz / skops / safetensors bytes) and is
rebuilt there with :meth:`Detector.load`, never unpickled from the driver's object.
Errors are not swallowed: a failing group fails the Spark job.

Usage (``sdf`` as returned by ``DataSource(spark, idc).read(start, end)``)::

    scored = score_spark(detector, sdf)   # sdf's columns + "anomaly_score"
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from admon.detectors.base import SCORE_NAME, Detector

_LOADED: dict[str, Detector] = {}  # per executor process: artifact digest -> detector


def _pack(detector: Detector) -> tuple[str, dict[str, bytes]]:
    import hashlib

    with tempfile.TemporaryDirectory(prefix="admon-spark-") as tmp:
        detector.save(tmp)
        files = {p.relative_to(tmp).as_posix(): p.read_bytes() for p in sorted(Path(tmp).rglob("*")) if p.is_file()}
    digest = hashlib.sha256(b"".join(k.encode() + v for k, v in sorted(files.items()))).hexdigest()
    return digest, files


def _unpack(digest: str, files: dict[str, bytes]) -> Detector:
    det = _LOADED.get(digest)
    if det is None:
        with tempfile.TemporaryDirectory(prefix="admon-spark-") as tmp:
            for rel, data in files.items():
                target = Path(tmp) / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            det = Detector.load(tmp)
        _LOADED[digest] = det
    return det


def score_spark(detector: Detector, sdf: Any, *, score_column: str = SCORE_NAME) -> Any:
    """A Spark DataFrame of ``sdf``'s columns plus ``score_column``, scored per group by ``detector``."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, StructField, StructType

    detector._check_fitted()
    digest, files = _pack(detector)
    groups = list(detector.group_columns_)
    schema = StructType([*sdf.schema.fields, StructField(score_column, DoubleType(), False)])

    def score_group(pdf):
        det = _unpack(digest, files)
        out = pdf.copy()
        out[score_column] = det.score(pdf).to_numpy()
        return out

    grouped = sdf.groupBy(*groups) if groups else sdf.groupBy(F.lit(0))
    return grouped.applyInPandas(score_group, schema=schema)
