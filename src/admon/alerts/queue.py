"""Alerts queued in a run's commit: the glue between the runner, the registry and the alert sinks.

The runner calls these inside its one transaction, after the incidents (or the run's status)
are written: the alert documents join the outbox with the run's other rows, so an alert
state is queued exactly when the run that decided it committed, and delivered after that
commit by the alert sinks (:func:`alert_sinks`: Alertmanager, or a webhook).

History is not news: the caller decides whether a run alerts (:func:`run_alerts`); a
backfill's runs record their incidents and alert nothing unless asked (``--alert``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from admon.alerts.payload import AlertContext, health_alert, incident_alerts
from admon.alerts.rules import matching_rule
from admon.incidents import Incident, IncidentChange, group_id
from admon.registry import alert_rules as registry_alert_rules
from admon.registry.db import Session
from admon.registry.models import FAILED, NO_DATA
from admon.settings import Settings
from admon.sinks.alertmanager import AlertmanagerSink
from admon.sinks.base import Sink
from admon.sinks.webhook import WebhookSink

log = logging.getLogger(__name__)

#: The run trigger of a backfill (:mod:`admon.runs.backfill`): its incidents are history.
BACKFILL_TRIGGER = "backfill"


def alert_sinks(settings: Settings) -> list[Sink]:
    """The sinks alerts go to: ``ADMON_ALERTMANAGER_URL``, ``ADMON_ALERT_WEBHOOK_URL`` (each if set)."""
    sinks: list[Sink] = []
    if settings.alertmanager_url:
        sinks.append(AlertmanagerSink(settings.alertmanager_url, timeout_seconds=settings.sink_timeout_seconds))
    if settings.alert_webhook_url:
        sinks.append(WebhookSink(settings.alert_webhook_url, timeout_seconds=settings.sink_timeout_seconds))
    return sinks


def run_alerts(s: Session, run_id: int, forced: bool | None) -> bool:
    """Does this run alert? ``forced`` (a backfill's choice) if given, else unless a backfill made it."""
    if forced is not None:
        return forced
    return registry_alert_rules.run_trigger(s, run_id) != BACKFILL_TRIGGER


def _thresholds(results: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """``group id -> threshold`` of a window's result documents (severity bands lie above it)."""
    return {group_id(d["group"]): float(d["threshold"]) for d in results
            if d.get("threshold") is not None and d.get("group") is not None}


def queue_incident_alerts(s: Session, sinks: Sequence[Sink], ctx: AlertContext, *, previous: Mapping[str, Incident],
                          changes: Sequence[IncidentChange], open_now: Mapping[str, Incident],
                          results: Sequence[Mapping[str, Any]], run_id: int, window_end_ms: int, now: int) -> int:
    """Queue the alerts of one window run of an entity: each incident state change (opened,
    updated, resolved) that matches a rule, and a refresh of every other open incident that
    matches one. Returns how many documents were queued."""
    if not sinks:
        return 0
    rules = registry_alert_rules.list_rules(s, ctx.entity_id)
    thresholds = _thresholds(results)
    fallback = next(iter(thresholds.values()), None)
    docs: list[dict[str, Any]] = []
    emitted = {group_id(c.incident.group) for c in changes if c.emits}
    for change in changes:
        incident = change.incident
        key = group_id(incident.group)
        if not change.emits:
            continue
        rule = matching_rule(rules, incident.group, incident.peak_score,
                             incident.last_window_end_ms - incident.start_ms)
        if rule is None:
            continue
        here = AlertContext(ctx.entity_id, ctx.entity, ctx.slide_ms, ctx.public_url, thresholds.get(key, fallback))
        before = previous.get(key)
        docs += incident_alerts(incident, rule, here, now_ms=now,
                                previous=before if before is not None and before.id == incident.id else None)
    for key, incident in open_now.items():
        if key in emitted:
            continue  # its state change was queued above
        rule = matching_rule(rules, incident.group, incident.peak_score,
                             incident.last_window_end_ms - incident.start_ms)
        if rule is None:
            continue
        here = AlertContext(ctx.entity_id, ctx.entity, ctx.slide_ms, ctx.public_url, thresholds.get(key, fallback))
        docs += incident_alerts(incident, rule, here, now_ms=now, refresh=True)
    return registry_alert_rules.queue_alerts(s, [(sink.url, d) for sink in sinks for d in docs], run_id,
                                             window_end_ms, now)


def queue_health_alert(s: Session, sinks: Sequence[Sink], ctx: AlertContext, *, status: str, runs_needed: int,
                       run_id: int, window_end_ms: int, now: int) -> int:
    """After a run of the entity finished with ``status``: raise (or refresh) its health alert when its
    last ``runs_needed`` or more runs were ``no_data``/``failed``, or resolve it when this run succeeded
    after such a streak. Returns how many documents were queued."""
    if not sinks:
        return 0
    if status in (NO_DATA, FAILED):
        streak = registry_alert_rules.health_streak(s, ctx.entity_id, window_end_ms)
        if streak.runs < runs_needed or streak.first_window_end_ms is None:
            return 0
        reason = next(iter(streak.statuses)) if len(streak.statuses) == 1 else "no_data or failed"
        doc = health_alert(ctx, reason=reason, first_window_end_ms=streak.first_window_end_ms,
                           last_window_end_ms=int(streak.last_window_end_ms or window_end_ms),
                           runs=streak.runs, now_ms=now)
    else:
        streak = registry_alert_rules.health_streak(s, ctx.entity_id, window_end_ms, inclusive=False)
        if streak.runs < runs_needed or streak.first_window_end_ms is None:
            return 0
        reason = next(iter(streak.statuses)) if len(streak.statuses) == 1 else "no_data or failed"
        doc = health_alert(ctx, reason=reason, first_window_end_ms=streak.first_window_end_ms,
                           last_window_end_ms=int(streak.last_window_end_ms or window_end_ms),
                           runs=streak.runs, now_ms=now, resolved_ms=now)
        log.info("entity %s (#%s): a run succeeded after %d no_data/failed runs; health alert resolved",
                 ctx.entity, ctx.entity_id, streak.runs)
    return registry_alert_rules.queue_alerts(s, [(sink.url, doc) for sink in sinks], run_id, window_end_ms, now)
