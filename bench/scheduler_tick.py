"""Seconds per scheduler tick: N entities x H hosts, 15-minute slide, 60-minute window.

Generates a lake (H hosts, 1 day, one point per minute and topic), registers N
detection entities spread over a few input data configs (several entities read
the same data, as in production; each still gets its own model, scores, results
and documents), then times two ticks of the scheduler with a fixed clock: the
first one-window tick, and the next one 15 minutes later. Embedded engine
(DuckDB), SQLite registry unless ADMON_DATABASE_URL says otherwise, results to a
jsonl sink. Prints one table.

``--detectors A,B`` gives every entity a trained model: for each named detector, N
entities (one model each, trained on the day before the ticks, 2022-05-09) are
registered, and only that detector's entities are enabled while its two ticks are
timed; without it the entities have no model and use the built-in fallback.
``--json`` makes the last line a JSON object ``{"ticks": [{"detector", "tick",
"seconds", "cpu_seconds", "peak_rss_mb", ...}, ...]}``; peak RSS is the process's
VmHWM, reset before each tick (``/proc/self/clear_refs``), so it is that tick's own.

``--schedulers 1,2,4`` measures scale-out: the registry is a throw-away PostgreSQL
cluster (started here on 127.0.0.1 as the tests do, stopped at the end; or the
PostgreSQL database ADMON_DATABASE_URL names), and after the two in-process ticks
each N runs later ticks (12:30, 12:45, ...: one new window per entity, so every N
does the same work) with N scheduler processes sharing it through the run leases.
The processes start, import (what this process imported in its ticks) and connect
first, then all start the tick together; the wall-clock runs until the last one has
finished (every window run and every document delivered). Each N's processes tick
twice (two windows): the first tick, a fresh process's, is reported apart; the
second is the timed one. CPU is the sum over the scheduler processes (not PostgreSQL's),
peak RSS the largest process's. The rows are printed in a second table and in the
JSON object's ``schedulers`` list.

    .venv/bin/python bench/scheduler_tick.py [--entities 1000] [--hosts 100] [--configs 8]
        [--detectors default,robust_zscore] [--schedulers 1,2,4] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import importlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

TOPICS = ["xrootd_raw_gled", "xrootd_raw_alice", "xrootd_raw_cms", "cpu_load"]
METHODS = ["avg", "max"]
FALLBACK = "fallback"  # the detector label of entities without a trained model
WARM_MODULES = "warm-modules.txt"  # in the work folder: what a --schedulers process imports before its tick


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM, so that the next reading is the peak from now on (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pg_bindir() -> Path:
    """Where Debian's PostgreSQL server binaries are (``initdb``, ``pg_ctl``)."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    raise SystemExit("--schedulers needs PostgreSQL and it is not installed (no pg_ctl); run `make system-deps`")


