"""Backfill over a generated lake: one document per (window, host), exported once; provenance."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from runs_helpers import HOSTS, jsonl_docs, make_entity

from admon.registry import repository as repo
from admon.registry.db import session_scope
from admon.runs.backfill import backfill
from admon.runs.reproduce import reproduce
from admon.runs.runner import Runner
from admon.settings import load_settings
from admon.timeutil import to_epoch_ms


def test_backfill_exports_once_per_window_and_host(db_url, lake, tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setenv("ADMON_SINKS", f"jsonl://{out}")
    de = make_entity(interval=60, slide=15)
    first = backfill(de.title, "2022-05-10T00:00:00Z", "2022-05-10T03:00:00Z")
    # windows [t-60m, t) inside the range: t = 01:00, 01:15, ..., 03:00
    assert first.windows == 9 and first.succeeded == 9 and first.failed == 0
    docs = jsonl_docs(out)
    assert len(docs) == 9 * HOSTS
    pairs = Counter((d["window_end"], d["host"]) for d in docs)
    assert set(pairs.values()) == {1}
    assert min(d["window_end"] for d in docs) == to_epoch_ms("2022-05-10T01:00:00Z")
    assert max(d["window_end"] for d in docs) == to_epoch_ms("2022-05-10T03:00:00Z")
    doc = docs[0]
    assert doc["producer"] == "admon" and doc["admon_entity"] == "xrootd_with_join"
    assert doc["window_end"] - doc["window_start"] == 3_600_000
    assert doc["entity_id"] == de.id and doc["model_id"] == "builtin:robust_zscore"
    assert 0 <= doc["anomaly_score"] <= 100 and isinstance(doc["is_anomaly"], bool)
    assert set(doc["top_features"]) <= {"gled_value", "alice_value"}
    # an anomalous result names what drove it; a normal one names nothing and has no severity (issue 15)
    assert all(bool(d["top_features"]) == d["is_anomaly"] and (d["severity"] is None) != d["is_anomaly"]
               for d in docs)

    second = backfill(de.id, "2022-05-10T00:00:00Z", "2022-05-10T03:00:00Z")
    assert (second.already_done, second.succeeded, second.documents, second.delivered) == (9, 0, 0, 0)
    assert len(jsonl_docs(out)) == 9 * HOSTS

    # overlapping range: only the new windows run
    third = backfill(de.id, "2022-05-10T02:00:00Z", "2022-05-10T04:00:00Z")
    assert (third.windows, third.already_done, third.succeeded) == (5, 1, 4)
    assert len(jsonl_docs(out)) == 13 * HOSTS

    with session_scope() as s:
        runs = repo.list_runs(s, de.id)
        assert len(runs) == 13 and {r.status for r in runs} == {"succeeded"}
        assert all(r.rows == 60 * HOSTS and r.groups == HOSTS and r.attempts == 1 for r in runs)
        assert set(runs[0].timings) >= {"read_s", "score_s", "write_s", "total_s"}
        assert repo.count_pending_outbox(s) == 0
        assert len(repo.list_results(s, runs[0].id)) == HOSTS


def test_same_ids_when_a_window_is_recomputed(db_url, lake):
    de = make_entity(interval=10, slide=5)
    backfill(de.id, "2022-05-10T00:00:00Z", "2022-05-10T00:30:00Z")
    with session_scope() as s:
        run = repo.list_runs(s, de.id)[0]
        ids = sorted(r.id for r in repo.list_results(s, run.id))
    from admon.sinks.documents import document_id

    expected = sorted(document_id(de.id, run.window_end_ms, {"host": h})
                      for h in ["monit-xrootd-000", "monit-xrootd-001", "monit-xrootd-002"])
    assert ids == expected


def test_provenance_recorded_and_reproduce(db_url, lake):
    de = make_entity(interval=30, slide=30)
    backfill(de.id, "2022-05-10T00:00:00Z", "2022-05-10T01:00:00Z")
    with session_scope() as s:
        run = repo.list_runs(s, de.id)[0]
        prov, run_id = dict(run.provenance), run.id
    assert prov["config_hash"] == de.config_hash
    assert prov["admon_version"] == "0.1.0"
    assert len(prov["git_commit"]) == 40 or prov["git_commit"] == "unknown"
    assert prov["model_id"] == "builtin:robust_zscore" and len(prov["model_hash"]) == 64
    assert (prov["window_start_ms"], prov["window_end_ms"]) == (
        to_epoch_ms("2022-05-10T00:30:00Z"), to_epoch_ms("2022-05-10T01:00:00Z"))
    # rows_in counts the detector's context read before the window too (see test_runs_context.py)
    assert prov["rows"] == 30 * HOSTS and prov["rows_in"] == 2 * (30 + prov["context_ms"] // 60_000) * HOSTS

    report = reproduce(run_id)
    assert report.identical and report.model_hash_matches and report.config_hash_matches
    assert report.max_abs_score_diff == 0.0

    # change one value of the window in the lake: reproduce must notice
    path = next((lake / "collectd" / "raw" / "monitoring" / "2022" / "05" / "10").glob("part-*.json"))
    lines = path.read_text().splitlines()
    target = to_epoch_ms("2022-05-10T00:45:00Z")
    changed = []
    for line in lines:
        doc = json.loads(line)
        if doc["metadata"]["timestamp"] == target and doc["metadata"]["topic"] == "xrootd_raw_gled":
            doc["data"]["value"] = doc["data"]["value"] * 50
        changed.append(json.dumps(doc))
    path.write_text("\n".join(changed) + "\n")
    again = reproduce(run_id)
    assert not again.identical and again.recomputed_hash != again.recorded_hash


def test_reproduce_refuses_unfinished_runs(db_url, lake):
    from admon.errors import ConflictError, NotFoundError

    with pytest.raises(NotFoundError, match="no run 999"):
        reproduce(999)
    de = make_entity()
    runner = Runner(load_settings())
    from admon.runs.runner import entity_spec
    from admon.runs.scheduler import insert_runs, run_row

    with session_scope() as s:
        spec = entity_spec(repo.get_entity(s, de.id))
    insert_runs(runner, [run_row(spec, to_epoch_ms("2022-05-10T01:00:00Z"), "scheduler", 0)])
    with session_scope() as s:
        run_id = repo.list_runs(s, de.id)[0].id
    with pytest.raises(ConflictError, match="status 'pending'"):
        reproduce(run_id)


def test_entity_spec_carries_every_field_of_the_registry_record(db_url, lake):
    import dataclasses

    from admon.registry.schemas import EntityRecord
    from admon.runs.kinds import EntitySpec
    from admon.runs.runner import entity_spec

    de = make_entity()
    with session_scope() as s:
        spec = entity_spec(repo.get_entity(s, de.id))
    renamed = {"interval_minutes": "interval_ms", "sliding_interval_minutes": "slide_ms",
               "input_data_config": "idc"}
    names = {renamed.get(f.name, f.name) for f in dataclasses.fields(EntityRecord)}
    assert names == {f.name for f in dataclasses.fields(EntitySpec)}
    assert (spec.interval_ms, spec.slide_ms) == (de.interval_minutes * 60_000, de.sliding_interval_minutes * 60_000)
    assert spec.idc == de.input_data_config and spec.monit_label == de.monit_label
