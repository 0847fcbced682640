"""Incidents in the registry: the open ones a run merges into, their changes, and the listings.

A run reads its entity's open incidents and writes the changes
(:func:`admon.incidents.merge_window`) in its one commit, each compare-and-set on the
revision it read: if another window of the entity changed an incident first, the commit
raises :class:`~admon.errors.ConflictError` and the run is retried with what is stored now.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.orm import Session

from admon.errors import ConflictError
from admon.incidents import RESOLVED, Incident, IncidentChange, group_id
from admon.incidents.links import CrossGroupIncident, cross_group_links
from admon.registry.entities import Audience, visible_to
from admon.registry.models import EntityRow, IncidentRow, OutboxRow, ProjectRow
from admon.registry.outbox import outbox_rows
from admon.registry.rows import affected


def incident_of(row: IncidentRow) -> Incident:
    """A stored incident as :mod:`admon.incidents` sees it."""
    return Incident(
        id=row.id, entity_id=row.entity_id, group=dict(row.group_key), start_ms=row.start_ms, end_ms=row.end_ms,
        last_window_end_ms=row.last_window_end_ms, peak_score=row.peak_score,
        peak_timestamp_ms=row.peak_timestamp_ms, features=list(row.features), status=row.status,
        run_ids=list(row.run_ids), revision=row.revision, quiet_windows=row.quiet_windows)


def open_incidents(s: Session, entity_id: int) -> dict[str, Incident]:
    """``group id -> incident`` of the entity's incidents not resolved yet."""
    rows = s.scalars(select(IncidentRow).where(IncidentRow.entity_id == entity_id,
                                               IncidentRow.status != RESOLVED)
                     .order_by(IncidentRow.start_ms)).all()
    return {row.group_id: incident_of(row) for row in rows}


def overlapping_incidents(s: Session, entity_id: int, start_ms: int, end_ms: int) -> dict[str, Incident]:
    """``group id -> incident`` of the entity's incidents (any status) whose span from their start
    to their last anomalous window's end meets ``[start_ms, end_ms]``; of a group with several,
    the latest."""
    rows = s.scalars(select(IncidentRow).where(
        IncidentRow.entity_id == entity_id, IncidentRow.start_ms <= end_ms,
        IncidentRow.last_window_end_ms >= start_ms).order_by(IncidentRow.start_ms)).all()
    return {row.group_id: incident_of(row) for row in rows}


def _values(incident: Incident, now: int) -> dict[str, Any]:
    return {"group_key": incident.group, "group_id": group_id(incident.group), "start_ms": incident.start_ms,
            "end_ms": incident.end_ms, "last_window_end_ms": incident.last_window_end_ms,
            "peak_score": incident.peak_score, "peak_timestamp_ms": incident.peak_timestamp_ms,
            "features": incident.features, "status": incident.status, "run_ids": incident.run_ids,
            "revision": incident.revision, "quiet_windows": incident.quiet_windows, "updated_ms": now}


def apply_incident_changes(s: Session, entity_id: int, changes: Sequence[IncidentChange], now: int) -> None:
    """Insert or update incidents in the caller's transaction (the run's commit).

    A new incident needs its group to have no open incident; a changed one must still be at the
    revision it was read at. Otherwise :class:`ConflictError` (nothing of the run may commit).
    """
    for change in changes:
        incident = change.incident
        values = _values(incident, now)
        if change.expected_revision is None and incident.status != RESOLVED:
            clash = s.scalar(select(IncidentRow.id).where(
                IncidentRow.entity_id == entity_id, IncidentRow.group_id == values["group_id"],
                IncidentRow.status != RESOLVED))
            if clash is not None:
                raise _conflict(entity_id, incident, clash)
        if change.expected_revision is None:  # a late window's incident may be born resolved
            try:
                with s.begin_nested():
                    s.execute(IncidentRow.__table__.insert().values(  # type: ignore[attr-defined]
                        id=incident.id, entity_id=entity_id, **values))
            except SAIntegrityError:
                raise _conflict(entity_id, incident, incident.id) from None
            continue
        done = affected(s, update(IncidentRow).where(
            IncidentRow.id == incident.id, IncidentRow.entity_id == entity_id,
            IncidentRow.revision == change.expected_revision).values(**values))
        if not done:
            raise _conflict(entity_id, incident, incident.id)


