"""Bad input gets a 4xx with a clear message, and nothing is half-written."""

from __future__ import annotations

import pytest

DAY0 = 1652140800000


def _counts(client, world):
    h = world.auth("alice")
    return (len(client.get("/api/projects", headers=h).json()),
            len(client.get("/api/entities", headers=h).json()),
            len(client.get(f"/api/entities/{world.public_entity}/annotations", headers=h).json()))


def test_invalid_json_is_400_naming_the_problem(world, client):
    before = _counts(client, world)
    for body in (b'{"label": "anomaly",', b"not json", b'{"a": 1}}'):
        r = client.post(f"/api/entities/{world.public_entity}/annotations", content=body,
                        headers={**world.auth("alice"), "Content-Type": "application/json"})
        assert r.status_code == 400, r.text
        assert "not valid JSON" in r.json()["detail"]
    assert _counts(client, world) == before


@pytest.mark.parametrize("body, words", [
    ({"label": "anomaly", "start_ms": "soon", "end_ms": DAY0}, ["start_ms", "integer", '"soon"']),
    ({"label": "anomaly", "start_ms": DAY0, "end_ms": DAY0 + 1, "group_key": "host"}, ["group_key"]),
    ({"label": "maybe", "start_ms": DAY0, "end_ms": DAY0 + 1}, ["label", "'anomaly'"]),
    ({"label": "anomaly", "start_ms": DAY0, "end_ms": DAY0 + 1, "colour": "red"}, ["colour", "unknown field"]),
    ({"label": "anomaly", "start_ms": DAY0}, ["needs start_ms and end_ms"]),
    ({"label": "anomaly", "start_ms": DAY0, "end_ms": DAY0 + 1, "kind": "x" * 65}, ["kind", "64"]),
    ([1, 2], ["JSON object"]),
    ("text", ["JSON object"]),
])
def test_wrong_types_are_422_naming_the_field(world, client, body, words):
    before = _counts(client, world)
    r = client.post(f"/api/entities/{world.public_entity}/annotations", json=body, headers=world.auth("alice"))
    assert r.status_code == 422, r.text
    for word in words:
        assert word in r.json()["detail"], (word, r.json())
    assert _counts(client, world) == before


def test_end_before_start_is_422_everywhere(world, client):
    e = world.public_entity
    h = world.auth("alice")
    r = client.post(f"/api/entities/{e}/annotations", headers=h,
                    json={"label": "anomaly", "start_ms": DAY0 + 600_000, "end_ms": DAY0})
    assert r.status_code == 422 and "is not after start_ms" in r.json()["detail"]
    for path in ("results", "plot", "annotations", "labels.zip"):
        r = client.get(f"/api/entities/{e}/{path}", params={"start": "2022-05-11T00:00:00Z",
                                                             "end": "2022-05-10T00:00:00Z"}, headers=h)
        assert r.status_code == 422, (path, r.text)
        assert "is not after start" in r.json()["detail"] and "swap" in r.json()["detail"]
    r = client.get(f"/api/entities/{e}/results", params={"start": "yesterday", "end": "today"})
    assert r.status_code == 422 and "'yesterday' is not an ISO date/time" in r.json()["detail"]
    r = client.get(f"/api/entities/{e}/results", params={"start": "2022-01-01", "end": "2022-12-31"})
    assert r.status_code == 422 and "too long" in r.json()["detail"]
    r = client.get(f"/api/entities/{e}/results", params={"start": "2022-01-01"})
    assert r.status_code == 422 and "both start and end" in r.json()["detail"]
    r = client.get(f"/api/entities/{e}/results", params={"group": "host"})
    assert r.status_code == 422 and "key=value" in r.json()["detail"]
    assert client.get(f"/api/entities/{e}/annotations", headers=h).json() == []


