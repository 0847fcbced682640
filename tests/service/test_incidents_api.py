"""Incidents over HTTP (``GET /api/entities/{id}/incidents``, ``GET /api/incidents``) and the CLI
(``admon incidents list``): the JSON fields, the open filter, and visibility (a private entity's
incidents exist only for its project's members: 404 and absent for anyone else)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from admon.cli import build_app
from admon.incidents import WindowResult, merge_window
from admon.registry import incidents as registry_incidents
from admon.registry.db import session_scope

from .conftest import DAY0

MIN = 60_000
FIELDS = {"id", "entity_id", "group", "start", "end", "peak_score", "peak_timestamp", "features", "status"}


def seed_incidents(database_url: str, entity_id: int) -> None:
    """h0: resolved after windows ending 15, 20 (quiet at 25, 30); h1: opened at 30, still open."""
    script = {15: ["h0"], 20: ["h0"], 25: [], 30: ["h1"]}
    for end, hosts in script.items():
        results = [WindowResult({"host": h}, DAY0 + (end - 15) * MIN, DAY0 + end * MIN, 90.0 + end,
                                DAY0 + (end - 1) * MIN, ["gled_value", "alice_value"], end) for h in hosts]
        with session_scope(database_url) as s:
            changes = merge_window(entity_id, registry_incidents.open_incidents(s, entity_id), results,
                                   window_end_ms=DAY0 + end * MIN)
            registry_incidents.apply_incident_changes(s, entity_id, changes, now=1)


@pytest.fixture
def incidents_world(world):
    seed_incidents(world.settings.database_url, world.public_entity)
    seed_incidents(world.settings.database_url, world.private_entity)
    return world


def test_entity_incidents_carry_the_fields_and_the_open_filter(incidents_world, client):
    w = incidents_world
    body = client.get(f"/api/entities/{w.public_entity}/incidents").json()
    assert [(i["group"], i["status"], i["start"], i["end"]) for i in body] == [
        ({"host": "h1"}, "open", DAY0 + 15 * MIN, None),
        ({"host": "h0"}, "resolved", DAY0, DAY0 + 20 * MIN)]
    assert all(FIELDS <= set(i) for i in body)
    resolved = body[1]
    assert resolved["peak_score"] == 110.0 and resolved["peak_timestamp"] == DAY0 + 19 * MIN
    assert resolved["features"] == ["gled_value", "alice_value"] and resolved["entity_id"] == w.public_entity
    opened = client.get(f"/api/entities/{w.public_entity}/incidents?open=true").json()
    assert [i["group"] for i in opened] == [{"host": "h1"}]


def test_a_private_entitys_incidents_are_404_and_absent_for_non_members(incidents_world, client):
    w = incidents_world
    url = f"/api/entities/{w.private_entity}/incidents"
    assert client.get(url, headers=w.auth("alice")).status_code == 200
    assert client.get(url, headers=w.auth("bob")).status_code == 404
    assert client.get(url).status_code == 404
    assert client.get("/api/entities/999999/incidents", headers=w.auth("root")).status_code == 404

    def entities_seen(user):
        return {i["entity_id"] for i in client.get("/api/incidents", headers=w.auth(user)).json()}

    assert entities_seen("alice") == entities_seen("root") == {w.public_entity, w.private_entity}
    assert entities_seen("bob") == entities_seen(None) == {w.public_entity}
    assert len(client.get("/api/incidents?open=true", headers=w.auth("alice")).json()) == 2


def test_admon_incidents_list(incidents_world, monkeypatch):
    w = incidents_world
    monkeypatch.setenv("ADMON_DATABASE_URL", w.settings.database_url)
    monkeypatch.setenv("COLUMNS", "200")  # a table wide enough not to cut its cells
    runner = CliRunner()
    app = build_app()
    out = runner.invoke(app, ["incidents", "list", str(w.public_entity), "--open", "--json"])
    assert out.exit_code == 0, out.output
    (incident,) = json.loads(out.output)
    assert FIELDS <= set(incident) and incident["end"] is None and incident["group"] == {"host": "h1"}
    table = runner.invoke(app, ["incidents", "list", str(w.public_entity)])
    assert table.exit_code == 0 and "resolved" in table.output and "(open)" in table.output


def test_groups_breaking_in_the_same_windows_are_linked_in_the_api_and_the_cli(world, client, monkeypatch):
    """h0 and h1 break in the window run 40; h2 alone later: h0 and h1 carry the same cross-group id
    and each other's group, h2 none. The link is found through h0 even when only h1 is listed."""
    w = world
    script = {40: ["h0", "h1"], 45: ["h1"], 70: ["h2"]}
    for end, hosts in script.items():
        results = [WindowResult({"host": h}, DAY0 + (end - 15) * MIN, DAY0 + end * MIN, 80.0 + end,
                                DAY0 + (end - 1) * MIN, ["gled_value"], end) for h in hosts]
        with session_scope(w.settings.database_url) as s:
            changes = merge_window(w.public_entity, registry_incidents.open_incidents(s, w.public_entity),
                                   results, window_end_ms=DAY0 + end * MIN)
            registry_incidents.apply_incident_changes(s, w.public_entity, changes, now=1)
    body = {i["group"]["host"]: i for i in client.get(f"/api/entities/{w.public_entity}/incidents").json()}
    assert body["h0"]["cross_group_id"] == body["h1"]["cross_group_id"] == body["h0"]["id"]
    assert body["h1"]["cross_group_groups"] == [{"host": "h0"}, {"host": "h1"}]
    assert body["h2"]["cross_group_id"] is None and body["h2"]["cross_group_groups"] is None
    # only the newest two listed (h2 and one of h0, h1): its link reaches the other, read from the registry
    newest_two = client.get(f"/api/entities/{w.public_entity}/incidents?limit=2").json()
    (listed,) = [i for i in newest_two if i["group"] != {"host": "h2"}]
    assert listed["cross_group_id"] == body["h0"]["id"] and len(listed["cross_group_groups"]) == 2

    monkeypatch.setenv("ADMON_DATABASE_URL", w.settings.database_url)
    monkeypatch.setenv("COLUMNS", "250")
    out = CliRunner().invoke(build_app(), ["incidents", "list", str(w.public_entity), "--json"])
    assert out.exit_code == 0, out.output
    cli = {i["group"]["host"]: i["cross_group_id"] for i in json.loads(out.output)}
    assert cli == {h: body[h]["cross_group_id"] for h in body}
    table = CliRunner().invoke(build_app(), ["incidents", "list", str(w.public_entity)])
    assert table.exit_code == 0 and "with groups" in table.output and "host=h0" in table.output
