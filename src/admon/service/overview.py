"""The overview heatmap: per group (rows) and time bucket (columns), the worst score of a range;
and the incidents listing (every visible entity's incidents, open ones first).

Like Elastic's Anomaly Explorer swimlane, for one entity (rows are its groups) or a project
(rows are every visible entity's groups). Rows are sorted worst first; a cell carries its worst
score and, when a result in it was anomalous, its severity band
(:func:`admon.detectors.postrules.severity`); incidents overlapping the range are listed per row.
The registry does the counting (:func:`admon.registry.overview.worst_per_bucket`).

>>> bucket_ms_for(86_400_000, 300_000) // 60_000   # one day of 5-minute results: 15-minute buckets
15
>>> bucket_ms_for(3_600_000, 300_000) // 60_000    # never finer than the results
5
>>> bucket_ms_for(86_400_000, 420_000) // 60_000   # a multiple of an odd step
21
>>> bucket_ms_for(86_400_000, 300_000, at_least_ms=3_600_000) // 60_000  # one result per hourly window
60
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from admon import detectors
from admon.detectors.postrules import SEVERITY_BANDS, severity
from admon.errors import ConfigError
from admon.incidents import RESOLVED, Incident
from admon.registry import incidents as registry_incidents
from admon.registry import overview as registry_overview
from admon.registry.db import Session
from admon.registry.models import EntityRow
from admon.service import repo, views
from admon.service.access import Viewer, audience, can_write
from admon.timeutil import MS_PER_DAY, align_down, now_ms

#: At most this many columns: a bucket spans several results when the range is long.
MAX_BUCKETS = 120
#: Bucket widths to choose from (ms): the smallest that keeps the columns under MAX_BUCKETS.
NICE_BUCKETS_MS = tuple(m * 60_000 for m in (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080))
#: At most this many rows (the least anomalous are left off, and counted).
MAX_ROWS = 500
SEVERITY_ORDER = {name: rank for rank, (_, name) in enumerate(SEVERITY_BANDS, start=1)}


def bucket_ms_for(span_ms: int, step_ms: int, at_least_ms: int = 0) -> int:
    """The bucket width for a range of ``span_ms`` over data in buckets of ``step_ms``: a nice
    width, a multiple of ``step_ms``, at least ``at_least_ms`` (the gap between results), giving
    at most :data:`MAX_BUCKETS` columns."""
    step_ms = max(int(step_ms), 1)
    wanted = max(step_ms, int(at_least_ms), math.ceil(span_ms / MAX_BUCKETS))
    width = next((w for w in NICE_BUCKETS_MS if w >= wanted), math.ceil(wanted / MS_PER_DAY) * MS_PER_DAY)
    return math.ceil(width / step_ms) * step_ms


def entity_overview(s: Session, viewer: Viewer, entity_id: int, start: int | str | None,
                    end: int | str | None) -> dict[str, Any]:
    """The heatmap of one entity's groups over ``[start, end)`` (default: the last day of results)."""
    entity, project = repo.get_entity(s, viewer, entity_id)  # a hidden entity is not found
    start_ms, end_ms = views.resolve_range(s, entity, start, end)
    out = _heatmap(s, [entity], start_ms, end_ms)
    return {"scope": "entity", "entity_id": entity.id, "project_id": project.id, "title": entity.title, **out}


def project_overview(s: Session, viewer: Viewer, project_id: int, start: int | str | None,
                     end: int | str | None) -> dict[str, Any]:
    """The heatmap of every visible entity's groups of a project over ``[start, end)`` (default:
    the last day of the project's results)."""
    project = repo.get_project(s, viewer, project_id)
    entities = list(repo.list_entities(s, viewer, project_id))
    if start is None and end is None:
        latest = registry_overview.latest_result_ms(s, [e.id for e in entities])
        step = max((_step_ms(e) for e in entities), default=60_000)
        end_ms = (latest + step) if latest is not None else align_down(now_ms(), step) + step
        start_ms = end_ms - MS_PER_DAY
    else:
        start_ms, end_ms = views.resolve_range(s, None, start, end)
    out = _heatmap(s, entities, start_ms, end_ms)
    return {"scope": "project", "project_id": project.id, "title": project.title, **out}


