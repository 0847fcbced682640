"""``prometheus``: the latest result of every (entity, group) as gauges on ``/metrics``.

Series (labels: ``entity``, ``entity_id``, the group keys, the ``monit_label`` pairs):

- ``admon_anomaly_score`` - the window's highest anomaly score (higher = more anomalous)
- ``admon_is_anomaly`` - 1 if the window holds an anomaly, else 0
- ``admon_anomaly_threshold`` - the threshold the label came from
- ``admon_result_window_end_seconds`` - end of the window the values are about

plus ``admon_runs_total{entity_id,status}`` and ``admon_run_duration_seconds{entity_id}``
(by id: a title can change, and it is not everyone's to read).
Labels differ between entities (their group keys and monit_label), so the gauges
come from one custom collector rather than fixed-label ``Gauge`` objects.

Who sees what (:func:`scrape_scope`, the same for the service's ``/metrics`` and the
scheduler's :func:`serve`): without ``ADMON_METRICS_TOKEN`` the endpoint is open and
shows only the series of public projects' entities; with it, a scrape without
``Authorization: Bearer <token>`` is refused (401) and one with it sees every entity.

Nothing exists before it is asked for: :func:`get_registry` creates the
process's registry; the scheduler serves it with :func:`serve` and the service
answers ``/metrics`` from :func:`exposition`.

>>> sink = PrometheusSink()
>>> sink.send([{"entity": "e", "entity_id": 1, "group": {"host": "h1"}, "labels": {"k": "v"},
...             "anomaly_score": 3.5, "is_anomaly": False, "threshold": 75.0, "window_end": 60000}])
>>> 'admon_anomaly_score{entity="e",entity_id="1",host="h1",k="v"} 3.5' in exposition().decode()
True
>>> 'entity_id="1"' in exposition(visible_entity_ids={2}).decode()
False
"""

from __future__ import annotations

import hmac
import re
import threading
from collections.abc import Collection
from socketserver import ThreadingMixIn
from typing import Any, Literal
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from admon.errors import ConfigError
from admon.registry import repository as registry_repo
from admon.registry.db import session_scope
from admon.settings import Settings, load_settings
from admon.sinks.base import SinkOptions, register_sink

_lock = threading.Lock()
_state: dict[str, Any] = {}

GAUGES = {
    "admon_anomaly_score": ("Highest anomaly score of the latest window (higher = more anomalous).",
                            lambda d: d.get("anomaly_score")),
    "admon_is_anomaly": ("1 if the latest window of this group holds an anomaly.",
                         lambda d: 1.0 if d.get("is_anomaly") else 0.0),
    "admon_anomaly_threshold": ("Threshold of the anomaly label.", lambda d: d.get("threshold")),
    "admon_result_window_end_seconds": ("End of the window the values are about (unix seconds).",
                                        lambda d: d["window_end"] / 1000.0),
}
_LABEL_RE = re.compile(r"[^a-zA-Z0-9_]")


def _label_name(key: str) -> str:
    name = _LABEL_RE.sub("_", key)
    return f"_{name}" if name[:1].isdigit() or name.startswith("__") else name


class _ResultCollector:
    def __init__(self) -> None:
        self.latest: dict[tuple, tuple[dict[str, str], dict[str, Any]]] = {}

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        with _lock:
            items = list(self.latest.values())
        for name, (help_text, value_of) in GAUGES.items():
            family = GaugeMetricFamily(name, help_text)
            for labels, doc in items:
                value = value_of(doc)
                if value is not None:
                    family.add_sample(name, labels, float(value))
            yield family


def _registry_state() -> dict[str, Any]:
    with _lock:
        if not _state:
            from prometheus_client import CollectorRegistry, Counter, Histogram

            registry = CollectorRegistry()
            collector = _ResultCollector()
            registry.register(collector)
            _state.update(
                registry=registry,
                collector=collector,
                runs=Counter("admon_runs", "Detection runs by entity id and final status.",
                             ["entity_id", "status"], registry=registry),
                duration=Histogram("admon_run_duration_seconds", "Wall time of one detection run.",
                                   ["entity_id"], registry=registry,
                                   buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)),
            )
        return _state


def get_registry():
    """The ``prometheus_client.CollectorRegistry`` of this process (created on first call)."""
    return _registry_state()["registry"]


def record_run(entity_id: int, status: str, seconds: float | None = None) -> None:
    """Count a finished run of entity ``entity_id`` (and its duration) in the process's metrics."""
    state = _registry_state()
    state["runs"].labels(entity_id=str(int(entity_id)), status=status).inc()
    if seconds is not None:
        state["duration"].labels(entity_id=str(int(entity_id))).observe(seconds)


# --- who may see which series -------------------------------------------------------------------

