"""The service's repository: every read and write of a request, with access control applied.

Routes stay thin: they parse the request, call one function here with the
session and the :class:`~admon.service.access.Viewer`, and return the result.
Registry rows are changed only through :mod:`admon.registry.repository`; this
module adds the visibility rule (a hidden project is *not found*), the results
and runs queries of the UI, and the rules of the annotation tool.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import ValidationError
from sqlalchemy import ColumnElement, Select, Text, bindparam, cast, exists, func, select, update
from sqlalchemy.orm import Session

from admon.errors import ConfigError, NotFoundError
from admon.registry import repository as registry
from admon.registry.models import (
    AnnotationRow,
    ApiTokenRow,
    EntityRow,
    GroupRow,
    MembershipRow,
    ProjectRow,
    ResultRow,
    RunRow,
    UserRow,
)
from admon.registry.schemas import EntityCreate, EntityUpdate, ProjectCreate, ProjectUpdate
from admon.service.access import (
    ANONYMOUS,
    AuthenticationError,
    Viewer,
    can_see,
    check_writable,
)
from admon.service.schemas import (
    AnnotationCreate,
    AnnotationUpdate,
    EntityCreateBody,
    EntityUpdateBody,
)
from admon.timeutil import now_ms

# --- who is asking ------------------------------------------------------------------------------


#: ``last_used_ms`` of a token is refreshed at most this often (a read should not write each time).
TOKEN_TOUCH_MS = 60_000


def viewer_for_token(s: Session, secret: str | None) -> Viewer:
    """The :class:`Viewer` of an API token; no token is the anonymous viewer, a bad one a 401.

    The same rules as :func:`admon.registry.repository.verify_api_token` (unknown, revoked,
    expired or inactive = invalid), but ``last_used_ms`` is written at most once a minute.
    Every API request pays for this, so it is two Core queries (token joined with its user,
    then the user's groups) instead of loading ORM rows.
    """
    if not secret:
        return ANONYMOUS
    conn = s.connection()
    found = conn.execute(_token_query(), {"token_hash": registry.hash_token(secret)}).first()
    now = now_ms()
    if found is None:
        raise _bad_token()
    token_id, revoked, expires_ms, last_used_ms, user_id, username, is_active, is_admin = found
    if revoked or (expires_ms is not None and expires_ms <= now) or not is_active:
        raise _bad_token()
    if last_used_ms is None or now - last_used_ms > TOKEN_TOUCH_MS:
        conn.execute(update(ApiTokenRow).where(ApiTokenRow.id == token_id).values(last_used_ms=now))
    groups = conn.execute(_groups_query(), {"user_id": user_id}).scalars()
    return Viewer(user_id, username, frozenset(groups), bool(is_admin))


# The queries every request runs are built once (building a statement costs more than running it
# on SQLite) and take their values as bound parameters.


@functools.cache
def _token_query() -> Select:
    return (
        select(ApiTokenRow.id, ApiTokenRow.revoked, ApiTokenRow.expires_ms, ApiTokenRow.last_used_ms,
               UserRow.id, UserRow.username, UserRow.is_active, UserRow.is_admin)
        .join(UserRow, UserRow.id == ApiTokenRow.user_id)
        .where(ApiTokenRow.token_hash == bindparam("token_hash"))
    )


@functools.cache
def _groups_query() -> Select:
    return (
        select(GroupRow.name).join(MembershipRow, MembershipRow.group_id == GroupRow.id)
        .where(MembershipRow.user_id == bindparam("user_id"))
    )


@functools.cache
def _results_version_query() -> Select:
    return (
        select(func.count(RunRow.id), func.max(RunRow.finished_ms), func.max(RunRow.id))
        .where(RunRow.entity_id == bindparam("entity_id"))
    )


@functools.cache
def _entity_project_query() -> Select:
    return (
        select(ProjectRow.is_private, ProjectRow.egroup)
        .join(EntityRow, EntityRow.project_id == ProjectRow.id)
        .where(EntityRow.id == bindparam("entity_id"))
    )


def _bad_token() -> AuthenticationError:
    return AuthenticationError(
        "the API token is unknown, revoked or expired; create a new one with "
        "`admon token create --user NAME`"
    )


def viewer_for_user(s: Session, user: UserRow) -> Viewer:
    return Viewer(user.id, user.username, frozenset(registry.user_groups(s, user.id)), user.is_admin)


# --- projects -----------------------------------------------------------------------------------


def list_projects(s: Session, viewer: Viewer) -> list[ProjectRow]:
    return [p for p in registry.list_projects(s) if can_see(viewer, p)]


def get_project(s: Session, viewer: Viewer, project_id: int) -> ProjectRow:
    row = s.get(ProjectRow, project_id)
    if row is None or not can_see(viewer, row):
        raise NotFoundError(f"no project with id {project_id}; list the visible ones at /api/projects")
    return row


def create_project(s: Session, viewer: Viewer, data: ProjectCreate) -> ProjectRow:
    if data.egroup is None:
        raise ConfigError("egroup is missing: name the group that owns the project, e.g. 'admon-dev'")
    check_writable(viewer, data)  # the creator must belong to the group that will own it
    return registry.create_project(s, data)


def update_project(s: Session, viewer: Viewer, project_id: int, data: ProjectUpdate) -> ProjectRow:
    row = get_project(s, viewer, project_id)
    check_writable(viewer, row)
    if data.egroup is not None and data.egroup != row.egroup:
        check_writable(viewer, data)  # handing the project to a group one does not belong to
    return registry.update_project(s, row.id, data)


# --- entities -----------------------------------------------------------------------------------


def _visible_project_ids(s: Session, viewer: Viewer) -> set[int]:
    return {p.id for p in list_projects(s, viewer)}


def list_entities(s: Session, viewer: Viewer, project_id: int | None = None) -> list[EntityRow]:
    if project_id is not None:
        get_project(s, viewer, project_id)
    visible = _visible_project_ids(s, viewer)
    query = select(EntityRow).order_by(EntityRow.id)
    if project_id is not None:
        query = query.where(EntityRow.project_id == project_id)
    return [e for e in s.scalars(query).all() if e.project_id in visible]


def get_entity(s: Session, viewer: Viewer, entity_id: int) -> tuple[EntityRow, ProjectRow]:
    row = s.get(EntityRow, entity_id)
    missing = NotFoundError(f"no detection entity with id {entity_id}; list the visible ones at /api/entities")
    if row is None:
        raise missing
    project = s.get(ProjectRow, row.project_id)
    if project is None or not can_see(viewer, project):
        raise missing
    return row, project


def create_entity(s: Session, viewer: Viewer, body: EntityCreateBody) -> EntityRow:
    project = get_project(s, viewer, body.project_id)
    check_writable(viewer, project)
    return registry.create_entity(s, EntityCreate.parse(**body.model_dump()))


def update_entity(s: Session, viewer: Viewer, entity_id: int, body: EntityUpdateBody) -> EntityRow:
    row, project = get_entity(s, viewer, entity_id)
    check_writable(viewer, project)
    return registry.update_entity(s, row.id, EntityUpdate.parse(**body.model_dump(exclude_unset=True)))


# --- runs and results ---------------------------------------------------------------------------

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



def list_runs(s: Session, viewer: Viewer, entity_id: int, limit: int = 100) -> Sequence[RunRow]:
    row, _ = get_entity(s, viewer, entity_id)
    return registry.list_runs(s, row.id, limit=limit)


def list_results(
    s: Session,
    viewer: Viewer,
    entity_id: int,
    start_ms: int,
    end_ms: int,
    *,
    group: dict[str, Any] | None = None,
    anomalies_only: bool = False,
    latest_only: bool = True,
    limit: int = 10_000,
) -> list[ResultView]:
    """Results with ``start <= timestamp < end``, by timestamp (then group).

    Sliding windows score a bucket several times; ``latest_only`` keeps, per group
    and timestamp, the score of the newest window (what the UI plots). Only the
    columns a reader needs are loaded (not the exported document), as plain rows.
    """
    row, _ = get_entity(s, viewer, entity_id)
    query = (
        select(*RESULT_COLUMNS)
        .where(
            ResultRow.entity_id == row.id,
            ResultRow.timestamp_ms >= start_ms,
            ResultRow.timestamp_ms < end_ms,
        )
        .order_by(ResultRow.timestamp_ms, ResultRow.window_end_ms.desc())
    )
    if anomalies_only:
        query = query.where(ResultRow.is_anomaly.is_(True))
    compared_here: dict[str, str] = {}
    for key, value in (group or {}).items():
        if "\x00" in key or "\x00" in str(value):
            compared_here[key] = str(value)  # SQL JSON functions stop at a NUL: compare below
        else:
            query = query.where(_group_value_is(s, key, str(value)))
    rows = [ResultView(*r) for r in s.execute(query)]
    if compared_here:
        rows = [r for r in rows if all(k in r.group_key and str(r.group_key[k]) == v
                                       for k, v in compared_here.items())]
    if latest_only:
        seen: set[tuple[int, str]] = set()
        newest = []
        for r in rows:  # per timestamp, the newest window comes first
            key = (r.timestamp_ms, _key_text(r.group_key))
            if key not in seen:
                seen.add(key)
                newest.append(r)
        rows = newest
    if not group:
        rows.sort(key=lambda r: (r.timestamp_ms, _key_text(r.group_key)))
    return rows[:limit]


def _group_value_is(s: Session, key: str, value: str) -> ColumnElement[bool]:
    """``group_key[key]``, as text, equals ``value``; the key and the value (``"]``, quotes, any
    text without NUL) are bound parameters, never part of a JSON path written into the SQL."""
    if s.get_bind().dialect.name == "sqlite":
        pairs = func.json_each(ResultRow.group_key).table_valued("key", "value").alias("group_pairs")
        return exists().where(pairs.c.key == key, cast(pairs.c.value, Text) == value)
    return ResultRow.group_key[key].as_string() == value  # PostgreSQL: ->> with the key bound


def results_version(s: Session, entity_id: int) -> tuple:
    """Changes whenever a run of the entity finishes (and so whenever its results can change)."""
    return tuple(s.connection().execute(_results_version_query(), {"entity_id": entity_id}).one())


def check_results_visible(s: Session, viewer: Viewer, entity_id: int) -> None:
    """:func:`get_entity`'s access rule without loading the rows (one Core query), for the
    results reads that dashboards repeat; raises the same :class:`NotFoundError`."""
    project = s.connection().execute(_entity_project_query(), {"entity_id": entity_id}).first()
    if project is None or not can_see(viewer, project):
        raise NotFoundError(f"no detection entity with id {entity_id}; list the visible ones at /api/entities")


def get_result(s: Session, viewer: Viewer, entity_id: int, result_id: str) -> ResultRow:
    row, _ = get_entity(s, viewer, entity_id)
    result = s.get(ResultRow, result_id)
    if result is None or result.entity_id != row.id:
        raise NotFoundError(f"no detection {result_id!r} in entity {entity_id}")
    return result


def latest_result_ms(s: Session, entity_id: int) -> int | None:
    return s.scalar(select(func.max(ResultRow.timestamp_ms)).where(ResultRow.entity_id == entity_id))


def _key_text(key: dict[str, Any]) -> str:
    return ",".join(f"{k}={key[k]}" for k in sorted(key))


# --- models -------------------------------------------------------------------------------------


def list_models(s: Session, viewer: Viewer, model_store: str) -> list[dict[str, Any]]:
    """Models the visible entities use, with the versions found in a local model store."""
    models: dict[tuple[str, str], list[int]] = {}
    for e in list_entities(s, viewer):
        models.setdefault((e.inference_namespace, e.inference_model), []).append(e.id)
    out = []
    for (namespace, name), entity_ids in sorted(models.items()):
        folder = Path(model_store) / namespace / name
        versions = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
        out.append({"namespace": namespace, "name": name, "versions": versions, "entities": entity_ids})
    return out


# --- annotations --------------------------------------------------------------------------------


def list_annotations(
    s: Session, viewer: Viewer, entity_id: int, start_ms: int | None = None, end_ms: int | None = None
) -> Sequence[AnnotationRow]:
    row, _ = get_entity(s, viewer, entity_id)
    return registry.list_annotations(s, entity_id=row.id, start_ms=start_ms, end_ms=end_ms)


def create_annotation(
    s: Session, viewer: Viewer, entity_id: int, data: AnnotationCreate
) -> AnnotationRow:
    row, project = get_entity(s, viewer, entity_id)
    check_writable(viewer, project)
    values = data.model_dump()
    if data.detection_id is not None:
        result = get_result(s, viewer, entity_id, data.detection_id)
        if not result.is_anomaly:
            raise ConfigError(
                f"result {data.detection_id!r} is not a detected anomaly; only detections get a verdict"
            )
        step = int(row.input_data_config.get("agg_interval_seconds", 60)) * 1000
        values.update(start_ms=result.timestamp_ms, end_ms=result.timestamp_ms + step,
                      group_key=dict(result.group_key))
    return registry.add_annotation(s, **values, entity_id=row.id, user_id=viewer.user_id or None,
                                   author=viewer.username)


def get_annotation(s: Session, viewer: Viewer, entity_id: int, annotation_id: int) -> AnnotationRow:
    get_entity(s, viewer, entity_id)
    row = s.get(AnnotationRow, annotation_id)
    if row is None or row.entity_id != entity_id:
        raise NotFoundError(f"no annotation {annotation_id} on entity {entity_id}")
    return row


def update_annotation(
    s: Session, viewer: Viewer, entity_id: int, annotation_id: int, data: AnnotationUpdate
) -> AnnotationRow:
    row = get_annotation(s, viewer, entity_id, annotation_id)
    _, project = get_entity(s, viewer, entity_id)
    check_writable(viewer, project)
    changes = data.model_dump(exclude_unset=True)
    try:  # the edited annotation obeys the rules of a new one
        AnnotationCreate.model_validate(
            {
                "label": changes.get("label") or row.label,
                "start_ms": row.start_ms if changes.get("start_ms") is None else changes["start_ms"],
                "end_ms": row.end_ms if changes.get("end_ms") is None else changes["end_ms"],
                "detection_id": row.detection_id,
            }
        )
    except ValidationError as exc:
        raise ConfigError("invalid annotation: " + "; ".join(
            e["msg"].removeprefix("Value error, ") for e in exc.errors())) from None
    return registry.update_annotation(s, row.id, changes, updated_by=viewer.username)


def delete_annotation(s: Session, viewer: Viewer, entity_id: int, annotation_id: int) -> None:
    row = get_annotation(s, viewer, entity_id, annotation_id)
    _, project = get_entity(s, viewer, entity_id)
    check_writable(viewer, project)
    registry.delete_annotation(s, row.id)


def check_entity_visible(s: Session, viewer: Viewer, entity_id: int) -> EntityRow:
    return get_entity(s, viewer, entity_id)[0]