def worst_group(s: Session, entity: EntityRow, start_ms: int, end_ms: int) -> dict[str, Any] | None:
    """The group of ``entity`` with the worst score in ``[start_ms, end_ms)`` (None: no result)."""
    bucket = max(end_ms - start_ms, 1)
    cells = registry_overview.worst_per_bucket(s, [entity.id], start_ms, end_ms, bucket)
    ranked = sorted(cells, key=lambda c: _rank_key(c.worst_score, c.anomalous, views.group_text(c.group)))
    return {k: str(v) for k, v in ranked[0].group.items()} if ranked else None


def _compares_peers(detector_name: str) -> bool:
    """Does the detector registered as ``detector_name`` score each group against the other groups?"""
    try:
        return bool(detectors.get_class(detector_name).cross_group)
    except ConfigError:  # an uninstalled plugin or the fallback's own name: not known to compare peers
        return False


def _step_ms(entity: EntityRow) -> int:
    return int(entity.input_data_config.get("agg_interval_seconds", 60)) * 1000


def _rank_key(worst: float | None, anomalous: bool, label: str) -> tuple:
    # worst score first; a row without any score last; ties by label so the order is stable
    return (worst is None, -(worst or 0.0), not anomalous, label)


def _cell_severity(worst: float | None, anomalous: bool, threshold: float | None) -> str | None:
    if not anomalous:
        return None
    band = severity(worst, threshold) if worst is not None else None
    # flagged by a rule below the threshold (e.g. a sustained run), or with an uncalibrated
    # score: anomalous all the same, in the lowest band
    return band or SEVERITY_BANDS[0][1]


def _heatmap(s: Session, entities: Sequence[EntityRow], start_ms: int, end_ms: int) -> dict[str, Any]:
    ids = [e.id for e in entities]
    step_ms = min((_step_ms(e) for e in entities), default=60_000)
    # results every bucket, or once per window: a column spans at least the gap between results
    spacing = registry_overview.result_spacing_ms(s, ids, start_ms, end_ms) or step_ms
    bucket_ms = bucket_ms_for(end_ms - start_ms, step_ms, spacing)
    first_ms = align_down(start_ms, bucket_ms)
    n_buckets = max(1, math.ceil((end_ms - first_ms) / bucket_ms))
    titles = {e.id: e.title for e in entities}
    cells = registry_overview.worst_per_bucket(s, ids, first_ms, end_ms, bucket_ms)
    incidents = registry_overview.incidents_in_range(s, ids, start_ms, end_ms)
    # entities scored by a detector that compares each group with the others: their anomalies
    # are peer anomalies (a host unlike its peers, not unlike its own past)
    peer = {entity_id for entity_id, name in registry_overview.scoring_detectors(s, ids, start_ms, end_ms).items()
            if _compares_peers(name)}

    rows: dict[tuple[int, str], dict[str, Any]] = {}

    def row_of(entity_id: int, group: dict[str, Any]) -> dict[str, Any]:
        key = (entity_id, views.group_text(group))
        if key not in rows:
            rows[key] = {"entity_id": entity_id, "entity_title": titles.get(entity_id, ""),
                         "group": {k: str(v) for k, v in group.items()}, "label": key[1],
                         "scores": [None] * n_buckets, "severities": [None] * n_buckets,
                         "anomalous": False, "incidents": [], "peer": entity_id in peer}
        return rows[key]

    for cell in cells:
        row = row_of(cell.entity_id, cell.group)
        row["scores"][cell.bucket] = cell.worst_score
        row["severities"][cell.bucket] = _cell_severity(cell.worst_score, cell.anomalous, cell.threshold)
        row["anomalous"] = row["anomalous"] or cell.anomalous
    for incident in incidents:
        row_of(incident.entity_id, incident.group)["incidents"].append(incident)

    for row in rows.values():
        scored = [(v, i) for i, v in enumerate(row["scores"]) if v is not None]
        row["worst_score"], row["worst_bucket"] = max(scored) if scored else (None, None)
        bands = [b for b in row["severities"] if b is not None]
        row["severity"] = max(bands, key=SEVERITY_ORDER.__getitem__) if bands else None
    ranked = sorted(rows.values(), key=lambda r: _rank_key(r["worst_score"], r["anomalous"],
                                                           f"{r['entity_title']}\x00{r['label']}"))
    shown = ranked[:MAX_ROWS]
    return {
        "start_ms": start_ms, "end_ms": end_ms, "step_ms": step_ms, "bucket_ms": bucket_ms,
        "buckets": [first_ms + i * bucket_ms for i in range(n_buckets)],
        "bands": [{"name": name, "lower": lower} for lower, name in SEVERITY_BANDS],
        "groups": [_group_public(r) for r in shown],
        "scores": [r["scores"] for r in shown],
        "severities": [r["severities"] for r in shown],
        "incidents": [_incident_public(i, row) for row, r in enumerate(shown) for i in r["incidents"]],
        "rows_total": len(ranked),
    }