def test_oversized_bodies_are_413_before_parsing(world, client):
    before = _counts(client, world)
    big = {"label": "anomaly", "start_ms": DAY0, "end_ms": DAY0 + 1, "comment": "x" * 2_000_000}
    r = client.post(f"/api/entities/{world.public_entity}/annotations", json=big, headers=world.auth("alice"))
    assert r.status_code == 413 and "larger than 1048576 bytes" in r.json()["detail"]

    def chunks():  # no Content-Length: the limit is enforced while streaming
        yield b'{"label": "anomaly", "comment": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}'

    r = client.post(f"/api/entities/{world.public_entity}/annotations", content=chunks(),
                    headers={**world.auth("alice"), "Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert _counts(client, world) == before


@pytest.mark.parametrize("method, path", [
    ("get", "/api/projects/424242"),
    ("get", "/api/projects/424242/entities"),
    ("patch", "/api/projects/424242"),
    ("get", "/api/entities/424242"),
    ("patch", "/api/entities/424242"),
    ("get", "/api/entities/424242/runs"),
    ("get", "/api/entities/424242/results"),
    ("get", "/api/entities/424242/plot"),
    ("get", "/api/entities/424242/annotations"),
    ("post", "/api/entities/424242/annotations"),
    ("get", "/api/entities/424242/labels.zip"),
    ("patch", "/api/entities/{e}/annotations/424242"),
    ("delete", "/api/entities/{e}/annotations/424242"),
])
def test_unknown_ids_are_404_with_a_message(world, client, method, path):
    body = {"post": {"label": "anomaly", "start_ms": DAY0, "end_ms": DAY0 + 1},
            "patch": {"comment": "x"} if "annotations" in path else
            ({"enabled": False} if "entities" in path else {"description": "x"})}.get(method)
    kwargs = {"json": body} if body is not None else {}
    r = getattr(client, method)(path.format(e=world.public_entity), headers=world.auth("alice"), **kwargs)
    assert r.status_code == 404, r.text
    assert r.json()["detail"].startswith("no ")


def test_non_numeric_ids_and_unknown_detections(world, client):
    r = client.get("/api/entities/abc")
    assert r.status_code == 422 and "entity_id" in r.json()["detail"]
    r = client.post(f"/api/entities/{world.public_entity}/annotations", headers=world.auth("alice"),
                    json={"label": "confirmed", "detection_id": "nope"})
    assert r.status_code == 404 and "no detection 'nope'" in r.json()["detail"]
    # a detection of another entity is not found through this one
    other = world.anomaly_ids[world.private_entity][0]
    r = client.post(f"/api/entities/{world.public_entity}/annotations", headers=world.auth("alice"),
                    json={"label": "confirmed", "detection_id": other})
    assert r.status_code == 404


def test_a_rejected_entity_leaves_nothing_behind(world, client):
    before = _counts(client, world)
    body = {"project_id": world.public_project, "title": "bad", "interval_minutes": 60,
            "sliding_interval_minutes": 90, "inference_model": "m", "inference_namespace": "ns",
            "input_data_config": {"source_configs": [{"producer": "collectd", "type_prefix": "raw",
                                                      "type": "monitoring", "select": ["timestamp"]}],
                                  "agg_interval_seconds": 300}}
    r = client.post("/api/entities", json=body, headers=world.auth("alice"))
    assert r.status_code == 422 and "sliding_interval_minutes 90 is larger" in r.json()["detail"]
    body |= {"sliding_interval_minutes": 15, "title": "Public xrootd"}  # clashes with the seeded one
    r = client.post("/api/entities", json=body, headers=world.auth("alice"))
    assert r.status_code == 409 and "already has a detection entity titled" in r.json()["detail"]
    r = client.post("/api/projects", json={"title": "Public", "egroup": "ops"}, headers=world.auth("alice"))
    assert r.status_code == 409
    assert _counts(client, world) == before


def test_the_ui_shows_errors_as_pages(world, client):
    r = client.get("/entities/424242")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    assert "no detection entity with id 424242" in r.text
    r = client.get(f"/entities/{world.public_entity}", params={"start": "2022-05-11", "end": "2022-05-10"})
    assert r.status_code == 422 and "swap" in r.text
    # a stale login cookie sends the browser back to the login page
    client.cookies.set("admon_token", "stale")
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


# --- issue 12, item 11: values out of range are a 4xx naming the field, never a 500 ------------

BIG = 2**64
ENTITY = {"title": "e", "interval_minutes": 60, "sliding_interval_minutes": 15, "inference_model": "m",
          "inference_namespace": "ns",
          "input_data_config": {"source_configs": [{"producer": "collectd", "type_prefix": "raw",
                                                    "type": "monitoring", "select": ["timestamp", "value"]}],
                                "agg_interval_seconds": 300}}


@pytest.mark.parametrize("method, path, kwargs, field", [
    ("post", "/api/entities/{e}/annotations", {"json": {"label": "anomaly", "start_ms": BIG, "end_ms": BIG + 1}},
     "start_ms"),
    ("post", "/api/entities/{e}/annotations", {"json": {"label": "anomaly", "start_ms": DAY0,
                                                        "end_ms": 9223372036854775807}}, "end_ms"),
    ("post", "/api/entities/{e}/annotations", {"json": {"label": "anomaly", "start_ms": -1, "end_ms": DAY0}},
     "start_ms"),
    ("patch", "/api/entities/{e}/annotations/{a}", {"json": {"end_ms": 10**30}}, "end_ms"),
    ("get", "/api/entities/99999999999999999999999", {}, "entity_id"),
    ("get", "/api/entities/9223372036854775808/runs", {}, "entity_id"),
    ("get", "/api/projects/99999999999999999999999", {}, "project_id"),
    ("get", "/api/entities", {"params": {"project_id": BIG}}, "project_id"),
    ("delete", "/api/entities/{e}/annotations/99999999999999999999999", {}, "annotation_id"),
    ("get", "/api/entities/{e}/annotations", {"params": {"start": 0, "end": 10**30}}, "end"),
    ("get", "/api/entities/{e}/results", {"params": {"start": -5, "end": DAY0}}, "start"),
    ("get", "/api/entities/{e}/plot", {"params": {"start": DAY0, "end": "9" * 5000}}, "end"),
    ("get", "/api/entities/{e}/labels.zip", {"params": {"start": "3000-01-01", "end": "3000-01-02"}}, "start"),
    ("post", "/api/entities", {"json": {**ENTITY, "project_id": BIG}}, "project_id"),
    ("post", "/api/entities", {"json": {**ENTITY, "project_id": 1, "schedule_from_ms": BIG}}, "schedule_from_ms"),
])
def test_out_of_range_ids_and_times_are_422_naming_the_field(world, client, method, path, kwargs, field):
    h = world.auth("alice")
    note = client.post(f"/api/entities/{world.public_entity}/annotations", headers=h,
                       json={"label": "anomaly", "start_ms": DAY0, "end_ms": DAY0 + 60_000}).json()
    before = _counts(client, world)
    r = getattr(client, method)(path.format(e=world.public_entity, a=note["id"]), headers=h, **kwargs)
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"], r.json()
    assert _counts(client, world) == before


def test_the_time_range_ends_are_accepted_and_labels_zip_keeps_working(world, client):
    from admon.timeutil import MAX_TIMESTAMP_MS

    h, e = world.auth("alice"), world.public_entity
    r = client.post(f"/api/entities/{e}/annotations", headers=h,
                    json={"label": "anomaly", "start_ms": 0, "end_ms": 60_000})
    assert r.status_code == 201, r.text
    r = client.get(f"/api/entities/{e}/annotations", params={"start": 0, "end": MAX_TIMESTAMP_MS}, headers=h)
    assert r.status_code == 200 and len(r.json()) == 1
    # the annotation the tester stored (ending at 2**63-1) is refused, so the export still works
    r = client.post(f"/api/entities/{e}/annotations", headers=h,
                    json={"label": "anomaly", "start_ms": DAY0, "end_ms": 9223372036854775807})
    assert r.status_code == 422
    r = client.get(f"/api/entities/{e}/labels.zip", params={"start": "2022-05-10", "end": "2022-05-11"},
                   headers=h)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("group", ['host="]', '"]=x', 'ho"]st=x', "x\x00=1", "host=\x00", "$.a[0]=1",
                                   "host='; DROP TABLE results; --"])
def test_any_group_selector_is_a_query_value_not_sql(world, client, group):
    day = {"start": DAY0, "end": DAY0 + 86_400_000}
    r = client.get(f"/api/entities/{world.public_entity}/results", params=day | {"group": group})
    assert r.status_code == 200, r.text
    assert r.json() == []
    r = client.get(f"/entities/{world.public_entity}", params={"group": group})
    assert r.status_code == 200, r.text


def test_a_group_key_with_json_path_characters_is_found(world, client):
    from admon.registry.db import session_scope
    from admon.registry.models import ResultRow, RunRow

    odd = {'we"]ird': 'v"]al', "nul\x00key": "x"}
    with session_scope(world.settings.database_url) as s:
        run = s.query(RunRow).filter_by(entity_id=world.public_entity).first()
        s.add(ResultRow(id="odd-group", run_id=run.id, entity_id=world.public_entity,
                        window_end_ms=run.window_end_ms, group_key=odd, timestamp_ms=DAY0, anomaly_score=1.0,
                        is_anomaly=False, threshold=5.0, document={}))
    day = {"start": DAY0, "end": DAY0 + 86_400_000}
    for group in ('we"]ird=v"]al', "nul\x00key=x"):
        r = client.get(f"/api/entities/{world.public_entity}/results", params=day | {"group": group})
        assert r.status_code == 200, r.text
        assert [row["id"] for row in r.json()] == ["odd-group"], group
