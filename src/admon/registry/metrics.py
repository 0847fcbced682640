"""Reads for ``/metrics``: the latest result of every (entity, group) and each entity's run health.

Read at scrape time, so the gauges survive a restart and show what a backfill wrote:

- :func:`latest_results` finds each entity's newest result through the results
  ``(entity_id, timestamp_ms)`` index, then ranks only the results of the last window length
  before it (a range of the same index), never an entity's whole history: per group, the
  newest ``window_end_ms`` wins, so a re-run older window never replaces a newer one. A group
  absent for a whole window length is stale and left out.
- :func:`entity_health` counts runs by entity and status in one ``GROUP BY`` over the runs
  (one row per window, not per group and window as results are).
- :func:`open_incident_counts` counts each entity's incidents not resolved yet.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, NamedTuple

from sqlalchemy import Text, and_, cast, func, or_, select
from sqlalchemy.orm import Session

from admon.incidents import RESOLVED
from admon.registry.models import RUN_STATUSES, SUCCEEDED, EntityRow, IncidentRow, ResultRow, RunRow

__all__ = ["EntityHealth", "LatestResult", "entity_health", "latest_results", "open_incident_counts"]

_ENTITIES_PER_QUERY = 200  # two bound values each: under SQLite's oldest limit of 999


class LatestResult(NamedTuple):
    """The newest result of one (entity, group), with the entity's labels."""

    entity_id: int
    entity_title: str
    monit_label: dict[str, str]
    group_key: dict[str, Any]
    window_end_ms: int
    anomaly_score: float | None
    is_anomaly: bool
    threshold: float | None


class EntityHealth(NamedTuple):
    """Runs of one entity by status (every known status, 0 if none), the wall-clock time its
    newest successful run finished and the end of the newest window that had input."""

    entity_id: int
    runs_by_status: dict[str, int]
    last_success_ms: int | None
    last_data_ms: int | None


def latest_results(s: Session, entity_ids: Collection[int] | None = None) -> list[LatestResult]:
    """The newest result per (entity, group) of ``entity_ids`` (None: every entity).

    First each entity's newest result time (an index seek per entity), then, for a chunk of
    entities at a time, the ranking of only their last window length of results (index range
    scans), not of their whole history. Written as two steps because a join of the two lets
    SQLite's planner scan every result.
    """
    newest_ms = (select(func.max(ResultRow.timestamp_ms))
                 .where(ResultRow.entity_id == EntityRow.id).scalar_subquery())
    entities = select(EntityRow.id, EntityRow.title, EntityRow.monit_label, EntityRow.interval_minutes,
                      newest_ms)
    if entity_ids is not None:
        entities = entities.where(EntityRow.id.in_(list(entity_ids)))
    labels, since_ms = {}, {}
    for entity_id, title, monit_label, interval_minutes, newest in s.execute(entities):
        if newest is not None:
            labels[entity_id] = (title, monit_label)
            since_ms[entity_id] = newest - interval_minutes * 60_000
    rank = func.row_number().over(
        # a json column has no equality on PostgreSQL: partition by its text
        partition_by=(ResultRow.entity_id, cast(ResultRow.group_key, Text)),
        order_by=(ResultRow.window_end_ms.desc(), ResultRow.timestamp_ms.desc()),
    )
    found: list[LatestResult] = []
    ids = sorted(since_ms)
    for start in range(0, len(ids), _ENTITIES_PER_QUERY):
        chunk = ids[start:start + _ENTITIES_PER_QUERY]
        ranked = (
            select(ResultRow.entity_id, ResultRow.group_key, ResultRow.window_end_ms,
                   ResultRow.anomaly_score, ResultRow.is_anomaly, ResultRow.threshold, rank.label("rank"))
            .where(or_(*(and_(ResultRow.entity_id == i, ResultRow.timestamp_ms >= since_ms[i]) for i in chunk)))
            .subquery("ranked")
        )
        query = select(*(c for c in ranked.c if c.name != "rank")).where(ranked.c.rank == 1)
        found += [LatestResult(entity_id, *labels[entity_id], *rest) for entity_id, *rest in s.execute(query)]
    return found


def entity_health(s: Session, entity_ids: Collection[int] | None = None) -> list[EntityHealth]:
    """Run health of every entity of ``entity_ids`` (None: all) that has runs, by id."""
    query = (select(RunRow.entity_id, RunRow.status, func.count(), func.max(RunRow.finished_ms),
                    func.max(RunRow.window_end_ms))
             .group_by(RunRow.entity_id, RunRow.status))
    if entity_ids is not None:
        query = query.where(RunRow.entity_id.in_(list(entity_ids)))
    health: dict[int, EntityHealth] = {}
    for entity_id, status, count, finished_ms, window_end_ms in s.execute(query):
        entry = health.setdefault(entity_id, EntityHealth(entity_id, dict.fromkeys(RUN_STATUSES, 0), None, None))
        entry.runs_by_status[status] = int(count)
        if status == SUCCEEDED:
            health[entity_id] = entry._replace(last_success_ms=finished_ms, last_data_ms=window_end_ms)
    return [health[k] for k in sorted(health)]


def open_incident_counts(s: Session, entity_ids: Collection[int] | None = None) -> dict[int, int]:
    """``entity id -> incidents not resolved yet`` of ``entity_ids`` (None: all); entities without
    an open incident are absent."""
    query = (select(IncidentRow.entity_id, func.count()).where(IncidentRow.status != RESOLVED)
             .group_by(IncidentRow.entity_id))
    if entity_ids is not None:
        query = query.where(IncidentRow.entity_id.in_(list(entity_ids)))
    return {entity_id: int(count) for entity_id, count in s.execute(query)}
