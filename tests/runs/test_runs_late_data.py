"""Late data (issue 16, part 4): a finished window whose input changed runs again as its next
revision, re-exported under the same ids to every sink; unchanged windows are left alone."""

from __future__ import annotations

import json
from collections import Counter

from runs_helpers import HOSTS, jsonl_docs, make_entity

from admon.registry import repository as repo
from admon.registry.db import session_scope
from admon.runs.backfill import backfill
from admon.runs.runner import Runner
from admon.runs.scheduler import Scheduler
from admon.settings import load_settings
from admon.sinks.base import parse_sinks
from admon.sinks.documents import DOCUMENT_TYPE
from admon.timeutil import to_epoch_ms

DAY_FOLDER = "collectd/raw/monitoring/2022/05/10"


def write_late_documents(lake, at: str, value: float = 5e7, name: str = "part-late-00001.json") -> None:
    """A new file in the day's folder: one gled sample per host at ``at`` (an existing bucket,
    so its average moves)."""
    ts = to_epoch_ms(at)
    lines = [json.dumps({"metadata": {"host": f"monit-xrootd-{h:03d}", "topic": "xrootd_raw_gled",
                                      "timestamp": ts + 30_000}, "data": {"value": value}})
             for h in range(HOSTS)]
    (lake / DAY_FOLDER / name).write_text("\n".join(lines) + "\n")


def results(documents: list[dict]) -> list[dict]:
    """The result documents (not incident states) among ``documents``."""
    return [d for d in documents if d["type"] == DOCUMENT_TYPE]


def runs_by_end(entity_id: int) -> dict[int, object]:
    with session_scope() as s:
        return {r.window_end_ms: r for r in repo.list_runs(s, entity_id)}


def test_late_documents_rerun_exactly_the_windows_that_hold_them_as_revision_2(db_url, lake, receiver, tmp_path,
                                                                              monkeypatch):
    out = tmp_path / "out"
    receiver.start()
    monkeypatch.setenv("ADMON_SINKS", f"jsonl://{out}, {receiver.url}")
    entity = make_entity(interval=60, slide=15)
    first = backfill(entity.id, "2022-05-10T00:00:00Z", "2022-05-10T06:00:00Z")
    assert first.succeeded == first.windows == 21
    exported = len(results(jsonl_docs(out)))
    assert exported == 21 * HOSTS and len(results(receiver.received)) == exported

    # unchanged data: a second backfill checks every window and exports nothing
    again = backfill(entity.id, "2022-05-10T00:00:00Z", "2022-05-10T06:00:00Z")
    assert (again.late.checked, again.late.unchanged, again.late.reopened) == (21, 21, {})
    assert (again.succeeded, again.documents) == (0, 0)
    assert len(results(jsonl_docs(out))) == exported and len(results(receiver.received)) == exported

    write_late_documents(lake, "2022-05-10T03:00:00Z")
    late = backfill(entity.id, "2022-05-10T00:00:00Z", "2022-05-10T06:00:00Z")
    # the windows [t - 60 min, t) holding 03:00: t = 03:15, 03:30, 03:45, 04:00
    ends = [to_epoch_ms(f"2022-05-10T{t}:00Z") for t in ("03:15", "03:30", "03:45", "04:00")]
    assert sorted(late.late.reopened) == ends
    assert all(buckets == [to_epoch_ms("2022-05-10T03:00:00Z")] for buckets in late.late.reopened.values())
    assert (late.succeeded, late.already_done) == (4, 17)

    docs = results(jsonl_docs(out))
    revised = [d for d in docs if d.get("revision") == 2]
    assert len(docs) == exported + 4 * HOSTS and len(revised) == 4 * HOSTS
    assert sorted({d["window_end"] for d in revised}) == ends
    first_ids = {(d["window_end"], d["host"]): d["id"] for d in docs if d.get("revision") == 1}
    assert all(first_ids[(d["window_end"], d["host"])] == d["id"] for d in revised)  # same ids
    http = Counter(d.get("revision") for d in results(receiver.received))
    assert http == {1: exported, 2: 4 * HOSTS}

    runs = runs_by_end(entity.id)
    assert {end: r.revision for end, r in runs.items() if r.revision != 1} == dict.fromkeys(ends, 2)
    assert runs[ends[0]].late_data[0]["buckets"] == [to_epoch_ms("2022-05-10T03:00:00Z")]
    with session_scope() as s:  # the stored results are the new revision's, one per host
        stored = repo.list_results(s, runs[ends[0]].id)
        assert len(stored) == HOSTS and {r.document["revision"] for r in stored} == {2}

    # the API's runs carry the revision and what the re-run found (the project is public)
    from fastapi.testclient import TestClient

    from admon.service.app import create_app

    with TestClient(create_app(load_settings())) as client:
        listed = {r["window_end_ms"]: r for r in client.get(f"/api/entities/{entity.id}/runs").json()}
    assert listed[ends[0]]["revision"] == 2 and listed[ends[0]]["late_data"][0]["changed_buckets"] == 1
    assert listed[to_epoch_ms("2022-05-10T01:00:00Z")]["revision"] == 1

    # and once re-run, the windows are unchanged again
    last = backfill(entity.id, "2022-05-10T00:00:00Z", "2022-05-10T06:00:00Z")
    assert last.late.reopened == {} and last.documents == 0


