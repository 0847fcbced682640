"""Cross-group incidents (:mod:`admon.incidents.links`): incidents of one entity whose groups broke
in the same windows are linked, transitively; others, and other entities' incidents, are not."""

from __future__ import annotations

from admon.incidents import Incident, cross_group_links

MIN = 60_000


def incident(id_: str, host: str, runs: list[int], *, entity_id: int = 7, status: str = "open",
             peak: float = 90.0) -> Incident:
    start, last = runs[0] * 5 * MIN, runs[-1] * 5 * MIN + 10 * MIN
    return Incident(id_, entity_id, {"host": host}, start, last if status == "resolved" else None, last, peak,
                    None, [], status, list(runs), 1)


def test_incidents_sharing_a_window_are_one_cross_group_incident_with_each_part_kept():
    a = incident("a", "h1", [1, 2, 3], peak=80.0)
    b = incident("b", "h2", [3, 4], peak=95.0)
    links = cross_group_links([b, a])
    assert links["a"] is links["b"]
    linked = links["a"]
    assert linked.id == "a" and linked.incident_ids == ["a", "b"]  # named after the first started
    assert linked.groups == [{"host": "h1"}, {"host": "h2"}]
    assert linked.start_ms == a.start_ms and linked.end_ms is None and linked.peak_score == 95.0


def test_linking_is_transitive_and_ends_with_the_last_member():
    a = incident("a", "h1", [1, 2], status="resolved")
    b = incident("b", "h2", [2, 3], status="resolved")
    c = incident("c", "h3", [3, 4], status="resolved")
    links = cross_group_links([a, b, c])
    assert {links[i].id for i in "abc"} == {"a"}
    assert links["a"].end_ms == c.end_ms


def test_consecutive_but_not_shared_windows_and_other_entities_do_not_link():
    a = incident("a", "h1", [1, 2])
    b = incident("b", "h2", [3, 4])  # starts right after a: never anomalous in the same window
    c = incident("c", "h3", [1, 2], entity_id=8)  # same windows, another entity
    assert cross_group_links([a, b, c]) == {}
