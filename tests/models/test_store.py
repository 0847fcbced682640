from __future__ import annotations

import json

import numpy as np
import pytest

import admon.detectors as detectors
from admon.detectors.postrules import PostRules
from admon.errors import ConfigError, IntegrityError, NotFoundError
from admon.models.store import ModelStore


def _fit(frame, name="robust_zscore", **params):
    det = detectors.create(name, **params).fit(frame)
    return det, PostRules().fit(det.score(frame))


def test_put_load_round_trip_with_manifest(tmp_path, frame):
    store = ModelStore(tmp_path)
    det, rules = _fit(frame, "isolation_forest", n_estimators=10)
    m = store.put("ns", "m1", det, post_rules=rules, metrics={"rows": np.int64(len(frame))},
                  training_window=(1, 2), transforms=[{"name": "log1p", "columns": ["alice_value"]}])
    assert m.version == "1" and m.detector == "isolation_forest"
    assert m.feature_columns == ["gled_value", "alice_value"] and m.group_columns == ["host"]
    assert m.metrics == {"rows": len(frame)} and m.training_window == (1, 2)
    assert set(m.files) >= {"detector.json", "model_.skops", "postrules.json"}
    on_disk = json.loads((tmp_path / "ns" / "m1" / "1" / "manifest.json").read_text())
    assert on_disk["content_sha256"] == m.content_sha256
    loaded = store.load("ns", "m1", expected_sha256=m.content_sha256)
    assert loaded.manifest.transforms == [{"name": "log1p", "columns": ["alice_value"]}]
    assert loaded.model_id == "ns/m1/1" and loaded.content_hash == m.content_sha256
    # the loaded model applies the recorded transforms before its detector
    from admon.models.transforms import apply_transforms

    prepared = apply_transforms(frame, loaded.manifest.transforms)
    np.testing.assert_array_equal(loaded.score(frame).rows["raw_score"], det.score(prepared))
    np.testing.assert_array_equal(loaded.detector.score(prepared), det.score(prepared))
    out = loaded.predict(frame)
    assert list(out.columns) == ["raw_score", "anomaly_score", "severity", "is_anomaly", "threshold", "top_features"]
    assert out["anomaly_score"].between(0, 100).all()


def test_versions_promote_and_rollback(tmp_path, frame):
    store = ModelStore(tmp_path)
    for window in (6, 12, 24):
        store.put("ns", "m", _fit(frame, window=window)[0])
    assert [m.version for m in store.versions("ns", "m")] == ["1", "2", "3"]
    assert store.production("ns", "m") == "3"
    store.put("ns", "m", _fit(frame)[0], promote=False)
    assert store.production("ns", "m") == "3"
    assert store.resolve("ns", "m", "latest") == "4"
    store.promote("ns", "m", 1)
    assert store.load("ns", "m").detector.config.window == 6
    assert store.rollback("ns", "m") == "3"
    assert store.load("ns", "m").detector.config.window == 24
    assert store.rollback("ns", "m") == "2"
    assert store.rollback("ns", "m") == "1"
    with pytest.raises(NotFoundError, match="roll back"):
        store.rollback("ns", "m")
    assert store.models() == [("ns", "m")]


def test_missing_things_are_not_found(tmp_path, frame):
    store = ModelStore(tmp_path)
    with pytest.raises(NotFoundError, match="admon train"):
        store.load("ns", "nope")
    store.put("ns", "m", _fit(frame)[0])
    with pytest.raises(NotFoundError, match="versions: 1"):
        store.load("ns", "m", 9)
    with pytest.raises(ConfigError, match="not allowed"):
        store.put("ns", "../evil", _fit(frame)[0])


def test_incomplete_version_without_manifest_is_ignored(tmp_path, frame):
    store = ModelStore(tmp_path)
    store.put("ns", "m", _fit(frame)[0])
    (tmp_path / "ns" / "m" / "2" / "artifact").mkdir(parents=True)  # a crashed upload
    assert [m.version for m in store.versions("ns", "m")] == ["1"]
    assert store.put("ns", "m", _fit(frame)[0]).version == "3"


@pytest.mark.parametrize("tamper", ["artifact_bytes", "npz_bytes", "extra_file", "missing_file",
                                    "manifest_inconsistent", "manifest_rewritten"])
