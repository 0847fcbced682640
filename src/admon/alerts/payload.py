"""Alert documents: Alertmanager's v2 ``postableAlert`` (``labels``, ``annotations``,
``startsAt``, ``endsAt``, ``generatorURL``) plus the ``id`` the outbox keys it by.

**Incident alerts.** An incident's alert is identified in Alertmanager by its labels:
``alertname`` (``AdmonIncident`` unless a rule sets it), ``entity``, ``entity_id``,
``incident_id`` and the group keys (``host``), plus the rule's labels: one incident, one
alert. The severity band of the incident's calibrated peak score is an annotation
(``severity``), not a label, because it changes as the peak grows; a rule that routes on
severity sets the label itself (e.g. ``labels={"severity": "critical"}`` on a rule with
``min_score=90``, ahead of a catch-all rule). Every state change (opened, updated, resolved) is one
document (id of the incident's revision); while the incident is open each window run of the
entity also queues a *refresh*, whose ``endsAt`` lies :data:`EXPIRY_WINDOWS` slides ahead,
so that the alert expires by itself when admon stops sending (a dead admon does not leave an
alert firing for ever). A resolved incident's alert ends at the incident's end. When an
update changes the labels (the incident now matches another rule, or a label template renders
differently) the alert under the old labels is resolved in the same step (else Alertmanager
would keep both).

**Health alerts.** ``AdmonEntityHealth`` with ``entity``, ``entity_id``, ``severity``
``warning``: raised after N consecutive ``no_data`` or ``failed`` runs ("entity X: no data for
45 min"), refreshed while they go on, resolved by the next run that succeeds.

>>> ctx = AlertContext(entity_id=7, entity="xrootd", slide_ms=300_000, public_url="http://admon:8000")
>>> from admon.incidents import Incident
>>> inc = Incident("ab" * 32, 7, {"host": "h1"}, 0, None, 900_000, 97.0, 600_000, ["gled"], "open", [3], 1)
>>> (alert,) = incident_alerts(inc, DEFAULT_RULE, ctx, now_ms=900_000)
>>> alert["labels"]["alertname"], alert["labels"]["host"], alert["annotations"]["severity"], alert["endsAt"]
('AdmonIncident', 'h1', 'critical', '1970-01-01T00:30:00.000Z')
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from jinja2 import TemplateError

from admon.alerts.rules import DEFAULT_RULE, AlertRule
from admon.alerts.templates import render
from admon.detectors.postrules import severity
from admon.incidents import Incident

log = logging.getLogger(__name__)

ALERT_DOCUMENT_TYPE = "anomaly_alert"
INCIDENT_ALERTNAME = "AdmonIncident"
HEALTH_ALERTNAME = "AdmonEntityHealth"
#: An open alert's ``endsAt`` lies this many of its entity's slides after the refresh that sent it.
EXPIRY_WINDOWS = 3
#: ... and at least this far ahead (a 1-minute slide must survive a slow delivery).
MIN_EXPIRY_MS = 5 * 60_000
_LABEL_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")


@dataclasses.dataclass(frozen=True)
class AlertContext:
    """What the alerts of one entity's run need besides the incident."""

    entity_id: int
    entity: str
    slide_ms: int
    #: The service's public base URL (``ADMON_PUBLIC_URL``): alerts link to the entity page there.
    public_url: str
    #: The entity's anomaly threshold on the calibrated scale (severity bands above it), if known.
    threshold: float | None = None

    @property
    def expiry_ms(self) -> int:
        return max(EXPIRY_WINDOWS * self.slide_ms, MIN_EXPIRY_MS)


def rfc3339(ms: int) -> str:
    """Epoch ms as the RFC 3339 text Alertmanager reads (UTC, milliseconds).

    >>> rfc3339(1652169600000)
    '2022-05-10T08:00:00.000Z'
    """
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def label_name(key: str) -> str:
    """A group key as an Alertmanager label name (unsafe characters become ``_``)."""
    name = _LABEL_UNSAFE.sub("_", str(key))
    return name if name and not name[0].isdigit() else f"_{name}"


