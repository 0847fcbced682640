"""The REST API under ``/api``. Each route parses, calls :mod:`admon.service.repo`, returns."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from pydantic import TypeAdapter

from admon.config import InputDataConfig
from admon.data.http_query import check_source_urls
from admon.data.schema import check_filters_against_lake
from admon.registry import incidents as registry_incidents
from admon.registry import thresholds as registry_thresholds
from admon.registry.schemas import ProjectCreate, ProjectUpdate
from admon.service import repo, views
from admon.service.access import audience
from admon.service.deps import IdPath, IdQuery, SessionDep, SettingsDep, TimeQuery, ViewerDep
from admon.service.labels import export_labels
from admon.service.schemas import (
    AnnotationCreate,
    AnnotationPublic,
    AnnotationUpdate,
    EntityCreateBody,
    EntityPublic,
    EntityUpdateBody,
    IncidentPublic,
    IncidentVerdictCreate,
    ModelPublic,
    ProjectPublic,
    ResultPublic,
    RunPublic,
)
from admon.timeutil import check_window

router = APIRouter(prefix="/api")

GroupParam = Annotated[str | None, Query(description="group selector key=value[,key=value], e.g. host=h1",
                                         max_length=4000)]
SeriesParam = Annotated[str | None, Query(description="export this value column only (default: every one)",
                                          max_length=200)]


@router.get("/me", tags=["auth"])
def me(viewer: ViewerDep) -> dict:
    """Who the token belongs to, and their groups."""
    return {"username": viewer.username, "groups": sorted(viewer.groups), "is_admin": viewer.is_admin}


# --- projects -----------------------------------------------------------------------------------


@router.get("/projects", tags=["projects"])
def list_projects(s: SessionDep, viewer: ViewerDep) -> list[ProjectPublic]:
    return [ProjectPublic.model_validate(p) for p in repo.list_projects(s, viewer)]


@router.post("/projects", status_code=201, tags=["projects"])
def create_project(body: ProjectCreate, s: SessionDep, viewer: ViewerDep) -> ProjectPublic:
    return ProjectPublic.model_validate(repo.create_project(s, viewer, body))


@router.get("/projects/{project_id}", tags=["projects"])
def get_project(project_id: IdPath, s: SessionDep, viewer: ViewerDep) -> ProjectPublic:
    return ProjectPublic.model_validate(repo.get_project(s, viewer, project_id))


@router.patch("/projects/{project_id}", tags=["projects"])
def update_project(project_id: IdPath, body: ProjectUpdate, s: SessionDep, viewer: ViewerDep) -> ProjectPublic:
    return ProjectPublic.model_validate(repo.update_project(s, viewer, project_id, body))


@router.get("/projects/{project_id}/entities", tags=["projects"])
def list_project_entities(project_id: IdPath, s: SessionDep, viewer: ViewerDep) -> list[EntityPublic]:
    return [EntityPublic.model_validate(e) for e in repo.list_entities(s, viewer, project_id)]


# --- entities -----------------------------------------------------------------------------------


@router.get("/entities", tags=["entities"])
def list_entities(s: SessionDep, viewer: ViewerDep, project_id: IdQuery = None) -> list[EntityPublic]:
    return [EntityPublic.model_validate(e) for e in repo.list_entities(s, viewer, project_id)]


@router.post("/entities", status_code=201, tags=["entities"])
def create_entity(body: EntityCreateBody, s: SessionDep, viewer: ViewerDep, settings: SettingsDep) -> EntityPublic:
    row = repo.create_entity(s, viewer, body)
    # a filter of the wrong kind for the lake's columns (topic == 1) is a 422 now, not a failed run
    # later; a query source on a server the operator did not configure is refused. Raising here
    # rolls the new entity back
    config = InputDataConfig(**row.input_data_config)
    check_source_urls(config, settings)
    check_filters_against_lake(config, settings.lake_root)
    return EntityPublic.model_validate(row)


@router.get("/entities/{entity_id}", tags=["entities"])
def get_entity(entity_id: IdPath, s: SessionDep, viewer: ViewerDep) -> EntityPublic:
    return EntityPublic.model_validate(repo.get_entity(s, viewer, entity_id)[0])


@router.patch("/entities/{entity_id}", tags=["entities"])
def update_entity(entity_id: IdPath, body: EntityUpdateBody, s: SessionDep, viewer: ViewerDep,
                  settings: SettingsDep) -> EntityPublic:
    row = repo.update_entity(s, viewer, entity_id, body)
    if body.input_data_config is not None:
        config = InputDataConfig(**row.input_data_config)
        check_source_urls(config, settings)
        check_filters_against_lake(config, settings.lake_root)
    return EntityPublic.model_validate(row)


@router.get("/entities/{entity_id}/runs", tags=["runs"])
def list_runs(
    entity_id: IdPath, s: SessionDep, viewer: ViewerDep, limit: Annotated[int, Query(ge=1, le=5000)] = 100
) -> list[RunPublic]:
    """Runs of the entity, newest window first, with status and stage timings."""
    return [RunPublic.model_validate(r) for r in repo.list_runs(s, viewer, entity_id, limit)]


@router.get("/entities/{entity_id}/incidents", tags=["incidents"])
def list_entity_incidents(
    entity_id: IdPath, s: SessionDep, viewer: ViewerDep, open_only: Annotated[bool, Query(alias="open")] = False,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[IncidentPublic]:
    """The entity's incidents, newest start first (``open=true``: only those not resolved)."""
    repo.get_entity(s, viewer, entity_id)  # a hidden entity is a 404, as a missing one
    return _incidents_public(s, registry_incidents.list_visible_incidents(
        s, audience(viewer), entity_id=entity_id, open_only=open_only, limit=limit))


