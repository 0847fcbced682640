"""A metric that stops arriving on one host while the host still reports others is an anomaly
that names that metric (issue 15: the demo's injected gaps were missed or blamed on the other
column), and nothing else is flagged."""

from __future__ import annotations

import numpy as np
import pandas as pd

import admon.detectors as detectors
from admon.detectors.postrules import PostRuleChain
from admon.models.scoring import score_with_detector

STEP = 300_000


def two_metric_hosts(n: int = 288, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for i, host in enumerate(("h1", "h2", "h3")):
        t = np.arange(n)
        parts.append(pd.DataFrame({
            "host": host, "timestamp": t * STEP,
            "gled": 1e6 * (1 + 0.2 * np.sin(2 * np.pi * t / 288) + 0.02 * rng.standard_normal(n)) * (1 + i / 10),
            "alice": 2e4 * (1 + 0.2 * np.sin(2 * np.pi * t / 288) + 0.02 * rng.standard_normal(n))}))
    return pd.concat(parts, ignore_index=True)


def test_a_metric_that_stops_on_one_host_is_flagged_and_named_alone():
    train = two_metric_hosts(seed=1)
    detector = detectors.create("pca").fit(train)
    chain = PostRuleChain.for_detector(detector).fit(detector.score(train), train, group_by=["host"])
    assert [rule.name for rule in chain.rules][-1] == "missing_data"
    frame = two_metric_hosts(seed=2)
    gap = (frame["host"] == "h2") & frame["timestamp"].between(100 * STEP, 105 * STEP)  # 30 minutes
    frame.loc[gap, "alice"] = np.nan
    rows = score_with_detector(detector, chain, frame).rows
    flagged = rows[rows["is_anomaly"]]
    # the first row of the gap is one missing value (min_rows 2); the next five are the gap
    expected = frame.index[gap][1:]
    assert set(expected) <= set(flagged.index)
    assert all(rows.loc[i, "top_features"] == ["alice"] for i in expected)
    assert (rows.loc[expected, "anomaly_score"] >= 80).all()
    assert set(rows.loc[expected, "severity"]) == {"warning"}
    others = rows.drop(index=frame.index[gap])
    assert others["is_anomaly"].mean() < 0.02  # the gap flags nothing else


def test_a_metric_a_host_never_had_and_a_host_that_went_silent_are_not_gaps():
    frame = two_metric_hosts()
    frame.loc[frame["host"] == "h3", "alice"] = np.nan  # h3 never reports alice
    silent = (frame["host"] == "h1") & (frame["timestamp"] >= 200 * STEP)
    frame.loc[silent, ["gled", "alice"]] = np.nan  # h1 stops reporting anything
    detector = detectors.create("robust_zscore").fit(frame)
    chain = PostRuleChain.for_detector(detector).fit(detector.score(frame), frame, group_by=["host"])
    rows = score_with_detector(detector, chain, frame).rows
    assert not rows.loc[frame["host"] == "h3", "top_features"].map(lambda f: "alice" in f).any()
    assert not rows.loc[silent, "is_anomaly"].any()
