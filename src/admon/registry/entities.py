"""Projects and detection entities: their rows, who may see them, the model they run.

Every read that lists projects or entities for someone applies one filter,
:func:`visible_to`, in SQL: a private project, and everything under it, exists only
for an :class:`Audience` of its ``egroup`` (or one that sees everything: an admin,
the CLI, the scheduler). Who belongs to which audience is the service's policy
(:func:`admon.service.access.audience`).

>>> import os, tempfile
>>> from admon.registry.db import init_database, session_scope
>>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "r.db")
>>> _ = init_database(url)
>>> with session_scope(url) as s:
...     _ = create_project(s, ProjectCreate(title="open", egroup="dev"))
...     _ = create_project(s, ProjectCreate(title="secret", egroup="ops", is_private=True))
...     [p.title for p in list_projects(s, PUBLIC)], [p.title for p in list_projects(s, Audience({"ops"}))]
(['open'], ['open', 'secret'])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select, true, update
from sqlalchemy.orm import Session

from admon.errors import ConfigError, ConflictError, NotFoundError
from admon.registry.models import AnnotationRow, EntityRow, OutboxRow, ProjectRow, ResultRow, RunRow
from admon.registry.rows import affected, by_ref, flush_or_conflict
from admon.registry.schemas import (
    EntityCreate,
    EntityFields,
    EntityUpdate,
    ProjectCreate,
    ProjectUpdate,
)
from admon.timeutil import now_ms

# --- who sees what ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, init=False)
class Audience:
    """Whom a read answers: the members of ``groups``, or (``sees_all``) anyone who sees everything."""

    groups: frozenset[str]
    sees_all: bool

    def __init__(self, groups: Iterable[str] = (), *, sees_all: bool = False) -> None:
        object.__setattr__(self, "groups", frozenset(groups))
        object.__setattr__(self, "sees_all", sees_all)


#: Sees every project: the CLI, the Python API, the scheduler, an admin.
EVERYTHING = Audience(sees_all=True)
#: Sees public projects only: an anonymous caller, an open ``/metrics``.
PUBLIC = Audience()


def visible_to(audience: Audience) -> ColumnElement[bool]:
    """The visibility filter of every listing: public projects, and private ones of the
    audience's groups (everything for an audience that ``sees_all``)."""
    if audience.sees_all:
        return true()
    return or_(ProjectRow.is_private.is_(False), ProjectRow.egroup.in_(sorted(audience.groups)))


# --- projects ---------------------------------------------------------------------------------


def create_project(s: Session, data: ProjectCreate) -> ProjectRow:
    """Insert a project; a title already in use is a :class:`ConflictError`."""
    if s.scalar(select(ProjectRow.id).where(ProjectRow.title == data.title)) is not None:
        raise ConflictError(f"a project titled {data.title!r} exists already; choose another title")
    now = now_ms()
    row = ProjectRow(**data.model_dump(), created_ms=now, updated_ms=now)
    s.add(row)
    flush_or_conflict(s, f"a project titled {data.title!r} exists already; choose another title")
    return row


def get_project(s: Session, ref: int | str) -> ProjectRow:
    """A project by id or title, or :class:`NotFoundError`."""
    row = by_ref(s, ProjectRow, ref)
    if row is None:
        raise NotFoundError(f"no project {ref!r}; list them with `admon project list`")
    return row


def list_projects(s: Session, audience: Audience = EVERYTHING) -> Sequence[ProjectRow]:
    """Projects ``audience`` may see, by id."""
    return s.scalars(select(ProjectRow).where(visible_to(audience)).order_by(ProjectRow.id)).all()


def find_project(s: Session, project_id: int, audience: Audience) -> ProjectRow | None:
    """The project ``project_id`` if ``audience`` may see it, else None (hidden = missing)."""
    return s.scalar(select(ProjectRow).where(ProjectRow.id == project_id, visible_to(audience)))


def update_project(s: Session, ref: int | str, data: ProjectUpdate) -> ProjectRow:
    row = get_project(s, ref)
    changes = data.model_dump(exclude_unset=True)
    if "title" in changes and changes["title"] != row.title:
        if s.scalar(select(ProjectRow.id).where(ProjectRow.title == changes["title"])) is not None:
            raise ConflictError(f"a project titled {changes['title']!r} exists already")
    for key, value in changes.items():
        setattr(row, key, value)
    row.updated_ms = now_ms()
    flush_or_conflict(s, f"project title {changes.get('title')!r} is taken")
    return row


