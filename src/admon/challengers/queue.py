"""The labelling queue: which windows a label would teach most, pure ranking (no database).

A candidate is one group's window with each model's score (the champion's and its
challengers'), flag and threshold. A label teaches most where the models disagree (one flags
the window, another does not): those come first, the widest score spread first. Then the
windows whose scores sit just around a threshold (within ``margin`` points of the 0-100
scale), nearest first. Windows on which every model agrees, far from every threshold, are
not queued.

>>> a = Candidate({"host": "h1"}, 0, 600, {"champion": 90.0, "strict": 40.0},
...               {"champion": True, "strict": False}, {"champion": 75.0, "strict": 75.0})
>>> b = Candidate({"host": "h2"}, 0, 600, {"champion": 73.0}, {"champion": False}, {"champion": 75.0})
>>> c = Candidate({"host": "h3"}, 0, 600, {"champion": 10.0}, {"champion": False}, {"champion": 75.0})
>>> [(item.candidate.group["host"], item.why) for item in rank([c, b, a])]
[('h1', 'models disagree: champion flags it (90), strict does not (40)'), ('h2', 'champion scores 73, 2 below its threshold 75')]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Scores within this many points (0-100 scale) of a threshold are "around" it.
THRESHOLD_MARGIN = 10.0
DISAGREEMENT, NEAR_THRESHOLD = "disagreement", "near_threshold"


@dataclass(frozen=True)
class Candidate:
    """One group's window and what each model made of it (a score None: it did not score it)."""

    group: dict[str, Any]
    window_start_ms: int
    window_end_ms: int
    scores: dict[str, float | None]
    flags: dict[str, bool]
    thresholds: dict[str, float | None]
    incident_id: str | None = None


@dataclass(frozen=True)
class QueueItem:
    candidate: Candidate
    reason: str  # DISAGREEMENT or NEAR_THRESHOLD
    why: str
    priority: float  # within its reason; higher first

    def as_json(self) -> dict[str, Any]:
        c = self.candidate
        return {"group": c.group, "window_start": c.window_start_ms, "window_end": c.window_end_ms,
                "incident_id": c.incident_id, "scores": c.scores, "flags": c.flags, "thresholds": c.thresholds,
                "reason": self.reason, "why": self.why, "priority": round(self.priority, 4)}


def _g(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


def judge(candidate: Candidate, margin: float = THRESHOLD_MARGIN) -> QueueItem | None:
    """Why ``candidate`` is worth a label (None: it is not)."""
    scored = {name: score for name, score in candidate.scores.items() if score is not None}
    flagging = [name for name in scored if candidate.flags.get(name)]
    quiet = [name for name in scored if not candidate.flags.get(name)]
    if flagging and quiet:
        spread = max(scored.values()) - min(scored.values())
        why = ("models disagree: " + ", ".join(f"{n} flags it ({_g(scored[n])})" for n in flagging) + ", "
               + ", ".join(f"{n} does not ({_g(scored[n])})" for n in quiet))
        return QueueItem(candidate, DISAGREEMENT, why, spread)
    nearest: tuple[float, str, float] | None = None
    for name, score in scored.items():
        threshold = candidate.thresholds.get(name)
        if threshold is None:
            continue
        distance = abs(score - threshold)
        if distance <= margin and (nearest is None or distance < nearest[0]):
            nearest = (distance, name, threshold)
    if nearest is None:
        return None
    distance, name, threshold = nearest
    score = scored[name]
    side = "above" if score >= threshold else "below"
    why = f"{name} scores {_g(score)}, {_g(distance)} {side} its threshold {_g(threshold)}"
    return QueueItem(candidate, NEAR_THRESHOLD, why, -distance)


def rank(candidates: Sequence[Candidate], *, margin: float = THRESHOLD_MARGIN,
         limit: int | None = None) -> list[QueueItem]:
    """The candidates worth a label, disagreement first (widest spread first), then nearest a
    threshold; ties by newest window."""
    items = [item for item in (judge(c, margin) for c in candidates) if item is not None]
    items.sort(key=lambda i: (i.reason != DISAGREEMENT, -i.priority, -i.candidate.window_end_ms))
    return items if limit is None else items[:limit]