@contextlib.contextmanager
def postgres_cluster() -> Iterator[str]:
    """A throw-away PostgreSQL cluster on 127.0.0.1 and a free port (its SQLAlchemy URL), stopped
    and deleted on exit, also on error. As root it runs as ``postgres``: PostgreSQL refuses root."""
    bindir = pg_bindir()
    root = Path(tempfile.mkdtemp(prefix="admon-bench-pg-"))
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = root / "data"
    started = False
    try:
        subprocess.run([*as_postgres, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                        "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
        options = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200 "
                   "-c shared_buffers=128MB")
        started = True
        subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-o", options,
                        "-l", str(root / "server.log"), "-w", "-t", "60", "start"], check=True, capture_output=True)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    except subprocess.CalledProcessError as exc:
        log = (root / "server.log").read_text()[-2000:] if (root / "server.log").exists() else ""
        raise SystemExit(f"PostgreSQL did not start: {exc.stderr!r} {log}") from exc
    finally:
        if started:
            subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                           capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def scheduler_process(warm_modules: Path) -> None:
    """One scheduler process of ``--schedulers`` (``--scheduler-process``): get ready (imports,
    registry connection) and say ``ready``; then for each ``go <now_ms>`` line on stdin run one
    tick with that fixed clock, wait until no run is running and the outbox is empty (delivering
    what is left), and print the tick's counts, CPU seconds and peak RSS as one JSON line.

    ``warm_modules`` lists the modules the bench process had imported after its own ticks: they
    are imported first (DuckDB, sqlglot, the detectors, ... are imported on first use). What
    imports cannot warm (numba kernels loaded on first call, pools, ...) the parent warms with a
    first, separately reported tick."""
    for name in warm_modules.read_text().split():
        with contextlib.suppress(Exception):  # a module that will not import here is not needed
            importlib.import_module(name)
    from admon.registry import repository as repo
    from admon.runs.runner import Runner
    from admon.runs.scheduler import Scheduler

    clock = {"now": 0}
    runner = Runner()
    scheduler = Scheduler(runner, clock=lambda: clock["now"])
    durable = [sink.url for sink in runner.sinks if sink.durable]
    with runner.factory() as s:  # connect now, not inside the timed tick
        repo.count_pending_outbox(s, durable)
        s.commit()
    print("ready", flush=True)
    for line in sys.stdin:
        command, _, now = line.strip().partition(" ")
        if command != "go":
            return
        clock["now"] = int(now)
        rss_reset = reset_peak_rss()
        c0 = time.process_time()
        report = scheduler.tick()
        delivered = report.delivered
        cpu = time.process_time() - c0
        # the others may still be running windows whose documents nobody has delivered yet;
        # waiting for them is the bench's, not the scheduler's (which would sleep its poll
        # interval), so only the deliveries count as CPU
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:
            with runner.factory() as s:
                running = _running(s)
                pending = repo.count_pending_outbox(s, durable) if durable else 0
                s.commit()
            if not running and not pending:
                break
            if pending:
                c0 = time.process_time()
                delivered += runner.deliver().delivered
                cpu += time.process_time() - c0
            time.sleep(0.05)
        print(json.dumps({"runs": report.executed, "succeeded": sum(o.status == "succeeded" for o in report.outcomes),
                          "delivered": delivered, "cpu_seconds": cpu,
                          "peak_rss_mb": peak_rss_mb() if rss_reset else float("nan")}), flush=True)


def _running(s) -> int:
    """Runs some scheduler holds right now (status ``running``)."""
    from sqlalchemy import func, select

    from admon.registry.models import RUNNING, RunRow

    return int(s.scalar(select(func.count()).select_from(RunRow).where(RunRow.status == RUNNING)) or 0)


