"""A synthetic MONIT lake of XRootD-like traffic, with labelled anomalies.

``collectd/raw/monitoring`` documents, one per host and topic every ``step_seconds``:
daily seasonality, noise, and injected anomalies (spike, level shift, drop to zero,
stuck value, gap) whose windows go to ``<root>/labels.json`` as
``{"<host>/<topic>": [[start_ms, end_ms], ...]}``. The same seed writes the same bytes.

>>> import tempfile
>>> summary = generate_lake(tempfile.mkdtemp(), hosts=2, days=1, start="2022-05-10", seed=1, step_seconds=600)
>>> summary.documents, len(summary.files)
(1434, 1)
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from admon.data.engines.duckdb import quiet_connection
from admon.errors import ConfigError
from admon.timeutil import MS_PER_DAY, to_epoch_ms

PRODUCER, TYPE_PREFIX, TYPE = "collectd", "raw", "monitoring"
# topic -> (typical level, daily amplitude as a fraction of the level, noise fraction)
TOPICS: dict[str, tuple[float, float, float]] = {
    "xrootd_raw_gled": (1.2e6, 0.35, 0.05),
    "xrootd_raw_alice": (2.0e4, 0.25, 0.08),
    "xrootd_raw_cms": (5.0e5, 0.30, 0.06),
    "cpu_load": (4.0, 0.40, 0.10),
    "mem_used_fraction": (0.6, 0.05, 0.02),
}
ANOMALY_KINDS = ("spike", "level_shift", "drop_to_zero", "stuck", "gap")
HOSTS_PER_FILE = 50
Format = Literal["json", "json.gz", "parquet"]


@dataclass
class LakeSummary:
    root: str
    documents: int = 0
    files: list[str] = field(default_factory=list)
    anomalies: int = 0
    labels_path: str = ""


def host_names(hosts: int) -> list[str]:
    return [f"monit-xrootd-{i:03d}" for i in range(hosts)]


def _series(rng: np.random.Generator, t_ms: np.ndarray, topic: str, host_factor: float) -> np.ndarray:
    level, amplitude, noise = TOPICS[topic]
    hours = (t_ms // 1000 % 86400) / 3600.0
    phase = rng.uniform(0, 3)
    daily = 1 + amplitude * np.sin(2 * np.pi * (hours - 8 - phase) / 24)
    base = level * host_factor * daily
    return base * (1 + noise * rng.standard_normal(len(t_ms)))


def _inject(rng: np.random.Generator, t_ms: np.ndarray, values: np.ndarray, step_ms: int,
            keep: np.ndarray) -> list[list[int]]:
    """Inject at most one anomaly into a host-topic-day; return its label window(s)."""
    if rng.random() > 0.35:
        return []
    kind = ANOMALY_KINDS[rng.integers(len(ANOMALY_KINDS))]
    n = len(t_ms)
    length = {"spike": 3, "level_shift": n // 12, "drop_to_zero": n // 48, "stuck": n // 24, "gap": n // 48}[kind]
    length = max(1, min(length, n // 4))
    start = int(rng.integers(n // 8, n - length - 1))
    end = start + length
    scale = np.nanmedian(values)
    if kind == "spike":
        values[start:end] += scale * rng.uniform(3, 6)
    elif kind == "level_shift":
        values[start:end] *= rng.choice([0.4, 1.8])
    elif kind == "drop_to_zero":
        values[start:end] = 0.0
    elif kind == "stuck":
        values[start:end] = values[start]
    else:  # gap: the collector stopped sending
        keep[start:end] = False
    return [[int(t_ms[start]), int(t_ms[end - 1] + step_ms)]]


def generate_lake(root: str | Path, *, hosts: int = 10, days: int = 1, start: str | int = "2022-05-10",
                  seed: int = 0, step_seconds: int = 10, fmt: Format = "json",
                  topics: list[str] | None = None) -> LakeSummary:
    """Write the lake under ``root`` and return what was written."""
    if hosts < 1 or days < 1 or step_seconds < 1:
        raise ConfigError(f"hosts ({hosts}), days ({days}) and step_seconds ({step_seconds}) must be >= 1")
    if fmt not in ("json", "json.gz", "parquet"):
        raise ConfigError(f"format {fmt!r} is not supported; use json, json.gz or parquet")
    topics = list(topics or TOPICS)
    unknown = sorted(set(topics) - set(TOPICS))
    if unknown:
        raise ConfigError(f"unknown topics {unknown}; choose from {sorted(TOPICS)}")
    start_ms = to_epoch_ms(start)
    start_ms -= start_ms % MS_PER_DAY
    step_ms = step_seconds * 1000
    root = Path(root)
    names = host_names(hosts)
    rng = np.random.default_rng(seed)
    host_factors = rng.uniform(0.5, 1.5, size=hosts)
    labels: dict[str, list[list[int]]] = {}
    summary = LakeSummary(str(root))
    con = quiet_connection()
    con.execute("SET threads TO 1")  # one writer thread: the same bytes for the same seed
    for day_index in range(days):
        day_ms = start_ms + day_index * MS_PER_DAY
        day = dt.datetime.fromtimestamp(day_ms / 1000, dt.UTC)
        folder = root / PRODUCER / TYPE_PREFIX / TYPE / f"{day:%Y/%m/%d}"
        folder.mkdir(parents=True, exist_ok=True)
        t_day = day_ms + np.arange(0, MS_PER_DAY, step_ms, dtype=np.int64)
        for part, first in enumerate(range(0, hosts, HOSTS_PER_FILE)):
            chunks = []
            for h in range(first, min(first + HOSTS_PER_FILE, hosts)):
                for topic in topics:
                    values = _series(rng, t_day, topic, host_factors[h])
                    keep = np.ones(len(t_day), dtype=bool)
                    windows = _inject(rng, t_day, values, step_ms, keep)
                    if windows:
                        labels.setdefault(f"{names[h]}/{topic}", []).extend(windows)
                        summary.anomalies += 1
                    chunks.append(pd.DataFrame({
                        "timestamp": t_day[keep], "host": names[h], "topic": topic,
                        "value": np.round(values[keep], 4),
                    }))
            frame = pd.concat(chunks, ignore_index=True).sort_values(["timestamp", "host", "topic"], kind="stable")
            summary.documents += len(frame)
            con.register("part", frame)
            select = ("SELECT {'host': host, 'topic': topic, 'timestamp': timestamp} AS metadata, "
                      "{'value': value} AS data FROM part")
            suffix = {"json": "json", "json.gz": "json.gz", "parquet": "parquet"}[fmt]
            path = folder / f"part-{part:05d}.{suffix}"
            options = {"json": "FORMAT json", "json.gz": "FORMAT json, COMPRESSION gzip",
                       "parquet": "FORMAT parquet"}[fmt]
            con.execute(f"COPY ({select}) TO '{path}' ({options})")
            con.unregister("part")
            summary.files.append(str(path))
    labels_path = root / "labels.json"
    labels_path.write_text(json.dumps(dict(sorted(labels.items())), indent=1, sort_keys=True) + "\n")
    summary.labels_path = str(labels_path)
    return summary
