"""The reads behind the overview heatmap: the worst score per group and time bucket, and the
incidents of a range.

One ``GROUP BY`` over the results of some entities in ``[start, end)`` (the range scan of
``ix_results_entity_timestamp``) gives, per entity, group and bucket, the worst score, whether
any result was anomalous, and the lowest threshold; Python never sees the individual results.
Sliding windows score a bucket several times: the worst over every window counts (incidents are
built from each window's anomalous results, so a cell is anomalous whenever an incident covers it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Text, case, cast, func, or_, select
from sqlalchemy.orm import Session

from admon.incidents import Incident
from admon.registry.incidents import incident_of
from admon.registry.models import SUCCEEDED, IncidentRow, ResultRow, RunRow

__all__ = ["BucketCell", "forecast_documents", "incidents_in_range", "latest_result_ms", "result_spacing_ms", "worst_per_bucket"]


class BucketCell(NamedTuple):
    """The results of one entity and group in one time bucket, summed up."""

    entity_id: int
    group: dict[str, Any]
    bucket: int  # index: the bucket starts at ``first_ms + bucket * bucket_ms``
    worst_score: float | None
    anomalous: bool
    threshold: float | None  # the lowest threshold of the bucket's results (None: none had one)
    results: int


def worst_per_bucket(s: Session, entity_ids: Sequence[int], first_ms: int, end_ms: int,
                     bucket_ms: int) -> list[BucketCell]:
    """Per entity, group and bucket of ``bucket_ms`` from ``first_ms`` (timestamps in
    ``[first_ms, end_ms)``): the worst score, whether any result was anomalous, the lowest
    threshold. A group whose key is stored with its keys in another order is the same group."""
    if not entity_ids:
        return []
    if bucket_ms <= 0:
        raise ValueError(f"bucket_ms must be positive, not {bucket_ms}")
    # The stored JSON text groups the rows (PostgreSQL cannot GROUP BY a json value); keys that
    # differ only in order are merged below.
    key_text = cast(ResultRow.group_key, Text)
    bucket = ((ResultRow.timestamp_ms - first_ms) // bucket_ms).label("bucket")
    query = (
        select(ResultRow.entity_id, key_text, bucket, func.max(ResultRow.anomaly_score),
               func.max(case((ResultRow.is_anomaly.is_(True), 1), else_=0)), func.min(ResultRow.threshold),
               func.count())
        .where(ResultRow.entity_id.in_(list(entity_ids)), ResultRow.timestamp_ms >= first_ms,
               ResultRow.timestamp_ms < end_ms)
        .group_by(ResultRow.entity_id, key_text, bucket)
    )
    merged: dict[tuple[int, str, int], BucketCell] = {}
    for entity_id, text, index, worst, anomalous, threshold, count in s.execute(query):
        group = json.loads(text) if text else {}
        cell = BucketCell(int(entity_id), group, int(index), _float(worst), bool(anomalous), _float(threshold),
                          int(count))
        key = (cell.entity_id, json.dumps(sorted(group.items()), default=str), cell.bucket)
        if key in merged:
            cell = _combine(merged[key], cell)
        merged[key] = cell
    return sorted(merged.values(), key=lambda c: (c.entity_id, json.dumps(sorted(c.group.items()), default=str),
                                                  c.bucket))


def incidents_in_range(s: Session, entity_ids: Sequence[int], start_ms: int, end_ms: int) -> list[Incident]:
    """Incidents of ``entity_ids`` overlapping ``[start_ms, end_ms)`` (an open one reaches to now),
    oldest first."""
    if not entity_ids:
        return []
    query = (select(IncidentRow)
             .where(IncidentRow.entity_id.in_(list(entity_ids)), IncidentRow.start_ms < end_ms,
                    or_(IncidentRow.end_ms.is_(None), IncidentRow.end_ms > start_ms))
             .order_by(IncidentRow.start_ms, IncidentRow.id))
    return [incident_of(row) for row in s.scalars(query).all()]


def result_spacing_ms(s: Session, entity_ids: Sequence[int], start_ms: int, end_ms: int) -> int | None:
    """The mean gap between the distinct result timestamps of ``entity_ids`` in ``[start_ms, end_ms)``
    (a detector may score every bucket or once per window); None with fewer than two."""
    if not entity_ids:
        return None
    count, first, last = s.execute(
        select(func.count(func.distinct(ResultRow.timestamp_ms)), func.min(ResultRow.timestamp_ms),
               func.max(ResultRow.timestamp_ms))
        .where(ResultRow.entity_id.in_(list(entity_ids)), ResultRow.timestamp_ms >= start_ms,
               ResultRow.timestamp_ms < end_ms)).one()
    if not count or count < 2:
        return None
    return int((last - first) // (count - 1))


def forecast_documents(s: Session, entity_id: int, start_ms: int, end_ms: int) -> list[tuple[int, dict[str, Any]]]:
    """``(window end, exported document)`` of the entity's results whose window ended in
    ``[start_ms, end_ms]``, oldest window first (a forecast entity: one document per link and run)."""
    query = (select(ResultRow.window_end_ms, ResultRow.document)
             .where(ResultRow.entity_id == entity_id, ResultRow.window_end_ms >= start_ms,
                    ResultRow.window_end_ms <= end_ms)
             .order_by(ResultRow.window_end_ms, ResultRow.id))
    return [(int(w), dict(doc or {})) for w, doc in s.execute(query)]


def latest_result_ms(s: Session, entity_ids: Sequence[int]) -> int | None:
    """The newest scored timestamp of any of ``entity_ids``, or None."""
    if not entity_ids:
        return None
    return s.scalar(select(func.max(ResultRow.timestamp_ms)).where(ResultRow.entity_id.in_(list(entity_ids))))


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _combine(a: BucketCell, b: BucketCell) -> BucketCell:
    worst = max((v for v in (a.worst_score, b.worst_score) if v is not None), default=None)
    threshold = min((v for v in (a.threshold, b.threshold) if v is not None), default=None)
    return a._replace(worst_score=worst, anomalous=a.anomalous or b.anomalous, threshold=threshold,
                      results=a.results + b.results)


def scoring_detectors(s: Session, entity_ids: Sequence[int], start_ms: int, end_ms: int) -> dict[int, str]:
    """``entity id -> detector name`` of the model that scored each entity's newest succeeded run
    ending in ``[start_ms, end_ms]`` (from the run's provenance; absent when none or unknown)."""
    if not entity_ids:
        return {}
    newest = (select(func.max(RunRow.id)).where(RunRow.entity_id.in_(list(entity_ids)), RunRow.status == SUCCEEDED,
                                                 RunRow.window_end_ms >= start_ms, RunRow.window_end_ms <= end_ms)
              .group_by(RunRow.entity_id))
    found: dict[int, str] = {}
    for entity_id, provenance in s.execute(select(RunRow.entity_id, RunRow.provenance).where(RunRow.id.in_(newest))):
        name = ((provenance or {}).get("model_config") or {}).get("name")
        if isinstance(name, str):
            found[entity_id] = name
    return found
