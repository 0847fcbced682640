"""Rich tables the CLI and the demo print: a frame's first rows and a read report."""

from __future__ import annotations

import os
from typing import Any

from rich.console import Console, ConsoleDimensions
from rich.table import Table

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


def frame_table(frame: Any, title: str = "") -> Table:
    """The rows of a pandas frame as a table (``∅`` for a missing value)."""
    table = Table(title=title, show_lines=False)
    for column in frame.columns:
        table.add_column(str(column), justify="left" if frame[column].dtype == object else "right")
    for record in frame.itertuples(index=False):
        table.add_row(*("∅" if v is None or v != v else f"{v:.6g}" if isinstance(v, float) else str(v) for v in record))
    return table


def print_report(report: Any, console: Console | None = None) -> None:
    """The read report as a small table: what was used, what was skipped and why."""
    if report is None:
        return
    console = console or cli_console()
    table = Table(title="read report", show_header=True)
    table.add_column("source")
    table.add_column("files", justify="right")
    table.add_column("rows used", justify="right")
    table.add_column("buckets", justify="right")
    table.add_column("skipped (reason: rows)")
    for s in report.sources:
        skipped = ", ".join(f"{k}: {v}" for k, v in sorted(s.skipped.items())) or "none"
        table.add_row(s.source, str(len(s.files)), f"{s.rows_used:,}", f"{s.buckets:,}", skipped)
    console.print(table)
    console.print(f"{report.rows_out:,} rows, {report.groups_out} groups in {report.seconds:.2f} s ({report.engine})")
