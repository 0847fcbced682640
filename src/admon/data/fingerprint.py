"""Fingerprints of what a window read, to find late data (:mod:`admon.runs.late`).

Two levels, cheapest first:

- :func:`files_fingerprint` - of the lake files a window's read lists: their paths, sizes and
  modification times, never their content (a ``stat`` per file). ``None`` when the input config
  has a query source (Prometheus, InfluxDB): there are no files to look at, only samples.
- :func:`buckets_fingerprint` - of the window's aggregated frame, bucket by bucket: one short
  hash per bucket start over every group's values. Equal hashes, equal input to the detector.

A lake day folder holds a whole day, so a late file changes the files fingerprint of every
window of that day; the buckets fingerprint then tells which windows' data actually changed.

>>> import pandas as pd
>>> frame = pd.DataFrame({"host": ["a", "a"], "timestamp": [0, 60_000], "cpu": [1.0, 2.0]})
>>> before = buckets_fingerprint(frame, 0)
>>> frame.loc[1, "cpu"] = 2.5
>>> changed_buckets(before, buckets_fingerprint(frame, 0))
[60000]
>>> frame.loc[1, "cpu"] = 2.5 * (1 + 1e-15)  # a summation order's last bits: not a change
>>> changed_buckets(buckets_fingerprint(frame.assign(cpu=[1.0, 2.5]), 0), buckets_fingerprint(frame, 0))
[]
"""

from __future__ import annotations

import hashlib
import os

import fsspec
import numpy as np
import pandas as pd

from admon.config import TIMESTAMP, InputDataConfig, SourceConfig
from admon.data.lake import list_files

#: Hex digits kept per bucket: enough that two different buckets collide once in 2**64.
BUCKET_HASH_HEX = 16
#: Mantissa bits of a value that count (about 9 significant digits): differences below that
#: are an engine's summation order, not data.
SIGNIFICANT_BITS = 30


def files_fingerprint(config: InputDataConfig, lake_root: str, start_ms: int, end_ms: int) -> str | None:
    """sha256 of ``(source, path, size, mtime)`` of every lake file a read of ``[start_ms, end_ms)``
    lists (sorted), or None if a source of ``config`` is not a lake source."""
    if not all(isinstance(source, SourceConfig) for source in config.source_configs):
        return None
    digest = hashlib.sha256()
    fs, _ = fsspec.core.url_to_fs(lake_root)
    for index, source in enumerate(config.source_configs):
        assert isinstance(source, SourceConfig)
        for lake_file in list_files(lake_root, source.lake_path(), start_ms, end_ms).files:
            size, mtime = _stat(fs, lake_file.path)
            digest.update(f"{index}\0{lake_file.path}\0{size}\0{mtime}\n".encode())
    return digest.hexdigest()


def _stat(fs: fsspec.AbstractFileSystem, path: str) -> tuple[int | None, str | None]:
    if "://" not in path:  # local: one stat, nanosecond mtime
        stat = os.stat(path)
        return stat.st_size, str(stat.st_mtime_ns)
    info = fs.info(path)
    mtime = info.get("mtime") or info.get("LastModified") or info.get("last_modified")
    return info.get("size"), str(mtime) if mtime is not None else None


def buckets_fingerprint(frame: pd.DataFrame, window_start_ms: int) -> dict[str, str]:
    """``{bucket start (ms, as text): hash}`` of the rows of ``frame`` (an aggregated read) at or
    after ``window_start_ms``: every group's values of that bucket, in a fixed order."""
    if frame.empty or TIMESTAMP not in frame.columns:
        return {}
    rows = frame[frame[TIMESTAMP] >= window_start_ms]
    columns = sorted(rows.columns)
    rows = rows[columns].sort_values(columns, kind="stable", na_position="first").reset_index(drop=True)
    rows = rows.apply(_significant) if len(rows) else rows
    hashes = pd.util.hash_pandas_object(rows, index=False).to_numpy()
    out: dict[str, str] = {}
    for bucket, positions in rows.groupby(TIMESTAMP, sort=True).indices.items():
        digest = hashlib.sha256(hashes[positions].tobytes()).hexdigest()[:BUCKET_HASH_HEX]
        out[str(int(bucket))] = digest
    return out


def _significant(column: pd.Series) -> pd.Series:
    """A float column rounded to :data:`SIGNIFICANT_BITS` bits of mantissa (others unchanged).

    An engine sums a bucket's values in whatever order its threads meet them, so the same
    input can give averages that differ in their last bits: those must not look like late data.
    """
    if not pd.api.types.is_float_dtype(column.dtype):
        return column
    mantissa, exponent = np.frexp(column.to_numpy(dtype=float))
    scale = float(2 ** SIGNIFICANT_BITS)
    return pd.Series(np.ldexp(np.round(mantissa * scale) / scale, exponent), index=column.index)


def changed_buckets(before: dict[str, str], after: dict[str, str]) -> list[int]:
    """Bucket starts (ms, sorted) whose hash differs, or that are in one fingerprint only."""
    return sorted(int(k) for k in set(before) | set(after) if before.get(k) != after.get(k))
