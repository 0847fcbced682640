"""Access control on every endpoint: a private project is invisible (404, absent from lists)
to non-members; writes need a token of a member of the owning group."""

from __future__ import annotations

import pytest

# Every read endpoint under a project or entity: {p} = project id, {e} = entity id.
READS = [
    "/api/projects/{p}",
    "/api/projects/{p}/entities",
    "/api/entities/{e}",
    "/api/entities/{e}/runs",
    "/api/entities/{e}/results?start=2022-05-10T00:00:00Z&end=2022-05-11T00:00:00Z",
    "/api/entities/{e}/plot?start=2022-05-10T00:00:00Z&end=2022-05-11T00:00:00Z",
    "/api/entities/{e}/annotations",
    "/api/entities/{e}/labels.zip",
    "/projects/{p}",
    "/entities/{e}",
]


def _url(template: str, world, private: bool) -> str:
    p = world.private_project if private else world.public_project
    e = world.private_entity if private else world.public_entity
    return template.format(p=p, e=e)


@pytest.mark.parametrize("template", READS)
def test_private_reads_are_not_found_for_non_members(world, client, template):
    url = _url(template, world, private=True)
    for user in (None, "bob"):
        r = client.get(url, headers=world.auth(user))
        assert r.status_code == 404, (user, url, r.status_code, r.text[:300])
        assert "Secret" not in r.text and "secret" not in r.text.lower()
    for user in ("alice", "root"):
        r = client.get(url, headers=world.auth(user))
        assert r.status_code == 200, (user, url, r.status_code, r.text[:300])


@pytest.mark.parametrize("template", READS)
def test_public_reads_are_open_to_everybody(world, client, template):
    url = _url(template, world, private=False)
    for user in (None, "bob", "alice"):
        r = client.get(url, headers=world.auth(user))
        assert r.status_code == 200, (user, url, r.status_code, r.text[:300])


def test_a_missing_id_and_a_hidden_id_answer_the_same(world, client):
    hidden = client.get(f"/api/entities/{world.private_entity}", headers=world.auth("bob"))
    missing = client.get("/api/entities/999999", headers=world.auth("bob"))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"].replace(str(world.private_entity), "N") == \
        missing.json()["detail"].replace("999999", "N")


def test_lists_leave_private_projects_out_for_non_members(world, client):
    def titles(user):
        return {p["title"] for p in client.get("/api/projects", headers=world.auth(user)).json()}

    def entity_ids(user):
        return {e["id"] for e in client.get("/api/entities", headers=world.auth(user)).json()}

    def model_names(user):
        models = client.get("/api/models", headers=world.auth(user)).json()
        return {m["name"] for m in models}, {i for m in models for i in m["entities"]}

    assert titles(None) == titles("bob") == {"Public"}
    assert titles("alice") == titles("root") == {"Public", "Secret"}
    assert entity_ids(None) == entity_ids("bob") == {world.public_entity}
    assert entity_ids("alice") == {world.public_entity, world.private_entity}
    assert model_names("bob") == ({"public-model"}, {world.public_entity})
    assert model_names("alice") == ({"public-model", "secret-model"},
                                    {world.public_entity, world.private_entity})
    listed = client.get(f"/api/entities?project_id={world.private_project}", headers=world.auth("bob"))
    assert listed.status_code == 404


def test_the_projects_page_leaves_private_projects_out(world, client):
    assert "Secret" not in client.get("/", headers=world.auth("bob")).text
    assert "Secret" in client.get("/", headers=world.auth("alice")).text


# --- writes -------------------------------------------------------------------------------------


def _writes(world, private: bool):
    p = world.private_project if private else world.public_project
    e = world.private_entity if private else world.public_entity
    detection = world.anomaly_ids[e][0]
    return [
        ("patch", f"/api/projects/{p}", {"description": "changed"}),
        ("patch", f"/api/entities/{e}", {"enabled": False}),
        ("post", "/api/entities", {
            "project_id": p, "title": f"new in {p}", "interval_minutes": 60,
            "sliding_interval_minutes": 15, "inference_model": "m", "inference_namespace": "ns",
            "input_data_config": {"source_configs": [{"producer": "collectd", "type_prefix": "raw",
                                                      "type": "monitoring", "select": ["timestamp", "value"]}],
                                  "agg_interval_seconds": 300}}),
        ("post", f"/api/entities/{e}/annotations",
         {"label": "anomaly", "start_ms": 1652169600000, "end_ms": 1652173200000, "kind": "spike"}),
        ("post", f"/api/entities/{e}/annotations", {"label": "false_alarm", "detection_id": detection}),
    ]


