"""Job state in the registry: open action episodes, and a job config recorded at first run.

An entity's action rule (a forecast entity's throughput rule) announces an episode once:
the episode is opened, with the notice document queued for the webhook sink, in the
commit of the run that saw it start, and closed in the commit of the run that saw it
clear. Both are compare-and-set against what the run read when it started
(:class:`admon.runs.kinds.EpisodeChange`), so two runs of one entity cannot both announce
it; the loser's commit raises :class:`~admon.errors.ConflictError` and the run is retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.orm import Session

from admon.errors import ConflictError
from admon.registry.models import EntityRow, EpisodeRow
from admon.registry.rows import affected


class EpisodeChangeLike(Protocol):
    key: str
    expected: str | None
    new: str | None
    payload: dict[str, Any] | None


def open_episodes(s: Session, entity_id: int) -> dict[str, dict[str, Any]]:
    """``key -> {episode_id, opened_ms, run_id, payload}`` of the entity's open episodes."""
    rows = s.scalars(select(EpisodeRow).where(EpisodeRow.entity_id == entity_id)).all()
    return {r.key: {"episode_id": r.episode_id, "opened_ms": r.opened_ms, "run_id": r.run_id,
                    "payload": r.payload} for r in rows}


def apply_episode_changes(s: Session, entity_id: int, run_id: int, changes: Sequence[EpisodeChangeLike],
                          now: int) -> None:
    """Open, replace or close episodes in the caller's transaction (the run's commit).

    Each change applies only if the stored episode of its key is still the one it expects;
    otherwise nothing of the run may commit: :class:`ConflictError` (the run is retried).
    """
    for change in changes:
        if change.expected is None:
            if change.new is None:
                continue
            try:
                with s.begin_nested():
                    s.execute(EpisodeRow.__table__.insert().values(  # type: ignore[attr-defined]
                        entity_id=entity_id, key=change.key, episode_id=change.new, run_id=run_id,
                        opened_ms=now, payload=change.payload))
            except SAIntegrityError:
                raise _conflict(entity_id, change) from None
            continue
        where = (EpisodeRow.entity_id == entity_id, EpisodeRow.key == change.key,
                 EpisodeRow.episode_id == change.expected)
        if change.new is None:
            done = affected(s, delete(EpisodeRow).where(*where))
        else:
            done = affected(s, update(EpisodeRow).where(*where).values(
                episode_id=change.new, run_id=run_id, opened_ms=now, payload=change.payload))
        if not done:
            raise _conflict(entity_id, change)


def _conflict(entity_id: int, change: EpisodeChangeLike) -> ConflictError:
    return ConflictError(
        f"the episode {change.key!r} of entity {entity_id} changed while this run computed (it expected "
        f"{change.expected!r}): another window of the entity committed first; the run is retried")


def record_job_config_if_unset(s: Session, entity_id: int, job_config: dict[str, Any]) -> bool:
    """Store ``job_config`` on an entity that has none yet (a config moved from an older place);
    False if another process stored one first."""
    return bool(affected(s, update(EntityRow).where(EntityRow.id == entity_id, EntityRow.job_config.is_(None))
                         .values(job_config=job_config)))


def entities_with_job_config(s: Session) -> Sequence[EntityRow]:
    """Every entity that has a job config (whose kind may name action sinks)."""
    return s.scalars(select(EntityRow).where(EntityRow.job_config.is_not(None)).order_by(EntityRow.id)).all()
