"""Entity thresholds learnt from verdicts, their audited history, and suppression windows.

Every change of an entity's alert threshold is a row of ``entity_thresholds`` (who or what
changed it, when, before, after, evidence); the newest row is the entity's override, which
the ``detect`` kind applies in place of its model's threshold (:func:`run_policy`). A change
can be reverted (a new row that restores what the reverted change replaced).

:func:`learn` reads the entity's labelled history (verdicts on incidents, verdicts on results,
labelled ranges) and the stored results' calibrated scores per group over each labelled span,
and lets :func:`admon.thresholds.choose_threshold` decide. After a user's change (a revert, a
threshold set by hand) the automatic learning waits for a new verdict, so that the verdicts
already judged do not undo the user's decision at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from admon.detectors.postrules import DEFAULT_THRESHOLD
from admon.errors import ConfigError, NotFoundError
from admon.registry.annotations import incident_spans
from admon.registry.models import (
    AnnotationRow,
    EntityRow,
    EntityThresholdRow,
    ResultRow,
    SuppressionRow,
)
from admon.thresholds import (
    BOUNDS,
    BY_VERDICTS,
    VERDICT_OF_LABEL,
    Decision,
    LabelledEvent,
    choose_threshold,
)
from admon.thresholds.policy import RunPolicy, Suppression
from admon.timeutil import now_ms


def history(s: Session, entity_id: int) -> Sequence[EntityThresholdRow]:
    """Every threshold change of the entity, oldest first."""
    return s.scalars(select(EntityThresholdRow).where(EntityThresholdRow.entity_id == entity_id)
                     .order_by(EntityThresholdRow.id)).all()


def latest_change(s: Session, entity_id: int) -> EntityThresholdRow | None:
    """The entity's newest threshold change (None: never changed)."""
    return s.scalars(select(EntityThresholdRow).where(EntityThresholdRow.entity_id == entity_id)
                     .order_by(EntityThresholdRow.id.desc()).limit(1)).first()


def override(s: Session, entity_id: int) -> float | None:
    """The entity's threshold override (None: its model's own threshold)."""
    row = latest_change(s, entity_id)
    return None if row is None else row.threshold


def model_threshold(s: Session, entity_id: int) -> float:
    """The threshold the entity's results were last flagged with (the model's unless overridden
    then), else the default: what "no override" means for the evidence."""
    value = s.scalar(select(ResultRow.threshold).where(ResultRow.entity_id == entity_id,
                                                      ResultRow.threshold.is_not(None))
                     .order_by(ResultRow.window_end_ms.desc()).limit(1))
    return DEFAULT_THRESHOLD if value is None else float(value)


def effective_threshold(s: Session, entity_id: int) -> float:
    """The threshold the entity's next run flags with."""
    value = override(s, entity_id)
    return model_threshold(s, entity_id) if value is None else value


def record_change(s: Session, entity_id: int, threshold: float | None, *, changed_by: str, reason: str,
                  evidence: dict[str, Any], reverted_from: int | None = None,
                  now: int | None = None) -> EntityThresholdRow:
    """A new threshold change of the entity (``threshold`` None: back to the model's own)."""
    if s.get(EntityRow, entity_id) is None:
        raise NotFoundError(f"no detection entity with id {entity_id}; list them with `admon entity list`")
    if threshold is not None and not (math.isfinite(threshold) and 0.0 <= threshold <= 100.0):
        raise ConfigError(f"threshold {threshold!r} is not on the calibrated 0-100 scale; give a value in 0..100")
    row = EntityThresholdRow(entity_id=entity_id, threshold=threshold, previous=override(s, entity_id),
                             changed_by=changed_by, changed_ms=now_ms() if now is None else now, reason=reason,
                             evidence=evidence, reverted_from=reverted_from)
    s.add(row)
    s.flush()
    return row


def revert(s: Session, entity_id: int, change_id: int, *, changed_by: str) -> EntityThresholdRow:
    """Undo change ``change_id`` of the entity: a new change back to the value it replaced."""
    target = s.get(EntityThresholdRow, change_id)
    if target is None or target.entity_id != entity_id:
        ids = [row.id for row in history(s, entity_id)]
        raise NotFoundError(f"entity {entity_id} has no threshold change {change_id}; its changes are {ids} "
                            "(see `admon entity threshold ENTITY --history`)")
    restored = "the model's own threshold" if target.previous is None else f"{target.previous:g}"
    return record_change(s, entity_id, target.previous, changed_by=changed_by, reverted_from=change_id,
                         reason=f"revert of change {change_id}: back to {restored}",
                         evidence={"reverted": change_id, "threshold_before": effective_threshold(s, entity_id),
                                   "reverted_change": {"threshold": target.threshold, "previous": target.previous,
                                                       "changed_by": target.changed_by}})


