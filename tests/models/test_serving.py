"""KServe v2 serving: TestClient for the protocol, a real uvicorn on 127.0.0.1 for the client.

The routes are served by the admon service (``create_app``), behind its access rule: the model
here is run by an entity of a public project, so anybody may use it (the access rule itself is
tested in tests/security/test_model_serving_access.py)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest
from conftest_servers import free_port
from fastapi.testclient import TestClient

from admon import DetectionEntity, Project
from admon.errors import IntegrityError
from admon.models.oip import RemoteScorer, V2Client, frame_to_v2_inputs, v2_inputs_to_frame
from admon.models.reference import RemoteModelRef, load_scorer, parse_model_ref
from admon.models.store import ModelStore
from admon.models.training import train
from admon.models.transforms import apply_transforms
from admon.registry.api import record_model
from admon.service.app import create_app
from admon.settings import load_settings

NAME = "admon-dev:xrootd-model"


@pytest.fixture
def trained(frame, tmp_path, xrootd_config, monkeypatch):
    """admon-dev/xrootd-model in the store runs load from, run by a public project's entity (which
    thus has the content hash recorded)."""
    monkeypatch.setenv("ADMON_MODEL_STORE", str(tmp_path / "store"))
    project = Project.create(title="XRootD", project_url="https://example.org/x", description="d",
                             is_private=False, egroup="admon-dev")
    DetectionEntity.create(project=project, title="xrootd 1h", interval_minutes=60, sliding_interval_minutes=60,
                           input_data_config=xrootd_config, inference_model="xrootd-model",
                           inference_namespace="admon-dev", monit_producer="admon", monit_label={"a": "b"})
    store = ModelStore()
    res = train(None, int(frame.timestamp.min()), int(frame.timestamp.max()) + 1, "robust_zscore", {"window": 6},
                namespace="admon-dev", model="xrootd-model", store=store, frame=frame,
                transforms=[{"name": "clip", "lower": 0.0}])
    assert res.recorded_entities
    return store, res


def _server() -> TestClient:
    """A fresh admon service (nothing cached) over this test's registry and model store."""
    return TestClient(create_app(load_settings()))


@pytest.fixture
def client(trained):
    with _server() as c:
        yield c


def _window(frame):
    w = frame[frame.timestamp >= frame.timestamp.max() - 11 * 300_000].copy()
    w.loc[w.index[3], "gled_value"] = 400.0
    w.loc[w.index[5], "alice_value"] = np.nan
    return w


def test_health_and_metadata(client, trained):
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2").json()["name"] == "admon"
    meta = client.get(f"/v2/models/{NAME}").json()
    assert meta["name"] == NAME and meta["versions"] == ["1"] and meta["platform"] == "admon"
    assert [i["name"] for i in meta["inputs"]] == ["host", "timestamp", "gled_value", "alice_value"]
    assert meta["parameters"]["content_sha256"] == trained[1].manifest.content_sha256
    assert meta["parameters"]["recorded_sha256"] == trained[1].manifest.content_sha256
    assert client.get(f"/v2/models/{NAME}/ready").json() == {"name": NAME, "ready": True}


def test_infer_matches_the_scheduled_run_path(client, trained, frame):
    store, res = trained
    window = _window(frame)
    body = {"id": "req-1", "inputs": frame_to_v2_inputs(window)}
    resp = client.post(f"/v2/models/{NAME}/infer", json=body)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["model_name"] == NAME and out["model_version"] == "1" and out["id"] == "req-1"
    tensors = {t["name"]: t for t in out["outputs"]}
    assert set(tensors) == {"raw_score", "anomaly_score", "is_anomaly", "severity", "threshold", "top_features",
                            "contributions"}
    assert tensors["contributions"]["shape"] == [len(window), 2]
    assert tensors["anomaly_score"]["shape"] == [len(window)]
    # the scheduler's inference path (admon.runs.inference) on the same stored model
    from admon.runs.inference import load_model

    loaded = load_model("admon-dev", "xrootd-model", store=store.url)
    assert loaded.content_hash == res.manifest.content_sha256
    scheduled = loaded.score(window.reset_index(drop=True)).rows
    np.testing.assert_array_equal(np.asarray(tensors["raw_score"]["data"]), scheduled["raw_score"].to_numpy())
    np.testing.assert_array_equal(np.asarray(tensors["anomaly_score"]["data"]), scheduled["anomaly_score"].to_numpy())
    assert tensors["is_anomaly"]["data"] == scheduled["is_anomaly"].tolist()
    assert tensors["is_anomaly"]["data"][3] is True and tensors["top_features"]["data"][3].startswith("gled_value")


def test_output_selection_and_versioned_infer(client, frame):
    body = {"inputs": frame_to_v2_inputs(_window(frame)), "outputs": [{"name": "anomaly_score"}]}
    out = client.post(f"/v2/models/{NAME}/versions/1/infer", json=body).json()
    assert [t["name"] for t in out["outputs"]] == ["anomaly_score"]


