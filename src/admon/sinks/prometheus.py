"""``prometheus``: the latest result of every (entity, group) as gauges on ``/metrics``.

Series (labels: ``entity``, ``entity_id``, the group keys, the ``monit_label`` pairs):

- ``admon_anomaly_score`` - the window's highest anomaly score (higher = more anomalous)
- ``admon_is_anomaly`` - 1 if the window holds an anomaly, else 0
- ``admon_anomaly_threshold`` - the threshold the label came from
- ``admon_result_window_end_seconds`` - end of the window the values are about

plus ``admon_runs_total{entity,status}`` and ``admon_run_duration_seconds``.
Labels differ between entities (their group keys and monit_label), so the gauges
come from one custom collector rather than fixed-label ``Gauge`` objects.

Nothing exists before it is asked for: :func:`get_registry` creates the
process's registry; the scheduler serves it with :func:`serve` and the service
mounts :func:`asgi_app`.

>>> sink = PrometheusSink()
>>> sink.send([{"entity": "e", "entity_id": 1, "group": {"host": "h1"}, "labels": {"k": "v"},
...             "anomaly_score": 3.5, "is_anomaly": False, "threshold": 75.0, "window_end": 60000}])
>>> from prometheus_client import generate_latest
>>> 'admon_anomaly_score{entity="e",entity_id="1",host="h1",k="v"} 3.5' in generate_latest(get_registry()).decode()
True
"""

from __future__ import annotations

import re
import threading
from typing import Any

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
                runs=Counter("admon_runs", "Detection runs by entity and final status.",
                             ["entity", "status"], registry=registry),
                duration=Histogram("admon_run_duration_seconds", "Wall time of one detection run.",
                                   ["entity"], registry=registry,
                                   buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)),
            )
        return _state


def get_registry():
    """The ``prometheus_client.CollectorRegistry`` of this process (created on first call)."""
    return _registry_state()["registry"]


def record_run(entity: str, status: str, seconds: float | None = None) -> None:
    """Count a finished run (and its duration) in the process's metrics."""
    state = _registry_state()
    state["runs"].labels(entity=entity, status=status).inc()
    if seconds is not None:
        state["duration"].labels(entity=entity).observe(seconds)


def serve(port: int, addr: str = "127.0.0.1"):
    """Serve ``/metrics`` on ``addr:port`` in a background thread; returns (server, thread)."""
    from prometheus_client import start_http_server

    return start_http_server(port, addr=addr, registry=get_registry())


def asgi_app():
    """An ASGI app serving the metrics, for the service to mount at ``/metrics``."""
    from prometheus_client import make_asgi_app

    return make_asgi_app(registry=get_registry())


class PrometheusSink:
    """Keeps the latest document per (entity, group); not durable (gauges are current state)."""

    durable = False
    url = "prometheus"

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
