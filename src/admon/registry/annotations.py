"""Annotations: labelled ranges of an entity's groups, and verdicts on detections and incidents.

A verdict on a whole incident is an annotation whose ``detection_id`` is the incident's id,
whose group is the incident's group and whose range is the incident's span; an incident has
at most one verdict (judging it again replaces the verdict), and the dataset export reads the
incident's span as it is then (an open incident grows).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from admon.errors import NotFoundError
from admon.incidents import Incident
from admon.registry.incidents import incident_of
from admon.registry.models import AnnotationRow, IncidentRow
from admon.timeutil import now_ms


def add_annotation(
    s: Session,
    *,
    entity_id: int | None,
    start_ms: int,
    end_ms: int,
    label: str,
    group_key: dict[str, Any] | None = None,
    user_id: int | None = None,
    comment: str = "",
    dataset: str | None = None,
    series: str | None = None,
    kind: str = "",
    detection_id: str | None = None,
    author: str | None = None,
) -> AnnotationRow:
    """A new label on ``[start_ms, end_ms)`` of an entity's group (or a verdict on ``detection_id``)."""
    row = AnnotationRow(
        entity_id=entity_id,
        user_id=user_id,
        group_key=group_key or {},
        series=series,
        start_ms=start_ms,
        end_ms=end_ms,
        label=label,
        kind=kind,
        comment=comment,
        dataset=dataset,
        detection_id=detection_id,
        author=author,
        created_ms=now_ms(),
    )
    s.add(row)
    s.flush()
    return row


def list_annotations(
    s: Session,
    *,
    entity_id: int | None = None,
    dataset: str | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> Sequence[AnnotationRow]:
    """Annotations by start time; ``start_ms``/``end_ms`` keep those overlapping that range."""
    query = select(AnnotationRow).order_by(AnnotationRow.start_ms, AnnotationRow.id)
    if entity_id is not None:
        query = query.where(AnnotationRow.entity_id == entity_id)
    if dataset is not None:
        query = query.where(AnnotationRow.dataset == dataset)
    if start_ms is not None:
        query = query.where(AnnotationRow.end_ms > start_ms)
    if end_ms is not None:
        query = query.where(AnnotationRow.start_ms < end_ms)
    return s.scalars(query).all()


def get_annotation(s: Session, annotation_id: int, entity_id: int | None = None) -> AnnotationRow:
    """An annotation (on ``entity_id``, when given), or :class:`NotFoundError`."""
    row = s.get(AnnotationRow, annotation_id)
    if row is None or (entity_id is not None and row.entity_id != entity_id):
        where = "" if entity_id is None else f" on entity {entity_id}"
        raise NotFoundError(f"no annotation {annotation_id}{where}")
    return row


def update_annotation(
    s: Session, annotation_id: int, changes: dict[str, Any], *, updated_by: str | None
) -> AnnotationRow:
    """Set the non-None ``changes`` on an annotation and record who edited it, and when."""
    row = get_annotation(s, annotation_id)
    for key, value in changes.items():
        if value is not None:
            setattr(row, key, value)
    row.updated_by, row.updated_ms = updated_by, now_ms()
    s.flush()
    return row


def delete_annotation(s: Session, annotation_id: int) -> None:
    row = get_annotation(s, annotation_id)
    s.delete(row)
    s.flush()


def get_incident(s: Session, incident_id: str) -> Incident | None:
    """The incident ``incident_id`` of any entity (the caller checks visibility), or None."""
    row = s.get(IncidentRow, incident_id)
    return None if row is None else incident_of(row)


def incident_spans(s: Session, entity_id: int) -> dict[str, tuple[int, int]]:
    """``incident id -> [start, end)`` of the entity's incidents; an open one ends with its last
    anomalous window so far."""
    rows = s.execute(select(IncidentRow.id, IncidentRow.start_ms, IncidentRow.end_ms, IncidentRow.last_window_end_ms)
                     .where(IncidentRow.entity_id == entity_id)).all()
    return {row.id: (row.start_ms, row.end_ms if row.end_ms is not None else row.last_window_end_ms)
            for row in rows}


def judge_incident(
    s: Session, incident: Incident, *, label: str, comment: str, kind: str, author: str | None, user_id: int | None
) -> tuple[AnnotationRow, bool]:
    """Record ``label`` (a verdict) on the whole ``incident``: ``(annotation, created)``.

    An earlier verdict on the incident is replaced (``created`` False), so that the export
    never holds two contradicting verdicts on one incident.
    """
    end_ms = incident.end_ms if incident.end_ms is not None else incident.last_window_end_ms
    earlier = s.scalars(select(AnnotationRow).where(AnnotationRow.entity_id == incident.entity_id,
                                                    AnnotationRow.detection_id == incident.id)
                        .order_by(AnnotationRow.id)).all()
    if not earlier:
        row = add_annotation(s, entity_id=incident.entity_id, start_ms=incident.start_ms, end_ms=end_ms, label=label,
                             group_key=dict(incident.group), user_id=user_id, comment=comment, kind=kind,
                             detection_id=incident.id, author=author)
        return row, True
    row, *older = earlier
    for extra in older:  # one verdict per incident
        s.delete(extra)
    row.label, row.comment, row.kind = label, comment, kind
    row.start_ms, row.end_ms, row.group_key = incident.start_ms, end_ms, dict(incident.group)
    row.updated_by, row.updated_ms = author, now_ms()
    s.flush()
    return row, False