def test_errors_follow_the_protocol(client, trained, frame):
    r = client.get("/v2/models/admon-dev:nope")
    assert r.status_code == 404 and "nope" in r.json()["error"]
    r = client.get("/v2/models/no-separator")
    assert r.status_code == 404 and "namespace" in r.json()["error"]
    r = client.post(f"/v2/models/{NAME}/infer", json={"inputs": [{"name": "host", "datatype": "BYTES", "shape": [2], "data": ["a"]}]})
    assert r.status_code == 422 and "shape" in r.json()["error"]
    r = client.post(f"/v2/models/{NAME}/infer", content=b"not json")
    assert r.status_code == 422
    r = client.post(f"/v2/models/{NAME}/infer", json={"inputs": frame_to_v2_inputs(frame[["host", "timestamp"]])})
    assert r.status_code == 422 and "gled_value" in r.json()["error"]
    # a tampered artifact is refused (409) on a fresh server
    store = trained[0]
    with open(f"{store.root}/admon-dev/xrootd-model/1/artifact/postrules.json", "a") as fh:
        fh.write(" ")
    with _server() as fresh:
        r = fresh.post(f"/v2/models/{NAME}/infer", json={"inputs": frame_to_v2_inputs(frame.head(3))})
    assert r.status_code == 409 and "postrules.json" in r.json()["error"]


def test_follows_promotion_and_rollback(client, trained, frame):
    store, _ = trained
    train(None, int(frame.timestamp.min()), int(frame.timestamp.max()) + 1, "pca", namespace="admon-dev",
          model="xrootd-model", store=store, frame=frame)
    assert client.get(f"/v2/models/{NAME}").json()["parameters"]["detector"] == "pca"
    # production moved back without recording it: the entity's runs would refuse it, and so does serving
    store.rollback("admon-dev", "xrootd-model")
    refused = client.get(f"/v2/models/{NAME}")
    assert refused.status_code == 409 and "admon model promote" in refused.json()["error"]
    record_model("admon-dev", "xrootd-model", store=store)  # what `admon model rollback` does too
    assert client.get(f"/v2/models/{NAME}").json()["parameters"]["detector"] == "robust_zscore"


def test_inputs_round_trip():
    frame = pd.DataFrame({"host": ["a", "b"], "timestamp": np.array([1, 2], dtype="int64"),
                          "v": [1.5, np.nan], "flag": [True, False]})
    back = v2_inputs_to_frame(frame_to_v2_inputs(frame))
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    assert back["timestamp"].dtype == np.int64 and back["v"].dtype == np.float64


@pytest.fixture
def uvicorn_server(trained):
    import uvicorn

    app = create_app(load_settings())
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_remote_model_over_real_http_scores_like_the_local_one(uvicorn_server, trained, frame):
    store, res = trained
    window = _window(frame)
    client = V2Client(uvicorn_server)
    assert client.live()
    remote_out = client.infer(NAME, window)
    local = store.load("admon-dev", "xrootd-model")
    local_out = local.score(window)
    np.testing.assert_array_equal(remote_out.rows["anomaly_score"].to_numpy(),
                                  local_out.rows["anomaly_score"].to_numpy())
    assert remote_out.rows["top_features"].tolist() == local_out.rows["top_features"].tolist()
    pd.testing.assert_frame_equal(remote_out.contributions, local_out.contributions)
    # an entity whose inference_model is the remote URL
    url = f"{uvicorn_server}/v2/models/{NAME}"
    ref = parse_model_ref("ignored", url)
    assert ref == RemoteModelRef(base_url=uvicorn_server, name=NAME) and ref.url == url
    remote = load_scorer(ref, expected_sha256=res.manifest.content_sha256)
    assert isinstance(remote, RemoteScorer)
    # the same identity as the stored model: version, content, and the history a score needs
    assert (remote.version, remote.content_hash) == ("1", local.content_hash)
    assert remote.lookback == local.lookback == 14  # robust_zscore, window 6, and missing_data's 2 rows
    assert remote.fit_on_window is False and remote.config == {"name": "robust_zscore"}
    # the raw scores are the detector's on the frame as the model's transforms leave it
    prepared = apply_transforms(window, local.manifest.transforms)
    np.testing.assert_array_equal(remote.score(window).rows["raw_score"].to_numpy(),
                                  local.detector.score(prepared).to_numpy())
    with pytest.raises(IntegrityError, match="0000"):
        load_scorer(ref, expected_sha256="0" * 64)
    client.close()


def test_scheduled_run_path_with_a_remote_model_url(uvicorn_server, trained, frame):
    """An entity whose inference_model is a v2 URL scores remotely, identically to the local model."""
    from admon.runs.inference import load_model

    store, res = trained
    window = _window(frame).reset_index(drop=True)
    url = f"{uvicorn_server}/v2/models/{NAME}"
    remote = load_model("admon-dev", url)
    assert remote.content_hash == res.manifest.content_sha256
    local = load_model("admon-dev", "xrootd-model", store=store.url)
    got, expected = remote.score(window).rows, local.score(window).rows
    np.testing.assert_array_equal(got["anomaly_score"].to_numpy(), expected["anomaly_score"].to_numpy())
    assert got["is_anomaly"].tolist() == expected["is_anomaly"].tolist()
    assert got["top_features"].tolist() == expected["top_features"].tolist()
    assert got["top_features"].iloc[3][0] == "gled_value"


def test_remote_predict_has_the_local_columns(uvicorn_server, trained, frame):
    window = _window(frame)
    remote = load_scorer(parse_model_ref("ignored", f"{uvicorn_server}/v2/models/{NAME}"))
    local = trained[0].load("admon-dev", "xrootd-model")
    got, expected = remote.score(window, top=1).rows, local.score(window, top=1).rows
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    # an anomalous row names its top feature; a normal row names none (issue 15)
    assert (got["top_features"].map(len) == got["is_anomaly"].astype(int)).all()
