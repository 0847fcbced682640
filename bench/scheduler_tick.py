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

    .venv/bin/python bench/scheduler_tick.py [--entities 1000] [--hosts 100] [--configs 8]
        [--detectors default,robust_zscore] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

TOPICS = ["xrootd_raw_gled", "xrootd_raw_alice", "xrootd_raw_cms", "cpu_load"]
METHODS = ["avg", "max"]
FALLBACK = "fallback"  # the detector label of entities without a trained model


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--configs", type=int, default=8, help="distinct input data configs")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--detectors", default="",
                        help="comma-separated detector names: train one model per entity for each, time its ticks")
    parser.add_argument("--json", action="store_true", help="print the ticks as one JSON object on the last line")
    args = parser.parse_args()
    detector_names = [d.strip() for d in args.detectors.split(",") if d.strip()]

    work = Path(args.workdir or tempfile.mkdtemp(prefix="admon-bench-tick-"))
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
    rows = []
    from sqlalchemy import select

    from admon.registry.db import session_scope
    from admon.registry.models import RunRow

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
            stages.clear()
            rss_reset = reset_peak_rss()
            t0, c0 = time.perf_counter(), time.process_time()
            report = scheduler.tick()
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            rss_mb = peak_rss_mb() if rss_reset else float("nan")
            with_model = 0  # runs scored by a stored model, not the built-in fallback fitted on the window
            with session_scope() as s:
                for entity_id, timings, provenance in s.execute(
                        select(RunRow.entity_id, RunRow.timings, RunRow.provenance).where(RunRow.window_end_ms == now)):
                    if entity_id in ids:
                        with_model += not (provenance or {}).get("model_id", "builtin:").startswith("builtin:")
                        for key, value in (timings or {}).items():
                            stages[key] += value
            ok = sum(1 for o in report.outcomes if o.status == "succeeded")
            rows.append({"detector": detector, "tick": label, "runs": report.executed, "succeeded": ok, "with_model": with_model,
                         "delivered": report.delivered, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
                         "peak_rss_mb": round(rss_mb, 1), "read_s": round(stages["read_s"], 2),
                         "score_s": round(stages["score_s"], 2), "write_s": round(stages["write_s"], 2)})

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
    if args.json:
        print(json.dumps({"ticks": rows}))


if __name__ == "__main__":
    main()
