"""The labelling queue of an entity: ``GET /api/entities/{id}/queue`` and the page
``/entities/{id}/queue`` (label, next; the count done and left) (issue 20, part 2).

The unlabelled windows a label would teach most: where the entity's champion and challengers
disagree first, then scores just around a threshold (:func:`admon.registry.challengers.labelling_queue`).
A private entity is a 404 for non-members, as on every entity route.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from admon.registry import challengers as registry_challengers
from admon.service import repo, views
from admon.service.access import can_write
from admon.service.deps import IdPath, SessionDep, ViewerDep
from admon.timeutil import format_ms

router = APIRouter(tags=["labels"])
LimitQuery = Annotated[int, Query(ge=1, le=1000, description="most items to list")]


@router.get("/api/entities/{entity_id}/queue")
def labelling_queue(entity_id: IdPath, s: SessionDep, viewer: ViewerDep, limit: LimitQuery = 20) -> dict[str, Any]:
    """Items to label first: group, window, incident (if any), each model's score, flag and
    threshold, and why it is queued; with how many windows were considered and already labelled."""
    entity, _ = repo.get_entity(s, viewer, entity_id)
    return registry_challengers.labelling_queue(s, entity.id, limit=limit)


@router.get("/entities/{entity_id}/queue", include_in_schema=False)
def labelling_queue_page(entity_id: IdPath, request: Request, s: SessionDep, viewer: ViewerDep,
                         limit: LimitQuery = 50) -> HTMLResponse:
    """One queued window at a time: its models' scores and why; label it (members), then the next."""
    entity, project = repo.get_entity(s, viewer, entity_id)
    queue = registry_challengers.labelling_queue(s, entity.id, limit=limit)
    return request.app.state.templates.TemplateResponse(request, "queue.html", {
        "viewer": viewer, "fmt": format_ms, "group_text": views.group_text, "entity": entity, "project": project,
        "queue": queue, "limit": limit, "writable": can_write(viewer, project)})
