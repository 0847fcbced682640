"""Helpers shared by the runs tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from admon import DetectionEntity, InputDataConfig, Project, SourceConfig
from admon.timeutil import to_epoch_ms

LAKE_DAY = "2022-05-10"
HOSTS = 3


def generate_small_lake(root: Path, days: int = 3) -> None:
    from admon.data.generate import generate_lake

    generate_lake(root, hosts=HOSTS, days=days, start=LAKE_DAY, seed=7, step_seconds=60,
                  topics=["xrootd_raw_gled", "xrootd_raw_alice"])


def xrootd_idc(agg_interval_seconds: int = 60, sources: int = 2) -> InputDataConfig:
    gled = SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "value", "host"],
                        filter_expression="topic=='xrootd_raw_gled'", rename={"value": "gled_value"})
    alice = SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "value", "host"],
                         filter_expression="topic=='xrootd_raw_alice'", rename={"value": "alice_value"})
    return InputDataConfig(source_configs=[gled, alice][:sources], agg_interval_seconds=agg_interval_seconds,
                           agg_method="avg", group_by=["host"])


def make_entity(interval: int = 10, slide: int = 5, *, schedule_from: str | None = None,
                title: str = "xrootd", project: str = "p", agg_seconds: int = 60,
                sources: int = 2) -> DetectionEntity:
    try:
        proj = Project.get(project)
    except Exception:
        proj = Project.create(title=project, egroup="admon-dev")
    return DetectionEntity.create(
        project=proj, title=title, interval_minutes=interval, sliding_interval_minutes=slide,
        input_data_config=xrootd_idc(agg_seconds, sources), inference_model="xrootd-model",
        inference_namespace="admon-dev", monit_producer="admon",
        monit_label={"admon_entity": "xrootd_with_join"},
        schedule_from_ms=to_epoch_ms(schedule_from) if schedule_from else None)


def jsonl_docs(directory: Path) -> list[dict]:
    docs = []
    for path in sorted(Path(directory).glob("*.jsonl")):
        docs.extend(json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return docs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Receiver:
    """A MONIT-like HTTP endpoint on 127.0.0.1: records every POST (its documents and its
    ``Idempotency-Key``) and keeps the first copy of each document id (a receiver that drops
    duplicates by id).

    ``fail_next``: answer 503 to the next N requests (nothing kept); ``fail_at``: to the
    requests with these numbers (1 = the first request). ``late_next``: keep the
    next N requests' documents, then answer only after ``late_seconds`` (past the sender's
    timeout: a late acknowledgement). ``delay_seconds``: every request takes this long.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/monit"
        self.received: list[dict] = []  # every document of every accepted request, in arrival order
        self.posts: list[tuple[str | None, list[str]]] = []  # (Idempotency-Key, ids) per request
        self.first: dict[str, dict] = {}  # id -> the document as first received (dict keeps order)
        self.requests = 0
        self.fail_next = 0
        self.fail_at: set[int] = set()
        self.late_next = 0
        self.late_seconds = 1.0
        self.delay_seconds = 0.0
        self.server: ThreadingHTTPServer | None = None
        self.lock = threading.Lock()

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                late = 0.0
                with outer.lock:
                    outer.requests += 1
                    failing = outer.requests in outer.fail_at or outer.fail_next > 0
                    if failing and outer.requests not in outer.fail_at:
                        outer.fail_next -= 1
                    if failing:
                        self.send_response(503)
                        self.end_headers()
                        return
                    docs = json.loads(body)
                    outer.received.extend(docs)
                    outer.posts.append((self.headers.get("Idempotency-Key"), [d["id"] for d in docs]))
                    for d in docs:
                        outer.first.setdefault(d["id"], d)
                    if outer.late_next > 0:
                        outer.late_next -= 1
                        late = outer.late_seconds
                time.sleep(late or outer.delay_seconds)
                try:
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(b'{"ok": true}')
                except OSError:  # the sender gave up waiting (timeout) or was killed
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def duplicates(self) -> int:
        """Documents received more than once (counting every extra copy)."""
        with self.lock:
            return len(self.received) - len(self.first)

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def order_inversions(documents: list[dict]) -> int:
    """Pairs of documents of one entity delivered in the wrong window order: for each
    document, the earlier-delivered documents of its entity with a later ``window_end``."""
    inversions = 0
    seen: dict[int, list[int]] = {}
    for doc in documents:
        ends = seen.setdefault(doc["entity_id"], [])
        inversions += sum(1 for end in ends if end > doc["window_end"])
        ends.append(doc["window_end"])
    return inversions
