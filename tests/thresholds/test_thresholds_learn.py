"""Thresholds learn from verdicts (issue 20, part 1), end to end: a generated entity with injected
incidents, verdicts posted through the API, the threshold moving as they imply, every change
recorded and revertible, and later runs flagging with the learnt threshold and honouring
suppression windows."""

from __future__ import annotations

import json
import os

import pytest
from fastapi.testclient import TestClient

from admon import DataSource, DetectionEntity, Project
from admon.cli import app as cli_app
from admon.cli import build_app
from admon.detectors import create
from admon.detectors.postrules import PostRules
from admon.errors import NotFoundError
from admon.models.store import ModelStore
from admon.registry import incidents as registry_incidents
from admon.registry import repository as registry
from admon.registry import results as registry_results
from admon.registry import thresholds as registry_thresholds
from admon.registry.db import session_scope
from admon.runs.backfill import backfill
from admon.service.app import create_app
from admon.settings import load_settings

from .conftest import at, inject_spikes, xrootd_idc

HOSTS = ["monit-xrootd-000", "monit-xrootd-001", "monit-xrootd-002"]
#: Spikes of growing size in the morning: each becomes an incident (the model flags >= 50).
SPIKES = [(at("10:10"), HOSTS[0], 2.0), (at("11:40"), HOSTS[1], 3.0), (at("08:40"), HOSTS[2], 1.7),
          (at("13:10"), HOSTS[2], 5.0), (at("14:40"), HOSTS[0], 8.0)]


