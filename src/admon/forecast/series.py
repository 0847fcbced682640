"""Turning files and frames into the regular series forecasters fit on.

A forecaster wants one pandas Series on a regular DatetimeIndex with NaN where a step has no
value. These helpers build that from a CSV (NAB's ``timestamp,value`` format or any CSV with a
timestamp column) and from a frame of :meth:`admon.DataSource.read` (``timestamp`` in epoch ms).

>>> import pandas as pd
>>> frame = pd.DataFrame({"source_se": ["A", "A", "A"], "dest_se": ["B", "B", "B"],
...                       "timestamp": [0, 300_000, 900_000], "throughput": [1.0, 2.0, 4.0]})
>>> s = series_from_frame(frame, "throughput", 300)
>>> s.tolist(), str(s.index[-1])
([1.0, 2.0, nan, 4.0], '1970-01-01 00:15:00')
>>> [key for key, _ in series_by_group(frame, ["source_se", "dest_se"], "throughput", 300)]
[('A', 'B')]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from admon.errors import DataError

TIMESTAMP = "timestamp"


def regular(values: pd.Series, step: pd.Timedelta | None = None) -> pd.Series:
    """``values`` (DatetimeIndex, any spacing) on a regular grid of ``step``; empty steps are NaN.

    The step defaults to the most common spacing. Timestamps that drift off the grid are put in
    the grid step they fall into, several values in one step are averaged.
    """
    values = values[~values.index.isna()].sort_index()
    if len(values) < 2:
        raise DataError(f"a series needs at least 2 timestamps to have a step, got {len(values)}")
    if step is None:
        diffs = pd.Series(np.diff(values.index.asi8))
        step = pd.Timedelta(int(diffs[diffs > 0].mode().iloc[0]), unit=values.index.unit)
    out = values.resample(step, origin=values.index[0]).mean()
    return out.astype(float)


def load_csv_series(path: str | Path, column: str | None = None, timestamp: str = TIMESTAMP) -> pd.Series:
    """A regular series from a CSV with a timestamp column (text or epoch ms) and a value column.

    ``column`` defaults to ``value`` (NAB) or to the only other numeric column.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"CSV file {str(path)!r} does not exist; give the path of a timestamp,value file")
    frame = pd.read_csv(path)
    if timestamp not in frame.columns:
        raise DataError(f"{path.name} has no {timestamp!r} column (columns: {list(frame.columns)}); pass timestamp=")
    if column is None:
        numeric = [c for c in frame.columns if c != timestamp and pd.api.types.is_numeric_dtype(frame[c])]
        column = "value" if "value" in frame.columns else (numeric[0] if len(numeric) == 1 else None)
        if column is None:
            raise DataError(f"{path.name}: which column to forecast? give column= one of {numeric}")
    if column not in frame.columns:
        raise DataError(f"{path.name} has no column {column!r} (columns: {list(frame.columns)})")
    ts = frame[timestamp]
    index = pd.to_datetime(ts, unit="ms") if pd.api.types.is_integer_dtype(ts) else pd.to_datetime(ts)
    series = pd.Series(pd.to_numeric(frame[column], errors="coerce").to_numpy(float), index=pd.DatetimeIndex(index))
    out = regular(series)
    out.name = path.stem
    return out


def series_from_frame(
    frame: pd.DataFrame, column: str, interval_seconds: int, end_ms: int | None = None
) -> pd.Series:
    """One group's ``column`` of a DataSource frame as a regular series of ``interval_seconds``.

    With ``end_ms`` the grid runs up to the last bucket before it, so missing recent buckets
    are NaN instead of silently shortening the series.
    """
    if column not in frame.columns:
        raise DataError(f"frame has no column {column!r} (columns: {list(frame.columns)})")
    if frame.empty:
        raise DataError(f"frame has no rows for {column!r}; read a window that has data")
    step_ms = interval_seconds * 1000
    ts = frame[TIMESTAMP].to_numpy(dtype="int64")
    if (ts % step_ms).any():
        raise DataError(
            f"timestamps are not bucket starts of {interval_seconds} s; "
            "read with InputDataConfig(agg_interval_seconds=...) matching the job"
        )
    first = int(ts.min())
    last = int(ts.max()) if end_ms is None else max(int(ts.max()), (end_ms - 1) // step_ms * step_ms)
    grid = np.arange(first, last + step_ms, step_ms, dtype="int64")
    values = pd.Series(pd.to_numeric(frame[column], errors="coerce").to_numpy(float), index=ts)
    values = values.groupby(level=0).mean().reindex(grid)
    return pd.Series(values.to_numpy(), index=pd.to_datetime(grid, unit="ms"), name=column)


def series_by_group(
    frame: pd.DataFrame, group_by: Sequence[str], column: str, interval_seconds: int, end_ms: int | None = None
) -> Iterator[tuple[tuple, pd.Series]]:
    """``(group key, series)`` for every group of a DataSource frame, in frame order."""
    group_by = list(group_by)
    if not group_by:
        yield (), series_from_frame(frame, column, interval_seconds, end_ms)
        return
    for key, part in frame.groupby(group_by, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        yield tuple(key), series_from_frame(part, column, interval_seconds, end_ms)