def delete_project(s: Session, ref: int | str, *, cascade: bool = False) -> None:
    """Delete a project; with entities it needs ``cascade=True`` (which deletes them and their runs)."""
    row = get_project(s, ref)
    entity_ids = s.scalars(select(EntityRow.id).where(EntityRow.project_id == row.id)).all()
    if entity_ids and not cascade:
        raise ConflictError(
            f"project {row.title!r} still has {len(entity_ids)} detection entities; delete them "
            "first or pass cascade=True"
        )
    for entity_id in entity_ids:
        _delete_entity_rows(s, entity_id)
    s.delete(row)
    s.flush()


# --- detection entities -----------------------------------------------------------------------


def create_entity(s: Session, data: EntityCreate) -> EntityRow:
    """Insert a detection entity; its title must be unique within its project."""
    project = get_project(s, data.project_id)
    _check_entity_title(s, project.id, data.title)
    now = now_ms()
    values = data.model_dump(exclude={"input_data_config"})
    row = EntityRow(
        **values,
        input_data_config=data.input_data_config.model_dump(mode="json"),
        config_hash=data.input_data_config.content_hash(),
        created_ms=now,
        updated_ms=now,
    )
    s.add(row)
    flush_or_conflict(s, f"project {project.title!r} already has an entity titled {data.title!r}")
    return row


def get_entity(s: Session, ref: int | str, project: int | str | None = None) -> EntityRow:
    """An entity by id, or by title (unique per project; give ``project`` if titles clash)."""
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        row = s.get(EntityRow, int(ref))
        if row is not None:
            return row
    query = select(EntityRow).where(EntityRow.title == str(ref))
    if project is not None:
        query = query.where(EntityRow.project_id == get_project(s, project).id)
    rows = s.scalars(query).all()
    if not rows:
        raise NotFoundError(f"no detection entity {ref!r}; list them with `admon entity list`")
    if len(rows) > 1:
        raise ConflictError(
            f"{len(rows)} entities are titled {ref!r} (ids {[r.id for r in rows]}); use the id"
        )
    return rows[0]


def list_entities(
    s: Session, project: int | str | None = None, *, enabled: bool | None = None,
    audience: Audience = EVERYTHING,
) -> Sequence[EntityRow]:
    """Entities (of ``project``; enabled or not) that ``audience`` may see, by id."""
    query = (select(EntityRow).join(ProjectRow, ProjectRow.id == EntityRow.project_id)
             .where(visible_to(audience)).order_by(EntityRow.id))
    if project is not None:
        query = query.where(EntityRow.project_id == get_project(s, project).id)
    if enabled is not None:
        query = query.where(EntityRow.enabled.is_(enabled))
    return s.scalars(query).all()


def find_entity(s: Session, entity_id: int, audience: Audience) -> tuple[EntityRow, ProjectRow] | None:
    """The entity ``entity_id`` and its project if ``audience`` may see them, else None."""
    found = s.execute(
        select(EntityRow, ProjectRow).join(ProjectRow, ProjectRow.id == EntityRow.project_id)
        .where(EntityRow.id == entity_id, visible_to(audience))
    ).first()
    return None if found is None else (found[0], found[1])


def entity_visible(s: Session, entity_id: int, audience: Audience) -> bool:
    """Does entity ``entity_id`` exist for ``audience``? One Core query, no rows loaded (the
    results reads dashboards repeat)."""
    query = (select(EntityRow.id).join(ProjectRow, ProjectRow.id == EntityRow.project_id)
             .where(EntityRow.id == entity_id, visible_to(audience)))
    return s.connection().execute(query).first() is not None


def public_entity_ids(s: Session) -> set[int]:
    """Ids of the entities of public projects: what everyone may see (e.g. on ``/metrics``)."""
    return {e.id for e in list_entities(s, audience=PUBLIC)}


