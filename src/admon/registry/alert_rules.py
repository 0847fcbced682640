"""Alert rules in the registry, and what the runner's alerting reads and writes in a run's commit.

A rule is checked against its entity (:func:`admon.alerts.check_rule`) before it is inserted,
in the caller's transaction: a rule that does not fit is a :class:`~admon.errors.ConfigError`
and nothing is written. The runner reads an entity's rules, the health streak of its runs
(:func:`health_streak`) and a run's trigger, and queues alert documents
(:func:`queue_alerts`) in the run's one commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.orm import Session

from admon.alerts.rules import AlertRule, AlertRuleCreate, check_rule
from admon.errors import ConflictError, NotFoundError
from admon.registry.models import (
    FAILED,
    NO_DATA,
    SUCCEEDED,
    AlertRuleRow,
    EntityRow,
    OutboxRow,
    RunRow,
)
from admon.registry.outbox import outbox_rows
from admon.registry.rows import affected


def rule_of(row: AlertRuleRow) -> AlertRule:
    return AlertRule(id=row.id, entity_id=row.entity_id, name=row.name, min_score=row.min_score,
                     min_duration_minutes=row.min_duration_minutes, groups=dict(row.groups),
                     labels=dict(row.labels), annotations=dict(row.annotations), created_ms=row.created_ms)


def group_keys(entity: EntityRow) -> list[str]:
    """The group keys of an entity's results (its InputDataConfig's ``group_by``)."""
    return list((entity.input_data_config or {}).get("group_by") or [])


def create_rule(s: Session, entity: EntityRow, rule: AlertRuleCreate, now: int) -> AlertRule:
    """Check ``rule`` against ``entity`` and store it; ConfigError (nothing stored) if it does not
    fit, ConflictError if the entity has a rule of that name."""
    check_rule(rule, group_keys(entity))
    row = AlertRuleRow(entity_id=entity.id, name=rule.name, min_score=rule.min_score,
                       min_duration_minutes=rule.min_duration_minutes, groups=dict(rule.groups),
                       labels=dict(rule.labels), annotations=dict(rule.annotations), created_ms=now)
    try:
        with s.begin_nested():
            s.add(row)
    except SAIntegrityError:
        raise ConflictError(f"entity {entity.id} has an alert rule named {rule.name!r} already; choose another "
                            "name, or delete that rule first") from None
    return rule_of(row)


def list_rules(s: Session, entity_id: int) -> list[AlertRule]:
    """The entity's rules, oldest first (the order they are matched in)."""
    rows = s.scalars(select(AlertRuleRow).where(AlertRuleRow.entity_id == entity_id)
                     .order_by(AlertRuleRow.id)).all()
    return [rule_of(row) for row in rows]


def delete_rule(s: Session, entity_id: int, rule_id: int) -> None:
    """Delete rule ``rule_id`` of the entity; NotFoundError if it has no such rule."""
    if not affected(s, delete(AlertRuleRow).where(AlertRuleRow.id == rule_id, AlertRuleRow.entity_id == entity_id)):
        raise NotFoundError(f"entity {entity_id} has no alert rule {rule_id}; list its rules at "
                            f"/api/entities/{entity_id}/alert-rules")


def run_trigger(s: Session, run_id: int) -> str:
    """What created a run: ``scheduler`` or ``backfill``."""
    return str(s.scalar(select(RunRow.trigger).where(RunRow.id == run_id)) or "")


class HealthStreak(NamedTuple):
    """The ``no_data``/``failed`` runs of an entity since its last succeeded run."""

    runs: int
    first_window_end_ms: int | None
    last_window_end_ms: int | None
    statuses: frozenset[str]


def health_streak(s: Session, entity_id: int, up_to_window_end_ms: int, *, inclusive: bool = True) -> HealthStreak:
    """The entity's runs finished ``no_data`` or ``failed`` after its last succeeded window and up to
    ``up_to_window_end_ms`` (``inclusive``: that window counts)."""
    upper = (RunRow.window_end_ms <= up_to_window_end_ms if inclusive
             else RunRow.window_end_ms < up_to_window_end_ms)
    last_ok = s.scalar(select(func.max(RunRow.window_end_ms)).where(
        RunRow.entity_id == entity_id, RunRow.status == SUCCEEDED, upper))
    query = (select(RunRow.status, func.count(), func.min(RunRow.window_end_ms), func.max(RunRow.window_end_ms))
             .where(RunRow.entity_id == entity_id, RunRow.status.in_((NO_DATA, FAILED)), upper)
             .group_by(RunRow.status))
    if last_ok is not None:
        query = query.where(RunRow.window_end_ms > last_ok)
    rows = s.execute(query).all()
    if not rows:
        return HealthStreak(0, None, None, frozenset())
    return HealthStreak(sum(r[1] for r in rows), min(r[2] for r in rows), max(r[3] for r in rows),
                        frozenset(r[0] for r in rows))


def queue_alerts(s: Session, queued: Iterable[tuple[str, dict[str, Any]]], run_id: int, window_end_ms: int,
                 now: int) -> int:
    """Queue ``(sink url, alert document)`` pairs in the caller's transaction (the run's commit).

    A document already queued for its sink (the same state of an alert, from a window run again)
    is left as it is: an alert state is sent once. Returns how many rows were added."""
    rows = outbox_rows(queued, run_id, window_end_ms, now)
    if not rows:
        return 0
    pending: Sequence[Any] = s.execute(select(OutboxRow.sink, OutboxRow.doc_id).where(
        OutboxRow.doc_id.in_([r["doc_id"] for r in rows]))).all()
    seen = {(sink, doc_id) for sink, doc_id in pending}
    fresh = []
    for row in rows:
        if (row["sink"], row["doc_id"]) not in seen:
            seen.add((row["sink"], row["doc_id"]))
            fresh.append(row)
    if fresh:
        s.execute(OutboxRow.__table__.insert(), fresh)  # type: ignore[attr-defined]
    return len(fresh)