def _matches(group: dict[str, Any], selector: dict[str, Any]) -> bool:
    return all(k in group and str(group[k]) == str(v) for k, v in selector.items())


def labelled_events(s: Session, entity_id: int) -> tuple[list[LabelledEvent], int]:
    """The entity's labelled history as events with the peak score of their group inside them,
    and how many labelled events a suppression window covers entirely (left out)."""
    notes = s.scalars(select(AnnotationRow).where(AnnotationRow.entity_id == entity_id)
                      .order_by(AnnotationRow.id)).all()
    notes = [a for a in notes if a.label in VERDICT_OF_LABEL]
    if not notes:
        return [], 0
    spans = incident_spans(s, entity_id)
    located = [(a, *spans.get(a.detection_id or "", (a.start_ms, a.end_ms))) for a in notes]
    entity = s.get(EntityRow, entity_id)
    reach = (entity.interval_minutes if entity is not None else 0) * 60_000  # a window ends after its peak
    # only the results of windows that can peak inside a labelled span (merged), not the whole history
    ranges: list[list[int]] = []
    for start, end in sorted((start, end + reach) for _, start, end in located):
        if ranges and start <= ranges[-1][1]:
            ranges[-1][1] = max(ranges[-1][1], end)
        else:
            ranges.append([start, end])
    scored = []
    for first in range(0, len(ranges), 200):  # a bounded number of conditions per query
        near = or_(*[and_(ResultRow.timestamp_ms > a, ResultRow.timestamp_ms <= b) for a, b in ranges[first:first + 200]])
        results = s.execute(select(ResultRow.group_key, ResultRow.timestamp_ms, ResultRow.anomaly_score,
                                   ResultRow.document)
                            .where(ResultRow.entity_id == entity_id, ResultRow.anomaly_score.is_not(None), near))
        for group, window_end, score, document in results:
            peak_at = (document or {}).get("peak_timestamp")
            scored.append((group or {}, int(window_end if peak_at is None else peak_at), float(score)))
    rules = suppressions(s, entity_id)
    events, suppressed = [], 0
    for note, start, end in located:
        selector = note.group_key or {}
        if any(rule.start_ms <= start and end <= rule.end_ms and _matches(selector, dict(rule.group))
               for rule in rules):
            suppressed += 1
            continue
        inside = [score for group, at, score in scored
                  if start <= at < end and _matches(group, selector) and math.isfinite(score)]
        events.append(LabelledEvent(VERDICT_OF_LABEL[note.label], max(inside) if inside else None,
                                    label=note.detection_id or f"annotation {note.id}"))
    return events, suppressed


def learn(s: Session, entity_id: int, *, requested_by: str | None = None,
          bounds: tuple[float, float] = BOUNDS) -> tuple[Decision, EntityThresholdRow | None]:
    """Recompute the entity's threshold from its verdicts; a change is recorded (by
    ``verdicts``). ``requested_by`` None is the automatic learning after a verdict, which
    leaves a user's change alone until a verdict newer than it arrives."""
    current = override(s, entity_id)
    effective = model_threshold(s, entity_id) if current is None else current
    last = latest_change(s, entity_id)
    if requested_by is None and last is not None and last.changed_by != BY_VERDICTS:
        newest = s.scalar(select(func.max(func.coalesce(AnnotationRow.updated_ms, AnnotationRow.created_ms)))
                          .where(AnnotationRow.entity_id == entity_id))
        if newest is None or newest <= last.changed_ms:
            return Decision(effective, False, f"{last.changed_by} set it (change {last.id}); "
                                              "waiting for a newer verdict"), None
    events, suppressed = labelled_events(s, entity_id)
    decision = choose_threshold(events, effective, bounds=bounds)
    decision.evidence.update({
        "model_threshold": current is None, "suppressed_events": suppressed,
        "suppressions": [{"id": r.id, "group": dict(r.group), "start_ms": r.start_ms, "end_ms": r.end_ms,
                          "reason": r.reason} for r in suppressions(s, entity_id)],
        "events": [{"label": e.label, "verdict": e.verdict, "peak": e.peak} for e in events],
    })
    if requested_by is not None:
        decision.evidence["requested_by"] = requested_by
    if not decision.changed:
        return decision, None
    row = record_change(s, entity_id, decision.threshold, changed_by=BY_VERDICTS, reason=decision.reason,
                        evidence=decision.evidence)
    return decision, row


