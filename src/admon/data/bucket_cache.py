"""A cache of closed buckets: each bucket of an input data config is read from its source once.

**Why buckets.** A scheduled run reads its window plus its model's lookback, so a 60-minute
window sliding by 15 minutes covers each bucket in four consecutive runs, and every entity
with the same input data config reads the same buckets again. The data job aggregates per
``(groups, bucket)`` and an exact repeat shares its bucket with the row it repeats, and the
sources are joined per ``(groups, bucket)``: a bucket's rows in a read's frame depend on that
bucket's raw rows only. So the frame of ``[start, end)`` is the union of its buckets' rows,
sorted by group and timestamp. :class:`BucketCache` keeps each bucket's rows, and its counts for
the read report, once per (config, bucket start), shared by every entity and every overlapping
window (and across scheduler ticks). A read takes the buckets it finds and reads from the source
only the ranges between them, each contiguous gap in one source read, aligned to the config's
``agg_interval``. A bucket only partly inside ``[start, end)`` (an unaligned start or end) is
always read: its aggregate covers only that part.

**Closed.** Only a bucket that ends at or before ``closed_until_ms`` is kept: the read's end minus
the entity's query delay (``query_delay_seconds``, else ``ADMON_LATE_DATA_DELAY_SECONDS``), the
time its data is given to arrive. A later bucket may still be filling and is read every time.

**Invalidation.** Lake sources: every read lists the day folders of its range (``stat`` only,
nothing opened) and each kept bucket remembers the listing of its days (paths, sizes,
modification times): a bucket whose day changed (a late file, a rewritten file) is dropped and
read again. Query sources (Prometheus, InfluxDB) have no files: their closed buckets are kept
until the late-data check (:func:`admon.runs.late.recheck_windows`) re-reads a window; it first
:meth:`~BucketCache.forget`\\s the window's buckets, so a re-opened window runs on fresh data.

**Bound.** The cache holds at most ``max_bytes`` (``ADMON_BUCKET_CACHE_MB``; 0 turns it off),
evicting the least recently used buckets.

**The read report** of a read assembled from cached buckets says what a direct read of
``[start, end)`` says: ``rows_used``, ``buckets`` and ``skipped`` per source are sums of the
buckets' own counts (kept with each bucket), ``files`` and ``days`` are the lake files of the
range (the listing above), ``rows_out``/``groups_out`` those of the frame. Rows that belong to no
bucket of a source read (no usable timestamp, a timestamp in seconds, an unreadable file, a
failed query) are counted by every read of their file, not by a bucket: a source read that has
any is not kept, and the read is made again as one direct read, whose report is then returned.
What the cache did is under ``report["cache"]``: ``buckets_cached`` (taken from the cache),
``buckets_read``, ``source_reads`` and ``rows_in``, the rows those source reads took in (used or
skipped), which :attr:`BucketCache.stats` also sums over all reads.

**Cost.** A source read of a gap still scans the whole files of its days (a lake file holds a
day; the window is applied to the parsed rows): what the cache saves is the days of a long
lookback that are cached, the aggregation of cached buckets, and every read of the buckets that
are all cached (a few ms: the listing, one concatenation and sort).

**Engines.** The scheduler's runner reads with the embedded engine (DuckDB), and so does the
cache; ``engine`` passes another one (a SparkSession) to the source reads, untested there.

Known limit: a row filed in the day folder of another day than its timestamp's is seen only
by reads whose range lists both days (also without the cache); a cached bucket keeps what the
read that filled it saw.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import sys
import threading
import time
from collections import Counter, OrderedDict
from typing import TYPE_CHECKING, Any

import fsspec
import numpy as np
import pandas as pd

from admon.config import TIMESTAMP, SourceConfig, source_label
from admon.data.fingerprint import _stat
from admon.data.lake import list_files
from admon.data.report import BucketCounts, ReadReport, SourceReport
from admon.data.source import DataSource
from admon.timeutil import MS_PER_DAY

if TYPE_CHECKING:  # only for annotations
    from admon.config import InputDataConfig

#: Bytes counted per kept bucket besides its values (the entry, its counts, its key).
ENTRY_OVERHEAD_BYTES = 512


@dataclasses.dataclass
class CacheStats:
    """What a cache did since it was made: buckets taken from it, buckets and rows read from sources."""

    buckets_cached: int = 0
    buckets_read: int = 0
    source_reads: int = 0
    #: Rows the source reads took in: used, or skipped under a row reason (see ReadReport.rows_in).
    rows_in: int = 0
    evicted: int = 0


@dataclasses.dataclass
class _Bucket:
    end_ms: int
    columns: dict[str, np.ndarray]  # the bucket's rows of the frame, sorted by group
    counts: tuple[BucketCounts, ...]  # per source of the config
    days: tuple[str, ...]  # the listing signature of each day the bucket overlaps
    nbytes: int
    engine: str  # the engine that read it (for the report)


@dataclasses.dataclass
class _Listing:
    """The lake files of a read's range: a signature per day number, the files per source."""

    days: dict[int, str]
    files: dict[int, list[Any]]  # source index -> LakeFile, as DataSource lists them


