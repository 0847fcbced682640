"""Alert rules of an entity under ``/api/entities/{id}/alert-rules`` (see :mod:`admon.alerts.rules`).

Reading needs the entity to be visible (a private project's entity is a 404 for non-members, as
everywhere); adding or deleting a rule needs membership of the project's group. A rule that
does not fit its entity is a 422 naming the field and the fix, and nothing is stored.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from admon.alerts.rules import AlertRule, AlertRuleCreate
from admon.registry import alert_rules as registry_alert_rules
from admon.service import repo
from admon.service.access import check_writable
from admon.service.deps import IdPath, SessionDep, ViewerDep
from admon.timeutil import now_ms

router = APIRouter(prefix="/api", tags=["alerts"])


def _public(rule: AlertRule) -> dict:
    return rule.as_dict()


@router.get("/entities/{entity_id}/alert-rules")
def list_alert_rules(entity_id: IdPath, s: SessionDep, viewer: ViewerDep) -> list[dict]:
    """The entity's alert rules, in the order incidents are matched (none: every incident alerts)."""
    entity, _ = repo.get_entity(s, viewer, entity_id)
    return [_public(rule) for rule in registry_alert_rules.list_rules(s, entity.id)]


@router.post("/entities/{entity_id}/alert-rules", status_code=201)
def create_alert_rule(entity_id: IdPath, body: AlertRuleCreate, s: SessionDep, viewer: ViewerDep) -> dict:
    """Add an alert rule: minimum score and duration, group filter, label and annotation templates."""
    entity, project = repo.get_entity(s, viewer, entity_id)
    check_writable(viewer, project)
    return _public(registry_alert_rules.create_rule(s, entity, body, now_ms()))


@router.delete("/entities/{entity_id}/alert-rules/{rule_id}", status_code=204)
def delete_alert_rule(entity_id: IdPath, rule_id: IdPath, s: SessionDep, viewer: ViewerDep) -> Response:
    entity, project = repo.get_entity(s, viewer, entity_id)
    check_writable(viewer, project)
    registry_alert_rules.delete_rule(s, entity.id, rule_id)
    return Response(status_code=204)
