"""Scoring at scale: a fitted detector runs per group on Spark, as a thin ``applyInPandas`` adapter.

The detector's own pandas code scores each group (Merlion's pattern): Spark only
splits the frame by the group columns, ships the fitted detector to the workers
and puts the pieces back together. Per-group detectors (``robust_zscore``,
``ewma``, ...) and row-wise ones (``isolation_forest``, ...) give exactly the
scores they give in-process.

A group whose scoring fails is *reported*: its rows come back with
``status = "failed"``, the error in ``error`` and a null ``anomaly_score``; no
placeholder score is ever made up. :func:`failed_groups` lists them.

Example (not run here: it needs a SparkSession)::

    frame = DataSource(spark, idc).read_hdfs(start, end)          # Spark DataFrame
    detector = admon.detectors.create("robust_zscore").fit(training_frame)
    scores = score_on_spark(frame, detector)                      # Spark DataFrame
    scores.filter("status = 'failed'").show()
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from admon.detectors.base import SCORE_NAME, TIMESTAMP, Detector
from admon.errors import ConfigError, DataError, NotFittedError

STATUS = "status"
ERROR = "error"
OK, FAILED = "ok", "failed"


def _score_group(detector: Detector, keys: list[str], pdf: pd.DataFrame) -> pd.DataFrame:
    """Score one group's rows (or a cross-group detector's whole frame), sorted by time, with the
    detector's own pandas code."""
    pdf = pdf.sort_values(TIMESTAMP, kind="stable").reset_index(drop=True)
    out = pd.DataFrame({k: pdf[k].astype(object) for k in keys})
    out[TIMESTAMP] = pdf[TIMESTAMP].astype("int64")
    try:
        scores = detector.score(pdf)
    except Exception as exc:  # noqa: BLE001 - reported per group in the result, never hidden
        out[SCORE_NAME] = pd.Series([None] * len(pdf), dtype="float64")
        out[STATUS] = FAILED
        out[ERROR] = f"{type(exc).__name__}: {exc}"[:2000]
        return out
    out[SCORE_NAME] = scores.to_numpy(dtype="float64")
    out[STATUS] = OK
    out[ERROR] = pd.Series([None] * len(pdf), dtype=object)
    return out


def score_on_spark(frame: Any, detector: Detector, *, group_by: list[str] | None = None) -> Any:
    """Scores of a Spark frame, one row per input row: ``[*group_by, timestamp, anomaly_score,
    status, error]``, computed group by group with ``applyInPandas``.

    ``group_by`` defaults to the group columns the detector learnt at fit. With no group
    columns the whole frame is one series (one task); so is it for a ``cross_group`` detector,
    which scores each group against the others.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

    if not isinstance(detector, Detector):
        raise ConfigError(f"score_on_spark scores with a fitted admon Detector, got {type(detector).__name__}; "
                          "pass one (admon.detectors.create(name).fit(frame))")
    try:
        detector._check_fitted()  # the detector's own check, before any Spark job starts
    except NotFittedError as exc:
        raise ConfigError(f"{detector!r} is not fitted; fit it (or load a trained model) before scoring "
                          "on Spark") from exc
    keys = list(group_by if group_by is not None else detector.group_columns_)
    needed = list(dict.fromkeys([*keys, *detector.group_columns_, TIMESTAMP, *detector.feature_columns_]))
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataError(f"the Spark frame lacks column(s) {missing} the detector needs; it has {frame.columns}")
    schema = StructType(
        [StructField(k, StringType()) for k in keys]
        + [StructField(TIMESTAMP, LongType()), StructField(SCORE_NAME, DoubleType()),
           StructField(STATUS, StringType()), StructField(ERROR, StringType())]
    )
    groups = set(keys) | set(detector.group_columns_)
    selected = frame.select(*[F.col(c).cast("string") if c in groups else F.col(c) for c in needed])

    def apply(pdf: pd.DataFrame) -> pd.DataFrame:
        return _score_group(detector, keys, pdf)

    if keys and not detector.cross_group:
        return selected.groupBy(*keys).applyInPandas(apply, schema=schema)
    # one series, or a detector that scores each group against the others (peer analysis):
    # the whole frame in one task
    return selected.withColumn("__one", F.lit(0)).groupBy("__one").applyInPandas(
        lambda pdf: apply(pdf.drop(columns="__one")), schema=schema
    )


def failed_groups(scores: Any) -> pd.DataFrame:
    """The groups whose scoring failed, with their error: one row per group (pandas)."""
    from pyspark.sql import functions as F

    keys = [c for c in scores.columns if c not in (TIMESTAMP, SCORE_NAME, STATUS, ERROR)]
    failed = scores.filter(F.col(STATUS) == FAILED)
    grouped = failed.groupBy(*keys).agg(F.first(ERROR).alias(ERROR), F.count("*").alias("rows")) if keys else \
        failed.agg(F.first(ERROR).alias(ERROR), F.count("*").alias("rows")).filter(F.col("rows") > 0)
    return grouped.toPandas()
