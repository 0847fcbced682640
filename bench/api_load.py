"""Load on the REST API: concurrent reads of one entity's results against a real uvicorn.

Starts ``admon serve --no-scheduler`` on 127.0.0.1 (a separate process, as in
production) over a fresh SQLite registry seeded with one day of results for
``--hosts`` hosts, then:

* open loop: requests are *scheduled* at a fixed rate (``--rates``) for
  ``--seconds`` each; latency is measured from the scheduled instant, so a slow
  server cannot hide its queueing (no coordinated omission);
* closed loop: ``--concurrency`` clients back to back, for the peak throughput.

Each row also gives the CPU time the server (all its processes) and this load
generator spent per request, so a saturated generator or a busy machine shows up,
and the load average before and after the run.

Each request is ``GET /api/entities/{id}/results?start&end&group=host=<h>`` with a
bearer token (one host-day: 288 scored buckets as JSON), hosts in rotation.
Prints one table. Goal: p99 <= 100 ms at 200 requests/s on 2 cores.

    .venv/bin/python bench/api_load.py [--rates 100,200,300] [--seconds 15]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

DAY0 = 1652140800000
STEP = 300_000


def seed(database_url: str, hosts: int) -> tuple[int, str]:
    from admon.config import InputDataConfig, SourceConfig
    from admon.registry import repository as registry
    from admon.registry.db import init_database, session_scope
    from admon.registry.models import ResultRow, RunRow
    from admon.registry.schemas import EntityCreate, ProjectCreate

    init_database(database_url)  # what `admon db init` does: only it creates a registry
    idc = InputDataConfig(source_configs=[SourceConfig("collectd", "raw", "monitoring",
                                                       select=["timestamp", "value", "host"])],
                          agg_interval_seconds=300, group_by=["host"])
    with session_scope(database_url) as s:
        user = registry.create_user(s, "bench")
        registry.add_member(s, user.id, "ops")
        token = registry.create_api_token(s, user.id, "bench")[1]
        project = registry.create_project(s, ProjectCreate(title="bench", egroup="ops", is_private=True))
        entity = registry.create_entity(s, EntityCreate(
            project_id=project.id, title="bench", interval_minutes=60, sliding_interval_minutes=15,
            input_data_config=idc, inference_model="m", inference_namespace="ns"))
        # 96 runs of a 60-min window sliding by 15 min: every bucket is scored by 4 windows.
        for w in range(96):
            end = DAY0 + (w + 1) * 15 * 60_000
            run = RunRow(entity_id=entity.id, window_start_ms=end - 3_600_000, window_end_ms=end,
                         status="succeeded", attempts=1, next_attempt_ms=0, trigger="scheduler",
                         created_ms=end, started_ms=end, finished_ms=end + 1000, timings={"read": 0.5})
            s.add(run)
            s.flush()
            rows = []
            for h in range(hosts):
                for ts in range(max(DAY0, end - 3_600_000), end, STEP):
                    doc_id = hashlib.sha256(f"{end}/{h}/{ts}".encode()).hexdigest()[:40]
                    rows.append(ResultRow(id=doc_id, run_id=run.id, entity_id=entity.id, window_end_ms=end,
                                          group_key={"host": f"host-{h:02d}"}, timestamp_ms=ts,
                                          anomaly_score=1.0, is_anomaly=False, threshold=5.0,
                                          document={"timestamp": ts, "anomaly_score": 1.0}))
            s.add_all(rows)
        entity_id = entity.id
    return entity_id, token


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(env: dict, port: int, log: Path, cache: int, workers: int) -> subprocess.Popen:
    admon = Path(sys.executable).with_name("admon")
    # The server's output goes to a file: an unread pipe would fill up and stall the server.
    proc = subprocess.Popen([str(admon), "serve", "--no-scheduler", "--port", str(port), "--log-level", "warning",
                             "--results-cache", str(cache), "--workers", str(workers)],
                            env=env, stdout=subprocess.DEVNULL, stderr=open(log, "ab"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"server did not start: {log.read_text()[-2000:]}")


class Client:
    def __init__(self, port: int, paths: list[str], token: str):
        self.port, self.paths, self.headers = port, paths, {"Authorization": f"Bearer {token}"}
        self.local = threading.local()
        self.counter = 0
        self.lock = threading.Lock()

    def get(self) -> bool:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        with self.lock:
            self.counter += 1
            path = self.paths[self.counter % len(self.paths)]
        try:
            conn.request("GET", path, headers=self.headers)
            response = conn.getresponse()
            body = response.read()
            return response.status == 200 and body.startswith(b"[")
        except OSError:
            self.local.conn = None
            return False


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid`` and its children (the uvicorn workers), Linux only."""
    total = 0.0
    for p in [pid, *children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def measured(run, server_pid: int) -> dict:
    """``run()``'s row plus the CPU the server and this load generator spent per request."""
    server0, client0 = cpu_seconds(server_pid), time.process_time()
    row = run()
    n = max(1, len(row["lat"]))
    return row | {"server_cpu": (cpu_seconds(server_pid) - server0) / n,
                  "client_cpu": (time.process_time() - client0) / n}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def open_loop(client: Client, rate: float, seconds: float, threads: int = 64) -> dict:
    jobs: queue.Queue = queue.Queue()
    latencies, errors = [], [0]
    lock = threading.Lock()

    def worker():
        while True:
            due = jobs.get()
            if due is None:
                return
            now = time.perf_counter()
            if due > now:
                time.sleep(due - now)
            ok = client.get()
            done = time.perf_counter()
            with lock:
                latencies.append(done - due)
                errors[0] += 0 if ok else 1

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    start = time.perf_counter() + 0.2
    n = int(rate * seconds)
    for i in range(n):
        jobs.put(start + i / rate)
    for _ in pool:
        jobs.put(None)
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    return {"mode": f"open loop {rate:.0f}/s", "requests": n, "rps": n / elapsed, "lat": latencies,
            "errors": errors[0]}


def closed_loop(client: Client, concurrency: int, seconds: float) -> dict:
    latencies, errors = [], [0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker():
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            ok = client.get()
            with lock:
                latencies.append(time.perf_counter() - t0)
                errors[0] += 0 if ok else 1

    t_start = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return {"mode": f"closed loop x{concurrency}", "requests": len(latencies),
            "rps": len(latencies) / (time.perf_counter() - t_start), "lat": latencies, "errors": errors[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="100,200,300", help="open-loop request rates per second")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--uncached-rates", default="50", help="open-loop rates with the cache off")
    parser.add_argument("--seconds", type=float, default=15.0, help="duration of each rate")
    parser.add_argument("--hosts", type=int, default=20, help="hosts (groups) with results")
    parser.add_argument("--concurrency", type=int, default=16, help="clients of the closed-loop run")
    args = parser.parse_args()

    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    home = Path(tempfile.mkdtemp(prefix="admon-api-load-"))
    url = f"sqlite:///{home / 'admon.db'}"
    entity_id, token = seed(url, args.hosts)
    env = {**os.environ, "ADMON_DATABASE_URL": url, "ADMON_LAKE_ROOT": str(home / "lake"),
           "ADMON_MODEL_STORE": str(home / "models"), "ADMON_SINKS": ""}
    paths = [f"/api/entities/{entity_id}/results?start={DAY0}&end={DAY0 + 86_400_000}&group=host=host-{h:02d}"
             for h in range(args.hosts)]
    rows = []
    for cache, rates in ((512, args.rates), (0, args.uncached_rates)):
        port = free_port()
        server = start_server(env, port, home / "server.log", cache, args.workers)
        client = Client(port, paths, token)
        try:
            for _ in range(50):  # warm up connections and caches
                client.get()
            for r in rates.split(","):
                rows.append(measured(partial(open_loop, client, float(r), args.seconds), server.pid)
                            | {"cache": cache})
            rows.append(measured(partial(closed_loop, client, 1, args.seconds / 2), server.pid)  # service time
                        | {"cache": cache})
            rows.append(measured(partial(closed_loop, client, args.concurrency, args.seconds), server.pid)
                        | {"cache": cache})
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()

    print(f"\nGET /api/entities/{{id}}/results, one host-day (288 buckets, newest of 4 windows each), "
          f"{args.hosts} hosts, SQLite, token auth, {args.workers} uvicorn worker(s)\n")
    print(f"load average before: {load_before}; after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print("| results cache | load | requests | achieved req/s | p50 ms | p90 ms | p99 ms | max ms | errors "
          "| server CPU ms/req | generator CPU ms/req |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        lat = [x * 1000 for x in r["lat"]]
        print(f"| {'on' if r['cache'] else 'off'} | {r['mode']} | {r['requests']} | {r['rps']:.0f} | {percentile(lat, 50):.1f} | "
              f"{percentile(lat, 90):.1f} | {percentile(lat, 99):.1f} | {max(lat):.1f} | {r['errors']} | "
              f"{r['server_cpu'] * 1000:.2f} | {r['client_cpu'] * 1000:.2f} |")


if __name__ == "__main__":
    main()
