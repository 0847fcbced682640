"""``GET /api/tokens`` and ``DELETE /api/tokens/{id}``: the caller's own tokens, never a secret;
revoking is for the owner (or an admin), anyone else gets 404. The OpenAPI document declares
the bearer scheme, so /docs can authorise."""

from __future__ import annotations

from admon.registry import repository as registry
from admon.registry.db import session_scope
from admon.registry.models import ApiTokenRow

FIELDS = {"id", "name", "owner", "prefix", "created_ms", "expires_ms", "last_used_ms", "state"}


def _token_ids(database_url: str, username: str) -> list[int]:
    with session_scope(database_url) as s:
        return [row.id for row, _ in registry.list_api_tokens(s, username)]


def test_a_user_lists_only_their_own_tokens_without_secret_or_hash(world, client):
    with session_scope(world.settings.database_url) as s:
        forever, _ = registry.create_api_token(s, "alice", "ci", expires_ms=None)
        forever_id, forever_hash = forever.id, forever.token_hash
    body = client.get("/api/tokens", headers=world.auth("alice")).json()
    assert [t["id"] for t in body] == _token_ids(world.settings.database_url, "alice")
    assert all(set(t) == FIELDS and t["owner"] == "alice" for t in body)
    never = next(t for t in body if t["id"] == forever_id)
    assert never["expires_ms"] is None and never["state"] == "active" and never["name"] == "ci"
    text = client.get("/api/tokens", headers=world.auth("alice")).text
    assert world.tokens["alice"] not in text and forever_hash not in text
    assert "token_hash" not in text


def test_listing_tokens_needs_a_token(world, client):
    response = client.get("/api/tokens")
    assert response.status_code == 401 and "Bearer" in response.json()["detail"]


def test_the_owner_revokes_a_token_and_it_stops_working(world, client):
    with session_scope(world.settings.database_url) as s:
        row, secret = registry.create_api_token(s, "alice", "laptop", expires_ms=None)
        token_id = row.id
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/me", headers=headers).status_code == 200
    response = client.delete(f"/api/tokens/{token_id}", headers=world.auth("alice"))
    assert response.status_code == 200 and response.json()["state"] == "revoked"
    assert client.get("/api/me", headers=headers).status_code == 401
    listed = {t["id"]: t["state"] for t in client.get("/api/tokens", headers=world.auth("alice")).json()}
    assert listed[token_id] == "revoked"


def test_someone_elses_token_is_not_found_and_stays_active(world, client):
    alice_id = _token_ids(world.settings.database_url, "alice")[0]
    response = client.delete(f"/api/tokens/{alice_id}", headers=world.auth("bob"))
    assert response.status_code == 404
    missing = client.delete("/api/tokens/999999", headers=world.auth("bob"))
    assert missing.status_code == 404 and missing.json()["detail"] == response.json()["detail"].replace(
        str(alice_id), "999999")
    assert client.get("/api/me", headers=world.auth("alice")).status_code == 200
    assert client.delete(f"/api/tokens/{alice_id}").status_code == 401


def test_an_admin_revokes_anyones_token(world, client):
    bob_id = _token_ids(world.settings.database_url, "bob")[0]
    assert client.delete(f"/api/tokens/{bob_id}", headers=world.auth("root")).status_code == 200
    with session_scope(world.settings.database_url) as s:
        assert s.get(ApiTokenRow, bob_id).revoked
    assert client.get("/api/me", headers=world.auth("bob")).status_code == 401


def test_openapi_declares_the_bearer_scheme_and_routes_use_it(client):
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer",
                                 "description": schemes["bearer"]["description"]}
    tokens = spec["paths"]["/api/tokens"]["get"]
    assert {"bearer": []} in tokens["security"]
    assert {"bearer": []} in spec["paths"]["/api/projects"]["get"]["security"]
    docs = client.get("/docs").text
    assert "/openapi.json" in docs


def test_the_anonymous_viewer_still_reads_public_projects(world, client):
    """Declaring the scheme changes nobody's access: no token is still the anonymous viewer."""
    titles = [p["title"] for p in client.get("/api/projects").json()]
    assert titles == ["Public"]
    bad = client.get("/api/projects", headers={"Authorization": "Basic abc"})
    assert bad.status_code == 401 and "Bearer <token>" in bad.json()["detail"]