def run_schedulers(n: int, ticks: list[int], work: Path) -> list[dict]:
    """The ``ticks`` (clock values), one after the other, each shared by the same ``n`` scheduler
    processes; per tick the wall seconds from the common start until the last process is done,
    and each process's own numbers."""
    procs = []
    out = []
    try:
        for i in range(n):
            err = open(work / f"scheduler-{n}-{i}.log", "w")
            procs.append(subprocess.Popen([sys.executable, __file__, "--scheduler-process", "--workdir", str(work)],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True))
        for proc in procs:
            if proc.stdout.readline().strip() != "ready":  # type: ignore[union-attr]
                raise SystemExit(f"a scheduler process did not start; see {work}/scheduler-{n}-*.log")
        for now in ticks:
            t0 = time.perf_counter()
            for proc in procs:
                proc.stdin.write(f"go {now}\n")  # type: ignore[union-attr]
                proc.stdin.flush()  # type: ignore[union-attr]
            results = []
            for proc in procs:
                line = proc.stdout.readline()  # type: ignore[union-attr]
                if not line:
                    raise SystemExit(f"a scheduler process failed; see {work}/scheduler-{n}-*.log")
                results.append(json.loads(line))
            out.append({"seconds": time.perf_counter() - t0, "processes": results})
        for proc in procs:
            proc.stdin.close()  # type: ignore[union-attr]
            proc.wait(60)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--configs", type=int, default=8, help="distinct input data configs")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--detectors", default="",
                        help="comma-separated detector names: train one model per entity for each, time its ticks")
    parser.add_argument("--json", action="store_true", help="print the ticks as one JSON object on the last line")
    parser.add_argument("--schedulers", default="",
                        help="comma-separated scheduler process counts (e.g. 1,2,4): one later tick each, on PostgreSQL")
    parser.add_argument("--scheduler-process", action="store_true", help=argparse.SUPPRESS)  # one of --schedulers
    args = parser.parse_args()
    if args.scheduler_process:
        scheduler_process(Path(args.workdir) / WARM_MODULES)
        return
    # a kill (SIGTERM) unwinds like Ctrl-C, so that the PostgreSQL cluster is stopped
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    detector_names = [d.strip() for d in args.detectors.split(",") if d.strip()]
    try:
        scheduler_counts = [int(n) for n in args.schedulers.split(",") if n.strip()]
    except ValueError:
        raise SystemExit(f"--schedulers {args.schedulers!r} is not a list of counts; write e.g. --schedulers 1,2,4") \
            from None
    if any(n < 1 for n in scheduler_counts):
        raise SystemExit(f"--schedulers {args.schedulers!r}: every count must be at least 1")

    work = Path(args.workdir or tempfile.mkdtemp(prefix="admon-bench-tick-"))
    url = os.environ.get("ADMON_DATABASE_URL", "")
    if not scheduler_counts or url.startswith("postgresql"):
        bench(args, work, detector_names, scheduler_counts)
        return
    if url:
        raise SystemExit(f"--schedulers runs on PostgreSQL; ADMON_DATABASE_URL is {url!r}: unset it (a throw-away "
                         "cluster is started) or point it at a PostgreSQL database")
    with postgres_cluster() as pg_url:
        os.environ["ADMON_DATABASE_URL"] = pg_url
        bench(args, work, detector_names, scheduler_counts)


