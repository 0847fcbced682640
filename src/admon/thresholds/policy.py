"""What a detect run applies on top of its model's post-rules: the entity's threshold override
and its suppression windows (:func:`apply_policy`, pure pandas).

>>> per_group = pd.DataFrame({"host": ["a", "b"], "anomaly_score": [80.0, 92.0], "is_anomaly": [True, True],
...                           "threshold": [75.0, 75.0], "severity": ["minor", "critical"],
...                           "peak_timestamp": [1_000, 2_000]})
>>> out, suppressed = apply_policy(per_group, RunPolicy(threshold=85.0), ["host"], window_end_ms=3_000)
>>> out["is_anomaly"].tolist(), out["threshold"].tolist(), out["severity"].tolist(), suppressed
([False, True], [85.0, 85.0], [None, 'minor'], 0)
>>> rule = Suppression(1, {"host": "b"}, 1_500, 2_500, "maintenance")
>>> out, suppressed = apply_policy(per_group, RunPolicy(None, (rule,)), ["host"], window_end_ms=3_000)
>>> out["is_anomaly"].tolist(), out["anomaly_score"].tolist(), suppressed
([True, False], [80.0, 92.0], 1)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from admon.detectors.postrules import severity


@dataclass(frozen=True)
class Suppression:
    """Results of ``group`` (empty: every group) whose peak lies in ``[start_ms, end_ms)`` are
    not anomalous: an expected event, for ``reason``."""

    id: int
    group: Mapping[str, Any]
    start_ms: int
    end_ms: int
    reason: str

    def covers(self, group: Mapping[str, Any], at_ms: int) -> bool:
        """Whether this rule silences a result of ``group`` peaking at ``at_ms``."""
        same = all(k in group and str(group[k]) == str(v) for k, v in self.group.items())
        return same and self.start_ms <= at_ms < self.end_ms


@dataclass(frozen=True)
class RunPolicy:
    """The entity's threshold override (None: the model's own) and the suppressions of a window."""

    threshold: float | None = None
    suppressions: tuple[Suppression, ...] = ()

    @property
    def empty(self) -> bool:
        return self.threshold is None and not self.suppressions


def apply_policy(per_group: pd.DataFrame, policy: RunPolicy, group_by: list[str], *,
                 window_end_ms: int) -> tuple[pd.DataFrame, int]:
    """``per_group`` (one result row per group, as :func:`admon.runs.inference.summarize` makes
    them) flagged with the override and silenced by the suppressions; the scores are kept.
    Returns the new frame and how many anomalous results a suppression silenced."""
    if policy.empty or per_group.empty:
        return per_group, 0
    out = per_group.copy()
    scores = [None if v is None or not math.isfinite(float(v)) else float(v) for v in out["anomaly_score"]]
    if policy.threshold is not None:
        value = float(policy.threshold)
        out["threshold"] = value
        out["is_anomaly"] = [s is not None and s >= value for s in scores]
        out["severity"] = pd.Series([severity(s, value) if s is not None else None for s in scores],
                                    index=out.index, dtype=object)
    silenced = 0
    if policy.suppressions:
        flags = list(out["is_anomaly"])
        bands = list(out["severity"])
        peaks: list[Any] = list(out["peak_timestamp"]) if "peak_timestamp" in out else [None] * len(out)
        for i, record in enumerate(out[list(group_by)].to_dict("records") if group_by else [{}] * len(out)):
            peak = peaks[i]
            # a result without a peak (no finite score) is about its window's last instant
            at = window_end_ms - 1 if peak is None or pd.isna(peak) else int(peak)
            if flags[i] and any(rule.covers(record, at) for rule in policy.suppressions):
                flags[i], bands[i] = False, None
                silenced += 1
        out["is_anomaly"] = flags
        out["severity"] = pd.Series(bands, index=out.index, dtype=object)
    return out, silenced
