"""Runs load only the model content the registry recorded for the entity (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from runs_helpers import make_entity, xrootd_idc
from typer.testing import CliRunner

from admon import DataSource, DetectionEntity
from admon.cli import build_app
from admon.errors import IntegrityError
from admon.models.store import ModelStore, content_hash
from admon.models.training import train
from admon.registry import repository as repo
from admon.registry.db import session_scope
from admon.runs.backfill import backfill
from admon.runs.reproduce import reproduce
from admon.runs.runner import Runner
from admon.runs.scheduler import Scheduler
from admon.settings import load_settings
from admon.timeutil import to_epoch_ms

NS, MODEL = "admon-dev", "xrootd-model"


def _train(lake, *, threshold=60.0, record=None):
    frame = DataSource(None, xrootd_idc(60), lake_root=str(lake)).read_pandas(
        "2022-05-10T00:00:00Z", "2022-05-10T06:00:00Z")
    return train(None, "2022-05-10T00:00:00Z", "2022-05-10T06:00:00Z", "robust_zscore", namespace=NS, model=MODEL,
                 frame=frame, threshold=threshold, record=record).manifest


def _swap_with_valid_manifest(version: str) -> str:
    """Re-write ``version`` in the store as an attacker (or a careless re-upload) would: other
    post-rules, a manifest and a pointer consistent with them. Returns the new content hash."""
    vdir = Path(os.environ["ADMON_MODEL_STORE"]) / NS / MODEL / version
    rules = vdir / "artifact" / "postrules.json"
    doc = json.loads(rules.read_text())
    # a valid chain still: its threshold rule flags nearly every row (1 on the calibrated 0-100 scale)
    thresholds = [rule for rule in doc["rules"] if rule["name"] == "threshold"]
    assert len(thresholds) == 1, doc
    thresholds[0]["threshold"] = 1.0
    rules.write_text(json.dumps(doc, sort_keys=True))
    manifest = json.loads((vdir / "manifest.json").read_text())
    manifest["files"]["postrules.json"] = hashlib.sha256(rules.read_bytes()).hexdigest()
    manifest["content_sha256"] = content_hash(manifest["files"])
    (vdir / "manifest.json").write_text(json.dumps(manifest))
    pointer_path = vdir.parent / "pointer.json"
    pointer = json.loads(pointer_path.read_text())
    pointer["hashes"][version] = manifest["content_sha256"]
    pointer_path.write_text(json.dumps(pointer))
    ModelStore().verify(NS, MODEL, version)  # the store alone accepts it
    return manifest["content_sha256"]


def _runs(entity_id):
    with session_scope() as s:
        runs = sorted(repo.list_runs(s, entity_id), key=lambda r: r.window_end_ms)
        s.expunge_all()
    return runs


def _entity_record(entity_id):
    fresh = DetectionEntity.get(entity_id)
    return fresh.model_version, fresh.model_sha256


def test_a_swapped_model_fails_the_scheduled_run_and_reproduce(db_url, lake, monkeypatch):
    monkeypatch.setenv("ADMON_RUN_MAX_ATTEMPTS", "1")
    de = make_entity(interval=30, slide=30, schedule_from="2022-05-10T06:30:00Z")
    recorded = _train(lake).content_sha256
    assert _entity_record(de.id) == ("1", recorded)
    runner = Runner(load_settings(), sinks=[])
    clock = {"now": to_epoch_ms("2022-05-10T06:31:00Z")}
    scheduler = Scheduler(runner, clock=lambda: clock["now"])
    assert scheduler.tick().executed == 1
    good = _runs(de.id)[0]
    assert good.status == "succeeded" and good.model_sha256 == recorded
    assert good.provenance["model_hash"] == recorded
    good_id = good.id
    report = reproduce(good_id)
    assert report.identical and report.model_hash == recorded and recorded[:12] in report.summary()

    found = _swap_with_valid_manifest("1")
    clock["now"] = to_epoch_ms("2022-05-10T07:01:00Z")
    # the next scheduler process (or this one once its model cache expired) loads it again
    scheduler = Scheduler(Runner(load_settings(), sinks=[]), clock=lambda: clock["now"])
    assert scheduler.tick().executed == 1
    bad = _runs(de.id)[-1]
    assert bad.status == "failed" and bad.model_sha256 is None
    message = bad.error.splitlines()[0]
    assert message.startswith("IntegrityError:")
    for part in (f"{NS}/{MODEL}", "version 1", recorded, found, "admon train", f"admon model promote {NS} {MODEL} 1"):
        assert part in message, part
    assert _entity_record(de.id) == ("1", recorded)  # a failed run never re-records
    with pytest.raises(IntegrityError, match=found):
        reproduce(good_id)

    # the fix the message names: the operator accepts the content, the next run succeeds
    res = CliRunner().invoke(build_app(), ["model", "promote", NS, MODEL, "1"], catch_exceptions=False)
    assert res.exit_code == 0 and _entity_record(de.id) == ("1", found)
    assert backfill(de.id, "2022-05-10T07:30:00Z", "2022-05-10T08:00:00Z").succeeded == 1


def test_a_version_promoted_without_recording_fails_until_promoted(db_url, lake, monkeypatch):
    monkeypatch.setenv("ADMON_RUN_MAX_ATTEMPTS", "1")
    de = make_entity(interval=30, slide=30)
    v1 = _train(lake).content_sha256
    v2 = _train(lake, threshold=70.0, record=False).content_sha256  # promoted in the store only
    assert _entity_record(de.id) == ("1", v1)
    report = backfill(de.id, "2022-05-10T06:00:00Z", "2022-05-10T06:30:00Z")
    assert report.failed == 1
    error = _runs(de.id)[0].error
    assert "version 2" in error and v1 in error and v2 in error and "admon model promote" in error
    runner = CliRunner()
    assert runner.invoke(build_app(), ["model", "promote", NS, MODEL, "2"]).exit_code == 0
    assert _entity_record(de.id) == ("2", v2)
    assert backfill(de.id, "2022-05-10T06:30:00Z", "2022-05-10T07:00:00Z").succeeded == 1
    # rollback records the old hash, and runs follow it
    assert runner.invoke(build_app(), ["model", "rollback", NS, MODEL]).exit_code == 0
    assert _entity_record(de.id) == ("1", v1)
    assert backfill(de.id, "2022-05-10T07:00:00Z", "2022-05-10T07:30:00Z").succeeded == 1
    assert [r.model_sha256 for r in _runs(de.id) if r.status == "succeeded"] == [v2, v1]


def test_an_entity_without_a_record_records_its_first_load(db_url, lake):
    # as before migration 0004: a model in the store, nothing recorded on the entity
    manifest = _train(lake, record=False)
    de = make_entity(interval=30, slide=30)
    assert _entity_record(de.id) == (None, None)
    assert backfill(de.id, "2022-05-10T06:00:00Z", "2022-05-10T07:00:00Z").succeeded == 2
    assert _entity_record(de.id) == ("1", manifest.content_sha256)
    assert {r.model_sha256 for r in _runs(de.id)} == {manifest.content_sha256}


def test_the_fallback_is_not_recorded(db_url, lake):
    de = make_entity(interval=30, slide=30, sources=1)
    assert backfill(de.id, "2022-05-10T06:00:00Z", "2022-05-10T06:30:00Z").succeeded == 1
    assert _entity_record(de.id) == (None, None)  # a model trained later is recorded by its first run
