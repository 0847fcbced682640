"""Cross-group incidents: incidents of one entity whose groups broke in the same windows.

When a switch fails, every host behind it breaks at once: one incident per host, but one
thing happened. Two incidents of the same entity are *linked* when some window run made
both anomalous (they share a run id); linking is transitive, so a chain of groups
breaking in overlapping windows is one cross-group incident. Each group's incident stays
as it is (its own start, end, peak and features); the link only names the others.

A cross-group incident is named after its member that started first (ties: the smaller
id), so its id stays the same while later groups join it.

>>> from admon.incidents.merge import Incident
>>> def incident(id_, host, runs):
...     return Incident(id_, 7, {"host": host}, runs[0] * 300_000, None, runs[-1] * 300_000, 90.0, None,
...                     [], "open", list(runs), 1)
>>> a, b, c = incident("a", "h1", [1, 2, 3]), incident("b", "h2", [3, 4]), incident("c", "h3", [9])
>>> links = cross_group_links([a, b, c])
>>> links["a"].id, [g["host"] for g in links["b"].groups], "c" in links
('a', ['h1', 'h2'], False)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from admon.incidents.merge import Incident


@dataclasses.dataclass(frozen=True)
class CrossGroupIncident:
    """Incidents of one entity linked through shared windows, first-started member first."""

    id: str
    entity_id: int
    incident_ids: list[str]
    groups: list[dict[str, Any]]
    start_ms: int
    #: None while any member is open.
    end_ms: int | None
    peak_score: float


def cross_group_links(incidents: Iterable[Incident]) -> dict[str, CrossGroupIncident]:
    """``incident id -> its cross-group incident`` for every incident linked to at least one other.

    ``incidents`` may span several entities; only incidents of the same entity link.
    """
    by_id = {i.id: i for i in incidents}
    parent = {i: i for i in by_id}

    def root(i: str) -> str:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_with_run: dict[tuple[int, int], str] = {}
    for incident in by_id.values():
        for run_id in incident.run_ids:
            other = first_with_run.setdefault((incident.entity_id, run_id), incident.id)
            if other != incident.id:
                parent[root(incident.id)] = root(other)

    members: dict[str, list[Incident]] = {}
    for incident_id_ in by_id:
        members.setdefault(root(incident_id_), []).append(by_id[incident_id_])
    links: dict[str, CrossGroupIncident] = {}
    for group in members.values():
        if len(group) < 2:
            continue
        linked = _cross_group(group)
        links.update((i.id, linked) for i in group)
    return links


def _cross_group(members: Sequence[Incident]) -> CrossGroupIncident:
    ordered = sorted(members, key=lambda i: (i.start_ms, i.id))
    open_ = any(i.is_open for i in ordered)
    return CrossGroupIncident(
        id=ordered[0].id, entity_id=ordered[0].entity_id, incident_ids=[i.id for i in ordered],
        groups=[dict(i.group) for i in ordered], start_ms=ordered[0].start_ms,
        end_ms=None if open_ else max(i.end_ms or i.last_window_end_ms for i in ordered),
        peak_score=max(i.peak_score for i in ordered))