def test_the_scheduler_rechecks_its_rescore_horizon_and_honours_the_query_delay(db_url, lake, tmp_path):
    out = tmp_path / "out"
    settings = load_settings()
    runner = Runner(settings, sinks=parse_sinks(f"jsonl://{out}"))
    entity = make_entity(interval=60, slide=15, schedule_from="2022-05-10T01:00:00Z")
    entity.update(rescore_horizon_minutes=60, query_delay_seconds=600)
    now = to_epoch_ms("2022-05-10T03:05:00Z")
    scheduler = Scheduler(runner, clock=lambda: now)
    scheduler.run_forever(until_idle=True)
    runs = runs_by_end(entity.id)
    # 03:00 is due only at 03:10 (a 10-minute delay): the last window run ends at 02:45
    assert max(runs) == to_epoch_ms("2022-05-10T02:45:00Z")

    # 01:00 is only in windows ending 01:15 .. 02:00, older than the horizon [02:05, 03:05]
    write_late_documents(lake, "2022-05-10T01:00:00Z")
    write_late_documents(lake, "2022-05-10T02:20:00Z", name="part-late-00002.json")
    report = scheduler.tick()
    # within the horizon, the windows holding 02:20: ending 02:30 and 02:45 (03:00 is not due yet)
    assert sorted(report.late.reopened) == [to_epoch_ms("2022-05-10T02:30:00Z"),
                                            to_epoch_ms("2022-05-10T02:45:00Z")]
    runs = runs_by_end(entity.id)
    assert {r.revision for end, r in runs.items()} == {1, 2}
    assert runs[to_epoch_ms("2022-05-10T02:30:00Z")].status == "succeeded"
    assert runs[to_epoch_ms("2022-05-10T02:15:00Z")].revision == 1


def test_runs_list_shows_the_revision_and_the_late_data(db_url, lake, monkeypatch):
    from typer.testing import CliRunner

    from admon.cli import build_app

    entity = make_entity(interval=60, slide=15)
    backfill(entity.id, "2022-05-10T02:00:00Z", "2022-05-10T04:00:00Z")
    write_late_documents(lake, "2022-05-10T03:00:00Z")
    backfill(entity.id, "2022-05-10T02:00:00Z", "2022-05-10T04:00:00Z")
    monkeypatch.setenv("COLUMNS", "250")
    runner, app = CliRunner(), build_app()
    listed = json.loads(runner.invoke(app, ["runs", "list", str(entity.id), "--json"]).output)
    by_end = {r["window_end_ms"]: r for r in listed}
    late_end = to_epoch_ms("2022-05-10T03:15:00Z")
    assert by_end[late_end]["revision"] == 2 and by_end[late_end]["late_data"][0]["changed_buckets"] == 1
    assert by_end[to_epoch_ms("2022-05-10T03:00:00Z")]["revision"] == 1
    table = runner.invoke(app, ["runs", "list", str(entity.id)]).output
    assert "late data" in table and "r2: 1 bucket(s) at" in table
