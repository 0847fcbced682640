"""The exported result document and its deterministic id.

One document per (entity, window, group). Its ``id`` is a hash of
``(entity id, window_end, group keys)`` only, so re-running a window gives the
same id and a sink can drop the duplicate.

>>> document_id(7, 1652173200000, {"host": "h1"}) == document_id(7, 1652173200000, {"host": "h1"})
True
>>> document_id(7, 1652173200000, {"host": "h1"}) == document_id(7, 1652173200000, {"host": "h2"})
False
>>> len(document_id(7, 1652173200000, {}))
64
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

# Fields admon sets itself; a monit_label with the same key does not override them.
RESERVED = ("id", "producer", "type", "timestamp", "entity_id", "entity", "project_id", "model_id",
            "run_id", "group", "window_start", "window_end", "anomaly_score", "is_anomaly",
            "threshold", "severity", "top_features", "peak_timestamp", "rows", "labels")
DOCUMENT_TYPE = "anomaly_result"


def document_id(entity_id: int, window_end_ms: int, group_key: dict[str, Any]) -> str:
    """sha256 hex of the canonical ``[entity_id, window_end_ms, sorted group keys]``."""
    canonical = json.dumps([int(entity_id), int(window_end_ms), sorted(group_key.items())],
                           separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def delivery_key(document: dict[str, Any]) -> str:
    """What a sink deduplicates a document by: its ``id``, and its ``revision`` when above 1.

    A window re-run for late data sends its results again under the same ids with the next
    ``revision``; a sink that dropped them as already held would never see the new revision.

    >>> delivery_key({"id": "abc"}), delivery_key({"id": "abc", "revision": 1}), delivery_key({"id": "abc", "revision": 2})
    ('abc', 'abc', 'abc@2')
    """
    revision = document.get("revision")
    return str(document["id"]) if revision in (None, 1) else f"{document['id']}@{int(revision)}"


def _finite(value: Any) -> Any:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def build_document(
    *,
    entity_id: int,
    entity_title: str,
    project_id: int,
    model_id: str,
    run_id: int,
    monit_producer: str,
    monit_label: dict[str, str],
    group_key: dict[str, Any],
    window_start_ms: int,
    window_end_ms: int,
    anomaly_score: float | None,
    is_anomaly: bool,
    threshold: float | None,
    severity: str | None = None,
    top_features: list[str] | None = None,
    peak_timestamp_ms: int | None = None,
    rows: int = 0,
) -> dict[str, Any]:
    """The MONIT-style document of one group's result in one window (JSON-ready).

    ``timestamp`` is the window end (the instant the result is about); the group
    keys appear both in ``group`` and as top-level fields (e.g. ``host``), next to
    the ``monit_label`` pairs, so dashboards can filter on them directly. A normal result
    (``is_anomaly`` false) carries no ``severity`` (null) and names no ``top_features``.
    """
    doc: dict[str, Any] = {k: v for k, v in monit_label.items() if k not in RESERVED}
    doc.update({k: v for k, v in group_key.items() if k not in RESERVED})
    doc.update(
        id=document_id(entity_id, window_end_ms, group_key),
        producer=monit_producer,
        type=DOCUMENT_TYPE,
        timestamp=int(window_end_ms),
        entity_id=int(entity_id),
        entity=entity_title,
        project_id=int(project_id),
        model_id=model_id,
        run_id=int(run_id),
        group=dict(group_key),
        labels=dict(monit_label),
        window_start=int(window_start_ms),
        window_end=int(window_end_ms),
        anomaly_score=_finite(anomaly_score),
        is_anomaly=bool(is_anomaly),
        threshold=_finite(threshold),
        severity=severity if is_anomaly else None,
        top_features=list(top_features or []) if is_anomaly else [],
        peak_timestamp=None if peak_timestamp_ms is None else int(peak_timestamp_ms),
        rows=int(rows),
    )
    return doc
