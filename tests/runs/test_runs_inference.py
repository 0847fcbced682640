"""Inference: a trained model from the store is used (and verified); the fallback otherwise."""

from __future__ import annotations

import os

from runs_helpers import HOSTS, make_entity, xrootd_idc

from admon import DataSource
from admon.detectors import create
from admon.detectors.postrules import PostRules
from admon.models.store import ModelStore
from admon.registry import repository as repo
from admon.registry.db import session_scope
from admon.runs.backfill import backfill
from admon.runs.reproduce import reproduce


def train(lake) -> str:
    frame = DataSource(None, xrootd_idc(60), lake_root=str(lake)).read_pandas(
        "2022-05-10T00:00:00Z", "2022-05-10T06:00:00Z")
    detector = create("robust_zscore").fit(frame)
    rules = PostRules(threshold=60).fit(detector.score(frame).dropna())
    manifest = ModelStore(os.environ["ADMON_MODEL_STORE"]).put(
        "admon-dev", "xrootd-model", detector, post_rules=rules)
    return manifest.content_sha256


def test_stored_model_is_used_and_recorded(db_url, lake):
    content = train(lake)
    de = make_entity(interval=30, slide=30)
    report = backfill(de.id, "2022-05-10T06:00:00Z", "2022-05-10T07:00:00Z")
    assert report.succeeded == 2
    with session_scope() as s:
        run = repo.list_runs(s, de.id)[0]
        assert run.provenance["model_id"] == "admon-dev/xrootd-model/1"
        assert run.provenance["model_hash"] == content
        assert run.provenance["model_fit_on_window"] is False
        results = repo.list_results(s, run.id)
        assert len(results) == HOSTS and {r.threshold for r in results} == {60.0}
        assert {r.document["model_id"] for r in results} == {"admon-dev/xrootd-model/1"}
        run_id = run.id
    assert reproduce(run_id).identical


def test_tampered_model_fails_the_run_instead_of_falling_back(db_url, lake, monkeypatch):
    monkeypatch.setenv("ADMON_RUN_MAX_ATTEMPTS", "1")
    train(lake)
    store = os.environ["ADMON_MODEL_STORE"]
    artifact = next(p for p in (os.path.join(d, f) for d, _, fs in os.walk(store) for f in fs)
                    if "artifact" in p)
    with open(artifact, "ab") as handle:
        handle.write(b" ")
    de = make_entity(interval=30, slide=30)
    report = backfill(de.id, "2022-05-10T06:00:00Z", "2022-05-10T06:30:00Z")
    assert report.failed == 1 and report.succeeded == 0
    with session_scope() as s:
        run = repo.list_runs(s, de.id)[0]
        assert run.status == "failed" and "IntegrityError" in run.error


def test_without_a_stored_model_the_fallback_runs(db_url, lake):
    de = make_entity(interval=30, slide=30, sources=1)
    backfill(de.id, "2022-05-10T06:00:00Z", "2022-05-10T06:30:00Z")
    with session_scope() as s:
        run = repo.list_runs(s, de.id)[0]
        assert run.status == "succeeded"
        assert run.provenance["model_id"] == "builtin:robust_zscore"
        assert run.provenance["model_fit_on_window"] is True
