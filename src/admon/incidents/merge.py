"""Merge one window's anomalous results into an entity's incidents (pure: no storage, no I/O).

An incident is one entity and one group (``{"host": "h1"}``) in trouble: anomalous windows
that follow each other or overlap merge into it. It is ``open`` when its first anomalous
window is seen, ``updated`` each time a further anomalous window of its group merges into
it, and ``resolved`` after ``quiet_windows`` windows of the entity without an anomalous
result for its group; its ``end`` is then the end of its last anomalous window.

``quiet_windows`` defaults to 2 (:data:`DEFAULT_QUIET_WINDOWS`): one window that dips below
the threshold in the middle of an incident does not split it in two, and an incident is
resolved two windows (with a 5-minute slide, 10 minutes) after its last anomalous window.

>>> first = merge_window(7, {}, [WindowResult({"host": "h1"}, 0, 900_000, 97.0, 600_000, ["cpu"], 1)],
...                      window_end_ms=900_000)
>>> [(c.incident.status, c.incident.end_ms, c.emits) for c in first]
[('open', None, True)]
>>> open_ = {group_id(c.incident.group): c.incident for c in first}
>>> quiet = merge_window(7, open_, [], window_end_ms=1_200_000)
>>> [(c.incident.status, c.emits) for c in quiet]
[('open', False)]
>>> open_ = {group_id(c.incident.group): c.incident for c in quiet}
>>> [(c.incident.status, c.incident.end_ms) for c in merge_window(7, open_, [], window_end_ms=1_500_000)]
[('resolved', 900000)]
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from admon.notebook import group_text, html_table, time_text, ui_link

OPEN, UPDATED, RESOLVED = "open", "updated", "resolved"
INCIDENT_STATUSES = (OPEN, UPDATED, RESOLVED)
#: Windows without an anomalous result for its group after which an incident is resolved.
DEFAULT_QUIET_WINDOWS = 2
INCIDENT_DOCUMENT_TYPE = "anomaly_incident"


def group_id(group: Mapping[str, Any]) -> str:
    """The canonical text of a group key (sorted keys): one open incident per entity and group."""
    return json.dumps(sorted(group.items()), separators=(",", ":"), default=str)


def incident_id(entity_id: int, group: Mapping[str, Any], start_ms: int) -> str:
    """sha256 hex of ``[entity_id, sorted group keys, start_ms]``: the same incident, the same id."""
    canonical = json.dumps([int(entity_id), sorted(group.items()), int(start_ms)],
                           separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def incident_state_id(incident_id_: str, revision: int) -> str:
    """sha256 hex of ``"<incident id>:<revision>"``: the id of one state of an incident."""
    return hashlib.sha256(f"{incident_id_}:{int(revision)}".encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class WindowResult:
    """One anomalous result of a window: what an incident takes of it."""

    group: dict[str, Any]
    start_ms: int
    end_ms: int
    anomaly_score: float
    peak_timestamp_ms: int | None
    top_features: list[str]
    run_id: int


@dataclasses.dataclass(frozen=True)
class Incident:
    """An incident's state; ``end_ms`` is None while it is not resolved."""

    id: str
    entity_id: int
    group: dict[str, Any]
    start_ms: int
    end_ms: int | None
    #: The end of its last anomalous window (its ``end`` once resolved).
    last_window_end_ms: int
    peak_score: float
    peak_timestamp_ms: int | None
    #: Most contributing first: the peak window's top features, then the others by first sight.
    features: list[str]
    status: str
    run_ids: list[int]
    revision: int
    #: Windows of the entity since its last anomalous window without an anomalous result for it.
    quiet_windows: int = 0

    @property
    def is_open(self) -> bool:
        return self.status != RESOLVED

    def _repr_html_(self) -> str:
        """The incident in a notebook; its plot (group and span) in the UI when ADMON_PUBLIC_URL is set."""
        return html_table(f"Incident {self.id[:12]} of entity {self.entity_id}", [
            ("group", group_text(self.group)), ("status", self.status),
            ("start", time_text(self.start_ms)), ("end", time_text(self.end_ms) or "(open)"),
            ("peak score", self.peak_score), ("peak at", time_text(self.peak_timestamp_ms)),
            ("features", ", ".join(self.features)), ("windows", len(self.run_ids)),
        ], ui_link(f"/entities/{self.entity_id}", {"group": group_text(self.group),
                                                    "start": time_text(self.start_ms),
                                                    "end": time_text(self.last_window_end_ms)}))


@dataclasses.dataclass(frozen=True)
class IncidentChange:
    """A new state of one incident. ``expected_revision`` is the revision it replaces (None: a
    new incident); ``emits`` says whether the state changed (opened, updated, resolved), so that
    a document is exported, or only the quiet-window count moved."""

    incident: Incident
    expected_revision: int | None
    emits: bool


def window_results(documents: Iterable[Mapping[str, Any]]) -> list[WindowResult]:
    """The anomalous results among a window's result documents (:mod:`admon.sinks.documents`)."""
    return [WindowResult(dict(d["group"]), int(d["window_start"]), int(d["window_end"]),
                         float(d["anomaly_score"]), d.get("peak_timestamp"), list(d.get("top_features") or []),
                         int(d["run_id"]))
            for d in documents if d.get("is_anomaly") and d.get("anomaly_score") is not None]


