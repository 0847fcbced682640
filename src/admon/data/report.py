"""The read report: what a read opened, used and skipped, and why.

Nothing is dropped silently: every row that was read but not used is counted
under a reason, and the report is kept on ``DataSource.last_report``.

>>> r = ReadReport(start_ms=0, end_ms=1)
>>> r.add_skipped("invalid_value:value", 2)
>>> r.skipped_total
2
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from admon.notebook import html_table, time_text

# Why a row was skipped. Each is counted per source.
REASONS = {
    "unreadable_document": "a line that is not a JSON object of the expected shape (malformed JSON, "
    "wrong nesting), or a record with none of the source's fields",
    "missing_timestamp": "no 'timestamp' (missing or null)",
    "timestamp_not_integer_ms": "a 'timestamp' that is not an integer number of milliseconds (a fraction, "
    "true/false, text that is not a number, an object)",
    "timestamp_out_of_range": "a 'timestamp' outside 1970-01-01 to 2200-01-01 (epoch ms), e.g. negative",
    "timestamp_in_seconds": "a 'timestamp' that lies in the window once multiplied by 1000: epoch seconds, "
    "not milliseconds",
    "missing_group_key": "a group_by column is missing or null",
    "invalid_value": "a selected value is missing, null or not a number (JSON true/false read as 1/0)",
    "non_finite_value": "a selected value is NaN or ±Infinity",
    "duplicate": "an exact repeat of another document (same groups, timestamp and values)",
}
# Why a file (a lake entry with a data suffix) was not read. Each counts files, not rows.
FILE_REASONS = {
    "unreadable_file": "a file that cannot be read at all (corrupt, truncated gzip, not Parquet)",
    "not_regular_file": "not a regular file (a FIFO, socket, device, a directory named like a data "
    "file, a dangling link); never opened",
    "outside_lake": "a symbolic link (or one in a symlinked day folder) that resolves outside the lake "
    "root; never opened",
    "unsafe_file_name": "a file name with a backslash, ':' or a control character, which not every "
    "engine can read literally; rename the file",
}
# Skip reasons that also warn in the report: they usually mean the whole source is written wrongly.
WARNINGS = {
    "timestamp_in_seconds": "{count} row(s) of {source} have timestamps that look like epoch seconds; "
    "admon reads epoch milliseconds: write timestamps in milliseconds (seconds x 1000)",
}


@dataclass
class BucketCounts:
    """What one source used and skipped in one bucket (rows, (group, bucket) cells with rows, skips)."""

    rows_used: int = 0
    buckets: int = 0
    skipped: Counter = field(default_factory=Counter)


@dataclass
class SourceReport:
    """Counts for one source of an :class:`~admon.config.InputDataConfig`."""

    source: str
    files: list[str] = field(default_factory=list)
    days: list[str] = field(default_factory=list)
    rows_used: int = 0
    buckets: int = 0
    skipped: Counter = field(default_factory=Counter)
    #: The same counts per bucket start (None: rows without a usable timestamp), kept only when
    #: the read asked for them (``DataSource(count_buckets=True)``, for the bucket cache).
    by_bucket: dict[int | None, BucketCounts] | None = field(default=None, repr=False)

    @property
    def warnings(self) -> list[str]:
        return [text.format(count=self.skipped[reason], source=self.source)
                for reason, text in WARNINGS.items() if self.skipped.get(reason)]

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "files": len(self.files),
            "days": self.days,
            "rows_used": self.rows_used,
            "buckets": self.buckets,
            "skipped": dict(sorted(self.skipped.items())),
        }


@dataclass
class ReadReport:
    """What one ``DataSource.read`` did. ``skipped`` maps ``reason[:column]`` to a row count."""

    start_ms: int
    end_ms: int
    engine: str = ""
    sources: list[SourceReport] = field(default_factory=list)
    rows_out: int = 0
    groups_out: int = 0
    seconds: float = 0.0
    _extra: Counter = field(default_factory=Counter)

    def add_skipped(self, reason: str, count: int) -> None:
        self._extra[reason] += count

    @property
    def skipped(self) -> Counter:
        total = Counter(self._extra)
        for s in self.sources:
            total.update(s.skipped)
        return total

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    @property
    def rows_used(self) -> int:
        return sum(s.rows_used for s in self.sources)

    @property
    def rows_in(self) -> int:
        """Rows the read took in: used, or skipped under a row reason (:data:`REASONS`; skipped
        files are not rows). A row two sources of one lake path keep counts for each."""
        skipped = sum(n for reason, n in self.skipped.items() if reason.split(":")[0] in REASONS)
        return self.rows_used + skipped

    @property
    def warnings(self) -> list[str]:
        """What looks wrong with a whole source (e.g. timestamps in seconds), beyond the counts."""
        return [w for s in self.sources for w in s.warnings]

    @property
    def files_opened(self) -> list[str]:
        return [f for s in self.sources for f in s.files]

    def _repr_html_(self) -> str:
        """The report in a notebook: the read's totals, then what each source used and skipped."""
        skipped = ", ".join(f"{k}: {v}" for k, v in sorted(self.skipped.items())) or "none"
        summary = html_table("read report", [
            ("window", f"{time_text(self.start_ms)} .. {time_text(self.end_ms)}"),
            ("rows out", f"{self.rows_out:,} in {self.groups_out} groups"), ("rows used", f"{self.rows_used:,}"),
            ("skipped", skipped), *(("warning", w) for w in self.warnings),
            ("engine", f"{self.engine}, {self.seconds:.2f} s"),
        ])
        labels = [s.source for s in self.sources]  # two topics of one lake path: numbered in config order
        sources = html_table("sources", [
            (f"{s.source} #{i + 1}" if labels.count(s.source) > 1 else s.source, len(s.files),
             f"{s.rows_used:,}", f"{s.buckets:,}",
             ", ".join(f"{k}: {v}" for k, v in sorted(s.skipped.items())) or "none")
            for i, s in enumerate(self.sources)
        ], header=("source", "files", "rows used", "buckets", "skipped rows"))
        return summary + sources

    def as_dict(self) -> dict:
        return {
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "engine": self.engine,
            "rows_used": self.rows_used,
            "rows_out": self.rows_out,
            "groups_out": self.groups_out,
            "skipped": dict(sorted(self.skipped.items())),
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
            "sources": [s.as_dict() for s in self.sources],
        }