METRICS_TOKEN_NEEDED = (
    "/metrics needs the scraper token: send 'Authorization: Bearer <token>' with the value of "
    "ADMON_METRICS_TOKEN (Prometheus: the scrape job's `authorization: {credentials: …}`)"
)


def scrape_scope(settings: Settings, authorization: str | None) -> Literal["all", "public"] | None:
    """What a scrape with this ``Authorization`` header may see: ``"all"`` (it presented the
    metrics token), ``"public"`` (no token is configured) or None (refused: a token is configured
    and was not presented).

    >>> scrape_scope(Settings(), None), scrape_scope(Settings(metrics_token="s" * 16), "Bearer " + "s" * 16)
    ('public', 'all')
    """
    if settings.metrics_token is None:
        return "public"
    scheme, _, given = (authorization or "").partition(" ")
    expected = settings.metrics_token.get_secret_value().encode()
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected):
        return "all"
    return None


class _View:
    """The registry without the samples of entities outside ``visible`` (None: every sample)."""

    def __init__(self, registry: Any, visible: Collection[int] | None) -> None:
        self.registry = registry
        self.visible = None if visible is None else {str(i) for i in visible}

    def collect(self):
        from prometheus_client.metrics_core import Metric

        for family in self.registry.collect():
            if self.visible is None:
                yield family
                continue
            shown = Metric(family.name, family.documentation, family.type, family.unit)
            shown.samples = [s for s in family.samples if self._shown(s.labels)]
            yield shown

    def _shown(self, labels: dict[str, str]) -> bool:
        return "entity_id" not in labels or (self.visible is not None and labels["entity_id"] in self.visible)


def exposition(visible_entity_ids: Collection[int] | None = None) -> bytes:
    """The text exposition of the process's metrics; only the series of ``visible_entity_ids``
    (and those of no entity) when given."""
    from prometheus_client import generate_latest

    return generate_latest(_View(get_registry(), visible_entity_ids))


def visible_entity_ids(scope: Literal["all", "public"], database_url: str | None = None) -> set[int] | None:
    """The entities a scrape of ``scope`` may see (None: all of them), from the registry."""
    if scope == "all":
        return None
    with session_scope(database_url) as s:
        return registry_repo.public_entity_ids(s)


# --- the scheduler's own metrics server ---------------------------------------------------------


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass  # a scrape every few seconds would flood the scheduler's log


def serve(port: int, addr: str = "127.0.0.1", settings: Settings | None = None):
    """Serve ``/metrics`` on ``addr:port`` in a background thread; returns (server, thread).

    The same rule as the service's ``/metrics`` (:func:`scrape_scope`); the registry database
    of ``settings`` says which entities are public.
    """
    from prometheus_client import CONTENT_TYPE_LATEST

    settings = settings or load_settings()

    def app(environ: dict, start_response: Any) -> list[bytes]:
        scope = scrape_scope(settings, environ.get("HTTP_AUTHORIZATION"))
        if scope is None:
            start_response("401 Unauthorized", [("Content-Type", "text/plain; charset=utf-8"),
                                                ("WWW-Authenticate", "Bearer")])
            return [METRICS_TOKEN_NEEDED.encode() + b"\n"]
        body = exposition(visible_entity_ids(scope, settings.database_url))
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [body]

    server = make_server(addr, port, app, _ThreadingServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="admon-metrics", daemon=True)
    thread.start()
    return server, thread


@register_sink("prometheus")
class PrometheusSink:
    """Keeps the latest document per (entity, group); not durable (gauges are current state)."""

    url_form = "prometheus"
    durable = False
    url = "prometheus"

    @classmethod
    def from_url(cls, url: str, options: SinkOptions) -> PrometheusSink:
        """``prometheus`` (also ``prometheus:`` / ``prometheus://``): nothing to configure."""
        if url.strip().lower().split(":", 1)[-1].strip("/") not in ("", "prometheus"):
            raise ConfigError(f"sink {url!r}: the prometheus sink takes no address; use 'prometheus' "
                              "(its gauges are served on /metrics)")
        return cls()

    def send(self, documents: list[dict[str, Any]]) -> None:
        collector = _registry_state()["collector"]
        with _lock:
            for doc in documents:
                group = doc.get("group") or {}
                labels = {"entity": str(doc.get("entity", "")), "entity_id": str(doc.get("entity_id", ""))}
                for key, value in (doc.get("labels") or {}).items():
                    labels.setdefault(_label_name(key), str(value))
                for key, value in group.items():
                    labels[_label_name(key)] = str(value)
                key = (labels["entity_id"], tuple(sorted(group.items())))
                previous = collector.latest.get(key)
                if previous is None or previous[1]["window_end"] <= doc["window_end"]:
                    collector.latest[key] = (labels, doc)

    def __repr__(self) -> str:
        return "PrometheusSink()"