def merge_window(entity_id: int, open_incidents: Mapping[str, Incident], results: Iterable[WindowResult],
                 *, window_end_ms: int, quiet_windows: int = DEFAULT_QUIET_WINDOWS) -> list[IncidentChange]:
    """The incident changes of one window of ``entity_id`` ending at ``window_end_ms``.

    ``open_incidents`` maps :func:`group_id` to the entity's open incident of that group;
    ``results`` are the window's anomalous results (:func:`window_results`). A group with an
    anomalous result merges into its open incident or opens one; every other open incident
    counts one more quiet window (a window at or before its last anomalous one does not
    count) and is resolved at ``quiet_windows``.
    """
    if quiet_windows < 1:
        raise ValueError(f"quiet_windows must be at least 1, got {quiet_windows}")
    changes: list[IncidentChange] = []
    seen: set[str] = set()
    for result in results:
        key = group_id(result.group)
        if key in seen:
            continue  # one result per group and window; a duplicate adds nothing
        seen.add(key)
        current = open_incidents.get(key)
        if current is None or not current.is_open:
            changes.append(IncidentChange(_opened(entity_id, result), None, True))
        else:
            changes.append(IncidentChange(_merged(current, result), current.revision, True))
    for key, current in open_incidents.items():
        if key in seen or not current.is_open or window_end_ms <= current.last_window_end_ms:
            continue
        quiet = current.quiet_windows + 1
        if quiet >= quiet_windows:
            resolved = dataclasses.replace(current, status=RESOLVED, end_ms=current.last_window_end_ms,
                                           quiet_windows=quiet, revision=current.revision + 1)
            changes.append(IncidentChange(resolved, current.revision, True))
        else:
            changes.append(IncidentChange(dataclasses.replace(current, quiet_windows=quiet), current.revision,
                                          False))
    return changes


def merge_late_window(entity_id: int, overlapping: Mapping[str, Incident], results: Iterable[WindowResult], *,
                      window_end_ms: int, closed: bool) -> list[IncidentChange]:
    """The incident changes of a window run again because late data changed its input.

    Later windows have run since, so nothing is counted quiet here. ``overlapping`` maps
    :func:`group_id` to the entity's incident of that group whose span meets the window (open
    or resolved). A group anomalous in the window merges into that incident, which keeps its
    status (a resolved one stays resolved, with its new peak and runs); a group without one gets
    a new incident, born resolved at the window's end if ``closed`` (the entity's later windows
    already cover the quiet windows that would have resolved it), else open. A group that is no
    longer anomalous leaves its incident as it is: late data adds to incidents, never erases one.

    >>> late = WindowResult({"host": "h1"}, 0, 900_000, 88.0, 600_000, ["cpu"], 3)
    >>> [(c.incident.status, c.incident.end_ms) for c in merge_late_window(7, {}, [late], window_end_ms=900_000,
    ...                                                                      closed=True)]
    [('resolved', 900000)]
    """
    changes: list[IncidentChange] = []
    seen: set[str] = set()
    for result in results:
        key = group_id(result.group)
        if key in seen:
            continue
        seen.add(key)
        current = overlapping.get(key)
        if current is None:
            opened = _opened(entity_id, result)
            if closed:
                opened = dataclasses.replace(opened, status=RESOLVED, end_ms=result.end_ms)
            changes.append(IncidentChange(opened, None, True))
            continue
        merged = _merged(current, result)
        status = current.status if current.status == RESOLVED else UPDATED
        end_ms = merged.last_window_end_ms if status == RESOLVED else None
        changes.append(IncidentChange(dataclasses.replace(merged, status=status, end_ms=end_ms,
                                                          quiet_windows=current.quiet_windows),
                                      current.revision, True))
    return changes


def _opened(entity_id: int, result: WindowResult) -> Incident:
    return Incident(
        id=incident_id(entity_id, result.group, result.start_ms), entity_id=entity_id,
        group=dict(result.group), start_ms=result.start_ms, end_ms=None, last_window_end_ms=result.end_ms,
        peak_score=result.anomaly_score, peak_timestamp_ms=result.peak_timestamp_ms,
        features=_unique(result.top_features), status=OPEN, run_ids=[result.run_id], revision=1)


def _merged(current: Incident, result: WindowResult) -> Incident:
    if result.anomaly_score > current.peak_score:  # a tie keeps the earlier peak
        peak_score, peak_ts = result.anomaly_score, result.peak_timestamp_ms
        features = _unique([*result.top_features, *current.features])
    else:
        peak_score, peak_ts = current.peak_score, current.peak_timestamp_ms
        features = _unique([*current.features, *result.top_features])
    run_ids = current.run_ids if result.run_id in current.run_ids else [*current.run_ids, result.run_id]
    return dataclasses.replace(
        current, start_ms=min(current.start_ms, result.start_ms),
        last_window_end_ms=max(current.last_window_end_ms, result.end_ms), peak_score=peak_score,
        peak_timestamp_ms=peak_ts, features=features, status=UPDATED, run_ids=run_ids,
        revision=current.revision + 1, quiet_windows=0)


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def incident_document(incident: Incident, *, entity_title: str, project_id: int, producer: str,
                      updated_ms: int) -> dict[str, Any]:
    """The exported ``anomaly_incident`` document of one state of ``incident``.

    ``incident_id`` is the incident's id; ``id`` is that of this state (:func:`incident_state_id`),
    because sinks drop a document whose id they already hold (a re-sent batch), and every state
    must arrive. ``revision`` orders the states: the highest one of an ``incident_id`` supersedes
    the others.
    """
    return {
        "id": incident_state_id(incident.id, incident.revision), "incident_id": incident.id,
        "type": INCIDENT_DOCUMENT_TYPE, "producer": producer,
        "timestamp": incident.start_ms, "entity_id": incident.entity_id, "entity": entity_title,
        "project_id": project_id, "group": incident.group, "start": incident.start_ms,
        "end": incident.end_ms, "peak_score": incident.peak_score,
        "peak_timestamp": incident.peak_timestamp_ms, "features": incident.features,
        "status": incident.status, "revision": incident.revision, "run_ids": incident.run_ids,
        "updated": updated_ms,
    }
