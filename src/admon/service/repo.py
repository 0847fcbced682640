"""The service's access policy over the storage layer: what a request may read and change.

Routes stay thin: they parse the request, call one function here with the
session and the :class:`~admon.service.access.Viewer`, and return the result.
Every statement is in :mod:`admon.registry` (:mod:`admon.registry.repository`);
this module decides who may do what: a listing asks the registry for what the
viewer's :func:`~admon.service.access.audience` may see (the visibility filter is
SQL), a hidden project is *not found*, a change needs membership (:func:`check_writable`),
and the annotation tool's rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from admon.errors import ConfigError, NotFoundError, explain_validation
from admon.registry import annotations as registry_annotations
from admon.registry import repository as registry
from admon.registry.db import Session
from admon.registry.models import AnnotationRow, EntityRow, ProjectRow, ResultRow, RunRow, UserRow
from admon.registry.results import ResultView
from admon.registry.schemas import EntityCreate, EntityUpdate, ProjectCreate, ProjectUpdate
from admon.service.access import (
    ANONYMOUS,
    AuthenticationError,
    Viewer,
    audience,
    check_writable,
)
from admon.service.schemas import (
    AnnotationCreate,
    AnnotationUpdate,
    EntityCreateBody,
    EntityUpdateBody,
    IncidentVerdictCreate,
)

# --- who is asking ------------------------------------------------------------------------------


def viewer_for_token(s: Session, secret: str | None) -> Viewer:
    """The :class:`Viewer` of an API token; no token is the anonymous viewer, a bad one a 401
    (:func:`admon.registry.auth.authenticate_token`, the one token check)."""
    if not secret:
        return ANONYMOUS
    user = registry.authenticate_token(s, secret)
    if user is None:
        raise AuthenticationError(
            "the API token is unknown, revoked or expired; create a new one with "
            "`admon token create --user NAME`"
        )
    return Viewer(user.user_id, user.username, user.groups, user.is_admin)


def viewer_for_user(s: Session, user: UserRow) -> Viewer:
    return Viewer(user.id, user.username, frozenset(registry.user_groups(s, user.id)), user.is_admin)


# --- projects -----------------------------------------------------------------------------------


def list_projects(s: Session, viewer: Viewer) -> Sequence[ProjectRow]:
    return registry.list_projects(s, audience(viewer))


def get_project(s: Session, viewer: Viewer, project_id: int) -> ProjectRow:
    row = registry.find_project(s, project_id, audience(viewer))
    if row is None:
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


def list_entities(s: Session, viewer: Viewer, project_id: int | None = None) -> Sequence[EntityRow]:
    if project_id is not None:
        get_project(s, viewer, project_id)
    return registry.list_entities(s, project_id, audience=audience(viewer))


def get_entity(s: Session, viewer: Viewer, entity_id: int) -> tuple[EntityRow, ProjectRow]:
    found = registry.find_entity(s, entity_id, audience(viewer))
    if found is None:
        raise NotFoundError(f"no detection entity with id {entity_id}; list the visible ones at /api/entities")
    return found


def create_entity(s: Session, viewer: Viewer, body: EntityCreateBody) -> EntityRow:
    project = get_project(s, viewer, body.project_id)
    check_writable(viewer, project)
    return registry.create_entity(s, EntityCreate.parse(**body.model_dump()))


def update_entity(s: Session, viewer: Viewer, entity_id: int, body: EntityUpdateBody) -> EntityRow:
    row, project = get_entity(s, viewer, entity_id)
    check_writable(viewer, project)
    return registry.update_entity(s, row.id, EntityUpdate.parse(**body.model_dump(exclude_unset=True)))


# --- runs and results ---------------------------------------------------------------------------

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
    """Results of a visible entity (see :func:`admon.registry.results.entity_results`)."""
    row, _ = get_entity(s, viewer, entity_id)
    return registry.entity_results(s, row.id, start_ms, end_ms, group=group, anomalies_only=anomalies_only,
                                   latest_only=latest_only, limit=limit)


def results_version(s: Session, entity_id: int) -> tuple:
    """Changes whenever a run of the entity finishes (and so whenever its results can change)."""
    return registry.results_version(s, entity_id)


def check_results_visible(s: Session, viewer: Viewer, entity_id: int) -> None:
    """:func:`get_entity`'s access rule without loading the rows (one Core query), for the
    results reads that dashboards repeat; raises the same :class:`NotFoundError`."""
    if not registry.entity_visible(s, entity_id, audience(viewer)):
        raise NotFoundError(f"no detection entity with id {entity_id}; list the visible ones at /api/entities")


def get_result(s: Session, viewer: Viewer, entity_id: int, result_id: str) -> ResultRow:
    row, _ = get_entity(s, viewer, entity_id)
    return registry.get_result(s, row.id, result_id)


def latest_result_ms(s: Session, entity_id: int) -> int | None:
    return registry.latest_result_ms(s, entity_id)


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


def label_incident(
    s: Session, viewer: Viewer, incident_id: str, data: IncidentVerdictCreate
) -> tuple[AnnotationRow, bool]:
    """Judge a whole incident: ``(the verdict annotation, created)``; a hidden entity's incident
    is not found, as a missing one."""
    missing = NotFoundError(f"no incident {incident_id!r}; list the incidents you may see with GET /api/incidents")
    incident = registry_annotations.get_incident(s, incident_id)
    if incident is None:
        raise missing
    try:
        _, project = get_entity(s, viewer, incident.entity_id)
    except NotFoundError:
        raise missing from None
    check_writable(viewer, project)
    return registry_annotations.judge_incident(s, incident, label=data.verdict, comment=data.comment,
                                               kind=data.kind, author=viewer.username,
                                               user_id=viewer.user_id or None)


def get_annotation(s: Session, viewer: Viewer, entity_id: int, annotation_id: int) -> AnnotationRow:
    get_entity(s, viewer, entity_id)
    return registry.get_annotation(s, annotation_id, entity_id)


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
        raise ConfigError(explain_validation(exc, "annotation")) from None
    return registry.update_annotation(s, row.id, changes, updated_by=viewer.username)


def delete_annotation(s: Session, viewer: Viewer, entity_id: int, annotation_id: int) -> None:
    row = get_annotation(s, viewer, entity_id, annotation_id)
    _, project = get_entity(s, viewer, entity_id)
    check_writable(viewer, project)
    registry.delete_annotation(s, row.id)


def check_entity_visible(s: Session, viewer: Viewer, entity_id: int) -> EntityRow:
    return get_entity(s, viewer, entity_id)[0]

