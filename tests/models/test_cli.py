from __future__ import annotations

import json
import os
import subprocess
import sys

from typer.testing import CliRunner

from admon.cli import build_app
from admon.models.store import ModelStore

START = "2022-05-10T00:00:00Z"
END = "2022-05-11T00:00:00Z"


def _run(*args: str):
    return CliRunner().invoke(build_app(), list(args), catch_exceptions=False)


def test_train_an_entity_by_title_then_list_promote_rollback(lake, xrootd_config, tmp_path):
    from admon import DetectionEntity, Project

    project = Project.create(title="XRootD Anomaly Detection", project_url="https://example.org/x",
                             description="d", is_private=False, egroup="admon-dev")
    DetectionEntity.create(project=project, title="xrootd 1h", interval_minutes=60, sliding_interval_minutes=15,
                           input_data_config=xrootd_config, inference_model="xrootd-model",
                           inference_namespace="admon-dev", monit_producer="admon",
                           monit_label={"admon_entity": "xrootd"})
    res = _run("train", "xrootd 1h", "--from", START, "--to", END, "--lake-root", lake,
               "--param", "window=6", "--no-progress")
    assert res.exit_code == 0, res.output
    assert "version 1" in res.output and "validate" in res.output
    res = _run("train", "xrootd 1h", "--from", START, "--to", END, "--lake-root", lake,
               "--detector", "pca", "--no-progress")
    assert res.exit_code == 0, res.output
    store = ModelStore()  # ADMON_MODEL_STORE of this test
    assert [m.detector for m in store.versions("admon-dev", "xrootd-model")] == ["robust_zscore", "pca"]
    assert store.manifest("admon-dev", "xrootd-model", 1).detector_config["window"] == 6
    assert "models in" in _run("model", "list").output
    rows = [json.loads(line) for line in _run("model", "list", "--json").output.splitlines()]
    assert [(r["version"], r["detector"], r["production"]) for r in rows] == [
        ("1", "robust_zscore", False), ("2", "pca", True)]
    assert _run("model", "rollback", "admon-dev", "xrootd-model").exit_code == 0
    assert store.production("admon-dev", "xrootd-model") == "1"
    assert _run("model", "promote", "admon-dev", "xrootd-model", "2").exit_code == 0
    assert store.production("admon-dev", "xrootd-model") == "2"
    shown = json.loads(_run("model", "show", "admon-dev", "xrootd-model", "1").output)
    assert shown["training_window"] == [1652140800000, 1652227200000]


def test_train_without_registry_and_refuse_tampered_model_with_exit_code(lake, xrootd_config, tmp_path):
    cfg = tmp_path / "idc.yaml"
    cfg.write_text(xrootd_config.to_yaml())
    store = tmp_path / "store"
    env = {**os.environ, "ADMON_MODEL_STORE": str(store), "ADMON_LAKE_ROOT": lake}
    admon = [sys.executable, "-m", "admon.cli"]
    done = subprocess.run([*admon, "train", "--input-config", str(cfg), "--namespace", "ns", "--model", "m",
                           "--from", START, "--to", END, "--no-progress"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    ok = subprocess.run([*admon, "model", "verify", "ns", "m"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0 and "no recorded hash for ns/m version 1" in ok.stdout  # no entity runs it
    assert "verified" not in ok.stdout
    (store / "ns" / "m" / "1" / "artifact" / "postrules.json").write_text("{}")
    bad = subprocess.run([*admon, "model", "verify", "ns", "m"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "postrules.json" in bad.stderr


def test_bad_parameters_are_clear_errors(tmp_path):
    res = CliRunner().invoke(build_app(), ["train", "--from", START, "--to", END])
    assert res.exit_code != 0
    assert "ENTITY" in str(res.exception) or "ENTITY" in res.output
    out = _run("detectors").output
    assert "robust_zscore" in out and "lstm_forecaster" in out


def test_train_a_deep_model_with_a_progress_bar(lake, xrootd_config, tmp_path):
    cfg = tmp_path / "idc.json"
    cfg.write_text(xrootd_config.to_json())
    res = _run("train", "--input-config", str(cfg), "--namespace", "ns", "--model", "deep", "--from", START,
               "--to", END, "--lake-root", lake, "--detector", "autoencoder", "--params-json",
               '{"epochs": 2, "hidden": 4, "window": 3}', "--transforms-json", '[{"name": "log1p"}]', "--progress")
    assert res.exit_code == 0, res.output
    m = ModelStore().manifest("ns", "deep")
    assert m.detector == "autoencoder" and len(m.metrics["training_loss"]) == 2
    assert m.transforms == [{"name": "log1p"}]


def test_model_verify_without_arguments_prints_usage_not_a_traceback():
    """Issue 12: `admon model verify` with no arguments printed a traceback instead of usage."""
    done = subprocess.run([sys.executable, "-m", "admon.cli", "model", "verify"], capture_output=True, text=True)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Usage" in done.stdout + done.stderr and "model verify" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    missing_model = subprocess.run([sys.executable, "-m", "admon.cli", "model", "verify", "ns"],
                                   capture_output=True, text=True)
    assert missing_model.returncode == 2 and "Traceback" not in missing_model.stderr
    assert "model" in missing_model.stderr.lower() and "Usage" in missing_model.stderr