def cli(*args: str) -> tuple[int, str]:
    from typer.testing import CliRunner

    if not cli_app.registered_groups:
        build_app()
    result = CliRunner().invoke(cli_app, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def train(lake) -> None:
    """A stored robust z-score model, calibrated on the early morning, flagging scores >= 50."""
    frame = DataSource(None, xrootd_idc(), lake_root=str(lake)).read_pandas("2022-05-10T00:00:00Z",
                                                                           "2022-05-10T06:00:00Z")
    detector = create("robust_zscore").fit(frame)
    rules = PostRules(threshold=50).fit(detector.score(frame).dropna())
    ModelStore(os.environ["ADMON_MODEL_STORE"]).put("admon-dev", "xrootd-model", detector, post_rules=rules)


def setup_people() -> dict[str, str]:
    tokens = {}
    with session_scope() as s:
        for name, group in (("alice", "admon-dev"), ("bob", "other")):
            registry.create_user(s, name)
            registry.add_member(s, name, group)
            tokens[name] = registry.create_api_token(s, name, "test")[1]
    return tokens


def make_entity(title: str, *, private: bool = False) -> DetectionEntity:
    project = Project.create(title=f"{title} project", egroup="admon-dev", is_private=private)
    return DetectionEntity.create(project=project, title=title, interval_minutes=30, sliding_interval_minutes=30,
                                  input_data_config=xrootd_idc(), inference_model="xrootd-model",
                                  inference_namespace="admon-dev", monit_producer="admon",
                                  monit_label={"admon_entity": title})


def window_results(entity_id: int, start: str, end: str) -> list:
    with session_scope() as s:
        return registry_results.entity_results(s, entity_id, at(start), at(end) + 1)


def test_verdicts_move_the_threshold_the_change_is_recorded_revertible_and_later_runs_use_it(db_url, lake):
    inject_spikes(lake, SPIKES, "morning")
    train(lake)
    tokens = setup_people()
    de = make_entity("xrootd")
    assert backfill(de.id, "2022-05-10T06:00:00Z", "2022-05-10T16:00:00Z").succeeded == 20
    with session_scope() as s:
        incidents = sorted(registry_incidents.list_incidents(s, [de.id]), key=lambda i: i.peak_score)
    assert len(incidents) >= 5, [(i.group, i.peak_score) for i in incidents]
    assert {i.threshold for i in window_results(de.id, "06:00", "16:00")} == {50.0}  # the model's own
    peaks = [i.peak_score for i in incidents]
    low, high = incidents[:-3], incidents[-3:]  # the lower peaks are false alarms, the top three real
    headers = {"Authorization": f"Bearer {tokens['alice']}"}

    settings = load_settings()
    with TestClient(create_app(settings)) as client:
        def judge(incident, verdict):
            r = client.post(f"/api/incidents/{incident.id}/label", json={"verdict": verdict}, headers=headers)
            assert r.status_code in (200, 201), r.text

        def state():
            r = client.get(f"/api/entities/{de.id}/threshold")
            assert r.status_code == 200, r.text
            return r.json()

        assert state()["source"] == "model" and state()["threshold"] == 50.0 and state()["history"] == []
        for incident in high:
            judge(incident, "confirmed")
        judge(low[0], "false_alarm")
        # four verdicts: fewer than the documented minimum, nothing learnt yet
        assert state()["history"] == [] and state()["threshold"] == 50.0
        for incident in low[1:]:
            judge(incident, "false_alarm")
        # false alarms at low scores raise it: just above the highest false alarm, below every confirmed one
        raised = state()
        expected = round((peaks[-4] + peaks[-3]) / 2, 2)
        assert raised["source"] == "verdicts" and raised["threshold"] == pytest.approx(expected)
        assert peaks[-4] < raised["threshold"] < peaks[-3] and raised["threshold"] > 50.0
        last = raised["history"][-1]
        assert last["evidence"]["f1_after"] == 1.0 and last["evidence"]["f1_before"] < 1.0
        assert last["evidence"]["labels"]["confirmed"] == 3
        assert last["evidence"]["labels"]["false_alarm"] == len(low)
        assert last["changed_by"] == "verdicts" and last["previous"] in (None, *[c["threshold"] for c in
                                                                                raised["history"][:-1]])
        raised_id = last["id"]

        # confirmed low-score incidents lower it: the second lowest is judged real after all
        judge(low[-1], "confirmed")
        lowered = state()
        assert lowered["threshold"] < raised["threshold"]
        assert peaks[-5] < lowered["threshold"] <= low[-1].peak_score
        lowered_id = lowered["history"][-1]["id"]
        assert lowered["history"][-1]["previous"] == raised["threshold"]

        # the entity page says what the threshold is and why
        page = client.get(f"/entities/{de.id}").text
        line = page[page.index('id="threshold-line"'):page.index("</p>", page.index('id="threshold-line"'))]
        assert f"{lowered['threshold']:g}" in line and "set by verdicts" in line and "event F1" in line

    # revertible: undo the last change; back to the raised threshold, recorded as a user's change
    code, out = cli("entity", "threshold", str(de.id), "--revert", str(lowered_id), "--json")
    assert code == 0, out
    reverted = json.loads(out)
    assert reverted["threshold"] == raised["threshold"]
    assert reverted["history"][-1]["reverted_from"] == lowered_id
    assert reverted["history"][-1]["previous"] == lowered["threshold"]
    code, out = cli("entity", "threshold", str(de.id), "--history")
    assert code == 0 and f"{raised_id}" in out and "verdicts" in out and "revert" in out, out
    # the automatic learning leaves a user's revert alone until a newer verdict arrives
    with session_scope() as s:
        decision, change = registry_thresholds.learn(s, de.id)
        assert change is None and "waiting for a newer verdict" in decision.reason

    # a later run flags with the learnt threshold; a suppression window silences an expected event
    evening = [(at("17:10"), HOSTS[0], 2.0), (at("18:10"), HOSTS[1], 8.0), (at("19:10"), HOSTS[2], 8.0)]
    inject_spikes(lake, evening, "evening")
    code, out = cli("entity", "suppress", str(de.id), "--from", "2022-05-10T18:00:00Z",
                    "--to", "2022-05-10T18:30:00Z", "--reason", "planned maintenance", "--group",
                    f"host={HOSTS[1]}")
    assert code == 0, out
    assert backfill(de.id, "2022-05-10T17:00:00Z", "2022-05-10T20:00:00Z").succeeded == 6
    later = window_results(de.id, "17:00", "20:00")
    threshold = raised["threshold"]
    assert later and {r.threshold for r in later} == {threshold}
    maintenance = [r for r in later if r.group_key == {"host": HOSTS[1]} and r.timestamp_ms == at("18:30")]
    assert maintenance[0].anomaly_score >= threshold and not maintenance[0].is_anomaly  # keeps its score
    others = [r for r in later if r is not maintenance[0]]
    assert all(r.is_anomaly == (r.anomaly_score is not None and r.anomaly_score >= threshold) for r in others)
    spike = [r for r in later if r.group_key == {"host": HOSTS[2]} and r.timestamp_ms == at("19:30")]
    assert spike[0].is_anomaly
    # and the model's own threshold (50) would have flagged more than the learnt one does
    assert any(r.anomaly_score is not None and 50 <= r.anomaly_score < threshold for r in later)
    with session_scope() as s:
        run = next(r for r in registry.list_runs(s, de.id) if r.window_end_ms == at("18:30"))
        assert run.provenance["threshold_override"] == threshold and run.provenance["suppressed_results"] == 1
        state_now = registry_thresholds.describe(s, de.id)
    assert [r["reason"] for r in state_now["suppressions"]] == ["planned maintenance"]


def test_the_threshold_routes_hide_private_entities_and_check_input(db_url):
    tokens = setup_people()
    secret = make_entity("secret", private=True)
    alice, bob = ({"Authorization": f"Bearer {tokens[u]}"} for u in ("alice", "bob"))
    with TestClient(create_app(load_settings())) as client:
        for headers in (bob, {}):
            r = client.get(f"/api/entities/{secret.id}/threshold", headers=headers)
            assert r.status_code == 404 and "secret" not in r.text.lower(), r.text
            r = client.post(f"/api/entities/{secret.id}/suppressions", headers=headers,
                            json={"start": 0, "end": 1, "reason": "x"})
            assert r.status_code == 404
        assert client.get(f"/api/entities/{secret.id}/threshold", headers=alice).json()["source"] == "model"
        body = {"start": "2022-05-10T18:00:00Z", "end": "2022-05-10T17:00:00Z", "reason": "maintenance"}
        r = client.post(f"/api/entities/{secret.id}/suppressions", headers=alice, json=body)
        assert r.status_code == 422 and "start < end" in r.json()["detail"], r.text
        r = client.post(f"/api/entities/{secret.id}/suppressions", headers=alice,
                        json={**body, "end": "2022-05-10T19:00:00Z", "colour": "red"})
        assert r.status_code == 422 and "colour" in r.json()["detail"]
        r = client.post(f"/api/entities/{secret.id}/suppressions", headers=alice,
                        json={**body, "end": "2022-05-10T19:00:00Z", "group": "host=h1"})
        assert r.status_code == 201 and r.json()["group"] == {"host": "h1"}, r.text
        listed = client.get(f"/api/entities/{secret.id}/suppressions", headers=alice).json()
        assert [s["reason"] for s in listed] == ["maintenance"]
        assert client.get(f"/api/entities/{secret.id}/suppressions", headers=bob).status_code == 404
    with session_scope() as s:  # a threshold change and a suppression go with their entity
        registry_thresholds.record_change(s, secret.id, 90.0, changed_by="alice", reason="by hand", evidence={})
    code, out = cli("entity", "threshold", str(secret.id), "--history", "--json")
    assert code == 0 and [c["threshold"] for c in json.loads(out)["history"]] == [90.0], out
    code, out = cli("entity", "threshold", str(secret.id), "--learn")
    assert code == 0 and "unchanged: not enough labels: 0 scored verdicts" in out, out
    with pytest.raises(NotFoundError, match="no threshold change 99"):
        cli("entity", "threshold", str(secret.id), "--revert", "99")
    with session_scope() as s:
        registry.delete_entity(s, secret.id)
    with session_scope() as s:
        assert registry_thresholds.history(s, secret.id) == []
        assert registry_thresholds.suppression_rows(s, secret.id) == []
