"""Real servers for tests: a PostgreSQL cluster and a Prometheus server, started on 127.0.0.1.

Reusable by every area: in ``tests/<area>/conftest.py`` write

    from conftest_servers import postgres_server, postgres_url, prometheus_server  # noqa: F401

(``tests/`` is on ``sys.path`` because of the root ``conftest.py``). Fixtures:

- ``postgres_server`` (session): a throw-away cluster (Debian ``postgresql``), started as the
  ``postgres`` user when running as root; ``.url(dbname)``, ``.create_database()``.
- ``postgres_url`` (function): a fresh, empty database on that cluster, as a SQLAlchemy URL.
- ``prometheus_server`` (session): Debian ``prometheus`` scraping every second;
  ``.scrape(targets)`` points it at ``host:port`` targets, ``.query(promql)`` asks its HTTP API.
- ``loaded_prometheus(openmetrics)`` (a context manager): a Prometheus serving exactly the
  samples of an OpenMetrics text, loaded with ``promtool tsdb create-blocks-from openmetrics``.
- ``influx_server`` (module): Debian ``influxdb`` (1.x) in a temporary folder;
  ``.write(database, lines)`` writes line protocol (ms timestamps).
- ``alertmanager_server`` (function): Debian ``prometheus-alertmanager`` whose one receiver is a
  webhook the test runs (``.receiver.received``); ``.alerts()``, ``.silence(matchers)``.
- ``webhook_receiver`` (function): an HTTP server recording the JSON bodies POSTed to it.

A missing binary is a test failure naming the fix (``make system-deps``), never a skip.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _pg_bindir() -> Path:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    pytest.fail("PostgreSQL is not installed (no pg_ctl); run `make system-deps`")



def stop_process(proc: subprocess.Popen | None, grace: float = 5.0) -> None:
    """Terminate a test server, and kill it if it has not exited after ``grace`` seconds."""
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_until_ready(name: str, proc: subprocess.Popen | None, url: str, status: int, log: Path,
                     timeout: float = 60) -> None:
    """Poll ``url`` until it answers ``status``; fail with the end of ``log`` if the server exits,
    or after ``timeout`` seconds."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{name} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == status:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{name} did not become ready in {timeout:g} s")