def incident_severity(incident: Incident, threshold: float | None = None) -> str:
    """The severity band of an incident's peak score (above ``threshold`` if given)."""
    return severity(incident.peak_score, threshold) or severity(incident.peak_score) or "warning"


def alert_id(*parts: object) -> str:
    """The outbox id of one alert document: sha256 of its parts."""
    return hashlib.sha256(":".join(["alert", *map(str, parts)]).encode()).hexdigest()


def template_context(incident: Incident, ctx: AlertContext) -> dict[str, Any]:
    """The fields a rule's templates see (:data:`admon.alerts.templates.TEMPLATE_FIELDS`)."""
    end = incident.end_ms
    return {"entity": ctx.entity, "entity_id": ctx.entity_id, "incident_id": incident.id,
            "group": dict(incident.group), "start": incident.start_ms, "end": end,
            "start_iso": rfc3339(incident.start_ms), "end_iso": None if end is None else rfc3339(end),
            "peak_score": incident.peak_score, "peak_timestamp": incident.peak_timestamp_ms,
            "features": list(incident.features), "status": incident.status,
            "severity": incident_severity(incident, ctx.threshold),
            "duration_minutes": (incident.last_window_end_ms - incident.start_ms) / 60_000,
            "url": incident_url(incident, ctx)}


def incident_url(incident: Incident, ctx: AlertContext) -> str:
    """The entity page showing the incident's group and time (the alert's ``generatorURL``)."""
    query = {"group": ",".join(f"{k}={v}" for k, v in sorted(incident.group.items())),
             "start": incident.start_ms - ctx.slide_ms, "end": incident.last_window_end_ms + ctx.slide_ms,
             "incident": incident.id}
    return f"{ctx.public_url.rstrip('/')}/entities/{ctx.entity_id}?{urlencode(query)}"


def _labels(incident: Incident, rule: AlertRule, ctx: AlertContext, fields: Mapping[str, Any]) -> dict[str, str]:
    # no severity label of its own: labels are the alert's identity in Alertmanager, and the
    # band of a growing peak changes (an annotation says it; a rule may route on a severity label)
    labels = {"alertname": INCIDENT_ALERTNAME}
    labels |= _rendered(rule.labels, fields, rule, "labels")
    labels |= {label_name(k): str(v) for k, v in incident.group.items()}
    labels |= {"entity": ctx.entity, "entity_id": str(ctx.entity_id), "incident_id": incident.id}
    return labels


def _annotations(incident: Incident, rule: AlertRule, fields: Mapping[str, Any]) -> dict[str, str]:
    group = ", ".join(f"{k}={v}" for k, v in incident.group.items()) or "all"
    annotations = {
        "severity": str(fields["severity"]),
        "summary": f"{fields['entity']}: anomaly on {group} (peak score {incident.peak_score:.1f}, "
                   f"{fields['severity']})",
        "description": f"Incident {incident.status} since {fields['start_iso']}"
                       + (f" until {fields['end_iso']}" if incident.end_ms is not None else "")
                       + (f"; features: {', '.join(incident.features)}" if incident.features else ""),
    }
    return annotations | _rendered(rule.annotations, fields, rule, "annotations")


def _rendered(templates: Mapping[str, str], fields: Mapping[str, Any], rule: AlertRule,
              section: str) -> dict[str, str]:
    out = {}
    for name, text in templates.items():
        try:
            out[name] = render(text, fields)
        except TemplateError as exc:  # checked when saved; an alert must still go out
            log.warning("alert rule %r (#%s): %s.%s does not render (%s); sent unrendered", rule.name,
                        rule.id, section, name, exc)
            out[name] = text
    return out


def _document(doc_id: str, labels: dict[str, str], annotations: dict[str, str], starts_ms: int,
              ends_ms: int, url: str) -> dict[str, Any]:
    return {"id": doc_id, "type": ALERT_DOCUMENT_TYPE, "labels": labels, "annotations": annotations,
            "startsAt": rfc3339(starts_ms), "endsAt": rfc3339(ends_ms), "generatorURL": url}


