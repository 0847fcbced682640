"""Runs and leases: the run rows of every (entity, window), their leases, and named leases.

A run row is claimed under a lease (:func:`claim_run`), renewed while it works
(:func:`renew_run_lease`) and finished by one statement that checks the lease
(:func:`finish_run`, :func:`finish_run_no_data`, :func:`record_run_failure`), so a
window commits once, by its lease holder. Claiming locks the candidate row through
:func:`admon.registry.dialect.with_row_locks` (SKIP LOCKED on PostgreSQL, the single
writer on SQLite).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.orm import Session

from admon.errors import NotFoundError
from admon.registry.dialect import insert_ignoring_conflicts, with_row_locks
from admon.registry.models import (
    FAILED,
    NO_DATA,
    PENDING,
    RETRYING,
    RUNNING,
    SUCCEEDED,
    EntityRow,
    LeaseRow,
    OutboxRow,
    ResultRow,
    RunRow,
)
from admon.registry.rows import affected
from admon.timeutil import now_ms

# --- reading runs -------------------------------------------------------------------------------


def get_run(s: Session, run_id: int) -> RunRow:
    row = s.get(RunRow, int(run_id))
    if row is None:
        raise NotFoundError(f"no run {run_id!r}; list runs with `admon runs list ENTITY`")
    return row


def list_runs(
    s: Session, entity_id: int, *, limit: int | None = None, status: str | None = None
) -> Sequence[RunRow]:
    """Runs of an entity, newest window first."""
    query = select(RunRow).where(RunRow.entity_id == entity_id).order_by(RunRow.window_end_ms.desc())
    if status is not None:
        query = query.where(RunRow.status == status)
    if limit is not None:
        query = query.limit(limit)
    return s.scalars(query).all()


def run_status(s: Session, run_id: int) -> tuple[str, int]:
    """``(status, next_attempt_ms)`` of a run."""
    row = get_run(s, run_id)
    return row.status, row.next_attempt_ms


def last_window_ends(s: Session) -> dict[int, int]:
    """Per entity, the end of its newest run window (entities without runs are absent)."""
    return dict(s.execute(select(RunRow.entity_id, func.max(RunRow.window_end_ms))  # type: ignore[arg-type]
                          .group_by(RunRow.entity_id)).all())


def count_open_runs(s: Session) -> int:
    """Runs of enabled entities that are not finished (pending, retrying or running)."""
    enabled = select(EntityRow.id).where(EntityRow.enabled.is_(True))
    return int(s.scalar(select(func.count()).select_from(RunRow).where(
        RunRow.status.in_((PENDING, RETRYING, RUNNING)), RunRow.entity_id.in_(enabled))) or 0)


# --- planning -----------------------------------------------------------------------------------


def insert_runs(s: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert run rows, skipping those whose ``(entity, window_end)`` exists; returns how many were
    new. Safe beside other schedulers planning the same windows."""
    if not rows:
        return 0
    return len(insert_ignoring_conflicts(s, RunRow, rows, ["entity_id", "window_end_ms"], RunRow.id))


def rerun_windows(s: Session, entity_id: int, window_ends: Sequence[int]) -> dict[int, int]:
    """Make the failed and ``no_data`` runs of these windows pending again (a backfill asked for
    them again); returns ``{window_end: run id}`` of the windows that have a run."""
    if not window_ends:
        return {}
    in_windows = (RunRow.entity_id == entity_id, RunRow.window_end_ms.in_(list(window_ends)))
    runs = dict(s.execute(select(RunRow.window_end_ms, RunRow.id).where(*in_windows)).all())
    s.execute(update(RunRow).where(*in_windows, RunRow.status.in_((FAILED, NO_DATA)))
              .values(status=PENDING, failures=0, next_attempt_ms=0))
    return runs  # type: ignore[return-value]


# --- claiming and finishing -----------------------------------------------------------------------


class ClaimedRun(NamedTuple):
    """A run this process holds the lease of."""

    run_id: int
    entity_id: int
    window_start_ms: int
    window_end_ms: int
    attempts: int
    failures: int
    #: 1, or more for a window re-run because late data changed its input.
    revision: int = 1


