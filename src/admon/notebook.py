"""How admon's objects look in a Jupyter notebook: the ``_repr_html_`` of a project, an entity,
a read report, a run and an incident is a small table built here (every value escaped), with a
link to the object's page in the web UI when ``ADMON_PUBLIC_URL`` is set.

>>> print(html_table("Project 1", [("title", "<b>x</b>"), ("private", False)]))
<table class="admon"><caption style="text-align:left"><b>Project 1</b></caption><tr><th style="text-align:left">title</th><td style="text-align:left">&lt;b&gt;x&lt;/b&gt;</td></tr><tr><th style="text-align:left">private</th><td style="text-align:left">no</td></tr></table>
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from admon.errors import ConfigError
from admon.settings import load_settings
from admon.timeutil import format_ms

_CELL = 'style="text-align:left"'


def cell_text(value: Any) -> str:
    """A value as a notebook shows it: yes/no, ``-`` for nothing, JSON for a mapping or a list.

    >>> cell_text(None), cell_text(True), cell_text({"host": "h1"}), cell_text(0.123456789)
    ('-', 'yes', '{"host": "h1"}', '0.123457')
    """
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=str)
    return str(value)


def time_text(ms: int | None) -> str | None:
    """Epoch ms as UTC ISO text (None stays None)."""
    return None if ms is None else format_ms(ms)


def html_table(title: str, rows: Iterable[tuple[str, Any]], link: str | None = None,
               header: tuple[str, ...] | None = None) -> str:
    """A titled two-column (or ``header``-wide) HTML table; ``link``: a URL shown under it."""
    parts = [f'<table class="admon"><caption {_CELL}><b>{html.escape(title)}</b></caption>']
    if header:
        parts.append("<tr>" + "".join(f"<th {_CELL}>{html.escape(h)}</th>" for h in header) + "</tr>")
    for row in rows:
        first, *rest = row
        parts.append(f"<tr><th {_CELL}>{html.escape(cell_text(first))}</th>"
                     + "".join(f"<td {_CELL}>{html.escape(cell_text(v))}</td>" for v in rest) + "</tr>")
    parts.append("</table>")
    if link is not None:
        parts.append(f'<a href="{html.escape(link, quote=True)}" target="_blank">open in the admon UI</a>')
    return "".join(parts)


def ui_link(path: str, query: Mapping[str, Any] | None = None) -> str | None:
    """The web UI's URL of ``path`` under ``ADMON_PUBLIC_URL``, or None when that is not set (or
    the settings do not load: a notebook's display never fails for a link)."""
    try:
        settings = load_settings()
    except ConfigError:
        return None
    if "public_url" not in settings.model_fields_set or not settings.public_url:
        return None
    shown = {k: v for k, v in (query or {}).items() if v is not None}
    return settings.public_url.rstrip("/") + path + (f"?{urlencode(shown)}" if shown else "")


def group_text(group: Mapping[str, Any]) -> str:
    """A group as the UI's ``group`` parameter takes it: ``host=h1,dc=a``."""
    return ",".join(f"{k}={v}" for k, v in group.items())
