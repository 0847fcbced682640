"""The durable outbox: documents wait in the database until their sink acknowledged them.

A run writes its results and one outbox row per (durable sink, document) in the
same transaction as its status, so a document is queued exactly when its run
succeeded. :func:`deliver` then sends each sink's pending documents in window
order, deletes them from the outbox once the sink accepted them (the ``results``
table keeps every document; the outbox holds only what is still owed, so it stays
small however long admon runs), and on a failure stops
that sink (keeping the order) until a backoff has passed. One process at a time
delivers to a sink (lease ``deliver:<sink url>``).

**In window order per entity.** A window's documents are held back while an earlier
window of the same entity is not finished: pending, retrying or running (leased;
also by a scheduler that died, until its lease expires and the window is run
again). Of a disabled entity, whose queued windows do not run until it is enabled
again, only a window running under a live lease holds the later ones back. So a window killed mid-run and re-run later is still
delivered before the windows after it, even if those finished first. A window that
finally failed or had no data holds nothing back. The price: a later window waits
for an earlier one's retries (at most ``ADMON_RUN_MAX_ATTEMPTS`` with backoff), and
a backfill of an older range holds the entity's newer results until it is done.

**Resumable.** A sink with a ``chunk_size`` gets each batch in chunks of that size;
each acknowledged chunk is deleted from the outbox before the next is sent, so a
failure (or a kill) re-sends only the chunk that was in flight.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from admon.registry import repository as repo
from admon.registry.db import SessionFactory
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


def deliver(
    factory: SessionFactory,
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
    chunk_size = getattr(sink, "chunk_size", None) or batch_size
    batches = 0
    while max_batches is None or batches < max_batches:
        current = now_ms() if now is None else now
        with factory() as s:
            rows = repo.deliverable(s, sink.url, batch_size, current)
            s.commit()
        if not rows:
            return
        if rows[0].next_attempt_ms > current:  # backing off: later documents wait, order is kept
            report.pending_sinks.append(sink.url)
            return
        for start in range(0, len(rows), chunk_size):
            chunk = rows[start:start + chunk_size]
            if not _send_chunk(factory, sink, chunk, backoff_seconds, current, report):
                return
            with factory() as s:
                # renew: a long backlog must not let the lease lapse under us
                if not repo.acquire_lease(s, lease, owner, int(lease_seconds * 1000), now):
                    log.warning("lost the delivery lease of %s to another process; it delivers now",
                                sink.url)
                    report.pending_sinks.append(sink.url)
                    return
        batches += 1


def _send_chunk(factory, sink, chunk, backoff_seconds: float, current: int, report: DeliveryReport) -> bool:
    """Send one chunk; drop it from the outbox once acknowledged. False: it failed (backing off)."""
    ids = [r.id for r in chunk]
    try:
        sink.send([r.payload for r in chunk])
    except SinkError as exc:
        attempts = max(r.attempts for r in chunk) + 1
        wait = min(MAX_BACKOFF_MS, int(backoff_seconds * 1000 * 2 ** (attempts - 1)))
        with factory() as s:
            repo.postpone(s, ids, current + wait, str(exc))
            s.commit()
        log.warning("sink %s failed (attempt %d), retrying in %.1f s: %s", sink.url, attempts,
                    wait / 1000, exc)
        report.failed_batches += 1
        report.errors.append(str(exc))
        report.pending_sinks.append(sink.url)
        return False
    with factory() as s:
        repo.acknowledge(s, ids)
        s.commit()
    report.delivered += len(ids)
    return True
