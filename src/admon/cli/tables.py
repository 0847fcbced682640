"""Rich tables the CLI and the demo print: list tables that fit the terminal, a frame's first
rows, a read report, and the JSON of ``--json``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from rich.console import Console, ConsoleDimensions
from rich.measure import Measurement
from rich.table import Table

from admon.timeutil import format_ms

#: Width of output that does not go to a terminal (a pipe, a file, a CI log, a test): wide
#: enough that no table cell is cut to "su…" as at rich's default of 80 columns.
PIPED_WIDTH = 200


class _CliConsole(Console):
    """A console that decides its width at each print, not when it is made: the module-level
    consoles are made at import, before a pipe, a test runner or ``COLUMNS`` change."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._width = None  # Console.__init__ froze COLUMNS; it is read at each print instead

    @property
    def size(self) -> ConsoleDimensions:
        dimensions = super().size
        columns = os.environ.get("COLUMNS", "")
        if columns.isdigit():
            return ConsoleDimensions(int(columns), dimensions.height)
        if not self.is_terminal:
            return ConsoleDimensions(PIPED_WIDTH, dimensions.height)
        return dimensions

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


def cli_console(*, stderr: bool = False) -> Console:
    """The console a command prints to: the terminal's width, or :data:`PIPED_WIDTH` when piped."""
    return _CliConsole(stderr=stderr)


def print_table(table: Table, console: Console | None = None, *, key_columns: int = 1) -> None:
    """Print ``table`` so that no cell is cut to "su…": as a table when its columns fit the
    console's width (cells wrap at word boundaries, or fold), else one block of
    ``column  value`` lines per row, like psql's expanded display, headed by the row's first
    ``key_columns`` cells."""
    console = console or cli_console()
    for column in table.columns:
        column.overflow, column.no_wrap = "fold", False
    width = console.size.width
    # measured unconstrained: a measurement at the console's width is clamped to that width
    needed = Measurement.get(console, console.options.update_width(10_000), table).minimum
    if needed <= width:
        console.print(table)
        return
    if table.title:
        console.print(table.title, style="bold", highlight=False)
    headers = [str(column.header) for column in table.columns]
    cells = [list(column.cells) for column in table.columns]
    for row in range(table.row_count):
        console.rule(", ".join(f"{h} {c[row]}" for h, c in zip(headers[:key_columns], cells)), align="left")
        record = Table.grid(padding=(0, 2))
        record.add_column(style="bold", no_wrap=True)
        record.add_column(overflow="fold")
        for header, column in zip(headers[key_columns:], cells[key_columns:]):
            if column[row] not in ("", None):
                record.add_row(header, column[row])
        console.print(record)


def print_json(items: Iterable[Any]) -> None:
    """What ``--json`` prints: one JSON array (times as epoch ms, as the REST API gives them)."""
    print(json.dumps(list(items), default=str))


#: Frame columns of epoch ms that tables show as UTC ISO text.
TIME_COLUMNS = frozenset({"timestamp", "window_start", "window_end"})


def _cell(value: Any, is_time: bool) -> str:
    if value is None or value != value:
        return "∅"
    if is_time and isinstance(value, int | float):
        return format_ms(int(value))
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def frame_table(frame: Any, title: str = "") -> Table:
    """The rows of a pandas frame as a table (``∅`` for a missing value, times in UTC ISO)."""
    table = Table(title=title, show_lines=False)
    times = [str(c) in TIME_COLUMNS and frame[c].dtype.kind in "iuf" for c in frame.columns]
    for column in frame.columns:
        table.add_column(str(column), justify="left" if frame[column].dtype == object else "right")
    for record in frame.itertuples(index=False):
        table.add_row(*(_cell(v, t) for v, t in zip(record, times)))
    return table


def source_labels(report: Any, config: Any = None) -> list[str]:
    """A distinct label per source of a read report: its path and, given the InputDataConfig, the
    value columns it gives (two topics of one lake path are told apart), else a ``#n`` suffix."""
    labels = [s.source for s in report.sources]
    sources = list(config.source_configs) if config is not None else []
    if len(sources) == len(labels):
        return [f"{label} → {', '.join(config.source_value_columns(source))}"
                for label, source in zip(labels, sources)]
    return [f"{label} #{i + 1}" if labels.count(label) > 1 else label for i, label in enumerate(labels)]


def print_report(report: Any, console: Console | None = None, config: Any = None) -> None:
    """The read report as a small table: what was used, what was skipped and why (``config``: the
    InputDataConfig read, which names each source by the columns it gives)."""
    if report is None:
        return
    console = console or cli_console()
    table = Table(title="read report", show_header=True)
    labels = source_labels(report, config)
    table.add_column("source")
    table.add_column("files", justify="right")
    table.add_column("rows used", justify="right")
    table.add_column("buckets", justify="right")
    table.add_column("skipped rows")
    for s, label in zip(report.sources, labels):
        skipped = ", ".join(f"{k}: {v}" for k, v in sorted(s.skipped.items())) or "none"
        table.add_row(label, str(len(s.files)), f"{s.rows_used:,}", f"{s.buckets:,}", skipped)
    print_table(table, console)
    console.print(f"{report.rows_out:,} rows, {report.groups_out} groups in {report.seconds:.2f} s ({report.engine})")
