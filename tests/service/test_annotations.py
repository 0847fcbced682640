"""The annotation loop: label ranges and judge detections, edit them, export a NAB dataset."""

from __future__ import annotations

import io
import json
import zipfile

import pandas as pd

from admon.evaluation.corpus import load_corpus

DAY0 = 1652140800000  # 2022-05-10T00:00:00Z, as in conftest.py
STEP = 300_000

H = 3_600_000


def _label(client, world, user="alice", **body):
    r = client.post(f"/api/entities/{world.public_entity}/annotations", json=body, headers=world.auth(user))
    assert r.status_code == 201, r.text
    return r.json()


def test_a_range_label_is_stored_with_author_and_time_listed_and_editable(world, client):
    created = _label(client, world, label="anomaly", start_ms=DAY0 + 2 * H, end_ms=DAY0 + 3 * H,
                     group_key={"host": "monit-xrootd-000"}, series="gled_value", kind="spike", comment="burst")
    assert created["author"] == "alice" and created["created_ms"] > 0 and created["updated_by"] is None
    listed = client.get(f"/api/entities/{world.public_entity}/annotations").json()
    assert [(a["id"], a["label"], a["kind"], a["comment"]) for a in listed] == \
        [(created["id"], "anomaly", "spike", "burst")]
    url = f"/api/entities/{world.public_entity}/annotations/{created['id']}"
    edited = client.patch(url, json={"label": "normal", "comment": "maintenance"}, headers=world.auth("root"))
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert (body["label"], body["comment"], body["kind"], body["author"], body["updated_by"]) == \
        ("normal", "maintenance", "spike", "alice", "root")
    # an edit obeys the rules of a new label
    bad = client.patch(url, json={"end_ms": DAY0}, headers=world.auth("alice"))
    assert bad.status_code == 422 and "not after start_ms" in bad.json()["detail"]
    assert client.get(f"/api/entities/{world.public_entity}/annotations").json()[0]["end_ms"] == DAY0 + 3 * H


def test_a_verdict_takes_its_range_and_group_from_the_detection(world, client):
    detection = world.anomaly_ids[world.public_entity][0]
    verdict = _label(client, world, label="confirmed", detection_id=detection, comment="real")
    ts = DAY0 + 100 * STEP  # seeded anomaly bucket
    assert (verdict["start_ms"], verdict["end_ms"], verdict["detection_id"]) == (ts, ts + STEP, detection)
    assert verdict["group_key"] == {"host": "monit-xrootd-000"}
    # verdicts only judge detections, range labels only label ranges
    plain = client.get(f"/api/entities/{world.public_entity}/results?start={DAY0}&end={DAY0 + STEP}").json()[0]
    r = client.post(f"/api/entities/{world.public_entity}/annotations", headers=world.auth("alice"),
                    json={"label": "false_alarm", "detection_id": plain["id"]})
    assert r.status_code == 422 and "not a detected anomaly" in r.json()["detail"]
    r = client.post(f"/api/entities/{world.public_entity}/annotations", headers=world.auth("alice"),
                    json={"label": "confirmed", "start_ms": DAY0, "end_ms": DAY0 + H})
    assert r.status_code == 422 and "detection_id" in r.json()["detail"]
    r = client.post(f"/api/entities/{world.public_entity}/annotations", headers=world.auth("alice"),
                    json={"label": "anomaly", "detection_id": detection})
    assert r.status_code == 422 and "does not judge a detection" in r.json()["detail"]


def test_the_plot_shows_series_scores_threshold_detections_and_labels(world, client):
    _label(client, world, label="anomaly", start_ms=DAY0 + H, end_ms=DAY0 + 2 * H, group_key={"host": "monit-xrootd-001"})
    data = client.get(f"/api/entities/{world.public_entity}/plot",
                      params={"start": DAY0, "end": DAY0 + 86_400_000, "group": "host=monit-xrootd-001"}).json()
    assert data["group"] == {"host": "monit-xrootd-001"} and data["groups"] == [{"host": "monit-xrootd-000"}, {"host": "monit-xrootd-001"}]
    assert data["value_columns"] == ["gled_value", "alice_value"]
    assert len(data["series"]["timestamp"]) == 288 and data["series"]["timestamp"][0] == DAY0
    assert len(data["scores"]["score"]) == 288 and set(data["scores"]["threshold"]) == {5.0}
    assert [a["timestamp_ms"] for a in data["anomalies"]] == [DAY0 + 100 * STEP]
    assert [(a["start_ms"], a["label"]) for a in data["annotations"]] == [(DAY0 + H, "anomaly")]
    other = client.get(f"/api/entities/{world.public_entity}/plot",
                       params={"start": DAY0, "end": DAY0 + 86_400_000, "group": "host=monit-xrootd-000"}).json()
    assert other["annotations"] == []  # a label of another host is not drawn here


def test_results_keep_the_newest_window_per_bucket_unless_asked(world, client):
    url = f"/api/entities/{world.public_entity}/results"
    day = {"start": DAY0, "end": DAY0 + 86_400_000}
    assert len(client.get(url, params=day).json()) == 2 * 288
    anomalies = client.get(url, params=day | {"anomalies_only": True, "group": "host=monit-xrootd-001"}).json()
    assert [(a["timestamp_ms"], a["group_key"]) for a in anomalies] == [(DAY0 + 100 * STEP, {"host": "monit-xrootd-001"})]
    # default range: the last day with results
    assert len(client.get(url).json()) == 2 * 288