@pytest.mark.parametrize("index", range(5))
def test_writes_need_a_member_token(world, client, index):
    method, url, body = _writes(world, private=False)[index]
    anonymous = getattr(client, method)(url, json=body)
    assert anonymous.status_code == 401, anonymous.text
    assert "admon token create" in anonymous.json()["detail"]
    outsider = getattr(client, method)(url, json=body, headers=world.auth("bob"))
    assert outsider.status_code == 403, outsider.text
    assert "ops" in outsider.json()["detail"]
    member = getattr(client, method)(url, json=body, headers=world.auth("alice"))
    assert member.status_code in (200, 201), member.text


@pytest.mark.parametrize("index", range(5))
def test_writes_to_a_private_project_are_not_found_for_outsiders(world, client, index):
    method, url, body = _writes(world, private=True)[index]
    r = getattr(client, method)(url, json=body, headers=world.auth("bob"))
    assert r.status_code == 404, r.text
    assert getattr(client, method)(url, json=body, headers=world.auth("alice")).status_code in (200, 201)


def test_annotation_edit_and_delete_need_membership(world, client):
    e = world.private_entity
    created = client.post(f"/api/entities/{e}/annotations", headers=world.auth("alice"),
                          json={"label": "anomaly", "start_ms": 1652169600000, "end_ms": 1652170200000})
    a = created.json()["id"]
    url = f"/api/entities/{e}/annotations/{a}"
    assert client.patch(url, json={"comment": "x"}, headers=world.auth("bob")).status_code == 404
    assert client.delete(url, headers=world.auth("bob")).status_code == 404
    assert client.patch(url, json={"comment": "x"}).status_code == 404  # anonymous: private
    assert client.patch(url, json={"comment": "ok"}, headers=world.auth("alice")).json()["comment"] == "ok"
    assert client.delete(url, headers=world.auth("alice")).status_code == 204
    assert client.get(f"/api/entities/{e}/annotations", headers=world.auth("alice")).json() == []


def test_creating_a_project_needs_membership_of_its_egroup(world, client):
    body = {"title": "Mine", "egroup": "ops", "is_private": True}
    assert client.post("/api/projects", json=body).status_code == 401
    assert client.post("/api/projects", json=body, headers=world.auth("bob")).status_code == 403
    r = client.post("/api/projects", json=body, headers=world.auth("alice"))
    assert r.status_code == 201 and r.json()["is_private"] is True
    # handing a project to a group one is not in is refused
    moved = client.patch(f"/api/projects/{r.json()['id']}", json={"egroup": "other"},
                         headers=world.auth("alice"))
    assert moved.status_code == 403


def test_a_bad_token_is_401_not_anonymous(world, client):
    for header in ({"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        r = client.get("/api/projects", headers=header)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


def test_a_revoked_token_stops_working(world, client):
    from admon.registry import repository as registry
    from admon.registry.db import session_scope

    assert client.get("/api/me", headers=world.auth("alice")).json()["groups"] == ["ops"]
    with session_scope(world.settings.database_url) as s:
        token = s.scalar(registry.select(registry.ApiTokenRow).where(
            registry.ApiTokenRow.token_hash == registry.hash_token(world.tokens["alice"])))
        registry.revoke_api_token(s, token.id)
    assert client.get("/api/me", headers=world.auth("alice")).status_code == 401


def _alice_token(s, world):
    from admon.registry import repository as registry

    return s.scalar(registry.select(registry.ApiTokenRow).where(
        registry.ApiTokenRow.token_hash == registry.hash_token(world.tokens["alice"])))


def test_an_expired_token_or_an_inactive_user_is_401(world, client):
    from admon.registry.db import session_scope
    from admon.registry.models import UserRow

    with session_scope(world.settings.database_url) as s:
        _alice_token(s, world).expires_ms = 1
    assert client.get("/api/me", headers=world.auth("alice")).status_code == 401
    with session_scope(world.settings.database_url) as s:
        _alice_token(s, world).expires_ms = None
        s.get(UserRow, _alice_token(s, world).user_id).is_active = False
    assert client.get("/api/me", headers=world.auth("alice")).status_code == 401


def test_a_token_records_its_last_use(world, client):
    from admon.registry.db import session_scope

    with session_scope(world.settings.database_url) as s:
        _alice_token(s, world).last_used_ms = None
    assert client.get("/api/me", headers=world.auth("alice")).status_code == 200
    with session_scope(world.settings.database_url) as s:
        assert _alice_token(s, world).last_used_ms is not None


def test_a_hidden_entity_s_results_answer_like_a_missing_one(world, client):
    # The results read checks visibility with its own query (it is the hot path).
    query = "results?start=2022-05-10T00:00:00Z&end=2022-05-11T00:00:00Z"
    hidden = client.get(f"/api/entities/{world.private_entity}/{query}", headers=world.auth("bob"))
    missing = client.get(f"/api/entities/999999/{query}", headers=world.auth("bob"))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"].replace(str(world.private_entity), "N") == \
        missing.json()["detail"].replace("999999", "N")
