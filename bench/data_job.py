"""Benchmark: the design's two-source job with admon vs a hand-written DuckDB query.

Builds (or reuses) a 10 M-document lake in JSON lines and in Parquet, then runs, in one
process each (so that peak RSS is the run's own), admon's ``DataSource.read`` and a
hand-written DuckDB SQL query computing the same frame on the same files, and prints
one table: seconds (median of --repeat runs), rows/s, peak RSS, ratio to the query, and the
same for CPU seconds (all threads of the run): on a shared machine the CPU ratio is the steadier one.
Imports are not timed, nor the modules that admon's read imports on first use (LAZY_IMPORTS), nor
what each side declares (admon's config, the hand-written SQL text): the clock covers opening a
database, reading and the frame.

    .venv/bin/python bench/data_job.py [--documents 10000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

CACHE = Path(__file__).parent / ".cache"
START, END = "2022-05-10", "2022-05-12"  # the lake's two days
TOPICS = 5
POINTS_PER_DAY = 8640  # one point every 10 s


def build_lake(fmt: str, documents: int) -> tuple[Path, int]:
    hosts = max(1, round(documents / (2 * TOPICS * POINTS_PER_DAY)))
    root = CACHE / f"lake-{fmt}-{hosts}h"
    marker = root / "summary.json"
    if not marker.exists():
        from admon.data.generate import generate_lake

        started = time.perf_counter()
        summary = generate_lake(root, hosts=hosts, days=2, start=START, seed=42, fmt=fmt)
        marker.write_text(json.dumps({"documents": summary.documents}))
        print(f"built {fmt} lake: {summary.documents:,} documents in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return root, json.loads(marker.read_text())["documents"]


HAND_WRITTEN = """
WITH gled AS (
  SELECT host, ("timestamp" // 300000) * 300000 AS "timestamp", avg(value) AS gled_value
  FROM ({rows}) WHERE topic = 'xrootd_raw_gled' GROUP BY ALL),
alice AS (
  SELECT host, ("timestamp" // 300000) * 300000 AS "timestamp", avg(value) AS alice_value
  FROM ({rows}) WHERE topic = 'xrootd_raw_alice' GROUP BY ALL)
SELECT host, "timestamp", gled_value, alice_value FROM gled FULL OUTER JOIN alice USING (host, "timestamp")
ORDER BY host, "timestamp"
"""
# The rows of the window; {distinct} = "DISTINCT" drops exact repeats, as admon does.
ROWS = """SELECT {distinct} metadata.host AS host, metadata.topic AS topic, metadata.timestamp AS "timestamp",
  data.value AS value FROM {scan} WHERE metadata.timestamp >= {start} AND metadata.timestamp < {end}"""
LAZY_IMPORTS = ("sqlglot.dialects.duckdb", "pyarrow.parquet", "pyarrow.fs", "pyarrow.pandas_compat",
                "fsspec.implementations.local")
RUNNERS = {  # label -> key; the first is the reference of the ratio
    "DuckDB SQL by hand": "hand",
    "by hand + DISTINCT": "hand-distinct",  # drops exact repeats, as admon does
    "admon": "admon",
}


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Not ru_maxrss: Linux carries that across exec,
    so a child would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_once(runner: str, fmt: str, root: str) -> dict:
    """One timed run, in this (fresh) process; imports are not timed."""
    import duckdb

    from admon import DataSource
    from admon.demo import design_config
    from admon.timeutil import to_epoch_ms

    start, end = to_epoch_ms(START), to_epoch_ms(END)
    # What each side declares is made before the clock starts: admon's config (validated once when
    # an entity is registered, not at every read) and the hand-written SQL text.
    config = design_config()
    glob = f"{root}/collectd/raw/monitoring/*/*/*/*.{'parquet' if fmt == 'parquet' else 'json'}"
    scan = (f"read_parquet('{glob}')" if fmt == "parquet" else
            f"read_json('{glob}', format='newline_delimited', columns={{'metadata': "
            f"'STRUCT(host VARCHAR, topic VARCHAR, \"timestamp\" BIGINT)', 'data': 'STRUCT(value DOUBLE)'}})")
    rows = ROWS.format(distinct="DISTINCT" if runner == "hand-distinct" else "", scan=scan, start=start, end=end)
    hand_sql = HAND_WRITTEN.format(rows=rows)
    if runner == "admon":
        # what a read imports on first use (the filter's SQL dialect, the Parquet footer reader,
        # fsspec's local files): once per process, like the imports above, so not timed either
        import importlib

        for module in LAZY_IMPORTS:
            importlib.import_module(module)
    started, cpu_started = time.perf_counter(), time.process_time()
    if runner == "admon":
        frame = DataSource(None, config, lake_root=root).read(start, end)
    else:
        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        frame = con.execute(hand_sql).df()
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    rss_mb = peak_rss_mb()
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "rss_mb": rss_mb, "rows": len(frame), "checksum": float(frame["gled_value"].sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--once", nargs=3, metavar=("RUNNER", "FORMAT", "ROOT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.once:
        print(json.dumps(run_once(*args.once)))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"two-source job, {args.documents / 1e6:.0f} M documents "
                        f"({platform.node()}, {__import__('os').cpu_count()} cores), median of {args.repeat}")
    for column in ("format", "runner", "seconds", "docs/s", "peak RSS (MB)", "ratio", "CPU s", "CPU ratio",
                   "same frame"):
        table.add_column(column, justify="left" if column in ("format", "runner") else "right")
    for fmt in ("json", "parquet"):
        root, documents = build_lake(fmt, args.documents)
        results = {}
        for runner, key in RUNNERS.items():
            runs = [json.loads(subprocess.run([sys.executable, __file__, "--once", key, fmt, str(root)],
                                              check=True, capture_output=True, text=True).stdout)
                    for _ in range(args.repeat)]
            results[runner] = {"seconds": statistics.median(r["seconds"] for r in runs),
                               "cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
                               "rss_mb": max(r["rss_mb"] for r in runs), "rows": runs[0]["rows"],
                               "checksum": runs[0]["checksum"]}
        reference = results["DuckDB SQL by hand"]
        for runner, r in results.items():
            same = r["rows"] == reference["rows"] and abs(r["checksum"] - reference["checksum"]) <= 1e-6 * abs(reference["checksum"])
            table.add_row(fmt, runner, f"{r['seconds']:.2f}", f"{documents / r['seconds']:,.0f}", f"{r['rss_mb']:.0f}",
                          f"{r['seconds'] / reference['seconds']:.2f}×", f"{r['cpu_seconds']:.2f}",
                          f"{r['cpu_seconds'] / reference['cpu_seconds']:.2f}×", "yes" if same else "NO")
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