def _claimable(now: int) -> Any:
    return or_(
        and_(RunRow.status.in_((PENDING, RETRYING)), RunRow.next_attempt_ms <= now),
        and_(RunRow.status == RUNNING, RunRow.lease_expires_ms < now),
    )


def claim_run(s: Session, owner: str, ttl_ms: int, *, entity_id: int | None = None,
              run_id: int | None = None, enabled_only: bool = True,
              now: int | None = None) -> ClaimedRun | None:
    """Lease the oldest runnable run (of one entity, or one given run) to ``owner``, or None.

    Commits. The candidate row is locked (:func:`~admon.registry.dialect.with_row_locks`), so
    concurrent claimers each get another run; the conditional UPDATE is the final word.
    """
    now = now_ms() if now is None else now
    query = select(RunRow.id).where(_claimable(now))
    if run_id is not None:
        query = query.where(RunRow.id == run_id)
    if entity_id is not None:
        query = query.where(RunRow.entity_id == entity_id)
    if enabled_only:
        enabled = select(EntityRow.id).where(EntityRow.enabled.is_(True))
        query = query.where(RunRow.entity_id.in_(enabled))
    query = query.order_by(RunRow.window_end_ms, RunRow.entity_id).limit(1)
    candidate = s.scalar(with_row_locks(query, s, skip_locked=True))
    if candidate is not None and affected(s, update(RunRow)
        .where(RunRow.id == candidate, _claimable(now))
        .values(status=RUNNING, lease_owner=owner, lease_expires_ms=now + ttl_ms,
                attempts=RunRow.attempts + 1, started_ms=now, error=None)
    ):
        row = s.execute(select(RunRow.id, RunRow.entity_id, RunRow.window_start_ms, RunRow.window_end_ms,
                               RunRow.attempts, RunRow.failures, RunRow.revision)
                        .where(RunRow.id == candidate)).one()
        s.commit()
        return ClaimedRun(*row)
    s.commit()
    return None


def renew_run_lease(s: Session, run_id: int, owner: str, ttl_ms: int) -> bool:
    """Extend ``owner``'s lease of a running run; False once it is not ``owner``'s any more."""
    return bool(affected(s, update(RunRow)
        .where(RunRow.id == run_id, RunRow.lease_owner == owner, RunRow.status == RUNNING)
        .values(lease_expires_ms=now_ms() + ttl_ms)
    ))


def _owned(run_id: int, owner: str) -> tuple:
    return (RunRow.id == run_id, RunRow.lease_owner == owner, RunRow.status == RUNNING)


def finish_run(s: Session, run_id: int, owner: str, values: dict[str, Any],
               results: Sequence[dict[str, Any]] = (), outbox: Sequence[dict[str, Any]] = (), *,
               replaces_earlier: bool = False) -> bool:
    """Mark a run ``owner`` still leases succeeded (with ``values``), and insert its result and
    outbox rows, in the caller's transaction; False (and nothing written, the transaction
    rolled back) when the lease is not ``owner``'s any more. ``replaces_earlier`` (a re-run of
    the window for late data): its earlier results and undelivered outbox rows go first."""
    owned = affected(s, update(RunRow).where(*_owned(run_id, owner))
        .values(status=SUCCEEDED, error=None, lease_owner=None, lease_expires_ms=None, **values)
    )
    if not owned:
        s.rollback()
        return False
    if replaces_earlier:
        # a window re-run for late data replaces its results (same document ids, a new revision)
        # and whatever of its earlier revision is still owed to a sink: the new revision supersedes it
        s.execute(delete(ResultRow).where(ResultRow.run_id == run_id))
        s.execute(delete(OutboxRow).where(OutboxRow.run_id == run_id))
    # Core inserts (executemany): no ORM bookkeeping for rows nobody loads back
    if results:
        s.execute(ResultRow.__table__.insert(), list(results))  # type: ignore[attr-defined]
    if outbox:
        s.execute(OutboxRow.__table__.insert(), list(outbox))  # type: ignore[attr-defined]
    return True


def set_run_values(s: Session, run_id: int, **values: Any) -> None:
    """Set columns of a run (e.g. its timings once the commit's own time is known)."""
    s.execute(update(RunRow).where(RunRow.id == run_id).values(**values))


