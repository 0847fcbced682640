"""The jsonl sink keeps the ids of a few day files in memory, and still writes each document once."""

from __future__ import annotations

import json

from admon.sinks.jsonl import DAYS_KEPT, JsonlSink

DAY_MS = 86_400_000


def _docs(day: int) -> list[dict]:
    return [{"id": f"d{day}-{i}", "timestamp": 1_652_140_800_000 + day * DAY_MS} for i in range(3)]


def test_ids_of_older_days_leave_memory_and_a_resend_is_still_written_once(tmp_path):
    sink = JsonlSink(str(tmp_path))
    for day in range(DAYS_KEPT + 3):
        sink.send(_docs(day))
    assert len(sink._seen) <= DAYS_KEPT  # a long-running scheduler does not keep every id
    sink.send(_docs(0) + _docs(DAYS_KEPT + 2))  # a day forgotten, and one still known
    for path in sorted(tmp_path.glob("*.jsonl")):
        ids = [json.loads(line)["id"] for line in path.read_text().splitlines()]
        assert len(ids) == len(set(ids)) == 3, path.name
