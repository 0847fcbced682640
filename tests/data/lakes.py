"""Helpers that write small lakes for the data tests."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd

from admon import InputDataConfig, SourceConfig

DAY0 = 1652140800000  # 2022-05-10T00:00:00Z
MIN = 60_000


def write_docs(root: Path, docs: list, *, day: str = "2022/05/10", name: str = "part-0.json",
               source: str = "collectd/raw/monitoring") -> Path:
    """Write documents (dicts, or raw text lines) to one file of the lake; format by suffix."""
    folder = Path(root) / source / day
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if name.endswith(".parquet"):
        pd.DataFrame(docs).to_parquet(path, index=False)
        return path
    text = "".join((d if isinstance(d, str) else json.dumps(d)) + "\n" for d in docs)
    if name.endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def monit(host: str, topic: str, ts: int, value) -> dict:
    return {"metadata": {"host": host, "topic": topic, "timestamp": ts}, "data": {"value": value}}


def flat(host: str, topic: str, ts: int, value) -> dict:
    return {"timestamp": ts, "host": host, "topic": topic, "value": value}


def one_source(method: str = "avg", interval: int = 300, topic: str = "cpu", group_by=("host",)) -> InputDataConfig:
    select = ["timestamp", "value", *group_by]
    return InputDataConfig(
        source_configs=[SourceConfig("collectd", "raw", "monitoring", select=select,
                                     filter_expression=f"topic == '{topic}'")],
        agg_interval_seconds=interval, agg_method=method, group_by=list(group_by),
    )


def two_sources(method: str = "avg") -> InputDataConfig:
    def sc(topic: str, name: str) -> SourceConfig:
        return SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "value", "host"],
                            filter_expression=f"topic=='{topic}'", rename={"value": name})

    return InputDataConfig(source_configs=[sc("xrootd_raw_gled", "gled_value"), sc("xrootd_raw_alice", "alice_value")],
                           agg_interval_seconds=300, agg_method=method, group_by=["host"])
