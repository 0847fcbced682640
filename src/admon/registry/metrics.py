"""Reads for ``/metrics``: the latest result of every (entity, group) and each entity's run health.

Read at scrape time, so the gauges survive a restart and show what a backfill wrote. Both reads
are one statement each, whatever the number of entities:

- :func:`latest_results` finds each entity's newest result through the results
  ``(entity_id, timestamp_ms)`` index, then ranks only the results of the last window length
  before it (one window per group, the newest ``window_end_ms`` first: a re-run older window
  never wins over a newer one). A group absent for a whole window length is stale and left out.
- :func:`entity_health` counts runs by entity and status in one ``GROUP BY``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, NamedTuple

from sqlalchemy import Text, and_, cast, func, select
from sqlalchemy.orm import Session

from admon.registry.models import RUN_STATUSES, SUCCEEDED, EntityRow, ResultRow, RunRow

__all__ = ["EntityHealth", "LatestResult", "entity_health", "latest_results"]


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

    ``newest_ms`` is a correlated ``max`` (an index seek per entity); the ranking then sees only
    the entity's last window length of results, not its whole history.
    """
    newest_ms = (select(func.max(ResultRow.timestamp_ms))
                 .where(ResultRow.entity_id == EntityRow.id).scalar_subquery())
    entities = select(EntityRow.id, (EntityRow.interval_minutes * 60_000).label("window_ms"),
                      newest_ms.label("newest_ms"))
    if entity_ids is not None:
        entities = entities.where(EntityRow.id.in_(list(entity_ids)))
    e = entities.subquery("e")
    rank = func.row_number().over(
        # a json column has no equality on PostgreSQL: partition by its text
        partition_by=(ResultRow.entity_id, cast(ResultRow.group_key, Text)),
        order_by=(ResultRow.window_end_ms.desc(), ResultRow.timestamp_ms.desc()),
    )
    ranked = (
        select(e.c.id, ResultRow.group_key, ResultRow.window_end_ms,
               ResultRow.anomaly_score, ResultRow.is_anomaly, ResultRow.threshold, rank.label("rank"))
        .join_from(e, ResultRow, and_(ResultRow.entity_id == e.c.id,
                                      ResultRow.timestamp_ms >= e.c.newest_ms - e.c.window_ms))
        .subquery("ranked")
    )
    query = select(*(c for c in ranked.c if c.name != "rank")).where(ranked.c.rank == 1)
    rows = s.execute(query).all()
    # the entities' labels once each, not once per group (each is a JSON document to parse)
    labels_query = select(EntityRow.id, EntityRow.title, EntityRow.monit_label)
    if entity_ids is not None:
        labels_query = labels_query.where(EntityRow.id.in_(list(entity_ids)))
    labels = {entity_id: (title, monit_label) for entity_id, title, monit_label in s.execute(labels_query)}
    return [LatestResult(entity_id, *labels[entity_id], *rest) for entity_id, *rest in rows]


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
