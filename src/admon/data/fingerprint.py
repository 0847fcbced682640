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
"""

from __future__ import annotations

import hashlib
import os

import fsspec
import pandas as pd

from admon.config import TIMESTAMP, InputDataConfig, SourceConfig
from admon.data.lake import list_files

#: Hex digits kept per bucket: enough that two different buckets collide once in 2**64.
BUCKET_HASH_HEX = 16


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
    hashes = pd.util.hash_pandas_object(rows, index=False).to_numpy()
    out: dict[str, str] = {}
    for bucket, positions in rows.groupby(TIMESTAMP, sort=True).indices.items():
        digest = hashlib.sha256(hashes[positions].tobytes()).hexdigest()[:BUCKET_HASH_HEX]
        out[str(int(bucket))] = digest
    return out


def changed_buckets(before: dict[str, str], after: dict[str, str]) -> list[int]:
    """Bucket starts (ms, sorted) whose hash differs, or that are in one fingerprint only."""
    return sorted(int(k) for k in set(before) | set(after) if before.get(k) != after.get(k))