class PostgresServer:
    def __init__(self, root: Path, port: int, bindir: Path) -> None:
        self.root, self.port, self.bindir = root, port, bindir
        self.data = root / "data"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> None:
        subprocess.run(
            _as_postgres([str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust",
                          "-U", "postgres", "--no-sync", "-E", "UTF8"]),
            check=True, capture_output=True,
        )
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        subprocess.run(
            _as_postgres([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options,
                          "-l", str(self.root / "server.log"), "-w", "-t", "60", "start"]),
            check=True, capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            _as_postgres([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                          "-w", "stop"]),
            capture_output=True,
        )

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_server():
    bindir = _pg_bindir()
    root = Path(tempfile.mkdtemp(prefix="admon-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    server = PostgresServer(root, free_port(), bindir)
    try:
        server.start()
    except subprocess.CalledProcessError as exc:
        log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
        pytest.fail(f"PostgreSQL did not start: {exc.stderr!r} {log[-2000:]}")
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh database on the session's PostgreSQL server (SQLAlchemy URL)."""
    return postgres_server.create_database()


class PrometheusServer:
    def __init__(self, root: Path, port: int, binary: str, extra_args: tuple[str, ...] = ()) -> None:
        self.root, self.port, self.binary = root, port, binary
        self.extra_args = extra_args
        self.config = root / "prometheus.yml"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _write(self, targets: list[str]) -> None:
        lines = ["global:", "  scrape_interval: 1s", "  evaluation_interval: 1s",
                 "scrape_configs:", "  - job_name: admon", "    static_configs:",
                 f"      - targets: [{', '.join(repr(t) for t in targets)}]"]
        self.config.write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        self._write([])
        self.proc = subprocess.Popen(
            [self.binary, f"--config.file={self.config}", f"--storage.tsdb.path={self.root / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-lifecycle", *self.extra_args],
            stdout=subprocess.DEVNULL, stderr=open(self.root / "prometheus.log", "wb"),
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        wait_until_ready("prometheus", self.proc, f"{self.url}/-/ready", 200, self.root / "prometheus.log")

    def scrape(self, targets: list[str]) -> None:
        """Scrape these ``host:port`` targets (``/metrics``) every second from now on."""
        import httpx

        self._write(targets)
        httpx.post(f"{self.url}/-/reload", timeout=10).raise_for_status()

    def query(self, promql: str) -> list[dict]:
        """The result vector of an instant query."""
        import httpx

        reply = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        reply.raise_for_status()
        return reply.json()["data"]["result"]

    def stop(self) -> None:
        stop_process(self.proc)


@pytest.fixture(scope="session")
def prometheus_server():
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("Prometheus is not installed; run `make system-deps` (Debian package prometheus)")
    root = Path(tempfile.mkdtemp(prefix="admon-prom-"))
    server = PrometheusServer(root, free_port(), binary)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def loaded_prometheus(openmetrics: str):
    """A Prometheus that serves exactly these samples and scrapes nothing: the OpenMetrics text
    (ending with ``# EOF``, timestamps in seconds) is turned into TSDB blocks by
    ``promtool tsdb create-blocks-from openmetrics``, kept without retention limit. Start it once
    per test module (``scope="module"``): it takes a few seconds."""
    binary, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if binary is None or promtool is None:
        pytest.fail("Prometheus is not installed; run `make system-deps` (Debian package prometheus)")
    root = Path(tempfile.mkdtemp(prefix="admon-prom-loaded-"))
    (root / "samples.om").write_text(openmetrics)
    made = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(root / "samples.om"),
                           str(root / "tsdb")], capture_output=True, text=True)
    if made.returncode:
        pytest.fail(f"promtool could not load the samples: {made.stderr[-2000:]}")
    server = PrometheusServer(root, free_port(), binary, ("--storage.tsdb.retention.time=100y",))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


class InfluxServer:
    """InfluxDB 1.x (Debian ``influxdb``) on 127.0.0.1, every directory in a temporary folder."""

    def __init__(self, root: Path, binary: str) -> None:
        self.root, self.binary = root, binary
        self.port, self.rpc_port = free_port(), free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = self.root / "influxdb.conf"
        config.write_text("\n".join([
            "reporting-disabled = true", f'bind-address = "127.0.0.1:{self.rpc_port}"',
            "[meta]", f'  dir = "{self.root / "meta"}"',
            "[data]", f'  dir = "{self.root / "data"}"', f'  wal-dir = "{self.root / "wal"}"',
            "  query-log-enabled = false",
            "[http]", f'  bind-address = "127.0.0.1:{self.port}"', "  log-enabled = false",
            "[monitor]", "  store-enabled = false",
            "[continuous_queries]", "  enabled = false",
            "[subscriber]", "  enabled = false", "",
        ]))
        self.proc = subprocess.Popen([self.binary, "-config", str(config)], stdout=subprocess.DEVNULL,
                                     stderr=open(self.root / "influxd.log", "wb"))
        wait_until_ready("influxd", self.proc, f"{self.url}/ping", 204, self.root / "influxd.log")

    def write(self, database: str, lines: list[str]) -> None:
        """Create ``database`` if needed and write line-protocol ``lines`` (timestamps in ms)."""
        import httpx

        httpx.post(f"{self.url}/query", data={"q": f'CREATE DATABASE "{database}"'}, timeout=10).raise_for_status()
        reply = httpx.post(f"{self.url}/write", params={"db": database, "precision": "ms"},
                           content="\n".join(lines).encode(), timeout=30)
        if reply.status_code != 204:
            pytest.fail(f"influxd refused the lines: {reply.status_code} {reply.text}")

    def stop(self) -> None:
        stop_process(self.proc)


@pytest.fixture(scope="module")
def influx_server():
    """A fresh influxd per test module (write its data with ``.write(database, lines)``)."""
    binary = shutil.which("influxd")
    if binary is None:
        pytest.fail("InfluxDB is not installed; run `make system-deps` (Debian package influxdb)")
    root = Path(tempfile.mkdtemp(prefix="admon-influx-"))
    server = InfluxServer(root, binary)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db_url(request, monkeypatch):
    """The registry database of a test (the SQLite file of the isolated env, or a fresh PostgreSQL
    database), also set as ADMON_DATABASE_URL: a test taking it runs on both."""
    from admon.registry import db

    if request.param == "sqlite":
        url = os.environ["ADMON_DATABASE_URL"]
    else:
        url = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("ADMON_DATABASE_URL", url)
    yield url
    db.dispose_all()


class AlertmanagerServer:
    """Debian's ``prometheus-alertmanager`` on 127.0.0.1, routing every alert to one webhook
    receiver (``webhook_url``) with short group_wait/group_interval, resolved notices included."""

    def __init__(self, root: Path, port: int, binary: str, webhook_url: str) -> None:
        self.root, self.port, self.binary, self.webhook_url = root, port, binary, webhook_url
        self.config = root / "alertmanager.yml"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.config.write_text("\n".join([
            "route:", "  receiver: test", "  group_by: ['...']", "  group_wait: 1s", "  group_interval: 1s",
            "  repeat_interval: 1h",
            "receivers:", "  - name: test", "    webhook_configs:",
            f"      - url: {self.webhook_url!r}", "        send_resolved: true",
        ]) + "\n")
        self.proc = subprocess.Popen(
            [self.binary, f"--config.file={self.config}", f"--storage.path={self.root / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address="],
            stdout=subprocess.DEVNULL, stderr=open(self.root / "alertmanager.log", "wb"),
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        wait_until_ready("alertmanager", self.proc, f"{self.url}/-/ready", 200, self.root / "alertmanager.log")

    def alerts(self, **filters: str) -> list[dict]:
        """``GET /api/v2/alerts`` (``active``, ``silenced``, ... as query parameters)."""
        import httpx

        reply = httpx.get(f"{self.url}/api/v2/alerts", params=filters, timeout=10)
        reply.raise_for_status()
        return reply.json()

    def silence(self, matchers: dict[str, str], minutes: int = 60) -> str:
        """``POST /api/v2/silences`` for alerts whose labels equal ``matchers``; the silence id."""
        import datetime as dt

        import httpx

        now = dt.datetime.now(dt.UTC)
        body = {"matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in matchers.items()],
                "startsAt": now.isoformat(), "endsAt": (now + dt.timedelta(minutes=minutes)).isoformat(),
                "createdBy": "admon tests", "comment": "silenced by a test"}
        reply = httpx.post(f"{self.url}/api/v2/silences", json=body, timeout=10)
        reply.raise_for_status()
        return reply.json()["silenceID"]

    def stop(self) -> None:
        stop_process(self.proc)


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records every JSON body POSTed to it (``received``)."""

    def __init__(self) -> None:
        import http.server
        import json
        import threading

        received: list = []
        self.received = received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append(json.loads(body or b"null"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver():
    """A :class:`WebhookReceiver` for one test."""
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def alertmanager_server(tmp_path):
    """A fresh Alertmanager for one test (alerts and silences do not leak between tests), whose one
    receiver is a :class:`WebhookReceiver` (``server.receiver``)."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        pytest.fail("Alertmanager is not installed; run `make system-deps` (Debian package "
                    "prometheus-alertmanager)")
    receiver = WebhookReceiver()
    root = tmp_path / "alertmanager"
    root.mkdir()
    server = AlertmanagerServer(root, free_port(), binary, receiver.url)
    server.receiver = receiver  # type: ignore[attr-defined]
    try:
        server.start()
        yield server
    finally:
        server.stop()
        receiver.stop()
