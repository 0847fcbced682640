"""Results: one row per exported document (entity, window, group, timestamp), and their reads.

Runs write them (:func:`admon.registry.runs.finish_run`); readers (the service, the
demo, tests) read them here, without the exported document unless they ask for it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from admon.errors import NotFoundError
from admon.registry.dialect import json_text_equals
from admon.registry.models import ResultRow, RunRow

RESULT_COLUMNS = (ResultRow.id, ResultRow.run_id, ResultRow.window_end_ms, ResultRow.group_key,
                  ResultRow.timestamp_ms, ResultRow.anomaly_score, ResultRow.is_anomaly, ResultRow.threshold)


class ResultView(NamedTuple):
    """A scored bucket as readers see it (a result row without its exported document)."""

    id: str
    run_id: int
    window_end_ms: int
    group_key: dict[str, Any]
    timestamp_ms: int
    anomaly_score: float | None
    is_anomaly: bool
    threshold: float | None


def list_results(s: Session, run_id: int) -> Sequence[ResultRow]:
    """The result rows of one run, by id."""
    return s.scalars(select(ResultRow).where(ResultRow.run_id == run_id).order_by(ResultRow.id)).all()


def entity_results(
    s: Session,
    entity_id: int,
    start_ms: int | None = None,
    end_ms: int | None = None,
    *,
    group: dict[str, Any] | None = None,
    anomalies_only: bool = False,
    latest_only: bool = True,
    limit: int | None = None,
) -> list[ResultView]:
    """Results of an entity with ``start <= timestamp < end``, by timestamp (then group).

    Sliding windows score a bucket several times; ``latest_only`` keeps, per group
    and timestamp, the score of the newest window (what the UI plots). ``group`` keeps the
    results whose group key has those values (compared as text).
    """
    query = (select(*RESULT_COLUMNS).where(ResultRow.entity_id == entity_id)
             .order_by(ResultRow.timestamp_ms, ResultRow.window_end_ms.desc()))
    if start_ms is not None:
        query = query.where(ResultRow.timestamp_ms >= start_ms)
    if end_ms is not None:
        query = query.where(ResultRow.timestamp_ms < end_ms)
    if anomalies_only:
        query = query.where(ResultRow.is_anomaly.is_(True))
    compared_here: dict[str, str] = {}
    for key, value in (group or {}).items():
        if "\x00" in key or "\x00" in str(value):
            compared_here[key] = str(value)  # SQL JSON functions stop at a NUL: compare below
        else:
            query = query.where(json_text_equals(s, ResultRow.group_key, key, str(value)))
    rows = [ResultView(*r) for r in s.execute(query)]
    if compared_here:
        rows = [r for r in rows if all(k in r.group_key and str(r.group_key[k]) == v
                                       for k, v in compared_here.items())]
    if latest_only:
        seen: set[tuple[int, str]] = set()
        newest = []
        for r in rows:  # per timestamp, the newest window comes first
            bucket = (r.timestamp_ms, _key_text(r.group_key))
            if bucket not in seen:
                seen.add(bucket)
                newest.append(r)
        rows = newest
    if not group:
        rows.sort(key=lambda r: (r.timestamp_ms, _key_text(r.group_key)))
    return rows if limit is None else rows[:limit]


def get_result(s: Session, entity_id: int, result_id: str) -> ResultRow:
    """A result of ``entity_id`` by its document id, or :class:`NotFoundError`."""
    result = s.get(ResultRow, result_id)
    if result is None or result.entity_id != entity_id:
        raise NotFoundError(f"no detection {result_id!r} in entity {entity_id}")
    return result


def latest_result_ms(s: Session, entity_id: int) -> int | None:
    """The newest scored timestamp of an entity, or None."""
    return s.scalar(select(func.max(ResultRow.timestamp_ms)).where(ResultRow.entity_id == entity_id))


def results_version(s: Session, entity_id: int) -> tuple:
    """Changes whenever a run of the entity finishes (and so whenever its results can change)."""
    return tuple(s.connection().execute(_results_version_query(), {"entity_id": entity_id}).one())


@functools.cache
def _results_version_query() -> Select:
    # built once: dashboards ask for it on every refresh
    return (
        select(func.count(RunRow.id), func.max(RunRow.finished_ms), func.max(RunRow.id))
        .where(RunRow.entity_id == bindparam("entity_id"))
    )


def _key_text(key: dict[str, Any]) -> str:
    return ",".join(f"{k}={key[k]}" for k in sorted(key))