class BucketCache:
    """Closed buckets of reads, keyed by (config key, bucket start); see the module docstring.

    ``max_bytes``: the bound (0: nothing is kept, every read goes to the source).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max(0, int(max_bytes))
        self.stats = CacheStats()
        self.nbytes = 0
        self._buckets: OrderedDict[tuple[str, int], _Bucket] = OrderedDict()  # least recently used first
        self._starts: dict[str, set[int]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    # --- reading ---------------------------------------------------------------------------
    def read(self, config: InputDataConfig, start_ms: int, end_ms: int, *, lake_root: str, engine: Any = None,
             key: str | None = None, closed_until_ms: int | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
        """The frame and read report (``ReadReport.as_dict()`` plus ``"cache"``) of ``[start_ms,
        end_ms)``, as ``DataSource(engine, config, lake_root=lake_root).read_pandas`` gives them.

        ``key`` names the config and its lake (default: the config's content hash); buckets
        ending after ``closed_until_ms`` (default: ``end_ms``) are read but not kept.
        """
        started = time.perf_counter()
        key = key if key is not None else config.content_hash()
        interval = config.agg_interval_ms
        closed_until = end_ms if closed_until_ms is None else min(closed_until_ms, end_ms)
        # off: every read is one direct read, with its own report; nothing to list
        listing = self._listing(config, lake_root, start_ms, end_ms) if self.max_bytes else _Listing({}, {})
        before = dataclasses.replace(self.stats)
        hits: list[_Bucket] = []
        gaps: list[tuple[int, int]] = []
        cursor = start_ms
        if self.max_bytes:
            with self._lock:
                for bucket in range(-(-start_ms // interval) * interval, (end_ms // interval) * interval, interval):
                    entry = self._lookup(key, bucket, interval, listing)
                    if entry is not None:
                        if cursor < bucket:
                            gaps.append((cursor, bucket))
                        hits.append(entry)
                        cursor = bucket + interval
        if cursor < end_ms:
            gaps.append((cursor, end_ms))
        # made only when a bucket is missing (opening an engine costs more than a cached read)
        source = DataSource(engine, config, lake_root=lake_root, count_buckets=True) if gaps else None
        reads = [self._fetch(source, a, b) for a, b in gaps if source is not None]
        if not all(clean for _, _, clean in reads) and (hits or len(reads) > 1) and source is not None:
            # rows outside every bucket are counted per read of their file: only a direct read
            # of the whole range reports them as a direct read does
            hits, gaps, reads = [], [(start_ms, end_ms)], [self._fetch(source, start_ms, end_ms)]
        for (a, b), (frame, report, clean) in zip(gaps, reads):
            if clean and self.max_bytes:
                self._keep(key, frame, report, a, b, interval, closed_until, listing, report.engine)
        self.stats.buckets_cached += len(hits)
        if not hits and len(reads) == 1:
            frame, report, _ = reads[0]
            result = report.as_dict()
        else:
            frame = self._assemble(config, [r[0] for r in reads], hits)
            engine_name = source.engine.name if source is not None else hits[0].engine
            result = self._report(config, engine_name, start_ms, end_ms, frame, [r[1] for r in reads], hits,
                                  listing, time.perf_counter() - started)
        read_buckets = sum(max(0, (b // interval) - (-(-a // interval))) for a, b in gaps)
        self.stats.buckets_read += read_buckets
        result["cache"] = {"buckets_cached": len(hits), "buckets_read": read_buckets,
                           "source_reads": self.stats.source_reads - before.source_reads,
                           "rows_in": self.stats.rows_in - before.rows_in}
        return frame, result

    def forget(self, key: str, start_ms: int | None = None, end_ms: int | None = None) -> int:
        """Drop the kept buckets of ``key`` that overlap ``[start_ms, end_ms)`` (None: unbounded);
        returns how many. Late data: the next read of them goes to the source."""
        with self._lock:
            starts = self._starts.get(key, set())
            gone = [b for b in starts if (end_ms is None or b < end_ms)
                    and (start_ms is None or self._buckets[(key, b)].end_ms > start_ms)]
            for bucket in gone:
                self._drop(key, bucket)
            return len(gone)

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()
            self._starts.clear()
            self.nbytes = 0

    # --- the parts -------------------------------------------------------------------------
    def _fetch(self, source: DataSource, start_ms: int, end_ms: int) -> tuple[pd.DataFrame, ReadReport, bool]:
        """One source read; ``clean``: every row it counted belongs to a bucket of its range."""
        frame = source.read_pandas(start_ms, end_ms)
        report = source.last_report
        assert report is not None  # read_pandas sets it
        self.stats.source_reads += 1
        self.stats.rows_in += report.rows_in
        first = (start_ms // source.config.agg_interval_ms) * source.config.agg_interval_ms
        clean = True
        for s in report.sources:
            inside: Counter = Counter()
            for bucket, counts in (s.by_bucket or {}).items():
                if bucket is not None and first <= bucket < end_ms:
                    inside.update(counts.skipped)
            if s.skipped - inside:
                clean = False
        return frame, report, clean

    def _listing(self, config: InputDataConfig, lake_root: str, start_ms: int, end_ms: int) -> _Listing:
        """The lake files of ``[start_ms, end_ms)`` per source, and a signature per day number."""
        digests: dict[int, Any] = {}
        files: dict[int, list[Any]] = {}
        by_path: dict[str, list[int]] = {}
        for i, s in enumerate(config.source_configs):
            if isinstance(s, SourceConfig):
                by_path.setdefault(s.lake_path(), []).append(i)
        if not by_path:
            return _Listing({}, {})
        fs, _ = fsspec.core.url_to_fs(lake_root)
        days = range(start_ms // MS_PER_DAY, (end_ms - 1) // MS_PER_DAY + 1)
        for day in days:
            digests[day] = hashlib.sha256()
        for path, members in sorted(by_path.items()):
            listing = list_files(lake_root, path, start_ms, end_ms)
            for f in listing.files:
                size, mtime = _stat(fs, f.path)
                digest = digests.get(f.day.toordinal() - _EPOCH_ORDINAL)
                if digest is not None:
                    digest.update(f"{path}\0{f.path}\0{size}\0{mtime}\n".encode())
            for reason, entry in listing.skipped:  # counted by every read of the range: in every day
                for digest in digests.values():
                    digest.update(f"{path}\0{entry}\0{reason}\n".encode())
            for i in members:
                files[i] = listing.files
        return _Listing({day: d.hexdigest()[:16] for day, d in digests.items()}, files)

    @staticmethod
    def _days(bucket: int, end: int, listing: _Listing) -> tuple[str, ...]:
        if not listing.days:
            return ()
        return tuple(listing.days.get(day, "") for day in range(bucket // MS_PER_DAY, (end - 1) // MS_PER_DAY + 1))

    def _lookup(self, key: str, bucket: int, interval: int, listing: _Listing) -> _Bucket | None:
        entry = self._buckets.get((key, bucket))
        if entry is None:
            return None
        if entry.days != self._days(bucket, bucket + interval, listing):  # its files changed: read again
            self._drop(key, bucket)
            return None
        self._buckets.move_to_end((key, bucket))
        return entry

    def _keep(self, key: str, frame: pd.DataFrame, report: ReadReport, start_ms: int, end_ms: int,
              interval: int, closed_until: int, listing: _Listing, engine: str) -> None:
        """Keep the whole, closed buckets of one clean source read of ``[start_ms, end_ms)``."""
        first, last = -(-start_ms // interval) * interval, min(end_ms, closed_until) // interval * interval
        if first >= last:
            return
        stamps = frame[TIMESTAMP].to_numpy()
        order = np.argsort(stamps, kind="stable")  # stable: each bucket's rows stay sorted by group
        columns = {c: _values(frame[c])[order] for c in frame.columns}
        starts = np.arange(first, last + interval, interval)
        bounds = np.searchsorted(stamps[order], starts, "left")
        entries = []
        for k, bucket in enumerate(range(first, last, interval)):
            values = {c: v[bounds[k]:bounds[k + 1]].copy() for c, v in columns.items()}
            counts = tuple((s.by_bucket or {}).get(bucket) or BucketCounts() for s in report.sources)
            entries.append((bucket, _Bucket(bucket + interval, values, counts,
                                            self._days(bucket, bucket + interval, listing), _nbytes(values),
                                            engine)))
        with self._lock:
            for bucket, entry in entries:
                if (key, bucket) in self._buckets:
                    self._drop(key, bucket)
                self._buckets[(key, bucket)] = entry
                self._starts.setdefault(key, set()).add(bucket)
                self.nbytes += entry.nbytes
            while self.nbytes > self.max_bytes and self._buckets:
                (old_key, old_bucket), _ = next(iter(self._buckets.items()))
                self._drop(old_key, old_bucket)
                self.stats.evicted += 1

    def _drop(self, key: str, bucket: int) -> None:
        entry = self._buckets.pop((key, bucket))
        self.nbytes -= entry.nbytes
        starts = self._starts[key]
        starts.discard(bucket)
        if not starts:
            del self._starts[key]

    @staticmethod
    def _assemble(config, frames: list[pd.DataFrame], hits: list[_Bucket]) -> pd.DataFrame:
        """The read's frame: the source reads' rows and the cached buckets', sorted as the job sorts
        (by group, then timestamp: each row's (groups, timestamp) is unique)."""
        columns = config.output_columns()
        groups = list(config.group_by)
        dtypes = {c: object if c in groups else "int64" if c == TIMESTAMP else "float64" for c in columns}
        arrays = {c: np.concatenate([_values(f[c]) for f in frames] + [h.columns[c] for h in hits])
                  for c in columns}
        # np.lexsort sorts by its last key first; text groups sort as Python (and DuckDB) order them
        keys = [arrays[TIMESTAMP], *(pd.factorize(arrays[g], sort=True)[0] for g in reversed(groups))]
        order = np.lexsort(keys)
        return pd.DataFrame({c: pd.Series(arrays[c][order], dtype=dtypes[c], copy=False) for c in columns},
                            columns=columns)

    @staticmethod
    def _report(config: InputDataConfig, engine: str, start_ms: int, end_ms: int, frame: pd.DataFrame,
                reports: list[ReadReport], hits: list[_Bucket], listing: _Listing, seconds: float) -> dict[str, Any]:
        """What a direct read of ``[start_ms, end_ms)`` would report (see the module docstring)."""
        report = ReadReport(start_ms, end_ms, engine=engine)
        report.sources = [SourceReport(source_label(s)) for s in config.source_configs]
        for i, s in enumerate(report.sources):
            parts: list[SourceReport | BucketCounts] = [r.sources[i] for r in reports]
            parts += [h.counts[i] for h in hits]
            for part in parts:
                s.rows_used += part.rows_used
                s.buckets += part.buckets
                s.skipped.update(part.skipped)
            files = listing.files.get(i, [])
            s.files = [f.path for f in files]
            s.days = sorted({str(f.day) for f in files})
        groups = list(config.group_by)
        report.rows_out = len(frame)
        report.groups_out = len(frame.drop_duplicates(groups)) if groups else int(len(frame) > 0)
        report.seconds = seconds
        return report.as_dict()


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def _values(column: pd.Series) -> np.ndarray:
    """A frame column's values in the frame contract's dtype (text groups stay Python objects)."""
    if column.name == TIMESTAMP:
        return column.to_numpy(dtype="int64")
    if pd.api.types.is_float_dtype(column.dtype):
        return column.to_numpy(dtype="float64")
    return column.to_numpy(dtype=object)


def _nbytes(columns: dict[str, np.ndarray]) -> int:
    """Bytes a bucket's values hold, text included."""
    total = ENTRY_OVERHEAD_BYTES
    for values in columns.values():
        total += values.nbytes
        if values.dtype == object:
            total += sum(sys.getsizeof(v) for v in values)
    return total
