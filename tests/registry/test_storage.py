"""The storage layer's rules: one visibility filter for every listing, one token check, leases
that decide who commits a run. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from admon.registry import db
from admon.registry import repository as repo
from admon.registry.models import SUCCEEDED, UserRow
from admon.registry.schemas import ProjectCreate
from admon.timeutil import now_ms
from registry.test_dialect import STEP, make_entity, run_rows


@pytest.fixture
def world(db_url):
    """``open`` (public, group dev) and ``secret`` (private, group ops), one entity each."""
    with db.session_scope() as s:
        public = make_entity(s, "open")
        secret_project = repo.create_project(s, ProjectCreate(title="secret", egroup="ops", is_private=True))
        secret = make_entity(s, "hidden")
        repo.get_entity(s, secret).project_id = secret_project.id
    return public, secret, secret_project.id


@pytest.mark.parametrize("audience,sees_secret", [
    (repo.PUBLIC, False), (repo.Audience({"dev"}), False), (repo.Audience({"ops"}), True),
    (repo.EVERYTHING, True)])
def test_every_listing_applies_the_one_visibility_filter(world, audience, sees_secret):
    public, secret, secret_project = world
    with db.session_scope() as s:
        projects = {p.title for p in repo.list_projects(s, audience)}
        entities = {e.id for e in repo.list_entities(s, audience=audience)}
        assert ("secret" in projects) is sees_secret and "p-open" in projects
        assert entities == ({public, secret} if sees_secret else {public})
        assert (repo.find_project(s, secret_project, audience) is not None) is sees_secret
        assert (repo.find_entity(s, secret, audience) is not None) is sees_secret
        assert repo.entity_visible(s, secret, audience) is sees_secret
        assert repo.entity_visible(s, public, audience) and repo.find_entity(s, public, audience)
    with db.session_scope() as s:
        assert repo.public_entity_ids(s) == {public}


def test_the_one_token_check(db_url):
    with db.session_scope() as s:
        repo.create_user(s, "ann")
        repo.add_member(s, "ann", "ops")
        row, secret = repo.create_api_token(s, "ann", expires_ms=now_ms() + 10_000_000)
        _, expired = repo.create_api_token(s, "ann", expires_ms=now_ms() - 1)
        token_id = row.id
    with db.session_scope() as s:
        user = repo.authenticate_token(s, secret)
        assert user is not None and (user.username, user.groups, user.is_admin) == ("ann", {"ops"}, False)
        assert repo.authenticate_token(s, expired) is None
        assert repo.authenticate_token(s, secret + "x") is None
        used = repo.list_api_tokens(s, "ann")[0][0].last_used_ms
        assert used is not None
        # a second use within TOKEN_TOUCH_MS does not write again
        assert repo.authenticate_token(s, secret, now=used + 1) is not None
    with db.session_scope() as s:
        assert repo.list_api_tokens(s, "ann")[0][0].last_used_ms == used
        s.get(UserRow, user.user_id).is_active = False
    with db.session_scope() as s:
        assert repo.authenticate_token(s, secret) is None
        repo.get_user(s, "ann").is_active = True
        repo.revoke_api_token(s, token_id)
    with db.session_scope() as s:
        assert repo.authenticate_token(s, secret) is None


def test_only_the_lease_holder_finishes_a_run(db_url):
    with db.session_scope() as s:
        entity = make_entity(s)
        repo.insert_runs(s, run_rows(entity, [STEP * 4]))
    factory = db.session_factory()
    with factory() as s:
        claim = repo.claim_run(s, "first", ttl_ms=-1)  # a lease that has already expired
    with factory() as s:
        taken = repo.claim_run(s, "second", ttl_ms=60_000)
    assert claim is not None and taken is not None and taken.run_id == claim.run_id and taken.attempts == 2
    result = {"id": "doc", "run_id": claim.run_id, "entity_id": entity, "window_end_ms": STEP * 4,
              "group_key": {}, "timestamp_ms": STEP * 3, "anomaly_score": 1.0, "is_anomaly": False,
              "threshold": None, "document": {}}
    outbox = repo.outbox_rows([("jsonl:///x", {"id": "doc"})], claim.run_id, STEP * 4, now_ms())
    with factory() as s:
        assert not repo.finish_run(s, claim.run_id, "first", {"rows": 1}, [result], outbox)
        s.commit()
    with factory() as s:
        assert not repo.list_results(s, claim.run_id) and repo.count_pending_outbox(s) == 0
        assert repo.renew_run_lease(s, claim.run_id, "second", 60_000)
        assert repo.finish_run(s, claim.run_id, "second", {"rows": 1}, [result], outbox)
        s.commit()
    with factory() as s:
        assert repo.get_run(s, claim.run_id).status == SUCCEEDED
        assert [r.id for r in repo.list_results(s, claim.run_id)] == ["doc"]
        assert repo.count_pending_outbox(s, "jsonl:///x") == 1
        assert not repo.renew_run_lease(s, claim.run_id, "second", 60_000)
