"""Benchmark: the design's two-source job on PySpark local[2], next to bench/data_job.py's runners.

Same lake (``build_lake`` of bench/data_job.py, reused) and the same job. Prints the
table shape of bench/data_job.py with a Spark row: the hand-written DuckDB query (the
ratio's reference), admon on DuckDB, and admon on Spark ``local[2]``. Every runner runs
in its own process; for Spark the JVM start-up (SparkSession creation) is timed apart
from the job, the first (cold) job is reported apart from the median of the warm ones,
and peak RSS is the Python driver's plus the JVM's.

    .venv/bin/python bench/data_job_spark.py [--documents 2000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from data_job import END, START, build_lake, peak_rss_mb  # noqa: E402 - the lead's lake and timing helpers

SPARK_CONF = {
    "spark.ui.enabled": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "4",  # the aggregates are small: a few tasks, not the default 200
    "spark.driver.memory": "4g",
    "spark.ui.showConsoleProgress": "false",
}


def _jvm_peak_rss_mb(spark) -> float:
    proc = getattr(spark.sparkContext._gateway, "proc", None)
    if proc is None:
        return float("nan")
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_spark(root: str, repeat: int) -> dict:
    """Start a SparkSession (timed), then run the job ``repeat`` times in it."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    from admon import DataSource
    from admon.demo import design_config
    from admon.timeutil import to_epoch_ms

    started = time.perf_counter()
    builder = SparkSession.builder.master("local[2]").appName("admon-bench")
    for key, value in SPARK_CONF.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    jvm_start = time.perf_counter() - started
    start, end = to_epoch_ms(START), to_epoch_ms(END)
    seconds, frame = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        frame = DataSource(spark, design_config(), lake_root=root).read_pandas(start, end)
        seconds.append(time.perf_counter() - started)
    result = {"jvm_start": jvm_start, "cold": seconds[0], "seconds": statistics.median(seconds[1:] or seconds),
              "rss_mb": peak_rss_mb() + _jvm_peak_rss_mb(spark), "rows": len(frame),
              "checksum": float(frame["gled_value"].sum())}
    spark.stop()
    return result


def run_reference(key: str, fmt: str, root: Path, repeat: int) -> dict:
    runs = [json.loads(subprocess.run([sys.executable, str(HERE / "data_job.py"), "--once", key, fmt, str(root)],
                                      check=True, capture_output=True, text=True).stdout) for _ in range(repeat)]
    return {"seconds": statistics.median(r["seconds"] for r in runs), "rss_mb": max(r["rss_mb"] for r in runs),
            "rows": runs[0]["rows"], "checksum": runs[0]["checksum"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--formats", default="json,parquet")
    parser.add_argument("--once-spark", nargs=2, metavar=("ROOT", "REPEAT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.once_spark:
        print(json.dumps(run_spark(args.once_spark[0], int(args.once_spark[1]))))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"two-source job, {args.documents / 1e6:g} M documents ({platform.node()}, "
                        f"{os.cpu_count()} cores); DuckDB: median of {args.repeat} runs; Spark: "
                        f"one session, cold first job, median of the {max(args.repeat - 1, 1)} warm ones")
    for column in ("format", "runner", "seconds", "docs/s", "peak RSS (MB)", "ratio", "same frame"):
        table.add_column(column, justify="left" if column in ("format", "runner") else "right")
    notes = []
    for fmt in args.formats.split(","):
        root, documents = build_lake(fmt, args.documents)
        results = {"DuckDB SQL by hand": run_reference("hand", fmt, root, args.repeat),
                   "admon (DuckDB)": run_reference("admon", fmt, root, args.repeat)}
        spark = json.loads(subprocess.run([sys.executable, __file__, "--once-spark", str(root), str(args.repeat)],
                                          check=True, capture_output=True, text=True).stdout)
        results["admon (Spark local[2], warm)"] = spark
        results["admon (Spark local[2], cold)"] = {**spark, "seconds": spark["cold"]}
        notes.append(f"{fmt}: JVM start-up (SparkSession creation) {spark['jvm_start']:.1f} s, not in the job times")
        reference = results["DuckDB SQL by hand"]
        for runner, r in results.items():
            same = r["rows"] == reference["rows"] and abs(r["checksum"] - reference["checksum"]) <= 1e-6 * abs(reference["checksum"])
            table.add_row(fmt, runner, f"{r['seconds']:.2f}", f"{documents / r['seconds']:,.0f}", f"{r['rss_mb']:.0f}",
                          f"{r['seconds'] / reference['seconds']:.2f}×", "yes" if same else "NO")
    Console(width=160).print(table)
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
