"""Champion and challenger models (issue 20, part 3), end to end: challengers trained on the
champion's data score the same windows in shadow (stored, never exported nor alerted), a
leaderboard on the labelled windows, promotion by a rule (recorded, rolled back, named in
the runs' provenance)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from admon import DetectionEntity, Project
from admon.cli import app as cli_app
from admon.cli import build_app
from admon.registry import annotations as registry_annotations
from admon.registry import challengers as registry_challengers
from admon.registry import incidents as registry_incidents
from admon.registry import runs as registry_runs
from admon.registry.db import session_scope
from admon.runs.backfill import backfill
from admon.runs.runner import Runner
from admon.settings import load_settings
from admon.sinks import parse_sinks
from tests.thresholds.conftest import at, inject_spikes, xrootd_idc

HOSTS = ["monit-xrootd-000", "monit-xrootd-001", "monit-xrootd-002"]
#: Small spikes (false alarms once judged) and large ones (confirmed).
SMALL = [(at("08:40"), HOSTS[2], 1.3), (at("10:10"), HOSTS[0], 1.3), (at("11:40"), HOSTS[1], 1.3)]
LARGE = [(at("13:10"), HOSTS[2], 6.0), (at("14:40"), HOSTS[0], 8.0), (at("09:40"), HOSTS[1], 7.0)]


def cli(*args: str) -> tuple[int, str]:
    if not cli_app.registered_groups:
        build_app()
    result = CliRunner().invoke(cli_app, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def make_entity(title: str) -> DetectionEntity:
    project = Project.create(title=f"{title} project", egroup="admon-dev", is_private=False)
    return DetectionEntity.create(project=project, title=title, interval_minutes=30, sliding_interval_minutes=30,
                                  input_data_config=xrootd_idc(), inference_model="xrootd-model",
                                  inference_namespace="admon-dev", monit_producer="admon",
                                  monit_label={"admon_entity": title})


def champion_and_challenger(lake) -> DetectionEntity:
    """An entity whose champion flags at 50 (small spikes too) and a challenger, trained on the
    same early-morning data, that flags at 90 (only the large spikes)."""
    inject_spikes(lake, SMALL + LARGE, "spikes")
    de = make_entity("xrootd")
    code, out = cli("train", str(de.id), "--from", "2022-05-10T00:00:00Z", "--to", "2022-05-10T06:00:00Z",
                    "--threshold", "50", "--no-progress")
    assert code == 0, out
    code, out = cli("model", "challenge", str(de.id), "--detector", "robust_zscore", "--name", "strict",
                    "--threshold", "98")
    assert code == 0, out
    return de


def shadow_rows(entity_id: int, name: str) -> list:
    with session_scope() as s:
        return list(registry_challengers.shadow_results(s, registry_challengers.get_challenger(s, entity_id, name).id))


def judge_incidents(entity_id: int) -> tuple[int, int]:
    """Confirm the champion's incidents at the large spikes, call the others false alarms."""
    large = {(host, start) for start, host, _ in LARGE}
    confirmed = false_alarms = 0
    with session_scope() as s:
        for incident in registry_incidents.list_incidents(s, [entity_id]):
            peak = incident.peak_timestamp_ms
            real = peak is not None and any(incident.group.get("host") == host and start <= peak < start + 3 * 60_000
                                            for host, start in large)
            registry_annotations.judge_incident(s, incident, label="confirmed" if real else "false_alarm",
                                                comment="", kind="", author="alice", user_id=None)
            confirmed, false_alarms = confirmed + real, false_alarms + (not real)
    return confirmed, false_alarms