def finish_run_no_data(s: Session, run_id: int, owner: str, values: dict[str, Any]) -> bool:
    """Mark a run ``owner`` still leases ``no_data``; False when the lease is not ``owner``'s."""
    return bool(affected(s, update(RunRow).where(*_owned(run_id, owner))
        .values(status=NO_DATA, rows=0, groups=0, anomalies=0, error=None, lease_owner=None,
                lease_expires_ms=None, **values)
    ))


def record_run_failure(s: Session, run_id: int, owner: str, values: dict[str, Any]) -> bool:
    """Record a failed attempt (``values``: status, failures, next_attempt_ms, error, ...) of a
    run ``owner`` leases, and release the lease."""
    return bool(affected(s, update(RunRow).where(RunRow.id == run_id, RunRow.lease_owner == owner)
        .values(lease_owner=None, lease_expires_ms=None, **values)
    ))


# --- named leases ------------------------------------------------------------------------------


def acquire_lease(s: Session, name: str, owner: str, ttl_ms: int, now: int | None = None) -> bool:
    """Take or renew lease ``name`` for ``owner`` unless someone else holds it unexpired.

    Commits (a lease is only useful once others can see it). Works the same on SQLite and
    PostgreSQL: the conditional UPDATE is atomic, and the INSERT of a new lease loses
    cleanly (unique name) when another process inserts it first.
    """
    now = now_ms() if now is None else now
    taken = affected(s, update(LeaseRow)
        .where(LeaseRow.name == name, (LeaseRow.owner == owner) | (LeaseRow.expires_ms < now))
        .values(owner=owner, expires_ms=now + ttl_ms)
    )
    if taken:
        s.commit()
        return True
    if s.get(LeaseRow, name) is not None:
        s.commit()
        return False
    s.add(LeaseRow(name=name, owner=owner, expires_ms=now + ttl_ms))
    try:
        s.commit()
    except SAIntegrityError:
        s.rollback()
        return False
    return True


def release_lease(s: Session, name: str, owner: str) -> None:
    s.execute(delete(LeaseRow).where(LeaseRow.name == name, LeaseRow.owner == owner))
    s.commit()


# --- late data ---------------------------------------------------------------------------------------


class FinishedWindow(NamedTuple):
    """A succeeded run as the late-data check sees it."""

    run_id: int
    window_start_ms: int
    window_end_ms: int
    revision: int
    input_fingerprint: dict[str, Any] | None


def succeeded_windows(s: Session, entity_id: int, start_ms: int, end_ms: int) -> list[FinishedWindow]:
    """The entity's succeeded runs whose window ends in ``[start_ms, end_ms]``, oldest first."""
    rows = s.execute(select(RunRow.id, RunRow.window_start_ms, RunRow.window_end_ms, RunRow.revision,
                            RunRow.input_fingerprint)
                     .where(RunRow.entity_id == entity_id, RunRow.status == SUCCEEDED,
                            RunRow.window_end_ms >= start_ms, RunRow.window_end_ms <= end_ms)
                     .order_by(RunRow.window_end_ms)).all()
    return [FinishedWindow(*row) for row in rows]


def set_input_fingerprint(s: Session, run_id: int, fingerprint: dict[str, Any], *, revision: int) -> bool:
    """Store a succeeded run's fingerprint, unless the run changed meanwhile (re-run or re-opened)."""
    return bool(affected(s, update(RunRow).where(RunRow.id == run_id, RunRow.status == SUCCEEDED,
                                                 RunRow.revision == revision)
                         .values(input_fingerprint=fingerprint)))


def reopen_for_late_data(s: Session, run_id: int, *, revision: int, found: dict[str, Any]) -> bool:
    """Make a succeeded run pending again as revision ``revision + 1`` (its results stay until the
    re-run commits), appending ``found`` to its ``late_data``; False if it is not succeeded at
    ``revision`` any more (another process re-opened it first)."""
    row = s.execute(select(RunRow.late_data).where(RunRow.id == run_id)).first()
    if row is None:
        return False
    history = [*(row[0] or []), {**found, "revision": revision + 1}]
    return bool(affected(s, update(RunRow).where(RunRow.id == run_id, RunRow.status == SUCCEEDED,
                                                 RunRow.revision == revision)
                         .values(status=PENDING, revision=revision + 1, attempts=0, failures=0,
                                 next_attempt_ms=0, late_data=history)))