def update_entity(s: Session, ref: int | str, data: EntityUpdate) -> EntityRow:
    row = get_entity(s, ref)
    changes = data.model_dump(exclude_unset=True, exclude={"input_data_config"})
    EntityFields.check_intervals(
        changes.get("interval_minutes") or row.interval_minutes,
        changes.get("sliding_interval_minutes") or row.sliding_interval_minutes,
    )
    if changes.get("title") and changes["title"] != row.title:
        _check_entity_title(s, row.project_id, changes["title"])
    model_before = (row.inference_namespace, row.inference_model)
    for key, value in changes.items():
        if value is None and key not in ("schedule_from_ms",):
            continue
        setattr(row, key, value)
    if (row.inference_namespace, row.inference_model) != model_before:
        # another model: the recorded content hash was that of the old one
        row.model_version = row.model_sha256 = None
    if data.input_data_config is not None:
        row.input_data_config = data.input_data_config.model_dump(mode="json")
        row.config_hash = data.input_data_config.content_hash()
    row.updated_ms = now_ms()
    flush_or_conflict(s, f"entity title {changes.get('title')!r} is taken in this project")
    return row


def record_model(s: Session, namespace: str, model: str, version: str, sha256: str) -> Sequence[EntityRow]:
    """Record ``version`` and its content ``sha256`` on every entity whose model is ``namespace/model``.

    Called when that model is trained and promoted, promoted or rolled back: every entity
    running it runs the new production version from then on, and its runs refuse other content.
    Returns the updated entities.
    """
    rows = s.scalars(
        select(EntityRow)
        .where(EntityRow.inference_namespace == namespace, EntityRow.inference_model == model)
        .order_by(EntityRow.id)
    ).all()
    for row in rows:
        _set_model(row, version, sha256)
    s.flush()
    return rows


def record_entity_model(s: Session, ref: int | str, version: str, sha256: str) -> EntityRow:
    """Record ``version`` and its content ``sha256`` as the model content of one entity."""
    row = get_entity(s, ref)
    _set_model(row, version, sha256)
    s.flush()
    return row


def record_model_if_unset(s: Session, entity_id: int, version: str, sha256: str) -> bool:
    """Record the model content of an entity that has none recorded yet (its first load).

    One conditional statement: if another process recorded one meanwhile, that one stays.
    Returns whether this call recorded it.
    """
    return bool(affected(s, update(EntityRow)
        .where(EntityRow.id == entity_id, EntityRow.model_sha256.is_(None))
        .values(model_version=str(version), model_sha256=sha256, updated_ms=now_ms())
    ))


def model_users(s: Session, namespace: str, model: str) -> Sequence[Any]:
    """Every entity whose model is ``namespace/model``, with its project, in id order.

    Who may see a stored model, and which content the registry recorded for it
    (``model_version``/``model_sha256``), follow from these (model serving, ``admon model verify``).
    """
    return s.execute(
        select(EntityRow, ProjectRow)
        .join(ProjectRow, ProjectRow.id == EntityRow.project_id)
        .where(EntityRow.inference_namespace == namespace, EntityRow.inference_model == model)
        .order_by(EntityRow.id)
    ).all()


def _set_model(row: EntityRow, version: str, sha256: str) -> None:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ConfigError(f"model content hash {sha256!r} is not a sha256 hex digest (64 characters 0-9a-f)")
    row.model_version = str(version)
    row.model_sha256 = sha256
    row.updated_ms = now_ms()


def set_entity_enabled(s: Session, ref: int | str, enabled: bool) -> EntityRow:
    row = get_entity(s, ref)
    row.enabled = enabled
    row.updated_ms = now_ms()
    s.flush()
    return row


def delete_entity(s: Session, ref: int | str) -> None:
    """Delete an entity with its runs, results and undelivered outbox documents."""
    row = get_entity(s, ref)
    _delete_entity_rows(s, row.id)


def _delete_entity_rows(s: Session, entity_id: int) -> None:
    run_ids = select(RunRow.id).where(RunRow.entity_id == entity_id)
    s.execute(delete(OutboxRow).where(OutboxRow.run_id.in_(run_ids)))
    s.execute(delete(ResultRow).where(ResultRow.entity_id == entity_id))
    s.execute(delete(RunRow).where(RunRow.entity_id == entity_id))
    s.execute(update(AnnotationRow).where(AnnotationRow.entity_id == entity_id).values(entity_id=None))
    s.execute(delete(EntityRow).where(EntityRow.id == entity_id))
    s.flush()


def _check_entity_title(s: Session, project_id: int, title: str) -> None:
    clash = s.scalar(
        select(EntityRow.id).where(EntityRow.project_id == project_id, EntityRow.title == title)
    )
    if clash is not None:
        raise ConflictError(
            f"this project already has a detection entity titled {title!r} (id {clash}); "
            "choose another title or update that entity"
        )
