"""Seconds per scheduler tick: N entities x H hosts, 15-minute slide, 60-minute window.

Generates a lake (H hosts, 1 day, one point per minute and topic), registers N
detection entities spread over a few input data configs (several entities read
the same data, as in production; each still gets its own model, scores, results
and documents), then times two ticks of the scheduler with a fixed clock: the
first one-window tick, and the next one 15 minutes later. Embedded engine
(DuckDB), SQLite registry unless ADMON_DATABASE_URL says otherwise, results to a
jsonl sink. Prints one table.

    .venv/bin/python bench/scheduler_tick.py [--entities 1000] [--hosts 100] [--configs 8]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

TOPICS = ["xrootd_raw_gled", "xrootd_raw_alice", "xrootd_raw_cms", "cpu_load"]
METHODS = ["avg", "max"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--configs", type=int, default=8, help="distinct input data configs")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="admon-bench-tick-"))
    os.environ["ADMON_LAKE_ROOT"] = str(work / "lake")
    os.environ.setdefault("ADMON_DATABASE_URL", f"sqlite:///{work / 'admon.db'}")
    os.environ["ADMON_SINKS"] = f"jsonl://{work / 'out'}"
    os.environ["ADMON_MODEL_STORE"] = str(work / "models")

    from admon import DetectionEntity, InputDataConfig, Project, SourceConfig
    from admon.data.generate import generate_lake
    from admon.registry.db import init_database
    from admon.runs.runner import Runner
    from admon.runs.scheduler import Scheduler
    from admon.timeutil import to_epoch_ms

    t0 = time.perf_counter()
    generate_lake(work / "lake", hosts=args.hosts, days=1, start="2022-05-10", seed=1, step_seconds=60,
                  topics=TOPICS)
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
    for i in range(args.entities):
        DetectionEntity.create(project=project, title=f"entity-{i:04d}", interval_minutes=60,
                               sliding_interval_minutes=15, input_data_config=configs[i % len(configs)],
                               inference_model=f"model-{i}", inference_namespace="bench",
                               monit_label={"admon_entity": f"e{i}"}, schedule_from_ms=first_end)
    register_s = time.perf_counter() - t0

    clock = {"now": first_end}
    stages: dict[str, float] = defaultdict(float)

    def on_event(kind, **info):
        pass

    runner = Runner(on_event=on_event)
    scheduler = Scheduler(runner, clock=lambda: clock["now"])
    rows = []
    for label, now in [("tick 1 (12:00)", first_end), ("tick 2 (12:15)", first_end + 15 * 60_000)]:
        clock["now"] = now
        stages.clear()
        t0, c0 = time.perf_counter(), time.process_time()
        report = scheduler.tick()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        from sqlalchemy import select

        from admon.registry.db import session_scope
        from admon.registry.models import RunRow

        with session_scope() as s:
            for timings in s.scalars(select(RunRow.timings).where(RunRow.window_end_ms == now)):
                for key, value in (timings or {}).items():
                    stages[key] += value
        ok = sum(1 for o in report.outcomes if o.status == "succeeded")
        rows.append((label, report.executed, ok, report.delivered, seconds, cpu, stages["read_s"],
                     stages["score_s"], stages["write_s"]))

    print(f"\nlake: {args.hosts} hosts x {len(TOPICS)} topics, 1 day, 1-minute points (generated in "
          f"{gen_s:.1f} s); {args.entities} entities over {args.configs} input data configs "
          f"(registered in {register_s:.1f} s); registry {os.environ['ADMON_DATABASE_URL'].split(':')[0]}; "
          f"sink jsonl\n")
    print("| tick | runs | succeeded | documents delivered | tick s (wall) | CPU s (this process) "
          "| read s | score s | write s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, runs, ok, delivered, seconds, cpu, read_s, score_s, write_s in rows:
        print(f"| {label} | {runs} | {ok} | {delivered} | {seconds:.1f} | {cpu:.1f} | {read_s:.1f} | "
              f"{score_s:.1f} | {write_s:.1f} |")
    print("\nread/score/write: sums of the runs' stage timings (wall); a read or a scoring shared by "
          "entities with the same data and model is counted once.")


if __name__ == "__main__":
    main()
