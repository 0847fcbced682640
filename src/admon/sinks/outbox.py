"""The durable outbox: documents wait in the database until their sink acknowledged them.

A run writes its results and one outbox row per (durable sink, document) in the
same transaction as its status, so a document is queued exactly when its run
succeeded. :func:`deliver` then sends each sink's pending documents in window
order, deletes them from the outbox once the sink accepted them (the ``results``
table keeps every document; the outbox holds only what is still owed, so it stays
small however long admon runs), and on a failure stops
that sink (keeping the order) until a backoff has passed. One process at a time
delivers to a sink (lease ``deliver:<sink url>``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from admon.registry import repository as repo
from admon.registry.models import OutboxRow
from admon.sinks.base import Sink, SinkError
from admon.timeutil import now_ms

log = logging.getLogger(__name__)
MAX_BACKOFF_MS = 300_000


@dataclasses.dataclass
class DeliveryReport:
    delivered: int = 0
    failed_batches: int = 0
    pending_sinks: list[str] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)


def enqueue(s: Session, sinks: Sequence[Sink], documents: list[dict], run_id: int,
            window_end_ms: int) -> int:
    """Queue ``documents`` for every durable sink (inside the caller's transaction)."""
    now = now_ms()
    count = 0
    for sink in sinks:
        if not sink.durable:
            continue
        for doc in documents:
            s.add(OutboxRow(sink=sink.url, doc_id=doc["id"], run_id=run_id, window_end_ms=window_end_ms,
                            payload=doc, delivered=False, attempts=0, next_attempt_ms=0, created_ms=now))
            count += 1
    return count


def deliver(
    factory: sessionmaker[Session],
    sinks: Sequence[Sink],
    *,
    owner: str,
    batch_size: int = 500,
    backoff_seconds: float = 2.0,
    lease_seconds: float = 120.0,
    max_batches: int | None = None,
    now: int | None = None,
) -> DeliveryReport:
    """Send pending outbox documents to every durable sink, oldest window first."""
    report = DeliveryReport()
    for sink in sinks:
        if not sink.durable:
            continue
        lease = f"deliver:{sink.url}"
        with factory() as s:
            if not repo.acquire_lease(s, lease, owner, int(lease_seconds * 1000), now):
                report.pending_sinks.append(sink.url)
                continue
        try:
            _deliver_sink(factory, sink, owner, lease, batch_size, backoff_seconds, lease_seconds,
                          max_batches, now, report)
        finally:
            with factory() as s:
                repo.release_lease(s, lease, owner)
    return report


def _deliver_sink(factory, sink, owner, lease, batch_size, backoff_seconds, lease_seconds,
                  max_batches, now, report) -> None:
    batches = 0
    while max_batches is None or batches < max_batches:
        current = now_ms() if now is None else now
        with factory() as s:
            rows = s.execute(
                select(OutboxRow.id, OutboxRow.payload, OutboxRow.next_attempt_ms, OutboxRow.attempts)
                .where(OutboxRow.sink == sink.url, OutboxRow.delivered.is_(False))
                .order_by(OutboxRow.window_end_ms, OutboxRow.id)
                .limit(batch_size)
            ).all()
            s.commit()
        if not rows:
            return
        if rows[0].next_attempt_ms > current:  # backing off: later documents wait, order is kept
            report.pending_sinks.append(sink.url)
            return
        ids = [r.id for r in rows]
        try:
            sink.send([r.payload for r in rows])
        except SinkError as exc:
            attempts = max(r.attempts for r in rows) + 1
            wait = min(MAX_BACKOFF_MS, int(backoff_seconds * 1000 * 2 ** (attempts - 1)))
            with factory() as s:
                s.execute(update(OutboxRow).where(OutboxRow.id.in_(ids)).values(
                    attempts=OutboxRow.attempts + 1, next_attempt_ms=current + wait,
                    last_error=str(exc)[:2000]))
                s.commit()
            log.warning("sink %s failed (attempt %d), retrying in %.1f s: %s", sink.url, attempts,
                        wait / 1000, exc)
            report.failed_batches += 1
            report.errors.append(str(exc))
            report.pending_sinks.append(sink.url)
            return
        with factory() as s:
            s.execute(delete(OutboxRow).where(OutboxRow.id.in_(ids)))
            s.commit()
            # renew: a long backlog must not let the lease lapse under us
            repo.acquire_lease(s, lease, owner, int(lease_seconds * 1000), now)
        report.delivered += len(ids)
        batches += 1
