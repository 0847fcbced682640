"""Every sink: parsing, idempotence by document id, failure behaviour; the outbox order."""

from __future__ import annotations

import contextlib
import json
import socket
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from admon.errors import ConfigError
from admon.sinks import SinkError, build_document, document_id, parse_sinks
from admon.sinks.base import SINKS
from admon.sinks.jsonl import JsonlSink
from admon.sinks.monit_http import HttpSink
from admon.testing.checks import (
    SinkProbe,
    check_sink_delivers_a_batch_in_order,
    parametrize_with_checks,
)

DAY = 1652140800000  # 2022-05-10


def doc(window_end: int, host: str, score: float = 10.0) -> dict:
    return build_document(entity_id=3, entity_title="e", project_id=1, model_id="builtin:x", run_id=1,
                          monit_producer="admon", monit_label={"admon_entity": "x", "id": "no"},
                          group_key={"host": host}, window_start_ms=window_end - 3_600_000,
                          window_end_ms=window_end, anomaly_score=score, is_anomaly=score >= 75,
                          threshold=75.0, severity="warning", top_features=["a"],
                          peak_timestamp_ms=window_end - 300_000, rows=12)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def http_receiver():
    received: list[list[dict]] = []
    state = {"status": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            assert self.headers["Content-Type"].startswith("application/json")
            if state["status"] == 200:
                received.append(json.loads(body))
            self.send_response(state["status"])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/write", received, state
    server.shutdown()
    server.server_close()


def test_document_fields_and_deterministic_id():
    d = doc(DAY + 3_600_000, "h1")
    assert d["id"] == document_id(3, DAY + 3_600_000, {"host": "h1"}) == doc(DAY + 3_600_000, "h1", 99)["id"]
    assert d["id"] != doc(DAY + 7_200_000, "h1")["id"] != doc(DAY + 3_600_000, "h2")["id"]
    assert d["producer"] == "admon" and d["admon_entity"] == "x" and d["host"] == "h1"
    assert d["timestamp"] == d["window_end"] and d["window_end"] - d["window_start"] == 3_600_000
    assert d["labels"] == {"admon_entity": "x", "id": "no"}  # a label cannot override the id
    assert d["anomaly_score"] == 10.0 and d["is_anomaly"] is False and d["threshold"] == 75.0
    assert build_document(**{**dict(entity_id=1, entity_title="e", project_id=1, model_id="m", run_id=1,
                                    monit_producer="p", monit_label={}, group_key={},
                                    window_start_ms=0, window_end_ms=1, anomaly_score=float("nan"),
                                    is_anomaly=False, threshold=None)})["anomaly_score"] is None


def test_parse_sinks():
    sinks = parse_sinks("jsonl:///tmp/a, http://127.0.0.1:9/x ,prometheus")
    assert [type(s).__name__ for s in sinks] == ["JsonlSink", "HttpSink", "PrometheusSink"]
    assert [s.durable for s in sinks] == [True, True, False]
    assert parse_sinks("") == [] and parse_sinks(None) == []
    with pytest.raises(ConfigError, match="more than once"):
        parse_sinks("prometheus,prometheus")
    with pytest.raises(ConfigError, match="names no folder"):
        parse_sinks("jsonl:")


def test_jsonl_one_file_per_day_idempotent_and_repairs_a_cut_line(tmp_path):
    sink = JsonlSink(str(tmp_path))
    day1 = [doc(DAY + 3_600_000, "h1"), doc(DAY + 3_600_000, "h2")]
    day2 = [doc(DAY + 86_400_000 + 3_600_000, "h1")]
    sink.send(day1 + day2)
    sink.send(day1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2022-05-10.jsonl", "2022-05-11.jsonl"]
    assert len((tmp_path / "2022-05-10.jsonl").read_text().splitlines()) == 2
    # another process (a fresh sink) appends after a crash cut its last line short
    path = tmp_path / "2022-05-10.jsonl"
    with open(path, "a") as handle:
        handle.write('{"id": "half-writ')
    fresh = JsonlSink(str(tmp_path))
    fresh.send(day1 + [doc(DAY + 7_200_000, "h1")])
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [x["id"] for x in lines] == [d["id"] for d in day1] + [doc(DAY + 7_200_000, "h1")["id"]]


def test_jsonl_unwritable_folder_is_a_sink_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SinkError, match="cannot write"):
        JsonlSink(str(blocker / "sub")).send([doc(DAY, "h1")])


def test_http_sink_posts_a_list_and_raises_unless_2xx(http_receiver):
    url, received, state = http_receiver
    sink = HttpSink(url)
    docs = [doc(DAY + 3_600_000, "h1"), doc(DAY + 3_600_000, "h2")]
    sink.send(docs)
    assert received == [docs]
    state["status"] = 500
    with pytest.raises(SinkError, match="answered 500"):
        sink.send(docs)
    with pytest.raises(SinkError, match="ConnectError"):
        HttpSink(f"http://127.0.0.1:{free_port()}/x", timeout_seconds=2).send(docs)
    assert len(received) == 1


# ---------------------------------------------------------------------------- the importable suite
@contextlib.contextmanager
def open_jsonl():
    with tempfile.TemporaryDirectory(prefix="admon-sink-") as folder:
        def held(docs):
            wanted = {d["id"] for d in docs}
            lines = [json.loads(x) for p in sorted(Path(folder).glob("*.jsonl")) for x in p.read_text().splitlines()]
            return [x["id"] for x in lines if x["id"] in wanted]
        yield parse_sinks(f"jsonl://{folder}")[0], held


@contextlib.contextmanager
def open_http():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.extend(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sink = parse_sinks(f"http://127.0.0.1:{server.server_address[1]}/write")[0]
        yield sink, lambda docs: [d["id"] for d in received if d in docs]
        sink.close()
    finally:
        server.shutdown()
        server.server_close()


BUILT_IN_SINKS = [SinkProbe("jsonl", open_jsonl), SinkProbe("monit_http", open_http, keeps_duplicates=True)]


def test_every_built_in_sink_kind_is_probed():
    # prometheus holds nothing: /metrics reads the results from the registry
    # (tests/sinks/test_prometheus_registry.py); alertmanager takes only alert documents
    # (tests/alerts/test_alertmanager.py, against a real Alertmanager)
    assert sorted(p.name for p in BUILT_IN_SINKS) == sorted(set(SINKS.names()) - {"webhook", "prometheus",
                                                                                   "alertmanager"})


@parametrize_with_checks(BUILT_IN_SINKS)
def test_sink_conformance(obj, check):
    """Every sink: identity by URL, accepts a list in order, and the same batch twice is harmless
    for the sink's own state (jsonl drops it; http leaves it to the receiver, which
    gets the same ids again)."""
    check(obj)


def test_the_sink_suite_catches_a_sink_that_loses_order():
    @contextlib.contextmanager
    def open_reversing():
        with open_jsonl() as (sink, held):
            yield sink, lambda docs: list(reversed(held(docs)))

    with pytest.raises(AssertionError, match="holds"):
        check_sink_delivers_a_batch_in_order(SinkProbe("reversing", open_reversing))
