"""Alerts: incidents (and entity health) that match an entity's alert rules, as Alertmanager alerts.

- :mod:`admon.alerts.rules`: :class:`AlertRule` (minimum score, minimum duration, which groups,
  label and annotation templates), checked against the entity when saved, and the match.
- :mod:`admon.alerts.templates`: the sandboxed Jinja environment the templates render in.
- :mod:`admon.alerts.payload`: the alert documents (Alertmanager's v2 ``postableAlert`` plus an
  ``id``) of an incident's state, of a refresh while it is open, and of a health alert.

Nothing here stores or sends: the runner queues the documents in the outbox in its commit
and the Alertmanager (or webhook) sink delivers them; grouping, silences and routing are
Alertmanager's.
"""

from admon.alerts.payload import (
    ALERT_DOCUMENT_TYPE,
    HEALTH_ALERTNAME,
    INCIDENT_ALERTNAME,
    AlertContext,
    health_alert,
    incident_alerts,
    incident_severity,
)
from admon.alerts.rules import DEFAULT_RULE, AlertRule, AlertRuleCreate, check_rule, matching_rule
from admon.alerts.templates import render, validate_template

__all__ = [
    "ALERT_DOCUMENT_TYPE",
    "DEFAULT_RULE",
    "HEALTH_ALERTNAME",
    "INCIDENT_ALERTNAME",
    "AlertContext",
    "AlertRule",
    "AlertRuleCreate",
    "check_rule",
    "health_alert",
    "incident_alerts",
    "incident_severity",
    "matching_rule",
    "render",
    "validate_template",
]
