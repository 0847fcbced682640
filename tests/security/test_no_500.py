"""The tester's probe: every route of the OpenAPI document (and the UI pages), every path and
query parameter, and every top-level body field, with hostile values and a member's token.
Whatever the value, the answer is never a 500."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from admon.service.app import create_app
from admon.settings import load_settings
from tests.service.conftest import World, build_world
from tests.service.test_incident_labels import seed_incident

DAY0 = 1652140800000
HOSTILE = ["18446744073709551616", "99999999999999999999999", "9223372036854775808", "-1",
           "-9223372036854775809", "0", '"]', "\x00", "x" * 10_000, "1e30", "NaN", "%", "../../etc/passwd"]
HOSTILE_JSON = [2**64, -(2**64), 2**63, -1, 1e308, '"]', "\x00", "x" * 10_000, None, [], {}, True]
#: Pages of the web UI (not in the OpenAPI document) and their parameters.
UI_ROUTES = [("get", "/", []), ("get", "/projects/{project_id}", [("project_id", "path")]),
             ("get", "/entities/{entity_id}", [("entity_id", "path"), ("start", "query"),
                                               ("end", "query"), ("group", "query")]),
             ("get", "/login", [("next", "query")])]


@pytest.fixture
def world(tmp_path) -> World:
    (tmp_path / "lake").mkdir()
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'probe.db'}",
                             lake_root=str(tmp_path / "lake"), model_store=str(tmp_path / "models"))
    return build_world(settings)


def _bodies(world: World) -> dict[tuple[str, str], dict]:
    """A valid body per route that takes one, so a hostile field is the only thing wrong."""
    entity = {"project_id": world.public_project, "title": "probe", "interval_minutes": 60,
              "sliding_interval_minutes": 15, "inference_model": "m", "inference_namespace": "ns",
              "input_data_config": {"source_configs": [{"producer": "collectd", "type_prefix": "raw",
                                                        "type": "monitoring",
                                                        "select": ["timestamp", "value", "host"]}],
                                    "agg_interval_seconds": 300, "group_by": ["host"]}}
    return {
        ("post", "/api/projects"): {"title": "probe", "egroup": "ops", "description": "d"},
        ("patch", "/api/projects/{project_id}"): {"description": "d", "project_url": "https://x.org"},
        ("post", "/api/entities"): entity,
        ("patch", "/api/entities/{entity_id}"): {"enabled": True, "interval_minutes": 60,
                                                 "monit_label": {"k": "v"}},
        ("post", "/api/entities/{entity_id}/annotations"): {
            "label": "anomaly", "start_ms": DAY0, "end_ms": DAY0 + 60_000, "group_key": {"host": "h"},
            "series": "value", "kind": "spike", "comment": "c"},
        ("patch", "/api/entities/{entity_id}/annotations/{annotation_id}"): {
            "label": "normal", "start_ms": DAY0, "end_ms": DAY0 + 120_000, "comment": "c"},
        ("post", "/api/entities/{entity_id}/alert-rules"): {
            "name": "probe", "min_score": 80, "min_duration_minutes": 10, "groups": {"host": ["h*"]},
            "labels": {"team": "t"}, "annotations": {"summary": "{{ entity }} {{ group.host }}"}},
        ("post", "/api/incidents/{incident_id}/label"): {"verdict": "confirmed", "kind": "spike", "comment": "c"},
        ("post", "/api/entities/{entity_id}/suppressions"): {
            "start": DAY0, "end": DAY0 + 60_000, "group": "host=h", "reason": "maintenance"},
        ("post", "/v2/models/{name}/infer"): {"inputs": [{"name": "value", "shape": [1],
                                                          "datatype": "FP64", "data": [1.0]}]},
        ("post", "/v2/models/{name}/versions/{version}/infer"): {
            "inputs": [{"name": "value", "shape": [1], "datatype": "FP64", "data": [1.0]}]},
    }


def _routes(app) -> list[tuple[str, str, list[tuple[str, str]]]]:
    routes = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            params = [(p["name"], p["in"]) for p in operation.get("parameters", [])]
            routes.append((method, path, params))
    return routes + UI_ROUTES


def test_no_route_answers_500_to_hostile_values(world):
    app = create_app(world.settings)
    headers = world.auth("alice")
    bodies = _bodies(world)
    failures: list[str] = []
    statuses: dict[tuple[str, str], set[int]] = {}
    with TestClient(app, raise_server_exceptions=False) as client:
        note = client.post(f"/api/entities/{world.public_entity}/annotations", headers=headers,
                           json={"label": "anomaly", "start_ms": DAY0, "end_ms": DAY0 + 60_000}).json()
        incident = seed_incident(world.settings.database_url, world.public_entity, "h", DAY0, DAY0 + 30 * 60_000)
        valid = {"project_id": world.public_project, "entity_id": world.public_entity,
                 "annotation_id": note["id"], "name": "admon-dev:public-model", "version": "1",
                 "incident_id": incident, "rule_id": 1, "token_id": 1}
        routes = _routes(app)
        assert len(routes) >= 20, routes  # the document lists the API

        def probe(method: str, path: str, path_values: dict, query: dict, body) -> None:
            url = path.format(**{k: quote(str(v), safe="") for k, v in path_values.items()})
            kwargs = {"params": query, "headers": headers}
            if body is not None:
                kwargs["content"] = json.dumps(body)
                kwargs["headers"] = {**headers, "Content-Type": "application/json"}
            r = client.request(method.upper(), url, **kwargs)
            statuses.setdefault((method, path), set()).add(r.status_code)
            if r.status_code >= 500:
                failures.append(f"{method.upper()} {path} path={path_values!r:.80} query={query!r:.80} "
                                f"body={json.dumps(body)[:80] if body is not None else None} -> "
                                f"{r.status_code} {r.text[:120]}")

        for method, path, params in routes:
            path_values = {name: valid[name] for name, where in params if where == "path"}
            body = bodies.get((method, path))
            for name, where in params:
                for value in HOSTILE:
                    if where == "path":
                        probe(method, path, path_values | {name: value}, {}, body)
                    else:
                        probe(method, path, path_values, {name: value}, body)
            if body is not None:
                for field in body:
                    for n, value in enumerate(HOSTILE_JSON):
                        fresh = body | ({"title": f"{body['title']}-{field}-{n}"} if "title" in body else {})
                        probe(method, path, path_values, {}, fresh | {field: value})
    assert failures == [], f"{len(failures)} requests answered 5xx:\n" + "\n".join(failures[:40])
    # the valid bodies are valid: the probe reaches the routes' work, not only their validation
    assert 201 in statuses[("post", "/api/entities")] and 201 in statuses[("post", "/api/projects")]
    assert 201 in statuses[("post", "/api/entities/{entity_id}/annotations")]
    assert 201 in statuses[("post", "/api/entities/{entity_id}/alert-rules")]
    assert {200, 201} & statuses[("post", "/api/incidents/{incident_id}/label")]
    assert 201 in statuses[("post", "/api/entities/{entity_id}/suppressions")]
