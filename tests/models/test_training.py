from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from admon.data.source import DataSource
from admon.errors import ConfigError, DataError
from admon.models.store import ModelStore
from admon.models.training import read_with_retry, train

DAY = 86_400_000
START = 1_652_140_800_000  # 2022-05-10T00:00Z


def test_train_from_the_lake_and_score_like_inference(lake, xrootd_config, tmp_path):
    store = ModelStore(tmp_path / "store")
    res = train(xrootd_config, START, START + DAY, "isolation_forest", {"n_estimators": 20},
                namespace="admon-dev", model="xrootd-model", store=store, lake_root=lake,
                transforms=[{"name": "log1p"}])
    m = res.manifest
    assert [s["stage"] for s in m.stages] == ["data_presence", "normalisation", "transform", "train", "validate"]
    assert all(s["status"] == "ok" and s["seconds"] >= 0 for s in m.stages)
    assert [s["stage"] for s in res.stages][-1] == "save"
    assert m.training_window == (START, START + DAY)
    assert m.input_data_config["group_by"] == ["host"]
    assert m.feature_columns == ["gled_value", "alice_value"] and m.group_columns == ["host"]
    assert m.metrics["rows"] == 3 * 288 and m.metrics["groups"] == 3
    assert set(m.metrics["normalisation"]) == {"gled_value", "alice_value"}
    assert 0 <= m.metrics["validation"]["flagged_share"] <= 1
    # inference: the same DataSource on a later window, the stored model
    window = DataSource(None, xrootd_config, lake_root=lake).read_pandas(START + DAY, START + DAY + 3_600_000)
    loaded = store.load("admon-dev", "xrootd-model", expected_sha256=m.content_sha256)
    from admon.models.transforms import apply_transforms

    expected = res.detector.score(apply_transforms(window, [{"name": "log1p"}]))
    np.testing.assert_array_equal(loaded.score(window).rows["raw_score"].to_numpy(), expected.to_numpy())
    out = loaded.predict(window)
    assert len(out) == len(window) and out["top_features"].map(len).le(2).all()
    # a normal row names no feature (issue 15)
    assert out["top_features"][~out["is_anomaly"].astype(bool)].map(len).eq(0).all()


def test_empty_window_is_a_data_error_and_nothing_is_stored(lake, xrootd_config, tmp_path):
    store = ModelStore(tmp_path / "store")
    with pytest.raises(DataError, match="no data"):
        train(xrootd_config, START - 10 * DAY, START - 9 * DAY, namespace="ns", model="m",
              store=store, lake_root=lake)
    assert store.models() == []


def test_bad_detector_config_fails_before_reading(xrootd_config, tmp_path):
    with pytest.raises(ConfigError, match="windw"):
        train(xrootd_config, START, START + DAY, "robust_zscore", {"windw": 3}, namespace="ns", model="m",
              store=tmp_path, lake_root="/nonexistent")


def test_transient_read_errors_are_retried(lake, xrootd_config):
    source = DataSource(None, xrootd_config, lake_root=lake)
    failures = []

    def flaky_read():
        if len(failures) < 2:
            failures.append(1)
            raise ConnectionResetError("object store hiccup")
        return source.read_pandas(START, START + 3_600_000)

    sleeps: list[float] = []
    frame = read_with_retry(flaky_read, attempts=3, backoff_seconds=0.1, sleep=sleeps.append)
    assert len(frame) == 3 * 12 and sleeps == [0.1, 0.2]
    failures.clear()
    with pytest.raises(DataError, match="2 times"):
        read_with_retry(flaky_read, attempts=2, sleep=lambda s: None)


def test_progress_bar_and_epoch_callback(frame, tmp_path):
    seen = []
    res = train(None, int(frame.timestamp.min()), int(frame.timestamp.max()) + 1, "autoencoder",
                {"epochs": 3, "hidden": 4, "window": 3}, namespace="ns", model="m", store=tmp_path,
                frame=frame, progress=True, on_epoch=lambda e, n, loss: seen.append((e, n)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert len(res.manifest.metrics["training_loss"]) == 3
    assert res.detector.epoch_callbacks == []


KILLABLE = textwrap.dedent(
    """
    import sys, time
    import pandas as pd
    from admon.models.training import train
    frame = pd.read_parquet(sys.argv[1])
    def slow(epoch, total, loss):
        print("epoch", epoch, flush=True)
        time.sleep(0.3)
    train(None, 0, 2**62, "lstm_forecaster", {"epochs": 8, "hidden": 8, "window": 6, "seed": 3},
          namespace="ns", model="m", store=sys.argv[2], frame=frame, checkpoint_dir=sys.argv[3],
          on_epoch=slow)
    """
)


def test_training_killed_midway_resumes_to_the_uninterrupted_model(frame, tmp_path):
    data = tmp_path / "frame.parquet"
    frame.to_parquet(data)
    ckpt = tmp_path / "ckpt"
    params = {"epochs": 8, "hidden": 8, "window": 6, "seed": 3}
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE, str(data), str(tmp_path / "killed-store"), str(ckpt)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    epoch = 0
    while time.monotonic() < deadline:
        meta = ckpt / "checkpoint.json"
        if meta.exists():
            try:
                epoch = json.loads(meta.read_text())["epoch"]
            except (json.JSONDecodeError, KeyError):
                epoch = 0
            if epoch >= 3:
                break
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    killed_at = json.loads((ckpt / "checkpoint.json").read_text())["epoch"]
    assert 3 <= killed_at < 8  # really killed midway
    assert ModelStore(tmp_path / "killed-store").models() == []  # nothing half-stored

    end = int(frame.timestamp.max()) + 1
    resumed_epochs = []
    resumed = train(None, 0, end, "lstm_forecaster", params, namespace="ns", model="m",
                    store=tmp_path / "resumed", frame=frame, checkpoint_dir=ckpt,
                    on_epoch=lambda e, n, loss: resumed_epochs.append(e))
    assert resumed_epochs == list(range(killed_at + 1, 9))  # continued, did not start over
    assert not (ckpt / "checkpoint.json").exists()  # cleaned after success
    straight = train(None, 0, end, "lstm_forecaster", params, namespace="ns", model="m",
                     store=tmp_path / "straight", frame=frame, checkpoint_dir=tmp_path / "other")
    a, b = resumed.detector.module_.state_dict(), straight.detector.module_.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert (a[k] == b[k]).all(), k
    assert resumed.detector.losses_ == straight.detector.losses_
    np.testing.assert_array_equal(resumed.detector.score(frame), straight.detector.score(frame))


def test_checkpoint_of_other_data_is_not_resumed(frame, tmp_path):
    params = {"epochs": 2, "hidden": 4, "window": 3}
    ckpt = tmp_path / "ckpt"
    import admon.detectors as detectors

    det = detectors.create("autoencoder", **params)
    det.checkpoint_dir = ckpt
    det.fit(frame.iloc[:100])
    seen = []
    det2 = detectors.create("autoencoder", **params)
    det2.checkpoint_dir = ckpt
    det2.epoch_callbacks.append(lambda e, n, loss: seen.append(e))
    det2.fit(frame)  # different data: the stale checkpoint must not be used
    assert seen == [1, 2]