def _group_public(row: dict[str, Any]) -> dict[str, Any]:
    return {"entity_id": row["entity_id"], "entity_title": row["entity_title"], "group": row["group"],
            "label": row["label"], "worst_score": row["worst_score"], "worst_bucket": row["worst_bucket"],
            "severity": row["severity"], "peer": row["peer"],
            "anomalous_buckets": sum(1 for b in row["severities"] if b is not None),
            "open_incidents": sum(1 for i in row["incidents"] if i.status != RESOLVED)}


def _incident_public(incident: Incident, row: int) -> dict[str, Any]:
    return {"id": incident.id, "row": row, "entity_id": incident.entity_id, "start": incident.start_ms,
            "end": incident.end_ms, "status": incident.status, "open": incident.status != RESOLVED,
            "peak_score": incident.peak_score, "peak_timestamp": incident.peak_timestamp_ms,
            "features": incident.features}


def incident_listing(s: Session, viewer: Viewer, *, open_only: bool = False, limit: int = 500) -> list[dict[str, Any]]:
    """Incidents of every entity ``viewer`` may see, open ones first (then newest start first),
    each with its entity, its current verdict, whether the viewer may judge it, and the entity
    page that shows it (its group, around its span, the span selected)."""
    incidents = registry_incidents.list_visible_incidents(s, audience(viewer), open_only=open_only, limit=limit)
    incidents.sort(key=lambda i: (i.status == RESOLVED, -i.start_ms))
    entities: dict[int, tuple[EntityRow, Any]] = {}
    verdicts: dict[str, str] = {}
    for entity_id in dict.fromkeys(i.entity_id for i in incidents):
        entities[entity_id] = repo.get_entity(s, viewer, entity_id)
        for note in repo.list_annotations(s, viewer, entity_id):  # oldest first: the last verdict stays
            if note.detection_id:
                verdicts[note.detection_id] = note.label
    out = []
    for incident in incidents:
        entity, project = entities[incident.entity_id]
        end = incident.end_ms if incident.end_ms is not None else incident.last_window_end_ms
        out.append({
            "incident": incident, "entity": entity, "project": project, "verdict": verdicts.get(incident.id),
            "can_write": viewer.is_authenticated and can_write(viewer, project),
            "group_text": views.group_text(incident.group), "end": end,
            "href": _plot_href(entity.id, incident.group, incident.start_ms, end),
        })
    return out


def _plot_href(entity_id: int, group: dict[str, Any], start_ms: int, end_ms: int) -> str:
    """The entity page on ``group`` around ``[start_ms, end_ms)``, that span selected."""
    pad = max((end_ms - start_ms) // 2, 3 * 3_600_000)
    end = end_ms + pad
    start = max(start_ms - pad, end - views.MAX_RANGE_MS)
    query: dict[str, Any] = {"start": start, "end": end, "focus_start": start_ms,
                             "focus_end": max(end_ms, start_ms + 1)}
    if group:
        query["group"] = views.group_text(group)
    return f"/entities/{entity_id}?{urlencode(query)}"
