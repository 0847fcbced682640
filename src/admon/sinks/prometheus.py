"""``prometheus``: the latest result of every (entity, group) and each entity's run health on ``/metrics``.

Everything about results and runs is read from the registry at scrape time
(:mod:`admon.registry.metrics`), so a restart or a backfill in another process leaves nothing
out, and a re-run older window never replaces a newer one (the newest ``window_end`` wins).

Result series (only when ``ADMON_SINKS`` lists ``prometheus``, see :func:`serves_results`;
labels: ``entity``, ``entity_id``, the group keys, the ``monit_label`` pairs):

- ``admon_anomaly_score`` - the window's highest anomaly score (higher = more anomalous)
- ``admon_is_anomaly`` - 1 if the window holds an anomaly, else 0
- ``admon_anomaly_threshold`` - the threshold the label came from
- ``admon_result_window_end_seconds`` - end of the window the values are about

Health series (label ``entity_id`` only: a title can change, and it is not everyone's to read):

- ``admon_entity_runs{entity_id,status}`` - runs in the registry by their current status (a gauge:
  a failed window re-run later moves to ``succeeded``)
- ``admon_entity_last_success_timestamp_seconds`` - when the newest successful run finished
- ``admon_entity_last_data_timestamp_seconds`` - end of the newest window that had input
- ``admon_entity_open_incidents`` - incidents of the entity not resolved yet (0 when none)

plus this process's own ``admon_runs_total{entity_id,status}`` counter and
``admon_run_duration_seconds{entity_id}`` histogram (the runs it executed since it started).
Labels differ between entities (their group keys and monit_label), so the result gauges
come from one custom collector rather than fixed-label ``Gauge`` objects.

Who sees what (:func:`scrape_scope`, the same for the service's ``/metrics`` and the
scheduler's :func:`serve`): without ``ADMON_METRICS_TOKEN`` the endpoint is open and
shows only the series of public projects' entities; with it, a scrape without
``Authorization: Bearer <token>`` is refused (401) and one with it sees every entity.

Nothing exists before it is asked for: :func:`get_registry` creates the
process's registry; the scheduler serves it with :func:`serve` and the service
answers ``/metrics`` from :func:`exposition`.

>>> record_run(2, "succeeded", 0.5)
>>> 'admon_runs_total{entity_id="2",status="succeeded"}' in exposition().decode()
True
>>> 'entity_id="2"' in exposition(visible_entity_ids={3}).decode()
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

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as text_exposition
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

from admon.errors import ConfigError
from admon.registry import metrics as registry_metrics
from admon.registry import repository as registry_repo
from admon.registry.db import session_scope
from admon.settings import Settings, load_settings
from admon.sinks.base import SinkOptions, register_sink, url_scheme

_lock = threading.Lock()
_state: dict[str, Any] = {}

RESULT_GAUGES = {
    "admon_anomaly_score": ("Highest anomaly score of the latest window (higher = more anomalous).",
                            lambda r: r.anomaly_score),
    "admon_is_anomaly": ("1 if the latest window of this group holds an anomaly.",
                         lambda r: 1.0 if r.is_anomaly else 0.0),
    "admon_anomaly_threshold": ("Threshold of the anomaly label.", lambda r: r.threshold),
    "admon_result_window_end_seconds": ("End of the window the values are about (unix seconds).",
                                        lambda r: r.window_end_ms / 1000.0),
}
_LABEL_RE = re.compile(r"[^a-zA-Z0-9_]")


def _label_name(key: str) -> str:
    name = _LABEL_RE.sub("_", key)
    return f"_{name}" if name[:1].isdigit() or name.startswith("__") else name


def result_labels(result: registry_metrics.LatestResult) -> dict[str, str]:
    """The labels of a result's series: entity, entity_id, the monit_label pairs, the group keys
    (a group key wins over a monit_label of the same name)."""
    labels = {"entity": result.entity_title, "entity_id": str(result.entity_id)}
    for key, value in (result.monit_label or {}).items():
        labels.setdefault(_label_name(key), str(value))
    for key, value in (result.group_key or {}).items():
        labels[_label_name(key)] = str(value)
    return labels


def _escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def result_exposition(results: list[registry_metrics.LatestResult]) -> bytes:
    """The result gauges in the text format, written here rather than by ``prometheus_client``:
    1,000 entities x 100 groups are 400,000 samples, which its generic writer takes seconds for."""
    lines: dict[str, list[str]] = {name: [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
                                   for name, (help_text, _) in RESULT_GAUGES.items()}
    for result in results:
        labels = ",".join(f'{k}="{_escape_label_value(v)}"' for k, v in result_labels(result).items())
        for name, (_, value_of) in RESULT_GAUGES.items():
            value = value_of(result)
            if value is not None:
                lines[name].append(f"{name}{{{labels}}} {floatToGoString(value)}")
    return "".join(line + "\n" for family in lines.values() for line in family).encode()


class _RegistryHealth:
    """The run health gauges of the registry, read when collected."""

    def __init__(self, session: Any, entity_ids: Collection[int] | None) -> None:
        self.session = session
        self.entity_ids = entity_ids

    def collect(self):
        health = registry_metrics.entity_health(self.session, self.entity_ids)
        runs = GaugeMetricFamily("admon_entity_runs", "Runs of the entity in the registry by current status.",
                                 labels=["entity_id", "status"])
        success = GaugeMetricFamily("admon_entity_last_success_timestamp_seconds",
                                    "When the newest successful run of the entity finished (unix seconds).",
                                    labels=["entity_id"])
        data = GaugeMetricFamily("admon_entity_last_data_timestamp_seconds",
                                 "End of the newest window of the entity that had input (unix seconds).",
                                 labels=["entity_id"])
        incidents = GaugeMetricFamily("admon_entity_open_incidents",
                                      "Incidents of the entity not resolved yet.", labels=["entity_id"])
        open_counts = registry_metrics.open_incident_counts(self.session, self.entity_ids)
        for entry in health:
            entity_id = str(entry.entity_id)
            incidents.add_metric([entity_id], float(open_counts.get(entry.entity_id, 0)))
            for status, count in entry.runs_by_status.items():
                runs.add_metric([entity_id, status], float(count))
            if entry.last_success_ms is not None:
                success.add_metric([entity_id], entry.last_success_ms / 1000.0)
            if entry.last_data_ms is not None:
                data.add_metric([entity_id], entry.last_data_ms / 1000.0)
        yield from (runs, success, data, incidents)


class _Collectors:
    def __init__(self, *collectors: Any) -> None:
        self.collectors = collectors

    def collect(self):
        for collector in self.collectors:
            yield from collector.collect()


def _registry_state() -> dict[str, Any]:
    with _lock:
        if not _state:
            registry = CollectorRegistry()
            _state.update(
                registry=registry,
                runs=Counter("admon_runs", "Runs this process executed, by entity id and final status.",
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
        for family in self.registry.collect():
            if self.visible is None:
                yield family
                continue
            shown = Metric(family.name, family.documentation, family.type, family.unit)
            shown.samples = [s for s in family.samples if self._shown(s.labels)]
            yield shown

    def _shown(self, labels: dict[str, str]) -> bool:
        return "entity_id" not in labels or (self.visible is not None and labels["entity_id"] in self.visible)


def serves_results(settings: Settings) -> bool:
    """Does ``ADMON_SINKS`` list ``prometheus``, asking for the result gauges on ``/metrics``?

    >>> serves_results(Settings(sinks="jsonl:///tmp/x, prometheus")), serves_results(Settings())
    (True, False)
    """
    return any(url_scheme(url) == "prometheus" for url in settings.sinks.split(","))


def exposition(visible_entity_ids: Collection[int] | None = None, session: Any = None, *,
               results: bool = True) -> bytes:
    """The text exposition of the process's metrics and, with a registry ``session``, of the
    registry's health gauges and (``results``) result gauges; only the series of
    ``visible_entity_ids`` (and those of no entity) when given."""
    collectors: list[Any] = [get_registry()]
    if session is not None:
        collectors.append(_RegistryHealth(session, visible_entity_ids))
    body = text_exposition(_View(_Collectors(*collectors), visible_entity_ids))
    if session is not None and results:
        body += result_exposition(registry_metrics.latest_results(session, visible_entity_ids))
    return body


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
    settings = settings or load_settings()

    def app(environ: dict, start_response: Any) -> list[bytes]:
        scope = scrape_scope(settings, environ.get("HTTP_AUTHORIZATION"))
        if scope is None:
            start_response("401 Unauthorized", [("Content-Type", "text/plain; charset=utf-8"),
                                                ("WWW-Authenticate", "Bearer")])
            return [METRICS_TOKEN_NEEDED.encode() + b"\n"]
        with session_scope(settings.database_url) as s:
            visible = None if scope == "all" else registry_repo.public_entity_ids(s)
            body = exposition(visible, session=s, results=serves_results(settings))
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [body]

    server = make_server(addr, port, app, _ThreadingServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="admon-metrics", daemon=True)
    thread.start()
    return server, thread


@register_sink("prometheus")
class PrometheusSink:
    """Results on ``/metrics``. Nothing to send: the gauges are read from the registry, where the
    run's commit wrote its results (so a backfill or a restart leaves nothing out)."""

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
        """Nothing: ``/metrics`` reads the results from the registry at scrape time."""

    def __repr__(self) -> str:
        return "PrometheusSink()"