def incident_alerts(incident: Incident, rule: AlertRule, ctx: AlertContext, *, now_ms: int,
                    refresh: bool = False, previous: Incident | None = None) -> list[dict[str, Any]]:
    """The alert documents of ``incident``'s current state (``refresh``: of a re-post while it is
    open), through ``rule``; with the state it replaced (``previous``), also the end of the alert
    under its old labels when the severity band changed."""
    fields = template_context(incident, ctx)
    labels = _labels(incident, rule, ctx, fields)
    annotations = _annotations(incident, rule, fields)
    url = str(fields["url"])
    if incident.end_ms is not None:
        ends = incident.end_ms
    else:
        ends = now_ms + ctx.expiry_ms
    doc_id = (alert_id(incident.id, incident.revision, "refresh", now_ms) if refresh
              else alert_id(incident.id, incident.revision))
    docs = [_document(doc_id, labels, annotations, incident.start_ms, ends, url)]
    if previous is not None and not refresh:
        before = template_context(previous, ctx)
        old_labels = _labels(previous, rule, ctx, before)
        if old_labels != labels:  # another identity: end the alert Alertmanager knows by the old labels
            docs.insert(0, _document(alert_id(incident.id, incident.revision, "superseded"), old_labels,
                                     _annotations(previous, rule, before), previous.start_ms,
                                     max(previous.start_ms, now_ms - 1), url))
    return docs


def health_alert(ctx: AlertContext, *, reason: str, first_window_end_ms: int, last_window_end_ms: int,
                 runs: int, now_ms: int, resolved_ms: int | None = None) -> dict[str, Any]:
    """The health alert of an entity whose last ``runs`` runs were ``no_data`` or ``failed``
    (``reason``), from the window ending at ``first_window_end_ms`` to ``last_window_end_ms``;
    ``resolved_ms``: the alert ends there (a run succeeded).

    >>> ctx = AlertContext(entity_id=7, entity="xrootd", slide_ms=900_000, public_url="http://admon:8000")
    >>> health_alert(ctx, reason="no_data", first_window_end_ms=0, last_window_end_ms=1_800_000, runs=3,
    ...              now_ms=1_800_000)["annotations"]["summary"]
    'entity xrootd: no data for 45 min (3 runs in a row)'
    """
    minutes = (last_window_end_ms - first_window_end_ms + ctx.slide_ms) / 60_000
    what = {"no_data": "no data", "failed": "failed runs"}.get(reason, reason)
    labels = {"alertname": HEALTH_ALERTNAME, "entity": ctx.entity, "entity_id": str(ctx.entity_id),
              "severity": "warning"}
    annotations = {
        "summary": f"entity {ctx.entity}: {what} for {minutes:g} min ({runs} runs in a row)",
        "description": f"the last {runs} runs of entity {ctx.entity} (#{ctx.entity_id}) were no_data or failed, "
                       f"windows ending {rfc3339(first_window_end_ms)} .. {rfc3339(last_window_end_ms)}; "
                       f"see `admon runs list {ctx.entity_id}`",
    }
    starts = first_window_end_ms - ctx.slide_ms
    if resolved_ms is not None:
        doc_id = alert_id("health", ctx.entity_id, first_window_end_ms, "resolved")
        ends = max(resolved_ms, starts)
    else:
        doc_id = alert_id("health", ctx.entity_id, first_window_end_ms, last_window_end_ms, now_ms)
        ends = now_ms + ctx.expiry_ms
    url = f"{ctx.public_url.rstrip('/')}/entities/{ctx.entity_id}"
    return _document(doc_id, labels, annotations, starts, ends, url)


__all__ = ["ALERT_DOCUMENT_TYPE", "DEFAULT_RULE", "HEALTH_ALERTNAME", "INCIDENT_ALERTNAME",
           "AlertContext", "health_alert", "incident_alerts", "incident_severity", "rfc3339"]
