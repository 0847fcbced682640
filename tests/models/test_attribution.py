"""Issue 15, part 3: top_features names the columns that moved, per group and per window, and only those."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from admon.detectors import create
from admon.detectors.postrules import PostRuleChain
from admon.models.scoring import score_with_detector

STEP = 300_000


def two_hosts(n: int, seed: int, step_on_a: bool) -> pd.DataFrame:
    """Two hosts, two noisy columns; with ``step_on_a`` gled_value of host A jumps over the last 24 rows."""
    rng = np.random.default_rng(seed)
    parts = []
    t = np.arange(n)
    for host in ("A", "B"):
        gled = 100 + 5 * np.sin(2 * np.pi * t / 48) + rng.normal(0, 1, n)
        if step_on_a and host == "A":
            gled[n - 24:] += 60.0
        parts.append(pd.DataFrame({
            "host": host,
            "timestamp": t.astype("int64") * STEP,
            "alice_value": 20 + rng.normal(0, 1, n),
            "gled_value": gled,
        }))
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("name", ["default", "robust_zscore", "pca", "lof"])
def test_a_step_on_one_column_of_one_host_names_that_column_alone(name):
    train = two_hosts(1200 if name == "default" else 600, seed=0, step_on_a=False)
    test = two_hosts(1200 if name == "default" else 600, seed=1, step_on_a=True)
    detector = create(name).fit(train)
    chain = PostRuleChain.for_detector(detector).fit(detector.score(train), train,
                                                     group_by=detector.group_columns_)
    rows = score_with_detector(detector, chain, test).rows
    flagged = rows["is_anomaly"].to_numpy(dtype=bool)
    on_a_step = ((test["host"] == "A") & (test.index.isin(test[test["host"] == "A"].index[-24:]))).to_numpy()
    assert flagged[on_a_step].any(), "the step must be detected"
    named = rows["top_features"]
    # every flagged row of the step names gled_value and nothing else
    assert all(list(f) == ["gled_value"] for f in named[flagged & on_a_step])
    # normal rows name nothing
    assert all(list(f) == [] for f in named[~flagged])
    # alice_value never moved: it is named nowhere
    assert not any("alice_value" in f for f in named[on_a_step])