def bench(args: argparse.Namespace, work: Path, detector_names: list[str], scheduler_counts: list[int]) -> None:
    """Generate, register, train, then time the ticks and print the tables."""
    os.environ["ADMON_LAKE_ROOT"] = str(work / "lake")
    os.environ.setdefault("ADMON_DATABASE_URL", f"sqlite:///{work / 'admon.db'}")
    os.environ["ADMON_SINKS"] = f"jsonl://{work / 'out'}"
    os.environ["ADMON_MODEL_STORE"] = str(work / "models")

    from admon import DataSource, DetectionEntity, InputDataConfig, Project, SourceConfig
    from admon.data.generate import generate_lake
    from admon.models.training import train
    from admon.registry.db import init_database
    from admon.runs.runner import Runner
    from admon.runs.scheduler import Scheduler
    from admon.timeutil import to_epoch_ms

    t0 = time.perf_counter()
    # with trained models, the lake starts a day earlier: the models are trained on 2022-05-09
    generate_lake(work / "lake", hosts=args.hosts, days=2 if detector_names else 1,
                  start="2022-05-09" if detector_names else "2022-05-10", seed=1, step_seconds=60, topics=TOPICS)
    gen_s = time.perf_counter() - t0

    configs = []
    for i in range(args.configs):
        first, second = TOPICS[i % len(TOPICS)], TOPICS[(i + 1) % len(TOPICS)]
        sources = [SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "value", "host"],
                                filter_expression=f"topic=='{t}'", rename={"value": f"{t}_value"})
                   for t in (first, second)]
        configs.append(InputDataConfig(source_configs=sources, agg_interval_seconds=300,
                                       agg_method=METHODS[(i // len(TOPICS)) % len(METHODS)],
                                       group_by=["host"]))
    t0 = time.perf_counter()
    init_database()  # what `admon db init` does: only it creates a registry
    project = Project.create(title="bench", egroup="admon-dev")
    first_end = to_epoch_ms("2022-05-10T12:00:00Z")
    entities: dict[str, list] = {}
    for detector in detector_names or [FALLBACK]:
        prefix = "" if detector == FALLBACK else f"{detector}-"
        entities[detector] = [
            DetectionEntity.create(project=project, title=f"{prefix}entity-{i:04d}", interval_minutes=60,
                                   sliding_interval_minutes=15, input_data_config=configs[i % len(configs)],
                                   inference_model=f"{prefix}model-{i}", inference_namespace="bench",
                                   monit_label={"admon_entity": f"{prefix}e{i}"}, schedule_from_ms=first_end,
                                   enabled=detector == FALLBACK)
            for i in range(args.entities)]
    register_s = time.perf_counter() - t0

    # one model per entity, trained on the day before (each config's frame is read once)
    train_s: dict[str, float] = {}
    train_start, train_end = to_epoch_ms("2022-05-09"), to_epoch_ms("2022-05-10")
    frames = {i: DataSource(None, c).read_pandas(train_start, train_end) for i, c in enumerate(configs)} \
        if detector_names else {}
    for detector in detector_names:
        t0 = time.perf_counter()
        for i, entity in enumerate(entities[detector]):
            train(configs[i % len(configs)], train_start, train_end, detector, namespace="bench",
                  model=entity.inference_model, frame=frames[i % len(configs)])
        train_s[detector] = time.perf_counter() - t0

    clock = {"now": first_end}
    stages: dict[str, float] = defaultdict(float)

    def on_event(kind, **info):
        pass

    runner = Runner(on_event=on_event)
    scheduler = Scheduler(runner, clock=lambda: clock["now"])
    rows: list[dict] = []
    scheduler_rows: list[dict] = []
    from sqlalchemy import select

    from admon.registry.db import session_scope
    from admon.registry.models import RunRow

    def tick_stages(ids: set[int], now: int) -> int:
        """Sum the stage timings of the tick's runs (of the entities ``ids``) into ``stages``; how
        many of them had a stored model."""
        stages.clear()
        with_model = 0  # runs scored by a stored model, not the built-in fallback fitted on the window
        with session_scope() as s:
            for entity_id, timings, provenance in s.execute(
                    select(RunRow.entity_id, RunRow.timings, RunRow.provenance).where(RunRow.window_end_ms == now)):
                if entity_id in ids:
                    with_model += not (provenance or {}).get("model_id", "builtin:").startswith("builtin:")
                    for key, value in (timings or {}).items():
                        stages[key] += value
        return with_model

    for detector in detector_names or [FALLBACK]:
        if detector_names:  # only this detector's entities take part in its ticks
            for other, members in entities.items():
                for entity in members:
                    if other == detector:
                        entity.enable()
                    else:
                        entity.disable()
        ids = {e.id for e in entities[detector]}
        for label, now in [("tick 1 (12:00)", first_end), ("tick 2 (12:15)", first_end + 15 * 60_000)]:
            clock["now"] = now
            rss_reset = reset_peak_rss()
            t0, c0 = time.perf_counter(), time.process_time()
            report = scheduler.tick()
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            rss_mb = peak_rss_mb() if rss_reset else float("nan")
            with_model = tick_stages(ids, now)
            ok = sum(1 for o in report.outcomes if o.status == "succeeded")
            rows.append({"detector": detector, "tick": label, "runs": report.executed, "succeeded": ok, "with_model": with_model,
                         "delivered": report.delivered, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
                         "peak_rss_mb": round(rss_mb, 1), "read_s": round(stages["read_s"], 2),
                         "score_s": round(stages["score_s"], 2), "write_s": round(stages["write_s"], 2)})
        # each count of scheduler processes gets its own later tick: one new window per entity
        (work / WARM_MODULES).write_text("\n".join(
            name for name in sorted(sys.modules) if not name.startswith(("_", "__main__"))
            and ("._" not in name)))
        for k, n in enumerate(scheduler_counts):
            # the processes' first tick warms them (first calls, pools); the second is timed
            warm_now, now = (first_end + (2 + 2 * k + i) * 15 * 60_000 for i in range(2))
            cold, shared = run_schedulers(n, [warm_now, now], work)
            procs = shared["processes"]
            with_model = tick_stages(ids, now)
            scheduler_rows.append({
                "detector": detector, "schedulers": n, "tick": f"{(now // 60_000) % (24 * 60) // 60:02d}:"
                f"{(now // 60_000) % 60:02d}", "runs": sum(p["runs"] for p in procs),
                "succeeded": sum(p["succeeded"] for p in procs), "with_model": with_model,
                "delivered": sum(p["delivered"] for p in procs), "seconds": round(shared["seconds"], 2),
                "cpu_seconds": round(sum(p["cpu_seconds"] for p in procs), 2),
                "peak_rss_mb": round(max(p["peak_rss_mb"] for p in procs), 1),
                "runs_per_process": [p["runs"] for p in procs],
                "peak_rss_mb_per_process": [round(p["peak_rss_mb"], 1) for p in procs],
                "read_s": round(stages["read_s"], 2), "score_s": round(stages["score_s"], 2),
                "write_s": round(stages["write_s"], 2),
                "first_tick_seconds": round(cold["seconds"], 2),
                "first_tick_cpu_seconds": round(sum(p["cpu_seconds"] for p in cold["processes"]), 2)})

    print(f"\nlake: {args.hosts} hosts x {len(TOPICS)} topics, 1 day, 1-minute points (generated in "
          f"{gen_s:.1f} s); {args.entities} entities over {args.configs} input data configs "
          f"(registered in {register_s:.1f} s); registry {os.environ['ADMON_DATABASE_URL'].split(':')[0]}; "
          f"sink jsonl")
    for detector, seconds in train_s.items():
        print(f"trained {args.entities} `{detector}` models (one per entity, on 2022-05-09) in {seconds:.1f} s")
    print("\n| detector | tick | runs | succeeded | with model | documents delivered | tick s (wall) | CPU s (this process) "
          "| peak RSS (MB) | read s | score s | write s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['detector']} | {r['tick']} | {r['runs']} | {r['succeeded']} | {r['with_model']} | {r['delivered']} | "
              f"{r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['peak_rss_mb']:.0f} | {r['read_s']:.1f} | "
              f"{r['score_s']:.1f} | {r['write_s']:.1f} |")
    print("\nwith model: runs scored by a stored model, not the built-in fallback fitted on the window. "
          "read/score/write: sums of the runs' stage timings (wall); a read or a scoring shared by "
          "entities with the same data and model is counted once.")
    if scheduler_rows:
        print("\nseveral schedulers sharing one tick (one new window per entity), PostgreSQL registry:\n")
        print("| detector | schedulers | tick | runs | runs per process | succeeded | with model | documents delivered "
              "| tick s (wall) | CPU s (sum of processes) | peak RSS (MB, max process) | read s | score s | write s "
              "| first tick s (wall) | first tick CPU s |")
        print("|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in scheduler_rows:
            print(f"| {r['detector']} | {r['schedulers']} | {r['tick']} | {r['runs']} | "
                  f"{'/'.join(str(x) for x in r['runs_per_process'])} | {r['succeeded']} | {r['with_model']} | "
                  f"{r['delivered']} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['peak_rss_mb']:.0f} | "
                  f"{r['read_s']:.1f} | {r['score_s']:.1f} | {r['write_s']:.1f} | {r['first_tick_seconds']:.1f} | "
                  f"{r['first_tick_cpu_seconds']:.1f} |")
        print("\ntick s: the processes' second tick, from its common start until the last process is done (every "
              "window run, every document delivered); first tick: the same processes' tick 15 minutes before, "
              "their first (numba kernels loaded, pools filled, ...). CPU: the scheduler processes' own "
              "(PostgreSQL's not counted). Each process imported first what the bench process imported in its "
              "own ticks, and plans the whole tick (idempotent inserts).")
    if args.json:
        out: dict = {"ticks": rows}
        if scheduler_counts:
            out["schedulers"] = scheduler_rows
        print(json.dumps(out))


if __name__ == "__main__":
    main()