def test_tampered_artifacts_are_refused(tmp_path, frame, tamper):
    store = ModelStore(tmp_path)
    det, rules = _fit(frame, "pca")
    m = store.put("ns", "m", det, post_rules=rules)
    vdir = tmp_path / "ns" / "m" / "1"
    art = vdir / "artifact"
    expected = m.content_sha256
    if tamper == "artifact_bytes":
        (art / "model_.skops").write_bytes((art / "model_.skops").read_bytes() + b"\0")
    elif tamper == "npz_bytes":
        doc = json.loads((art / "detector.json").read_text())
        doc["state"]["feature_medians_"] = [0.0, 0.0]
        (art / "detector.json").write_text(json.dumps(doc))
    elif tamper == "extra_file":
        (art / "evil.pkl").write_bytes(b"\x80\x04K\x01.")
    elif tamper == "missing_file":
        (art / "postrules.json").unlink()
    elif tamper == "manifest_inconsistent":
        man = json.loads((vdir / "manifest.json").read_text())
        man["files"]["model_.skops"] = "0" * 64
        (vdir / "manifest.json").write_text(json.dumps(man))
    elif tamper == "manifest_rewritten":
        # an attacker swaps the artifact AND rewrites the manifest consistently:
        # only the hash recorded in the registry catches it
        import hashlib

        from admon.models.store import content_hash

        (art / "postrules.json").write_text(json.dumps(PostRules(threshold=1).fit([0.0, 1.0]).to_dict()))
        man = json.loads((vdir / "manifest.json").read_text())
        man["files"]["postrules.json"] = hashlib.sha256((art / "postrules.json").read_bytes()).hexdigest()
        man["content_sha256"] = content_hash(man["files"])
        (vdir / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(IntegrityError, match="refusing|missing|sha256"):
        store.load("ns", "m", expected_sha256=expected)
    # also without the registry's hash: the store's own record catches every case
    with pytest.raises(IntegrityError):
        store.load("ns", "m")
    with pytest.raises(IntegrityError):
        store.verify("ns", "m", expected_sha256=expected)


def test_store_root_defaults_to_settings(frame, monkeypatch, tmp_path):
    monkeypatch.setenv("ADMON_MODEL_STORE", str(tmp_path / "from-env"))
    ModelStore().put("ns", "m", _fit(frame)[0])
    assert (tmp_path / "from-env" / "ns" / "m" / "1" / "manifest.json").is_file()


def test_s3_store_round_trip_promote_and_tamper(s3_store_url, frame, tmp_path):
    import boto3

    url, options = s3_store_url
    store = ModelStore(url, **options)
    det, rules = _fit(frame, "autoencoder", epochs=2, hidden=4, window=3)
    m1 = store.put("ns", "m", det, post_rules=rules)
    m2 = store.put("ns", "m", _fit(frame)[0])
    assert [v.version for v in store.versions("ns", "m")] == ["1", "2"]
    assert store.rollback("ns", "m") == "1"
    fresh = ModelStore(url, **options)  # another process's view
    loaded = fresh.load("ns", "m", expected_sha256=m1.content_sha256)
    np.testing.assert_array_equal(loaded.detector.score(frame), det.score(frame))
    assert fresh.models() == [("ns", "m")]
    # tamper with the weights in the bucket
    bucket, prefix = url[len("s3://"):].split("/", 1)
    s3 = boto3.client("s3", endpoint_url=options["endpoint_url"], region_name="us-east-1")
    key = f"{prefix}/ns/m/1/artifact/weights.safetensors"
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    s3.put_object(Bucket=bucket, Key=key, Body=body[:-4] + b"\0\0\0\0")
    with pytest.raises(IntegrityError, match="weights.safetensors"):
        fresh.load("ns", "m", 1)
    assert fresh.load("ns", "m", 2, expected_sha256=m2.content_sha256).detector.name == "robust_zscore"


def test_s3_store_configured_by_environment_only(s3_store_url, frame, monkeypatch):
    # production set-up: ADMON_MODEL_STORE=s3://... and the standard AWS_* variables
    url, options = s3_store_url
    monkeypatch.setenv("ADMON_MODEL_STORE", url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", options["endpoint_url"])
    m = ModelStore().put("ns", "env-model", _fit(frame)[0])
    assert ModelStore().load("ns", "env-model", expected_sha256=m.content_sha256).manifest.version == "1"
    from typer.testing import CliRunner

    from admon.cli import build_app

    out = CliRunner().invoke(build_app(), ["model", "list", "--json"], catch_exceptions=False).output
    assert json.loads(out.splitlines()[0])["model"] == "env-model"
