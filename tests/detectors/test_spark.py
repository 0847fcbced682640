"""The Spark adapter gives the pandas scores, row for row (Spark in local mode)."""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd
import pytest

import admon.detectors as detectors
from admon.detectors.spark import score_spark


@pytest.fixture(scope="module")
def spark():
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("admon-detector-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("OFF")
    return session


@pytest.mark.spark
@pytest.mark.parametrize("name", ["ensemble"])  # robust_zscore + isolation_forest: one Spark job
def test_spark_scores_equal_pandas_scores(spark, frame_factory, fast_params, name):
    frame = frame_factory(n=60)
    frame.loc[5, "gled_value"] = np.nan
    det = detectors.create(name, **fast_params.get(name, {})).fit(frame)
    expected = frame.assign(anomaly_score=det.score(frame))
    got = score_spark(det, spark.createDataFrame(frame)).toPandas()
    key = ["host", "timestamp"]
    got = got.sort_values(key).reset_index(drop=True)
    expected = expected.sort_values(key).reset_index(drop=True)
    assert len(got) == len(frame)
    np.testing.assert_allclose(got["anomaly_score"].to_numpy(), expected["anomaly_score"].to_numpy(), rtol=1e-9)
    pd.testing.assert_series_equal(got["gled_value"], expected["gled_value"], check_dtype=False)
