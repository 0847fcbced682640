"""``alertmanager:http(s)://host:9093``: alert documents POSTed to Prometheus Alertmanager's v2 API.

The durable sink of alerts (:mod:`admon.alerts`): the runner queues alert documents in the
outbox in the commit of the run that decided them, and this sink POSTs them, a chunk at a
time, as one JSON list to ``<base>/api/v2/alerts`` (Alertmanager's ``postableAlerts``:
``labels``, ``annotations``, ``startsAt``, ``endsAt``, ``generatorURL``; the document's
``id`` and ``type`` stay with admon). A 200 acknowledges the chunk; anything else raises
:class:`~admon.errors.SinkError` and the chunk is sent again after a backoff. Re-sending is
harmless: Alertmanager identifies an alert by its labels and keeps the newest state.

Set by ``ADMON_ALERTMANAGER_URL=http://alertmanager:9093`` (the base URL, as for ``amtool``).

>>> AlertmanagerSink("http://127.0.0.1:9093/").endpoint
'http://127.0.0.1:9093/api/v2/alerts'
>>> AlertmanagerSink("http://127.0.0.1:9093").url
'alertmanager:http://127.0.0.1:9093'
"""

from __future__ import annotations

from typing import Any

from admon.errors import ConfigError
from admon.sinks.base import SinkOptions, register_sink
from admon.sinks.monit_http import JsonPoster

SCHEME = "alertmanager:"
ALERTS_PATH = "/api/v2/alerts"
#: The ``type`` of the alert documents (:mod:`admon.alerts.payload`).
ALERT_DOCUMENT_TYPE = "anomaly_alert"
#: The fields of an alert document Alertmanager gets (those of its ``postableAlert``).
POSTABLE_FIELDS = ("labels", "annotations", "startsAt", "endsAt", "generatorURL")


@register_sink("alertmanager")
class AlertmanagerSink(JsonPoster):
    url_schemes = ("alertmanager",)
    url_form = "alertmanager:http(s)://host:9093"
    durable = True
    #: Alerts per request (Alertmanager takes a list).
    chunk_size = 100

    def __init__(self, base_url: str, *, timeout_seconds: float = 10.0) -> None:
        base = base_url.strip().rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise ConfigError(f"Alertmanager URL {base_url!r} is not an http(s) URL; give its base URL, "
                              "e.g. http://alertmanager:9093 (ADMON_ALERTMANAGER_URL)")
        base = base.removesuffix(ALERTS_PATH)
        self.base_url = base
        self.endpoint = base + ALERTS_PATH
        self.timeout_seconds = timeout_seconds
        self.url = SCHEME + base

    @classmethod
    def from_url(cls, url: str, options: SinkOptions) -> AlertmanagerSink:
        return cls(url.strip()[len(SCHEME):], timeout_seconds=options.timeout_seconds)

    def send(self, documents: list[dict[str, Any]]) -> None:
        """POST the alerts as one list; return once Alertmanager answered 2xx."""
        # only alerts: a result or incident document (ADMON_SINKS naming this sink) is not one
        alerts = [{k: d[k] for k in POSTABLE_FIELDS if d.get(k) is not None} for d in documents
                  if d.get("type") == ALERT_DOCUMENT_TYPE]
        if not alerts:
            return
        self._post_json(self.endpoint, alerts, [str(d["id"]) for d in documents])

    def __repr__(self) -> str:
        return f"AlertmanagerSink({self.base_url!r})"
