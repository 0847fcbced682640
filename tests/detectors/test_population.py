"""The population detector (issue 20, part 5): a host that drifts away from its peers scores high
even while it stays inside its own past range."""

from __future__ import annotations

import numpy as np
import pandas as pd

import admon.detectors as detectors

STEP = 300_000  # 5-minute buckets
DAY = 288
HOSTS = [f"h{i}" for i in range(10)]


def daily_fleet(days: int, *, seed: int, out_of_phase: tuple[int, int] | None = None) -> pd.DataFrame:
    """Ten hosts with the same daily shape (and their own noise); host h9 half a day out of
    phase over the bucket range ``out_of_phase``."""
    rng = np.random.default_rng(seed)
    t = np.arange(days * DAY)
    parts = []
    for host in HOSTS:
        phase = np.zeros(len(t))
        if host == "h9" and out_of_phase is not None:
            phase[out_of_phase[0]:out_of_phase[1]] = np.pi
        load = 50 + 20 * np.sin(2 * np.pi * t / DAY + phase) + rng.normal(0, 1.5, len(t))
        parts.append(pd.DataFrame({"host": host, "timestamp": t * STEP, "load": load}))
    return pd.concat(parts, ignore_index=True)


def test_a_host_half_a_day_out_of_phase_scores_above_the_others_99th_percentile():
    detector = detectors.create("population").fit(daily_fleet(2, seed=1))
    drift = (DAY, 2 * DAY)  # the second day of three
    frame = daily_fleet(3, seed=2, out_of_phase=drift)
    scores = detector.score(frame)
    h9 = frame["host"] == "h9"
    in_drift = frame["timestamp"].between(drift[0] * STEP, (drift[1] - 1) * STEP)
    # h9 stays inside its own past range: per-host detectors see nothing out of the ordinary
    assert frame.loc[h9 & in_drift, "load"].between(frame.loc[h9 & ~in_drift, "load"].min() - 5,
                                                    frame.loc[h9 & ~in_drift, "load"].max() + 5).all()
    others_p99 = np.percentile(scores[~h9], 99)
    drifted = scores[h9 & in_drift]
    assert np.median(drifted) > others_p99
    # the phase difference vanishes only where both shapes cross (twice a day)
    assert (drifted > others_p99).mean() > 0.8
    assert (scores[h9 & ~in_drift] <= others_p99).mean() > 0.95


def test_a_bigger_host_is_not_an_anomaly_and_explain_names_the_peers():
    fleet = daily_fleet(2, seed=3)
    fleet.loc[fleet["host"] == "h0", "load"] += 100  # always far above the others
    detector = detectors.create("population").fit(fleet)
    later = daily_fleet(1, seed=4)
    later.loc[later["host"] == "h0", "load"] += 100
    scores = detector.score(later)
    assert scores[later["host"] == "h0"].median() < 2 * scores[later["host"] != "h0"].median() + 1
    explained = detector.explain(later)
    assert (explained["peers"] == len(HOSTS) - 1).all()
    assert explained.index.equals(later.index) and {"median_load", "spread_load"} <= set(explained)


def test_too_few_peers_are_not_scored():
    detector = detectors.create("population", min_peers=3).fit(daily_fleet(1, seed=5))
    three = daily_fleet(1, seed=6)
    three = three[three["host"].isin(["h0", "h1", "h2"])]
    three.loc[three["host"] == "h0", "load"] += 1000
    assert (detector.score(three) == 0).all()  # two peers each: too few to compare with
