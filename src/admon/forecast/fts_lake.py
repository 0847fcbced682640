"""A synthetic lake of FTS transfer-link monitoring, with labelled large-transfer episodes.

Producer ``fts``, documents under ``<root>/fts/raw/transfers/YYYY/MM/DD/part-00000.json``
(JSON lines, flat), one per link ``(source_se, dest_se)`` every ``step_seconds``::

    {"timestamp": 1652140800000, "source_se": "CERN-PROD", "dest_se": "BNL-ATLAS",
     "throughput": 2.1e8, "filesize_avg": 6.1e8, "active_count": 11, "success_rate": 0.981,
     "submitted_count": 3, "connections": 33}

``throughput`` is bytes/s and follows a daily pattern (busiest in the European afternoon,
quieter at weekends) with autocorrelated noise. On top come *episodes*: bursts of large,
long-lasting transfers (45 minutes to 4 hours, 1.5-3.5x the link's usual level, files of
several GB) whose submissions show up in ``submitted_count`` 10-30 minutes before the bytes
flow. Episodes are written to ``<root>/fts/episodes.json``. The same seed writes the same bytes.

>>> import tempfile
>>> s = generate_fts_lake(tempfile.mkdtemp(), links=2, days=1, start="2022-05-10", seed=1, step_seconds=300)
>>> s.documents, len(s.files), s.links
(576, 1, [('CERN-PROD', 'BNL-ATLAS'), ('CERN-PROD', 'FZK-LCG2')])
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from admon.config import InputDataConfig, SourceConfig
from admon.errors import ConfigError
from admon.timeutil import MS_PER_DAY, to_epoch_ms

PRODUCER, TYPE_PREFIX, TYPE = "fts", "raw", "transfers"
FIELDS = (
    "throughput", "filesize_avg", "active_count", "success_rate", "submitted_count", "connections",
)
SITES = ("CERN-PROD", "BNL-ATLAS", "FZK-LCG2", "IN2P3-CC", "RAL-LCG2", "TRIUMF-LCG2", "PIC", "NDGF-T1")
EPISODES_FILE = "episodes.json"


@dataclass
class FtsLakeSummary:
    root: str
    links: list[tuple[str, str]] = field(default_factory=list)
    documents: int = 0
    files: list[str] = field(default_factory=list)
    episodes: int = 0
    episodes_path: str = ""

    def __str__(self) -> str:
        return (
            f"{self.documents:,} documents for {len(self.links)} links in {len(self.files)} files, "
            f"{self.episodes} large-transfer episodes labelled in {self.episodes_path}"
        )


def default_links(count: int) -> list[tuple[str, str]]:
    """The first ``count`` links: CERN to every other site, then the other pairs in order."""
    pairs = [(a, b) for a in SITES for b in SITES if a != b]
    pairs.sort(key=lambda p: (p[0] != "CERN-PROD", SITES.index(p[0]), SITES.index(p[1])))
    if not 1 <= count <= len(pairs):
        raise ConfigError(f"links={count} is out of range; give 1..{len(pairs)} or a list of (source, dest)")
    return pairs[:count]


def _link_series(rng: np.random.Generator, t_ms: np.ndarray, step_ms: int, bursts_per_day: float):
    """Every field of one link on the grid ``t_ms`` and its episodes."""
    n = len(t_ms)
    days = n * step_ms / MS_PER_DAY
    level = rng.uniform(1.0e8, 5.0e8)  # bytes/s on an ordinary afternoon
    hours = (t_ms // 1000 % 86400) / 3600.0
    weekday = ((t_ms // MS_PER_DAY) + 3) % 7  # 1970-01-01 was a Thursday (3)
    daily = 1.0 + 0.45 * np.sin(2 * np.pi * (hours - 8.0) / 24.0) + 0.15 * np.sin(4 * np.pi * (hours - 3.0) / 24.0)
    weekly = np.where(weekday >= 5, 0.7, 1.0)
    # AR(1) noise with a time constant of ~30 minutes, whatever the step.
    phi = float(np.exp(-step_ms / 1_800_000))
    shocks = rng.normal(0.0, 0.12 * np.sqrt(1 - phi**2), n)
    noise = np.empty(n)
    noise[0] = shocks[0]
    for i in range(1, n):
        noise[i] = phi * noise[i - 1] + shocks[i]
    base = level * daily * weekly * np.exp(noise)

    burst = np.zeros(n)
    big_files = np.zeros(n, dtype=bool)
    queued = np.zeros(n)
    episodes = []
    for _ in range(rng.poisson(bursts_per_day * days)):
        start = int(rng.integers(0, n))
        duration_ms = int(rng.uniform(45, 240) * 60_000)
        length = max(2, duration_ms // step_ms)
        height = rng.uniform(1.5, 3.5) * level
        ramp = max(1, 600_000 // step_ms)  # ten minutes up and down
        shape = np.ones(length)
        edge = min(ramp, length // 2)
        shape[:edge] = np.arange(1, edge + 1) / (edge + 1)
        shape[length - edge :] = shape[:edge][::-1]
        stop = min(n, start + length)
        burst[start:stop] += height * shape[: stop - start]
        big_files[start:stop] = True
        lead = max(1, int(rng.uniform(10, 30) * 60_000) // step_ms)
        queued[max(0, start - lead) : start] += rng.uniform(20, 60)
        episodes.append({
            "start_ms": int(t_ms[start]),
            "end_ms": int(t_ms[stop - 1] + step_ms),
            "peak_throughput": round(float(height + level), 1),
            "volume_bytes": round(float(np.sum(height * shape[: stop - start]) * step_ms / 1000), 1),
        })
    throughput = base + burst

    filesize = rng.lognormal(np.log(6.0e8), 0.35, n)
    filesize = np.where(big_files, rng.uniform(5.0e9, 2.0e10, n), filesize)
    per_transfer = np.where(big_files, rng.uniform(6.0e7, 1.2e8, n), rng.uniform(1.5e7, 3.0e7, n))
    active = np.maximum(1, np.round(throughput / per_transfer + rng.normal(0, 1.0, n)))
    streams = np.where(big_files, 4, 3)
    connections = active * streams + rng.integers(0, 3, n)
    success = np.clip(rng.beta(60, 1.5, n) - np.where(big_files, 0.01, 0.0), 0.0, 1.0)
    submitted = rng.poisson(np.maximum(active * 0.2, 0.1) + queued)
    fields = {
        "throughput": np.round(throughput, 1),
        "filesize_avg": np.round(filesize, 1),
        "active_count": active.astype(np.int64),
        "success_rate": np.round(success, 4),
        "submitted_count": submitted.astype(np.int64),
        "connections": connections.astype(np.int64),
    }
    return fields, episodes


def generate_fts_lake(
    root: str | Path,
    links: int | Sequence[tuple[str, str]] = 4,
    days: int = 7,
    start: str | int = "2022-05-10",
    seed: int = 0,
    step_seconds: int = 60,
    bursts_per_day: float = 0.6,
) -> FtsLakeSummary:
    """Write ``days`` days of FTS link documents under ``root``; see the module docstring.

    ``links`` is a count (CERN to other Tier-1s first) or a list of ``(source_se, dest_se)``;
    ``bursts_per_day`` is the mean number of large-transfer episodes per link and day.
    """
    if isinstance(links, int):
        pairs = default_links(links)
    else:
        pairs = [(str(a), str(b)) for a, b in links]
        if not pairs or len(set(pairs)) != len(pairs):
            raise ConfigError(f"links {list(links)!r} must be a non-empty list of distinct (source, dest) pairs")
    if days < 1:
        raise ConfigError(f"days={days} must be at least 1")
    if step_seconds < 1 or 86400 % step_seconds:
        raise ConfigError(f"step_seconds={step_seconds} must divide a day (e.g. 10, 60, 300)")
    if bursts_per_day < 0:
        raise ConfigError(f"bursts_per_day={bursts_per_day} must be >= 0")
    start_ms = to_epoch_ms(start)
    start_ms -= start_ms % MS_PER_DAY
    step_ms = step_seconds * 1000
    root = Path(root)
    rng = np.random.default_rng(seed)
    t_ms = start_ms + np.arange(0, days * MS_PER_DAY, step_ms, dtype=np.int64)
    per_link = []
    labels = []
    for source, dest in pairs:
        fields, episodes = _link_series(rng, t_ms, step_ms, bursts_per_day)
        per_link.append(fields)
        labels += [{"source_se": source, "dest_se": dest, **e} for e in episodes]
    summary = FtsLakeSummary(str(root), links=pairs)
    per_day = MS_PER_DAY // step_ms
    for day_index in range(days):
        day = dt.datetime.fromtimestamp((start_ms + day_index * MS_PER_DAY) / 1000, dt.UTC)
        folder = root / PRODUCER / TYPE_PREFIX / TYPE / f"{day:%Y/%m/%d}"
        folder.mkdir(parents=True, exist_ok=True)
        lines = []
        for i in range(day_index * per_day, (day_index + 1) * per_day):
            for (source, dest), fields in zip(pairs, per_link):
                doc = {"timestamp": int(t_ms[i]), "source_se": source, "dest_se": dest}
                doc.update({name: fields[name][i].item() for name in FIELDS})
                lines.append(json.dumps(doc, separators=(",", ":")))
        path = folder / "part-00000.json"
        path.write_text("\n".join(lines) + "\n")
        summary.files.append(str(path))
        summary.documents += len(lines)
    labels.sort(key=lambda e: (e["start_ms"], e["source_se"], e["dest_se"]))
    episodes_path = root / PRODUCER / EPISODES_FILE
    episodes_path.write_text(json.dumps(labels, indent=1) + "\n")
    summary.episodes = len(labels)
    summary.episodes_path = str(episodes_path)
    return summary


def read_episodes(root: str | Path) -> list[dict]:
    """The labelled episodes ``generate_fts_lake`` wrote under ``root``."""
    path = Path(root) / PRODUCER / EPISODES_FILE
    if not path.is_file():
        raise ConfigError(f"no FTS episodes file at {path}; generate the lake with `admon lake generate --kind fts`")
    return json.loads(path.read_text())


def fts_input_config(interval_seconds: int = 300, agg_method: str = "avg", columns: Sequence[str] = ("throughput",)):
    """The InputDataConfig that reads FTS links aggregated per ``(source_se, dest_se)``.

    >>> fts_input_config(300).output_columns()
    ['source_se', 'dest_se', 'timestamp', 'throughput']
    """
    unknown = sorted(set(columns) - set(FIELDS))
    if unknown:
        raise ConfigError(f"unknown FTS fields {unknown}; choose from {list(FIELDS)}")
    source = SourceConfig(PRODUCER, TYPE_PREFIX, TYPE, select=["timestamp", "source_se", "dest_se", *columns])
    return InputDataConfig(
        source_configs=[source], agg_interval_seconds=interval_seconds, agg_method=agg_method,
        group_by=["source_se", "dest_se"],
    )
