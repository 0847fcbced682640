"""Thresholds learnt from verdicts and suppression windows, under ``/api/entities/{id}``.

A private entity is a 404 for non-members, as on every entity route; a change needs
membership of the entity's group.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from admon.registry import thresholds as registry_thresholds
from admon.service import repo, views
from admon.service.access import check_writable
from admon.service.deps import IdPath, SessionDep, ViewerDep
from admon.service.schemas import parse_time

router = APIRouter(prefix="/api", tags=["thresholds"])


class SuppressionCreate(BaseModel):
    """An expected event to ignore from now on: results of ``group`` (every group if left out)
    peaking in ``[start, end)`` are not anomalous; they keep their score."""

    model_config = ConfigDict(extra="forbid")

    start: Annotated[int | str, Field(description="epoch ms or ISO text")]
    end: Annotated[int | str, Field(description="epoch ms or ISO text")]
    group: str | None = Field(None, max_length=4000, description="key=value[,key=value]; default: every group")
    reason: str = Field(min_length=1, max_length=4000)

    @field_validator("start", "end")
    @classmethod
    def _epoch_ms(cls, value: int | str) -> int:
        parsed = parse_time(value)
        if parsed is None:
            raise ValueError("give a time: epoch ms or ISO text, e.g. 2022-05-10T00:00:00Z")
        return parsed


@router.get("/entities/{entity_id}/threshold")
def get_threshold(entity_id: IdPath, s: SessionDep, viewer: ViewerDep) -> dict[str, Any]:
    """The entity's alert threshold: value, source (``model``, ``verdicts`` or a user), why,
    the history of changes with their evidence, and the suppression windows."""
    entity, _ = repo.get_entity(s, viewer, entity_id)
    return registry_thresholds.describe(s, entity.id)


@router.post("/entities/{entity_id}/threshold/learn")
def learn_threshold(entity_id: IdPath, s: SessionDep, viewer: ViewerDep) -> dict[str, Any]:
    """Recompute the threshold from the entity's verdicts now; the decision and the state."""
    entity, project = repo.get_entity(s, viewer, entity_id)
    check_writable(viewer, project)
    decision, _ = registry_thresholds.learn(s, entity.id, requested_by=viewer.username or "api")
    return {"changed": decision.changed, "reason": decision.reason, **registry_thresholds.describe(s, entity.id)}


@router.get("/entities/{entity_id}/suppressions")
def list_suppressions(entity_id: IdPath, s: SessionDep, viewer: ViewerDep) -> list[dict[str, Any]]:
    entity, _ = repo.get_entity(s, viewer, entity_id)
    return [registry_thresholds.suppression_json(r) for r in registry_thresholds.suppression_rows(s, entity.id)]


@router.post("/entities/{entity_id}/suppressions", status_code=201)
def add_suppression(entity_id: IdPath, body: SuppressionCreate, s: SessionDep, viewer: ViewerDep) -> dict[str, Any]:
    """Ignore an expected event from now on (runs of windows it covers flag nothing in it)."""
    entity, project = repo.get_entity(s, viewer, entity_id)
    check_writable(viewer, project)
    row = registry_thresholds.add_suppression(
        s, entity.id, start_ms=int(body.start), end_ms=int(body.end), reason=body.reason,
        created_by=viewer.username or "api", group_key=views.parse_group(body.group))
    return registry_thresholds.suppression_json(row)
