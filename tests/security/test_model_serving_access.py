"""The hostile tester's probes of the KServe v2 / Open Inference Protocol endpoints (issue 12, item 1).

A model run by an entity of a private project is that project's: every v2 endpoint answers a
caller who may not see the project exactly as it answers for a model that does not exist
(404, same body), before it looks at the request body. A revoked or expired token is a 401,
as on every other endpoint. A missing model's answer lists no other model and no store path.

The world: ``alice`` is in ``ops`` (owns both projects), ``bob`` in ``other``, ``root`` is an
admin; ``revoked`` and ``expired`` are alice's tokens that no longer work. ``Public`` runs
``admon-dev:public-model``, the private ``Secret`` runs ``admon-dev:secret-model``;
``admon-dev:orphan-model`` is stored but run by no entity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from admon.config import InputDataConfig, SourceConfig
from admon.models.serving import frame_to_v2_inputs
from admon.models.store import ModelStore
from admon.models.training import train
from admon.registry import repository as registry
from admon.registry.api import record_model
from admon.registry.db import init_database, session_scope
from admon.registry.schemas import EntityCreate, ProjectCreate
from admon.service.app import create_app
from admon.settings import load_settings

NS = "admon-dev"
SECRET, PUBLIC, ORPHAN, MISSING = (f"{NS}:{m}" for m in ("secret-model", "public-model", "orphan-model",
                                                         "missing-model"))
STEP = 300_000
T0 = 1_652_140_800_000


def _frame(n: int = 96) -> pd.DataFrame:
    t = np.arange(n)
    rng = np.random.default_rng(3)
    return pd.concat([pd.DataFrame({
        "host": host,
        "timestamp": T0 + t.astype("int64") * STEP,
        "gled_value": 100 + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, n),
        "alice_value": 5 + rng.normal(0, 0.5, n),
    }) for host in ("h1", "h2")], ignore_index=True)


def _idc() -> InputDataConfig:
    source = SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "value", "host"],
                          filter_expression="topic=='xrootd_raw_gled'", rename={"value": "gled_value"})
    return InputDataConfig(source_configs=[source], agg_interval_seconds=300, agg_method="avg", group_by=["host"])


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("v2-access")
    settings = load_settings(database_url=f"sqlite:///{folder / 'v2.db'}", model_store=str(folder / "store"),
                             lake_root=str(folder / "lake"))
    init_database(settings.database_url)  # what `admon db init` does
    tokens = {}
    with session_scope(settings.database_url) as s:
        for name, groups, admin in [("alice", ["ops"], False), ("bob", ["other"], False), ("root", [], True)]:
            user = registry.create_user(s, name, is_admin=admin)
            for g in groups:
                registry.add_member(s, user.id, g)
            tokens[name] = registry.create_api_token(s, user.id, "test", expires_ms=T0 * 2)[1]
        revoked, tokens["revoked"] = registry.create_api_token(s, "alice", "revoked", expires_ms=T0 * 2)
        registry.revoke_api_token(s, revoked.id)
        tokens["expired"] = registry.create_api_token(s, "alice", "expired", expires_ms=1)[1]
        for title, private in (("Public", False), ("Secret", True)):
            project = registry.create_project(s, ProjectCreate(title=title, egroup="ops", is_private=private))
            registry.create_entity(s, EntityCreate(
                project_id=project.id, title=f"{title} xrootd", interval_minutes=60, sliding_interval_minutes=60,
                input_data_config=_idc(), inference_model=f"{title.lower()}-model", inference_namespace=NS))
    store = ModelStore(settings.model_store)
    frame = _frame()
    for name in (SECRET, PUBLIC, ORPHAN):
        model = name.split(":")[1]
        train(None, T0, int(frame.timestamp.max()) + 1, "robust_zscore", {"window": 6}, namespace=NS, model=model,
              store=store, frame=frame, record=False)
        record_model(NS, model, store=store, database_url=settings.database_url)
    with TestClient(create_app(settings)) as client:
        yield settings, tokens, client, frame


def _auth(tokens, who):
    return {"Authorization": f"Bearer {tokens[who]}"} if who else {}


def _probes(name: str, frame: pd.DataFrame):
    """(label, method, path, request kwargs) of every v2 model endpoint for ``name``."""
    valid = {"json": {"inputs": frame_to_v2_inputs(frame.head(24))}}
    return [
        ("metadata", "GET", f"/v2/models/{name}", {}),
        ("version metadata", "GET", f"/v2/models/{name}/versions/1", {}),
        ("ready", "GET", f"/v2/models/{name}/ready", {}),
        ("infer", "POST", f"/v2/models/{name}/infer", valid),
        ("version infer", "POST", f"/v2/models/{name}/versions/1/infer", valid),
        ("infer, empty body", "POST", f"/v2/models/{name}/infer", {"content": b""}),
        ("version infer, empty body", "POST", f"/v2/models/{name}/versions/1/infer", {"content": b""}),
        ("version infer, no inputs", "POST", f"/v2/models/{name}/versions/1/infer", {"json": {}}),
    ]


def _same_answer(hidden, missing, hidden_name, missing_name):
    assert hidden.status_code == missing.status_code
    assert hidden.text.replace(hidden_name, "NAME") == missing.text.replace(missing_name, "NAME")


@pytest.mark.parametrize("who", [None, "bob"])
def test_a_private_model_is_answered_as_missing_for_a_non_member(world, who):
    _, tokens, client, frame = world
    for (label, method, path, kwargs), (_, _, missing_path, _) in zip(_probes(SECRET, frame), _probes(MISSING, frame)):
        hidden = client.request(method, path, headers=_auth(tokens, who), **kwargs)
        missing = client.request(method, missing_path, headers=_auth(tokens, who), **kwargs)
        assert hidden.status_code == 404, (who, label, hidden.status_code, hidden.text[:300])
        _same_answer(hidden, missing, SECRET, MISSING)
        for leak in ("quantile", "post_rules", "raw_score", "content_sha256", "robust_zscore"):
            assert leak not in hidden.text, (who, label, leak)


@pytest.mark.parametrize("who", ["revoked", "expired"])
def test_a_revoked_or_expired_token_is_401_whatever_the_model(world, who):
    _, tokens, client, frame = world
    for name in (SECRET, PUBLIC, MISSING):
        for label, method, path, kwargs in _probes(name, frame):
            r = client.request(method, path, headers=_auth(tokens, who), **kwargs)
            assert r.status_code == 401, (who, name, label, r.status_code, r.text[:300])
            assert r.headers["www-authenticate"] == "Bearer"
            assert "robust_zscore" not in r.text and "quantile" not in r.text


@pytest.mark.parametrize("who", ["alice", "root"])
def test_a_member_or_an_admin_uses_the_private_model(world, who):
    _, tokens, client, frame = world
    meta = client.get(f"/v2/models/{SECRET}", headers=_auth(tokens, who))
    assert meta.status_code == 200 and meta.json()["parameters"]["post_rules"] is not None
    assert client.get(f"/v2/models/{SECRET}/ready", headers=_auth(tokens, who)).json()["ready"] is True
    body = {"inputs": frame_to_v2_inputs(frame.head(24))}
    for path in (f"/v2/models/{SECRET}/infer", f"/v2/models/{SECRET}/versions/1/infer"):
        r = client.post(path, json=body, headers=_auth(tokens, who))
        assert r.status_code == 200, r.text
        assert len({t["name"]: t for t in r.json()["outputs"]}["anomaly_score"]["data"]) == 24
    # what the caller may see is validated as before: a bad body is a 422 naming the problem
    r = client.post(f"/v2/models/{SECRET}/versions/1/infer", content=b"", headers=_auth(tokens, who))
    assert r.status_code == 422 and "JSON" in r.json()["error"]


@pytest.mark.parametrize("who", [None, "bob", "alice"])
def test_a_public_projects_model_is_served_to_everybody(world, who):
    _, tokens, client, frame = world
    assert client.get(f"/v2/models/{PUBLIC}", headers=_auth(tokens, who)).status_code == 200
    r = client.post(f"/v2/models/{PUBLIC}/infer", json={"inputs": frame_to_v2_inputs(frame.head(5))},
                    headers=_auth(tokens, who))
    assert r.status_code == 200, r.text


def test_a_model_no_entity_runs_is_served_to_authenticated_users_only(world):
    _, tokens, client, frame = world
    anonymous = client.get(f"/v2/models/{ORPHAN}")
    _same_answer(anonymous, client.get(f"/v2/models/{MISSING}"), ORPHAN, MISSING)
    assert anonymous.status_code == 404
    assert client.get(f"/v2/models/{ORPHAN}", headers=_auth(tokens, "bob")).status_code == 200


@pytest.mark.parametrize("who", [None, "bob", "alice", "root"])
def test_a_missing_model_lists_no_other_model_and_no_path(world, who):
    settings, tokens, client, frame = world
    for label, method, path, kwargs in _probes("nope:nope", frame):
        r = client.request(method, path, headers=_auth(tokens, who), **kwargs)
        assert r.status_code == 404, (who, label, r.status_code, r.text[:300])
        for leak in ("secret-model", "public-model", "orphan-model", settings.model_store, "/store", "/tmp"):
            assert leak not in r.text, (who, label, leak, r.text)
