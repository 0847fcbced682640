"""The labelling queue of an entity: ``GET /api/entities/{id}/queue`` (issue 20, part 2).

The unlabelled windows a label would teach most: where the entity's champion and challengers
disagree first, then scores just around a threshold (:func:`admon.registry.challengers.labelling_queue`).
A private entity is a 404 for non-members, as on every entity route.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from admon.registry import challengers as registry_challengers
from admon.service import repo
from admon.service.deps import IdPath, SessionDep, ViewerDep

router = APIRouter(prefix="/api", tags=["labels"])


@router.get("/entities/{entity_id}/queue")
def labelling_queue(entity_id: IdPath, s: SessionDep, viewer: ViewerDep,
                    limit: Annotated[int, Query(ge=1, le=1000, description="most items to list")] = 20) -> dict[str, Any]:
    """Items to label first: group, window, incident (if any), each model's score, flag and
    threshold, and why it is queued; with how many windows were considered and already labelled."""
    entity, _ = repo.get_entity(s, viewer, entity_id)
    return registry_challengers.labelling_queue(s, entity.id, limit=limit)