def queue_documents(s: Session, queued: Iterable[tuple[str, dict[str, Any]]], run_id: int, window_end_ms: int,
                    now: int) -> None:
    """Queue ``(sink url, incident document)`` pairs in the caller's transaction (the run's commit);
    each state of an incident has its own document id, so it gets its own outbox row."""
    rows = outbox_rows(queued, run_id, window_end_ms, now)
    if rows:
        s.execute(OutboxRow.__table__.insert(), rows)  # type: ignore[attr-defined]


def _conflict(entity_id: int, incident: Incident, stored_id: str) -> ConflictError:
    return ConflictError(
        f"incident {stored_id} of entity {entity_id} (group {incident.group}) changed while this run "
        f"computed: another window of the entity committed first; the run is retried")


def _listing(entity_ids: Select | Sequence[int] | None, open_only: bool) -> Select:
    query = select(IncidentRow)
    if entity_ids is not None:
        query = query.where(IncidentRow.entity_id.in_(entity_ids))
    if open_only:
        query = query.where(IncidentRow.status != RESOLVED)
    return query.order_by(IncidentRow.start_ms.desc(), IncidentRow.id)


def list_incidents(s: Session, entity_ids: Select | Sequence[int] | None = None, *, open_only: bool = False,
                   limit: int | None = None) -> list[Incident]:
    """Incidents, newest start first: of the entities ``entity_ids`` (ids, or a select of ids such
    as the visible entities; None: every entity), only those not resolved if ``open_only``."""
    query = _listing(entity_ids, open_only)
    if limit is not None:
        query = query.limit(limit)
    return [incident_of(row) for row in s.scalars(query).all()]


def list_visible_incidents(s: Session, audience: Audience, *, entity_id: int | None = None,
                           open_only: bool = False, limit: int | None = None) -> list[Incident]:
    """Incidents of the entities ``audience`` may see (through :func:`visible_to`, the filter of every
    listing), newest start first; of one entity if ``entity_id`` is given."""
    visible = (select(EntityRow.id).join(ProjectRow, ProjectRow.id == EntityRow.project_id)
               .where(visible_to(audience)))
    if entity_id is not None:
        visible = visible.where(EntityRow.id == entity_id)
    return list_incidents(s, visible, open_only=open_only, limit=limit)


def entity_titles(s: Session, entity_ids: Sequence[int]) -> dict[int, str]:
    """``entity id -> title`` for a listing."""
    if not entity_ids:
        return {}
    return dict(s.execute(select(EntityRow.id, EntityRow.title).where(EntityRow.id.in_(entity_ids))).all())


def links_of(s: Session, incidents: Sequence[Incident]) -> dict[str, CrossGroupIncident]:
    """``incident id -> cross-group incident`` for the listed ``incidents`` that are linked
    (:func:`admon.incidents.links.cross_group_links`), also through incidents not in the listing:
    the entity's incidents that overlap the listed ones in time and share a window run with them
    are read, and again for the newly read ones, until no more join (a chain of groups breaking
    one after the other)."""
    known: dict[str, Incident] = {i.id: i for i in incidents}
    frontier = list(incidents)
    while frontier:
        found = []
        for entity_id in sorted({i.entity_id for i in frontier}):
            spans = [i for i in frontier if i.entity_id == entity_id]
            start = min(i.start_ms for i in spans)
            end = max(i.last_window_end_ms for i in spans)
            rows = s.scalars(select(IncidentRow).where(
                IncidentRow.entity_id == entity_id, IncidentRow.start_ms <= end,
                IncidentRow.last_window_end_ms >= start)).all()
            runs = {run_id for i in spans for run_id in i.run_ids}
            found += [incident_of(row) for row in rows
                      if row.id not in known and runs.intersection(row.run_ids)]
        known.update((i.id, i) for i in found)
        frontier = found
    links = cross_group_links(known.values())
    return {i.id: links[i.id] for i in incidents if i.id in links}