def test_labels_export_writes_a_nab_dataset_the_benchmark_reads(world_env, client, cli, tmp_path):
    world = world_env
    e = world.public_entity
    _label(client, world, label="anomaly", start_ms=DAY0 + 2 * H, end_ms=DAY0 + 3 * H,
           group_key={"host": "monit-xrootd-000"}, kind="spike")
    _label(client, world, label="normal", start_ms=DAY0 + 5 * H, end_ms=DAY0 + 6 * H)
    _label(client, world, label="anomaly", start_ms=DAY0 + 10 * H, end_ms=DAY0 + 11 * H)  # all groups
    _label(client, world, label="anomaly", start_ms=DAY0 + 12 * H, end_ms=DAY0 + 13 * H,
           group_key={"host": "monit-xrootd-000"}, series="alice_value")  # drawn on one series
    dets = world.anomaly_ids[e]
    _label(client, world, label="confirmed", detection_id=dets[0])
    _label(client, world, label="false_alarm", detection_id=dets[1])

    code, out = cli("labels", "export", str(e), "--out", str(tmp_path / "ds"))
    assert code == 0, out
    windows = json.loads((tmp_path / "ds" / "labels" / "combined_windows.json").read_text())
    category = f"entity-{e}-public-xrootd"
    # one file per group and series: every series of a group carries its windows
    h0, h1 = f"{category}/host-monit-xrootd-000", f"{category}/host-monit-xrootd-001"
    assert sorted(windows) == [f"{h0}__alice-value.csv", f"{h0}__gled-value.csv",
                               f"{h1}__alice-value.csv", f"{h1}__gled-value.csv"]
    h0_windows = [
        ["2022-05-10 02:00:00.000000", "2022-05-10 02:59:59.999000"],
        ["2022-05-10 08:20:00.000000", "2022-05-10 08:24:59.999000"],  # the confirmed detection
        ["2022-05-10 10:00:00.000000", "2022-05-10 10:59:59.999000"],
    ]
    assert windows[f"{h0}__gled-value.csv"] == h0_windows
    assert windows[f"{h0}__alice-value.csv"] == h0_windows + [  # the label drawn on alice_value
        ["2022-05-10 12:00:00.000000", "2022-05-10 12:59:59.999000"]]
    # monit-xrootd-001's detection was a false alarm: only the all-groups window remains
    for name in ("alice-value", "gled-value"):
        assert windows[f"{h1}__{name}.csv"] == [["2022-05-10 10:00:00.000000", "2022-05-10 10:59:59.999000"]]

    data = pd.read_csv(tmp_path / "ds" / "data" / category / "host-monit-xrootd-000__alice-value.csv")
    assert list(data.columns) == ["timestamp", "value"]
    assert data["timestamp"].iloc[0] == "2022-05-10 00:00:00" and len(data) == 288

    corpus = load_corpus(tmp_path / "ds")  # what `admon benchmark` reads
    f = next(f for f in corpus.files if f.key.endswith("host-monit-xrootd-000__gled-value.csv"))
    assert f.window_bounds().tolist() == [[24, 35], [100, 100], [120, 131]]
    notes = json.loads((tmp_path / "ds" / "labels" / "annotations.json").read_text())
    assert {n["author"] for n in notes} == {"alice"} and len(notes) == 6

    # `--series` exports one value column
    code, out = cli("labels", "export", str(e), "--out", str(tmp_path / "one"), "--series", "gled_value")
    assert code == 0, out
    one = json.loads((tmp_path / "one" / "labels" / "combined_windows.json").read_text())
    assert sorted(one) == [f"{h0}__gled-value.csv", f"{h1}__gled-value.csv"]

    # and `admon benchmark` scores a detector on it
    code, out = cli("benchmark", str(tmp_path / "ds"), "--detector", "robust_zscore", "--out", str(tmp_path / "bench"))
    assert code == 0, out
    flat = " ".join(out.split())
    assert "4 files, 9 labelled windows" in flat and "robust_zscore" in flat

    # the same dataset, zipped, over HTTP
    r = client.get(f"/api/entities/{e}/labels.zip")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert json.loads(zf.read("labels/combined_windows.json")) == windows


def test_export_of_a_private_entity_is_refused_for_an_outsider(world_env, cli, tmp_path):
    from admon.errors import NotFoundError

    try:
        cli("labels", "export", str(world_env.private_entity), "--out", str(tmp_path / "x"), "--as-user", "bob")
    except NotFoundError as exc:
        assert "no detection entity" in str(exc)
    else:
        raise AssertionError("bob exported a private entity")
    assert not (tmp_path / "x").exists()


def test_user_add_and_token_create_give_a_working_token(world_env, client, cli):
    code, out = cli("user", "add", "carol", "--group", "ops", "--group", "ml")
    assert code == 0 and "ml, ops" in out
    code, out = cli("token", "create", "--user", "carol")
    token = out.strip().splitlines()[-1]
    assert code == 0 and token.startswith("admon_")
    me = client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me == {"username": "carol", "groups": ["ml", "ops"], "is_admin": False}
    titles = {p["title"] for p in client.get("/api/projects", headers={"Authorization": f"Bearer {token}"}).json()}
    assert titles == {"Public", "Secret"}


def test_labels_live_in_the_registry_annotations_table(world, client):
    """One table for annotations: what the service stores, the registry lists (with the author's id)."""
    from sqlalchemy import inspect

    from admon.registry import repository as registry
    from admon.registry.db import get_engine, session_scope

    created = _label(client, world, label="anomaly", start_ms=DAY0, end_ms=DAY0 + H, kind="spike")
    with session_scope(world.settings.database_url) as s:
        rows = registry.list_annotations(s, entity_id=world.public_entity)
        alice = registry.get_user(s, "alice")
        assert [(r.id, r.kind, r.author, r.user_id) for r in rows] == [(created["id"], "spike", "alice", alice.id)]
    assert "service_annotations" not in inspect(get_engine(world.settings.database_url)).get_table_names()
