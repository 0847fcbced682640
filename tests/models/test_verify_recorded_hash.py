"""`admon model verify` and v2 serving check the content hash the registry recorded, as runs do
(issue 12, item 5): a version whose files, manifest and pointer were re-written together is
refused, and content without a recorded hash is reported as such, never as "verified"."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from admon import DetectionEntity, Project
from admon.models.oip import frame_to_v2_inputs
from admon.models.store import ModelStore, content_hash
from admon.models.training import train
from admon.service.app import create_app
from admon.settings import load_settings

NS, MODEL = "admon-dev", "xrootd-model"
NAME = f"{NS}:{MODEL}"
UNRECORDED = f"no recorded hash for {NS}/{MODEL} version 1: content checked against its own manifest only"


def _entity(xrootd_config) -> DetectionEntity:
    project = Project.create(title="XRootD", project_url="https://example.org/x", description="d",
                             is_private=False, egroup="admon-dev")
    return DetectionEntity.create(project=project, title="xrootd 1h", interval_minutes=60,
                                  sliding_interval_minutes=60, input_data_config=xrootd_config,
                                  inference_model=MODEL, inference_namespace=NS, monit_producer="admon",
                                  monit_label={"a": "b"})


def _train(frame, *, record: bool | None = None) -> str:
    """A version of NS/MODEL in the store runs load from (ADMON_MODEL_STORE); its content hash."""
    res = train(None, int(frame.timestamp.min()), int(frame.timestamp.max()) + 1, "robust_zscore", {"window": 6},
                namespace=NS, model=MODEL, frame=frame, record=record)
    return res.manifest.content_sha256


def _rewrite_consistently(version: str = "1") -> str:
    """Re-write ``version`` as the tester did: other post-rules, with the manifest's file hashes,
    its content_sha256 and the pointer's hash all updated to match. Returns the new content hash."""
    vdir = Path(os.environ["ADMON_MODEL_STORE"]) / NS / MODEL / version
    rules = vdir / "artifact" / "postrules.json"
    doc = json.loads(rules.read_text())
    for rule in doc["rules"]:
        if rule["name"] == "threshold":
            rule["threshold"] = 1.0  # everything becomes an anomaly
    rules.write_text(json.dumps(doc, sort_keys=True))
    manifest = json.loads((vdir / "manifest.json").read_text())
    manifest["files"]["postrules.json"] = hashlib.sha256(rules.read_bytes()).hexdigest()
    manifest["content_sha256"] = content_hash(manifest["files"])
    (vdir / "manifest.json").write_text(json.dumps(manifest))
    pointer_path = vdir.parent / "pointer.json"
    pointer = json.loads(pointer_path.read_text())
    pointer["hashes"][version] = manifest["content_sha256"]
    pointer_path.write_text(json.dumps(pointer))
    ModelStore().load(NS, MODEL, version)  # valid content, which the store alone accepts
    return manifest["content_sha256"]


def _verify(*args: str) -> subprocess.CompletedProcess:
    """``admon model verify ARGS`` as a user runs it (environment: this test's ADMON_* settings)."""
    return subprocess.run([sys.executable, "-m", "admon.cli", "model", "verify", *args],
                          capture_output=True, text=True, timeout=300)


def _v2():
    return TestClient(create_app(load_settings()))


def test_verify_checks_the_registry_record_and_refuses_a_consistent_rewrite(frame, xrootd_config):
    entity = _entity(xrootd_config)
    recorded = _train(frame)
    assert DetectionEntity.get(entity.id).model_sha256 == recorded
    ok = _verify(NS, MODEL)
    assert ok.returncode == 0, ok.stderr
    assert "verified" in ok.stdout and recorded in ok.stdout and f"#{entity.id}" in ok.stdout

    swapped = _rewrite_consistently()
    for args in ((NS, MODEL), (NS, MODEL, "1")):
        bad = _verify(*args)
        assert bad.returncode == 2, (args, bad.stdout, bad.stderr)
        assert "verified" not in bad.stdout and "Traceback" not in bad.stderr
        assert recorded in bad.stderr and swapped in bad.stderr  # both hashes named, and the fix
        assert "admon model promote" in bad.stderr


def test_serving_refuses_a_consistent_rewrite_like_runs(frame, xrootd_config):
    _entity(xrootd_config)
    recorded = _train(frame)
    with _v2() as v2:
        meta = v2.get(f"/v2/models/{NAME}").json()["parameters"]
        assert meta["recorded_sha256"] == meta["content_sha256"] == recorded
        assert "verified" in meta["integrity"]
    _rewrite_consistently()
    body = {"inputs": frame_to_v2_inputs(frame.head(12))}
    with _v2() as v2:  # a fresh server: nothing cached from before the rewrite
        for method, path, kwargs in [("GET", f"/v2/models/{NAME}", {}),
                                     ("GET", f"/v2/models/{NAME}/versions/1", {}),
                                     ("GET", f"/v2/models/{NAME}/ready", {}),
                                     ("POST", f"/v2/models/{NAME}/infer", {"json": body}),
                                     ("POST", f"/v2/models/{NAME}/versions/1/infer", {"json": body})]:
            r = v2.request(method, path, **kwargs)
            assert r.status_code == 409, (path, r.status_code, r.text[:300])
            assert recorded in r.json()["error"]


def test_without_a_recorded_hash_verify_and_serving_say_so(frame, xrootd_config):
    content = _train(frame, record=False)
    _entity(xrootd_config)  # created after training: nothing recorded for it
    out = _verify(NS, MODEL)
    assert out.returncode == 0, out.stderr
    assert UNRECORDED in out.stdout and content in out.stdout
    assert "verified" not in out.stdout
    with _v2() as v2:
        meta = v2.get(f"/v2/models/{NAME}").json()["parameters"]
    assert meta["recorded_sha256"] is None and meta["integrity"] == UNRECORDED


def test_verify_of_another_store_says_the_registry_does_not_cover_it(frame, xrootd_config, tmp_path):
    _entity(xrootd_config)
    _train(frame)
    other = ModelStore(tmp_path / "elsewhere")
    train(None, int(frame.timestamp.min()), int(frame.timestamp.max()) + 1, "robust_zscore",
          namespace=NS, model=MODEL, frame=frame, store=other)
    out = _verify(NS, MODEL, "--store", str(tmp_path / "elsewhere"))
    assert out.returncode == 0, out.stderr
    assert "no recorded hash" in out.stdout and "not the store runs load from" in out.stdout
    assert "verified" not in out.stdout


@pytest.mark.parametrize("given", ["ok", "other"])
def test_verify_with_an_explicit_sha256(frame, xrootd_config, given):
    content = _train(frame, record=False)
    _entity(xrootd_config)  # a registry, with nothing recorded
    sha = content if given == "ok" else "0" * 64
    out = _verify(NS, MODEL, "--sha256", sha)
    if given == "ok":
        assert out.returncode == 0 and "matches the given --sha256" in out.stdout, out.stdout + out.stderr
    else:
        assert out.returncode == 2 and "0" * 64 in out.stderr