@router.get("/incidents", tags=["incidents"])
def list_incidents(
    s: SessionDep, viewer: ViewerDep, open_only: Annotated[bool, Query(alias="open")] = False,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[IncidentPublic]:
    """Incidents of every entity the caller may see, newest start first."""
    return _incidents_public(s, registry_incidents.list_visible_incidents(
        s, audience(viewer), open_only=open_only, limit=limit))


def _incidents_public(s: Any, incidents: list) -> list[IncidentPublic]:
    """Incidents with their cross-group links (links stay within one entity, so within what the caller sees)."""
    links = registry_incidents.links_of(s, incidents)
    return [IncidentPublic.of(i, links.get(i.id)) for i in incidents]


@router.get("/entities/{entity_id}/results", tags=["results"], response_model=list[ResultPublic])
def list_results(
    entity_id: IdPath,
    request: Request,
    s: SessionDep,
    viewer: ViewerDep,
    start: TimeQuery = None,
    end: TimeQuery = None,
    group: GroupParam = None,
    anomalies_only: bool = False,
    all_windows: Annotated[bool, Query(description="every window's score, not only the newest")] = False,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> Response:
    """Scored buckets in ``[start, end)`` (default: the last day with results)."""
    # Access control before any cache. Dashboards repeat this read with an explicit range: that
    # path checks visibility with one query instead of loading the entity and project rows.
    if start is not None and end is not None:
        repo.check_results_visible(s, viewer, entity_id)
        start_ms, end_ms = views.resolve_range(s, None, start, end)
    else:
        entity, _ = repo.get_entity(s, viewer, entity_id)
        start_ms, end_ms = views.resolve_range(s, entity, start, end)
    wanted = views.parse_group(group)
    cache = request.app.state.results_cache
    key = (entity_id, start_ms, end_ms, views.group_text(wanted), anomalies_only, all_windows, limit,
           repo.results_version(s, entity_id))
    body = cache.get(key)
    if body is None:
        rows = repo.list_results(s, viewer, entity_id, start_ms, end_ms, group=wanted,
                                 anomalies_only=anomalies_only, latest_only=not all_windows, limit=limit)
        body = _RESULTS.dump_json([ResultPublic.model_validate(r) for r in rows])
        cache.put(key, body)
    return Response(body, media_type="application/json")


_RESULTS = TypeAdapter(list[ResultPublic])


@router.get("/entities/{entity_id}/plot", tags=["results"])
def plot_data(
    entity_id: IdPath,
    s: SessionDep,
    viewer: ViewerDep,
    settings: SettingsDep,
    start: TimeQuery = None,
    end: TimeQuery = None,
    group: GroupParam = None,
) -> dict:
    """What the entity page draws: input series, scores, threshold, detections, annotations."""
    entity, _ = repo.get_entity(s, viewer, entity_id)
    start_ms, end_ms = views.resolve_range(s, entity, start, end)
    return views.entity_plot(s, viewer, settings, entity_id, start_ms, end_ms, views.parse_group(group))


# --- annotations --------------------------------------------------------------------------------


@router.get("/entities/{entity_id}/annotations", tags=["annotations"])
def list_annotations(
    entity_id: IdPath, s: SessionDep, viewer: ViewerDep, start: TimeQuery = None, end: TimeQuery = None
) -> list[AnnotationPublic]:
    if start is not None and end is not None:
        check_window(start, end)
    return [AnnotationPublic.model_validate(a) for a in repo.list_annotations(s, viewer, entity_id, start, end)]


@router.post("/entities/{entity_id}/annotations", status_code=201, tags=["annotations"])
def create_annotation(
    entity_id: IdPath, body: AnnotationCreate, s: SessionDep, viewer: ViewerDep
) -> AnnotationPublic:
    """Label a range (anomaly / normal) or judge a detection (confirmed / expected / false_alarm)."""
    return AnnotationPublic.model_validate(repo.create_annotation(s, viewer, entity_id, body))


IncidentIdPath = Annotated[str, PathParam(min_length=1, max_length=64,
                                           description="an incident id (GET /api/incidents)")]


@router.post("/incidents/{incident_id}/label", status_code=201, tags=["annotations"])
def label_incident(
    incident_id: IncidentIdPath, body: IncidentVerdictCreate, response: Response, s: SessionDep, viewer: ViewerDep
) -> AnnotationPublic:
    """Judge a whole incident (confirmed / expected / false_alarm): one verdict on its group from its
    start to its end, exported on every series of the group; judging it again replaces the verdict (200)."""
    row, created = repo.label_incident(s, viewer, incident_id, body)
    if row.entity_id is not None:  # the verdicts set the entity's threshold (admon.registry.thresholds)
        registry_thresholds.learn(s, row.entity_id)
    if not created:
        response.status_code = 200
    return AnnotationPublic.model_validate(row)


@router.patch("/entities/{entity_id}/annotations/{annotation_id}", tags=["annotations"])
def update_annotation(
    entity_id: IdPath, annotation_id: IdPath, body: AnnotationUpdate, s: SessionDep, viewer: ViewerDep
) -> AnnotationPublic:
    return AnnotationPublic.model_validate(repo.update_annotation(s, viewer, entity_id, annotation_id, body))


@router.delete("/entities/{entity_id}/annotations/{annotation_id}", status_code=204, tags=["annotations"])
def delete_annotation(entity_id: IdPath, annotation_id: IdPath, s: SessionDep, viewer: ViewerDep) -> Response:
    repo.delete_annotation(s, viewer, entity_id, annotation_id)
    return Response(status_code=204)


@router.get("/entities/{entity_id}/labels.zip", tags=["annotations"])
def export_dataset(
    entity_id: IdPath, s: SessionDep, viewer: ViewerDep, settings: SettingsDep,
    start: TimeQuery = None, end: TimeQuery = None, series: SeriesParam = None,
) -> StreamingResponse:
    """The NAB-format dataset of the entity's labels (what `admon labels export` writes), zipped."""
    with tempfile.TemporaryDirectory(prefix="admon-labels-") as tmp:
        summary = export_labels(s, viewer, settings, entity_id, tmp, start=start, end=end, series=series)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(Path(tmp).rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(tmp).as_posix())
    buffer.seek(0)
    name = f"{summary.category}-labels.zip"
    return StreamingResponse(buffer, media_type="application/zip",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --- models -------------------------------------------------------------------------------------


@router.get("/models", tags=["models"])
def list_models(s: SessionDep, viewer: ViewerDep, settings: SettingsDep) -> list[ModelPublic]:
    """Models used by the visible entities, with the versions in the model store."""
    return [ModelPublic(**m) for m in repo.list_models(s, viewer, settings.model_store)]