def test_a_better_challenger_is_promoted_by_the_rule_recorded_named_in_runs_and_rolled_back(db_url, lake):
    de = champion_and_challenger(lake)
    report = backfill(de.id, "2022-05-10T06:00:00Z", "2022-05-10T16:00:00Z")
    assert report.succeeded == 20
    rows = shadow_rows(de.id, "strict")
    assert len(rows) == 20 * len(HOSTS)  # every run, every group, from the run's own read
    confirmed, false_alarms = judge_incidents(de.id)
    assert confirmed == 3 and false_alarms >= 3, (confirmed, false_alarms)

    code, out = cli("model", "challengers", str(de.id), "--json", "--rule", "gain=0.2,incidents=5")
    assert code == 0, out
    board = json.loads(out)
    champion, strict = board["models"]
    assert champion["role"] == "champion" and strict["name"] == "strict"
    assert strict["f1"] == 1.0 and champion["f1"] < 0.8, board
    assert strict["alarms_per_day"] < champion["alarms_per_day"]
    assert strict["nab"] > champion["nab"] and strict["runs_scored"] == 20 and strict["runs_skipped"] == 0
    assert strict["rule"]["promote"] is True
    code, out = cli("model", "challengers", str(de.id))
    assert code == 0 and "strict" in out and "champion" in out, out

    # a rule that asks for more labelled events than there are keeps the champion
    code, out = cli("model", "promote-challenger", str(de.id), "--auto", "--rule", "gain=0.2,incidents=50", "--json")
    assert code == 0 and json.loads(out)["promotion"] is None, out
    code, out = cli("model", "promote-challenger", str(de.id), "--auto", "--rule", "gain=0.2,incidents=5", "--json")
    assert code == 0, out
    promotion = json.loads(out)["promotion"]
    assert promotion["decided_by"] == "rule" and promotion["to"]["model"] == "xrootd-model.challenger.strict"
    assert promotion["from"]["model"] == "xrootd-model" and promotion["evidence"]["challenger"]["f1"] == 1.0
    assert promotion["evidence"]["labelled_events"] >= 5

    # the next runs are scored by the promoted model and say so; the challenger no longer runs in shadow
    assert backfill(de.id, "2022-05-10T16:00:00Z", "2022-05-10T17:00:00Z").succeeded == 2
    with session_scope() as s:
        last = registry_runs.list_runs(s, de.id, limit=1)[0]
        board = registry_challengers.leaderboard(s, de.id)
    assert board["champion"]["challenger"] == "strict" and board["champion"]["model"].endswith("strict")
    assert [p["id"] for p in board["promotions"]] == [promotion["id"]]
    assert len(shadow_rows(de.id, "strict")) == 20 * len(HOSTS)
    assert last.provenance["champion"]["challenger"] == "strict" and "shadow" not in last.provenance
    assert last.provenance["model_id"].startswith("admon-dev/xrootd-model.challenger.strict/")

    # rolled back: the former champion again, recorded; the challenger back in shadow
    code, out = cli("model", "promote-challenger", str(de.id), "--rollback", "--json")
    assert code == 0, out
    undone = json.loads(out)["promotion"]
    assert undone["rolled_back"] == promotion["id"] and undone["to"]["model"] == "xrootd-model"
    assert DetectionEntity.get(de.id).inference_model == "xrootd-model"
    assert backfill(de.id, "2022-05-10T17:00:00Z", "2022-05-10T17:30:00Z").succeeded == 1
    assert len(shadow_rows(de.id, "strict")) == 21 * len(HOSTS)


