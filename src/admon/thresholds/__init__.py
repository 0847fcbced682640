"""Thresholds that learn from verdicts: the pure optimisation, no database, no HTTP.

An entity's labelled history is a list of :class:`LabelledEvent`: each verdict on an incident
and each labelled window, with the highest calibrated (0-100) score a result of its group
reached inside it. :func:`choose_threshold` picks the alert threshold that maximises the
event-level F1 on that history:

- ``confirmed`` (and a range labelled ``anomaly``) is a real event: flagged at threshold t
  (its peak >= t) it is a true positive, else a miss;
- ``false_alarm`` (and a range labelled ``normal``) is not: flagged, it is a false alarm;
- ``expected`` is real but to be ignored (maintenance...): neither a miss nor a false alarm.

Only labelled spans count: an unlabelled alarm is neither right nor wrong yet. The threshold
stays within :data:`BOUNDS`, and nothing is learnt before the history holds
:data:`MIN_LABELS` scored verdicts with at least one confirmed event and one false alarm
(:data:`MIN_EACH` each). Candidates are the midpoints between successive distinct peaks
(every threshold between two peaks flags the same events; the midpoint keeps a margin on
both sides) and the bounds. The best F1 wins; among equals, the one nearest the current
threshold (no change without a reason). The threshold moves only if that F1 beats the
current threshold's.

>>> history = [LabelledEvent("false_alarm", 76.0), LabelledEvent("false_alarm", 78.0),
...            LabelledEvent("false_alarm", 80.0), LabelledEvent("confirmed", 92.0),
...            LabelledEvent("confirmed", 95.0), LabelledEvent("expected", 77.0)]
>>> decision = choose_threshold(history, current=75.0)
>>> decision.threshold, decision.changed, decision.evidence["f1_before"], decision.evidence["f1_after"]
(86.0, True, 0.5714, 1.0)
>>> choose_threshold(history[:3] + history[5:], current=75.0).reason
'not enough labels: 4 scored verdicts (3 false alarms, 0 confirmed); need 5 with at least 1 confirmed and 1 false alarm'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

#: Verdicts counted as a real event, as a false alarm, or ignored.
CONFIRMED, FALSE_ALARM, EXPECTED = "confirmed", "false_alarm", "expected"
VERDICTS = (CONFIRMED, FALSE_ALARM, EXPECTED)
#: What a stored label counts as: a verdict, or a range label drawn on the plot.
VERDICT_OF_LABEL = {"confirmed": CONFIRMED, "anomaly": CONFIRMED, "false_alarm": FALSE_ALARM,
                    "normal": FALSE_ALARM, "expected": EXPECTED}
#: A learnt threshold stays within these (calibrated 0-100 scale).
BOUNDS = (50.0, 99.0)
#: Least scored verdicts (confirmed + false alarms + expected) before anything is learnt...
MIN_LABELS = 5
#: ... of which at least this many confirmed and this many false alarms.
MIN_EACH = 1
#: Who changes a threshold when the verdicts do (a user's change carries the user's name).
BY_VERDICTS = "verdicts"


@dataclass(frozen=True)
class LabelledEvent:
    """One labelled span of a group: its verdict and the peak score of its group inside it
    (None: no result of the group was scored there, so it cannot count)."""

    verdict: str
    peak: float | None
    label: str = ""  # what it was labelled, for the evidence (e.g. an incident id)


@dataclass(frozen=True)
class Counts:
    """Event-level outcome of one threshold."""

    threshold: float
    tp: int
    fp: int
    fn: int

    @property
    def f1(self) -> float:
        """``2 tp / (2 tp + fp + fn)``; 0 when nothing is real and nothing flagged."""
        denominator = 2 * self.tp + self.fp + self.fn
        return 0.0 if denominator == 0 else 2 * self.tp / denominator


@dataclass(frozen=True)
class Decision:
    """What :func:`choose_threshold` decided: the threshold (the current one when unchanged),
    whether it changed, why, and the evidence (JSON-able)."""

    threshold: float
    changed: bool
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


def event_counts(events: Sequence[LabelledEvent], threshold: float) -> Counts:
    """True positives, false alarms and misses of ``threshold`` on the scored ``events``.

    >>> event_counts([LabelledEvent("confirmed", 90.0), LabelledEvent("false_alarm", 80.0),
    ...               LabelledEvent("expected", 99.0), LabelledEvent("confirmed", 60.0)], 75.0)
    Counts(threshold=75.0, tp=1, fp=1, fn=1)
    """
    tp = fp = fn = 0
    for event in events:
        if event.peak is None or event.verdict == EXPECTED:
            continue
        flagged = event.peak >= threshold
        if event.verdict == CONFIRMED:
            tp, fn = (tp + 1, fn) if flagged else (tp, fn + 1)
        elif event.verdict == FALSE_ALARM and flagged:
            fp += 1
    return Counts(threshold, tp, fp, fn)


def candidates(peaks: Sequence[float], bounds: tuple[float, float] = BOUNDS) -> list[float]:
    """The thresholds worth trying: the bounds and the midpoints between successive distinct
    peaks, within the bounds, ascending.

    >>> candidates([76.0, 80.0, 92.0, 40.0])
    [50.0, 58.0, 78.0, 86.0, 99.0]
    """
    low, high = bounds
    distinct = sorted({float(p) for p in peaks if math.isfinite(p)})
    middles = [round((a + b) / 2, 2) for a, b in zip(distinct, distinct[1:])]
    return sorted({low, high} | {m for m in middles if low <= m <= high})


def _round(value: float) -> float:
    return round(value, 4)


def choose_threshold(events: Sequence[LabelledEvent], current: float, *,
                     bounds: tuple[float, float] = BOUNDS, min_labels: int = MIN_LABELS,
                     min_each: int = MIN_EACH) -> Decision:
    """The threshold maximising event-level F1 on ``events`` (see the module docstring)."""
    low, high = bounds
    if not (0.0 <= low < high <= 100.0):
        raise ValueError(f"threshold bounds {bounds!r} must satisfy 0 <= low < high <= 100")
    scored = [e for e in events if e.peak is not None and math.isfinite(e.peak) and e.verdict in VERDICTS]
    tally = {v: sum(1 for e in scored if e.verdict == v) for v in VERDICTS}
    evidence: dict[str, Any] = {
        "labels": tally, "unscored": len(events) - len(scored), "bounds": [low, high],
        "min_labels": min_labels, "threshold_before": current,
    }
    if len(scored) < min_labels or tally[CONFIRMED] < min_each or tally[FALSE_ALARM] < min_each:
        reason = (f"not enough labels: {len(scored)} scored verdicts ({tally[FALSE_ALARM]} false alarms, "
                  f"{tally[CONFIRMED]} confirmed); need {min_labels} with at least {min_each} confirmed "
                  f"and {min_each} false alarm")
        return Decision(current, False, reason, evidence)
    before = event_counts(scored, current)
    tried = [event_counts(scored, t) for t in candidates([e.peak for e in scored if e.peak is not None], bounds)]
    best = max(tried, key=lambda c: (round(c.f1, 9), -abs(c.threshold - current), c.threshold))
    evidence |= {
        "f1_before": _round(before.f1), "f1_after": _round(max(best.f1, before.f1)),
        "counts_before": {"tp": before.tp, "fp": before.fp, "fn": before.fn},
        "candidates": [{"threshold": c.threshold, "f1": _round(c.f1), "tp": c.tp, "fp": c.fp, "fn": c.fn}
                       for c in tried],
    }
    if best.f1 <= before.f1 + 1e-9:
        evidence["f1_after"] = _round(before.f1)
        return Decision(current, False, f"threshold {current:g} already gives the best event F1 "
                                        f"({before.f1:.2f}) on {len(scored)} verdicts", evidence)
    evidence["counts_after"] = {"tp": best.tp, "fp": best.fp, "fn": best.fn}
    reason = (f"event F1 {before.f1:.2f} -> {best.f1:.2f} on {len(scored)} verdicts "
              f"({tally[CONFIRMED]} confirmed, {tally[FALSE_ALARM]} false alarms, {tally[EXPECTED]} expected): "
              f"{best.fp} false alarms and {best.fn} misses left, were {before.fp} and {before.fn}")
    return Decision(best.threshold, True, reason, evidence)
