"""Scoring at scale: a fitted detector per group on Spark (applyInPandas) equals in-process scoring."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from pyspark import cloudpickle  # PySpark pickles with its own copy

import admon.detectors as detectors
from admon import DataSource, InputDataConfig, SourceConfig
from admon.data.spark_scoring import failed_groups, score_on_spark
from admon.detectors.statistical import RobustZScore
from tests.data.lakes import DAY0

pytestmark = pytest.mark.spark
# Classes of this module travel to the Python workers by value (the workers do not import tests/).
cloudpickle.register_pickle_by_value(sys.modules[__name__])
WINDOW = (DAY0, DAY0 + 86_400_000)


@pytest.fixture(autouse=True)
def _groups_over_several_tasks(spark):
    """Four groups over three shuffle partitions: groups are scored in different tasks."""
    before = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", "3")
    yield
    spark.conf.set("spark.sql.shuffle.partitions", before)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    from admon.data.generate import generate_lake

    root = tmp_path_factory.mktemp("scoring-lake")
    generate_lake(root, hosts=4, days=1, start="2022-05-10", seed=7, step_seconds=300,
                  topics=["xrootd_raw_gled", "cpu_load"])
    return str(root)


CONFIG = InputDataConfig(source_configs=[
    SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "value", "host"],
                 filter_expression=f"topic == '{t}'", rename={"value": t}) for t in ("xrootd_raw_gled", "cpu_load")
], agg_interval_seconds=900, agg_method="avg", group_by=["host"])


def in_process(frame: pd.DataFrame, detector) -> pd.DataFrame:
    out = frame[["host", "timestamp"]].copy()
    out["anomaly_score"] = detector.score(frame).to_numpy()
    return out.sort_values(["host", "timestamp"]).reset_index(drop=True)


def on_spark(spark_frame, detector) -> pd.DataFrame:
    scores = score_on_spark(spark_frame, detector).toPandas()
    return scores.sort_values(["host", "timestamp"]).reset_index(drop=True)


@pytest.mark.parametrize("name", ["robust_zscore", "isolation_forest", "population"])
def test_scores_on_spark_equal_in_process_scores(spark, lake, name):
    frame = DataSource(None, CONFIG, lake_root=lake).read(*WINDOW)
    detector = detectors.create(name).fit(frame)
    expected = in_process(frame, detector)
    got = on_spark(DataSource(spark, CONFIG, lake_root=lake).read_hdfs(*WINDOW), detector)
    assert len(got) == len(frame) == 4 * 96
    assert got["host"].tolist() == expected["host"].tolist()
    assert got["timestamp"].tolist() == expected["timestamp"].tolist()
    np.testing.assert_allclose(got["anomaly_score"].to_numpy(), expected["anomaly_score"].to_numpy(), rtol=1e-12)
    assert set(got["status"]) == {"ok"} and got["error"].isna().all()
    assert failed_groups(score_on_spark(spark.createDataFrame(frame), detector)).empty


class BreaksOnOneHost(RobustZScore):
    """robust_zscore that fails on one host's series, as a detector can on bad data."""

    def _score(self, frame):
        if (frame["host"] == "monit-xrootd-002").any():
            raise ValueError("series of monit-xrootd-002 has a gap the model cannot bridge")
        return super()._score(frame)


def test_a_failing_group_is_reported_not_replaced_by_a_placeholder(spark, lake):
    frame = DataSource(None, CONFIG, lake_root=lake).read(*WINDOW)
    detector = BreaksOnOneHost().fit(frame)
    reference = RobustZScore().fit(frame)
    got = on_spark(spark.createDataFrame(frame), detector)
    bad = got["host"] == "monit-xrootd-002"
    assert bad.sum() == 96
    assert (got.loc[bad, "status"] == "failed").all()
    assert got.loc[bad, "anomaly_score"].isna().all()  # no made-up score
    assert got.loc[bad, "error"].str.contains("ValueError: series of monit-xrootd-002 has a gap").all()
    good = got[~bad].reset_index(drop=True)
    expected = in_process(frame[frame["host"] != "monit-xrootd-002"], reference)
    assert (good["status"] == "ok").all()
    np.testing.assert_allclose(good["anomaly_score"].to_numpy(), expected["anomaly_score"].to_numpy(), rtol=1e-12)
    report = failed_groups(score_on_spark(spark.createDataFrame(frame), detector))
    assert report["host"].tolist() == ["monit-xrootd-002"] and report["rows"].tolist() == [96]


def test_without_group_columns_the_frame_is_one_series(spark, lake):
    config = InputDataConfig(source_configs=[SourceConfig("collectd", "raw", "monitoring",
                                                          select=["timestamp", "value"],
                                                          filter_expression="topic == 'cpu_load'")],
                             agg_interval_seconds=600, agg_method="max")
    frame = DataSource(None, config, lake_root=lake).read(*WINDOW)
    detector = detectors.create("robust_zscore", window=6).fit(frame)
    got = score_on_spark(DataSource(spark, config, lake_root=lake).read_hdfs(*WINDOW), detector).toPandas()
    got = got.sort_values("timestamp").reset_index(drop=True)
    assert got.columns.tolist() == ["timestamp", "anomaly_score", "status", "error"]
    np.testing.assert_allclose(got["anomaly_score"].to_numpy(), detector.score(frame).to_numpy(), rtol=1e-12)


def test_an_unfitted_detector_is_refused_before_spark_runs(spark):
    from admon.errors import ConfigError

    frame = spark.createDataFrame(pd.DataFrame({"host": ["a"], "timestamp": [0], "v": [1.0]}))
    with pytest.raises(ConfigError, match="not fitted"):
        score_on_spark(frame, detectors.create("robust_zscore"))
