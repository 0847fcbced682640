"""A small pure-Python reference of the data job, for property tests: obviously correct, slow."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

from admon.config import TIMESTAMP, InputDataConfig


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def aggregate(method: str, rows: list[tuple[int, float]]) -> float | None:
    values = [v for _, v in rows]
    if method == "avg":
        return sum(values) / len(values)
    if method == "sum":
        return math.fsum(values)
    if method in ("min", "max"):
        return min(values) if method == "min" else max(values)
    if method == "count":
        return float(len(values))
    if method in ("median", "p50"):
        return _quantile(values, 0.5)
    if method == "stddev":
        return statistics.stdev(values) if len(values) > 1 else None
    if method == "first":
        return min(rows)[1]
    if method == "last":
        return max(rows)[1]
    return _quantile(values, int(method[1:]) / 100)


def flatten(doc: dict) -> dict:
    out = {k: v for k, v in doc.items() if k not in ("data", "metadata")}
    out.update(doc.get("metadata") or {})
    out.update(doc.get("data") or {})
    return out


def run(docs: list[dict], config: InputDataConfig, start: int, end: int, topics: list[str | None]) -> dict:
    """{(groups…, bucket): {value column: value}} for flat/MONIT docs; ``topics`` = each source's filter."""
    interval = config.agg_interval_ms
    result: dict[tuple, dict] = defaultdict(dict)
    for source, topic in zip(config.source_configs, topics):
        keys = [c for c in source.select if source.output_name(c) in config.group_by]
        values = [c for c in source.select if c != TIMESTAMP and c not in keys]
        seen = set()
        buckets: dict[tuple, list[tuple]] = defaultdict(list)
        for doc in map(flatten, docs):
            ts = doc.get(TIMESTAMP)
            if not isinstance(ts, int) or not start <= ts < end or (topic is not None and doc.get("topic") != topic):
                continue
            if any(not isinstance(doc.get(k), str) for k in keys):
                continue
            # JSON true/false count as 1/0, as the engines read them into a numeric column.
            vals = [float(doc[v]) if isinstance(doc.get(v), bool) else doc.get(v) for v in values]
            if any(not isinstance(v, (int, float)) or not math.isfinite(v) for v in vals):
                continue
            identity = (tuple(doc[k] for k in keys), ts, tuple(vals))
            if identity in seen:
                continue
            seen.add(identity)
            buckets[(*identity[0], ts - ts % interval)].append((ts, vals))
        for key, rows in buckets.items():
            for i, v in enumerate(values):
                result[key][source.output_name(v)] = aggregate(config.agg_method, [(t, vals[i]) for t, vals in rows])
    return dict(result)
