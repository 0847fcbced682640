"""Rich tables the CLI and the demo print: a frame's first rows and a read report."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


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
    console = console or Console()
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