# --- suppressions ---------------------------------------------------------------------------------


def add_suppression(s: Session, entity_id: int, *, start_ms: int, end_ms: int, reason: str,
                    created_by: str, group_key: dict[str, Any] | None = None) -> SuppressionRow:
    """A new suppression window of the entity (``group_key`` None or empty: every group)."""
    if s.get(EntityRow, entity_id) is None:
        raise NotFoundError(f"no detection entity with id {entity_id}; list them with `admon entity list`")
    if not start_ms < end_ms:
        raise ConfigError(f"a suppression needs start < end, got start={start_ms} end={end_ms}; swap or widen them")
    if not reason.strip():
        raise ConfigError("a suppression needs a reason (e.g. 'planned maintenance'); give --reason / \"reason\"")
    row = SuppressionRow(entity_id=entity_id, group_key=dict(group_key or {}), start_ms=start_ms, end_ms=end_ms,
                         reason=reason.strip(), created_by=created_by, created_ms=now_ms())
    s.add(row)
    s.flush()
    return row


def suppressions(s: Session, entity_id: int, start_ms: int | None = None,
                 end_ms: int | None = None) -> list[Suppression]:
    """The entity's suppression windows (overlapping ``[start_ms, end_ms)`` when given), by start."""
    query = select(SuppressionRow).where(SuppressionRow.entity_id == entity_id)
    if start_ms is not None:
        query = query.where(SuppressionRow.end_ms > start_ms)
    if end_ms is not None:
        query = query.where(SuppressionRow.start_ms < end_ms)
    rows = s.scalars(query.order_by(SuppressionRow.start_ms, SuppressionRow.id)).all()
    return [Suppression(r.id, dict(r.group_key or {}), r.start_ms, r.end_ms, r.reason) for r in rows]


def suppression_rows(s: Session, entity_id: int) -> Sequence[SuppressionRow]:
    """The entity's suppression rows (with who made them, and when), by start."""
    return s.scalars(select(SuppressionRow).where(SuppressionRow.entity_id == entity_id)
                     .order_by(SuppressionRow.start_ms, SuppressionRow.id)).all()


def run_policy(s: Session, entity_id: int, start_ms: int, end_ms: int) -> RunPolicy:
    """What a detect run of ``[start_ms, end_ms)`` applies: the override and the suppressions
    overlapping the window."""
    return RunPolicy(override(s, entity_id), tuple(suppressions(s, entity_id, start_ms, end_ms)))


def change_json(row: EntityThresholdRow) -> dict[str, Any]:
    """One threshold change as the API and ``--json`` show it."""
    return {"id": row.id, "threshold": row.threshold, "previous": row.previous, "changed_by": row.changed_by,
            "changed_ms": row.changed_ms, "reason": row.reason, "reverted_from": row.reverted_from,
            "evidence": row.evidence}


def suppression_json(row: SuppressionRow) -> dict[str, Any]:
    """One suppression window as the API and ``--json`` show it."""
    return {"id": row.id, "group": row.group_key or {}, "start_ms": row.start_ms, "end_ms": row.end_ms,
            "reason": row.reason, "created_by": row.created_by, "created_ms": row.created_ms}


def describe(s: Session, entity_id: int) -> dict[str, Any]:
    """The entity's threshold: the value its runs flag with, where it comes from and why, the
    history of changes (oldest first) and the suppression windows."""
    changes = history(s, entity_id)
    last = changes[-1] if changes else None
    if last is None or last.threshold is None:
        value, source = model_threshold(s, entity_id), "model"
        why = "the model's own threshold" + ("" if last is None else f" ({last.reason})")
    else:
        value, source, why = last.threshold, last.changed_by, last.reason
    return {"entity_id": entity_id, "threshold": value, "source": source, "reason": why,
            "changed_ms": None if last is None else last.changed_ms,
            "change_id": None if last is None else last.id,
            "history": [change_json(row) for row in changes],
            "suppressions": [suppression_json(row) for row in suppression_rows(s, entity_id)]}
