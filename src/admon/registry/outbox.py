"""The outbox's rows: documents owed to a durable sink until it acknowledged them.

The delivery loop (:mod:`admon.sinks.outbox`) reads and acknowledges them here; a run
queues them with its results (:func:`admon.registry.runs.finish_run` with
:func:`outbox_rows`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from admon.registry.models import RUNNING, UNFINISHED_STATUSES, EntityRow, OutboxRow, RunRow


def outbox_rows(queued: Iterable[tuple[str, dict[str, Any]]], run_id: int, window_end_ms: int,
                now: int) -> list[dict[str, Any]]:
    """The outbox rows of a run's ``queued`` ``(sink url, document)`` pairs."""
    return [{"sink": url, "doc_id": d["id"], "run_id": run_id, "window_end_ms": window_end_ms,
             "payload": d, "delivered": False, "attempts": 0, "next_attempt_ms": 0, "created_ms": now}
            for url, d in queued]


def deliverable(s: Session, sink_url: str, limit: int, now: int) -> Sequence[Any]:
    """``sink_url``'s next ``limit`` outbox rows (``id``, ``payload``, ``next_attempt_ms``,
    ``attempts``), in window order, leaving out the windows held back behind an unfinished
    earlier window of the same entity."""
    earlier = aliased(RunRow)
    enabled = select(EntityRow.id).where(EntityRow.enabled.is_(True))
    held = (
        select(earlier.id)
        .where(earlier.entity_id == RunRow.entity_id, earlier.window_end_ms < OutboxRow.window_end_ms,
               or_(and_(earlier.status.in_(UNFINISHED_STATUSES), earlier.entity_id.in_(enabled)),
                   and_(earlier.status == RUNNING, earlier.lease_expires_ms >= now)))
        .exists()
    )
    return s.execute(
        select(OutboxRow.id, OutboxRow.payload, OutboxRow.next_attempt_ms, OutboxRow.attempts)
        .join(RunRow, RunRow.id == OutboxRow.run_id)
        .where(OutboxRow.sink == sink_url, OutboxRow.delivered.is_(False), ~held)
        .order_by(OutboxRow.window_end_ms, OutboxRow.id)
        .limit(limit)
    ).all()


def acknowledge(s: Session, ids: Sequence[int]) -> None:
    """The sink accepted these rows: they leave the outbox (``results`` keeps every document)."""
    s.execute(delete(OutboxRow).where(OutboxRow.id.in_(list(ids))))


def postpone(s: Session, ids: Sequence[int], next_attempt_ms: int, error: str) -> None:
    """A send of these rows failed: count the attempt, wait until ``next_attempt_ms``."""
    s.execute(update(OutboxRow).where(OutboxRow.id.in_(list(ids))).values(
        attempts=OutboxRow.attempts + 1, next_attempt_ms=next_attempt_ms, last_error=error[:2000]))


def count_pending_outbox(s: Session, sink: str | Sequence[str] | None = None) -> int:
    """Documents not delivered yet (to ``sink``, or to any of several sinks)."""
    query = select(func.count()).select_from(OutboxRow).where(OutboxRow.delivered.is_(False))
    if isinstance(sink, str):
        query = query.where(OutboxRow.sink == sink)
    elif sink is not None:
        query = query.where(OutboxRow.sink.in_(list(sink)))
    return int(s.scalar(query) or 0)
