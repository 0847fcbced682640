"""Annotations: labelled ranges of an entity's groups, and verdicts on detections."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from admon.errors import NotFoundError
from admon.registry.models import AnnotationRow
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