def test_shadow_results_are_never_exported_nor_alerted(db_url, lake, tmp_path, webhook_receiver):
    inject_spikes(lake, SMALL + LARGE, "spikes")
    de = make_entity("xrootd")
    code, out = cli("train", str(de.id), "--from", "2022-05-10T00:00:00Z", "--to", "2022-05-10T06:00:00Z",
                    "--threshold", "90", "--no-progress")
    assert code == 0, out
    # an eager challenger: it flags far more windows than the champion
    code, out = cli("model", "challenge", str(de.id), "--detector", "robust_zscore", "--name", "eager",
                    "--threshold", "5")
    assert code == 0, out
    out_dir = tmp_path / "out"
    runner = Runner(load_settings(alert_webhook_url=webhook_receiver.url), sinks=parse_sinks(f"jsonl://{out_dir}"))
    assert backfill(de.id, "2022-05-10T06:00:00Z", "2022-05-10T16:00:00Z", runner=runner, alert=True).succeeded == 20
    runner.deliver()
    docs = [json.loads(line) for f in sorted(out_dir.glob("*.jsonl")) for line in f.read_text().splitlines()]
    shadow = shadow_rows(de.id, "eager")
    flagged_in_shadow = {(json.dumps(r.group_key, sort_keys=True), r.window_end_ms) for r in shadow if r.is_anomaly}
    results = [d for d in docs if d.get("type") != "anomaly_incident"]
    flagged_by_champion = {(json.dumps(d["group"], sort_keys=True), d["window_end"]) for d in results if d["is_anomaly"]}
    assert len(flagged_in_shadow - flagged_by_champion) >= 5  # the challenger alone flags these
    assert len(results) == 20 * len(HOSTS)  # one document per window and group: the champion's only
    assert {d["model_id"] for d in docs if "model_id" in d} == {"admon-dev/xrootd-model/1"}
    with session_scope() as s:
        incidents = registry_incidents.list_incidents(s, [de.id])
    alerted = {a["labels"]["incident_id"] for a in webhook_receiver.received}
    assert alerted <= {i.id for i in incidents}
    assert len(incidents) < len(flagged_in_shadow)
    for incident in incidents:  # every incident (and alert) starts at a window the champion flagged
        assert any(d["is_anomaly"] and d["group"] == incident.group for d in results)


def test_over_the_time_budget_challengers_are_skipped_and_counted(db_url, lake, monkeypatch):
    de = champion_and_challenger(lake)
    monkeypatch.setenv("ADMON_SHADOW_BUDGET_SECONDS", "0")
    assert backfill(de.id, "2022-05-10T06:00:00Z", "2022-05-10T07:00:00Z").succeeded == 2
    assert shadow_rows(de.id, "strict") == []
    with session_scope() as s:
        row = registry_challengers.get_challenger(s, de.id, "strict")
        assert (row.runs_scored, row.runs_skipped) == (0, 2)


def test_the_entitys_own_rule_promotes_after_a_run_once_new_labels_favour_a_challenger(db_url, lake):
    de = champion_and_challenger(lake)
    code, out = cli("model", "promotion-rule", str(de.id), "gain=0.2,incidents=5")
    assert code == 0 and "by 0.2 on at least 5 labelled events" in out, out
    assert backfill(de.id, "2022-05-10T06:00:00Z", "2022-05-10T16:00:00Z").succeeded == 20
    with session_scope() as s:  # no labels yet: the rule promoted nothing
        assert registry_challengers.promotions(s, de.id) == []
    judge_incidents(de.id)
    assert backfill(de.id, "2022-05-10T16:00:00Z", "2022-05-10T16:30:00Z").succeeded == 1
    with session_scope() as s:
        (promotion,) = registry_challengers.promotions(s, de.id)
        judged = registry_runs.list_runs(s, de.id, limit=1)[0].provenance
    assert promotion.decided_by == "rule" and promotion.to_model["model"] == "xrootd-model.challenger.strict"
    assert promotion.evidence["challenger"]["f1"] == 1.0 and promotion.evidence["labelled_events"] >= 5
    # the run that judged the labels was scored by the former champion, and says what it promoted
    assert judged["champion"]["model"] == "xrootd-model" and judged["shadow"]["promotion"]["id"] == promotion.id
    assert backfill(de.id, "2022-05-10T16:30:00Z", "2022-05-10T17:00:00Z").succeeded == 1
    with session_scope() as s:
        last = registry_runs.list_runs(s, de.id, limit=1)[0].provenance
    assert last["champion"]["challenger"] == "strict"
