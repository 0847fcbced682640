"""Prometheus as a source of raw samples: :class:`PrometheusSource`.

Each series of the query gives one sample per stored point: its labels become columns (so
``group_by=["instance"]`` groups by the ``instance`` label, and ``rename={"instance": "host"}``
names it ``host``), the sample's value is the column ``value`` (``rename={"value": "rx"}``).
Labels that are not group_by columns are dropped, so series that differ only by them fall
into the same group, as rows of the lake do. The data job then buckets and aggregates the
samples like lake rows (see :mod:`admon.data.sources`).

**Raw samples** (the default): the query must be a series selector such as
``node_network_receive_bytes_total{device="eth0"}``; admon asks ``/api/v1/query`` for the
range vector ``<selector>[<chunk>]`` at the end of each chunk of the window, so every stored
sample is read once, exactly as Prometheus stored it. **An expression** (``rate(x[5m])``,
``sum by (instance) (...)``) has no stored samples: set ``step_s`` and it is evaluated with
``/api/v1/query_range`` every ``step_s`` seconds from the window's start.

Requests are chunked: a raw read asks for at most ``chunk_s`` seconds of samples at a time,
and an evaluated one for at most 11,000 points per series (Prometheus refuses more). A query
Prometheus refuses is a :class:`~admon.errors.ConfigError` quoting its message and the query.

>>> src = PrometheusSource('node_network_receive_bytes_total{device="eth0"}', url="http://prom:9090",
...                        rename={"value": "rx"})
>>> src.value_columns(), PrometheusSource.from_json(src.to_json()) == src
(['rx'], True)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import httpx
import pandas as pd
from pydantic import Field, field_validator

from admon.config import TIMESTAMP
from admon.data.http_query import HttpQuerySource
from admon.data.sources import SampleContext, register_source
from admon.errors import ConfigError, DataError

#: Prometheus refuses a range query of more points than this per series.
MAX_POINTS_PER_SERIES = 11_000
# A series selector: a metric name, label matchers in braces, or both (quoted values may hold
# any character). Anything else is an expression, which has no raw samples.
_QUOTED = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`'
_SELECTOR = re.compile(
    rf"\s*(?:[A-Za-z_:][A-Za-z0-9_:]*\s*(?:\{{(?:[^{{}}\"'`]|{_QUOTED})*\}})?|\{{(?:[^{{}}\"'`]|{_QUOTED})*\}})\s*")


@register_source("prometheus")
class PrometheusSource(HttpQuerySource):
    """Raw samples of a PromQL query, read from Prometheus's HTTP API.

    ``PrometheusSource(query, *, url=None, rename=None, step_s=None, chunk_s=3600, timeout_s=30,
    retries=2, headers=None, bearer_token_env=None, ca_file=None, verify=True)``;
    ``url`` defaults to the setting ``ADMON_PROMETHEUS_URL``.
    """

    kind: Literal["prometheus"] = "prometheus"
    query: str = Field(min_length=1, max_length=10_000)
    step_s: float | None = Field(None, gt=0, description="Evaluate an expression every step_s seconds "
                                 "(query_range) instead of reading a selector's raw samples.")
    chunk_s: int = Field(3600, gt=0, description="Seconds of raw samples asked for per request.")

    server_name: ClassVar[str] = "Prometheus"
    url_setting: ClassVar[str] = "prometheus_url"

    @field_validator("query")
    @classmethod
    def _check_query(cls, query: str) -> str:
        if not query.strip():
            raise ValueError("query is empty; give a PromQL series selector, e.g. 'up{job=\"node\"}'")
        return query

    def value_inputs(self) -> list[str]:
        return ["value"]

    def describe(self) -> str:
        return f"prometheus {self.query!r}"

    def raw(self) -> bool:
        """Whether the stored samples are read (no step_s), not an expression evaluated."""
        return self.step_s is None

    # --- reading -------------------------------------------------------------------------
    def samples(self, start_ms: int, end_ms: int, context: SampleContext) -> Iterator[pd.DataFrame]:
        """The samples of ``[start_ms, end_ms)``, one frame per request."""
        if self.raw() and not _SELECTOR.fullmatch(self.query):
            raise ConfigError(
                f"{self.describe()} is not a series selector, and only a selector has raw samples; write a "
                "selector (e.g. 'node_network_receive_bytes_total{device=\"eth0\"}'), or set step_s to "
                "evaluate the expression every step_s seconds"
            )
        groups = context.input_config.group_by
        label_of = {new: old for old, new in self.rename.items()}
        labels = [label_of.get(g, g) for g in groups]
        value = self.output_name("value")
        with self.client() as client:
            for first, last, params, path in self._requests(start_ms, end_ms):
                result = self._result(client, path, params)
                yield _frame(result, labels, groups, value, first, last)

    def _requests(self, start_ms: int, end_ms: int) -> Iterator[tuple[int, int, dict[str, str], str]]:
        """``(first ms, end ms, params, path)`` of each request; together they cover the window once."""
        if self.step_s is None:
            chunk = self.chunk_s * 1000
            for first in range(start_ms, end_ms, chunk):
                last = min(first + chunk, end_ms)
                # [d] at t holds the samples of [t - d, t] (Prometheus 2) or (t - d, t] (3): asking
                # one ms more than the chunk and keeping [first, last) is right with both
                params = {"query": f"{self.query}[{last - first}ms]", "time": _seconds(last - 1)}
                yield first, last, params, "/api/v1/query"
            return
        step_ms = max(1, round(self.step_s * 1000))
        chunk = step_ms * MAX_POINTS_PER_SERIES
        for first in range(start_ms, end_ms, chunk):
            last = min(first + chunk, end_ms)
            params = {"query": self.query, "start": _seconds(first), "end": _seconds(last - 1),
                      "step": f"{step_ms}ms"}
            yield first, last, params, "/api/v1/query_range"

    def _result(self, client: httpx.Client, path: str, params: dict[str, str]) -> list[dict]:
        reply = self.get(client, path, params)
        try:
            body = reply.json()
        except ValueError:
            raise DataError(f"Prometheus at {client.base_url} answered {self.describe()} with HTTP "
                            f"{reply.status_code} and no JSON; check that url is "
                            "Prometheus's base URL") from None
        if reply.status_code >= 400 or body.get("status") != "success":
            raise ConfigError(
                f"Prometheus at {client.base_url} refused the query {params['query']!r} "
                f"({body.get('errorType', f'HTTP {reply.status_code}')}): {body.get('error') or 'no message'}; "
                "fix the query"
            )
        data = body.get("data") or {}
        if data.get("resultType") != "matrix":
            raise ConfigError(f"{self.describe()} gives a {data.get('resultType')!r}, not series of samples; "
                              "write a query that gives series (a selector, or an expression with step_s)")
        return data.get("result") or []

    def server_failure(self, reply: httpx.Response, where: str) -> tuple[str, str]:
        try:
            body = reply.json()
        except ValueError:
            body = {}
        if body.get("errorType") == "timeout":
            return ("source_timeout", f"{where} timed out evaluating {self.describe()}: {body.get('error')}; "
                    "lower chunk_s or make the query cheaper")
        return super().server_failure(reply, where)


def _seconds(ms: int) -> str:
    """Epoch ms as the seconds Prometheus's API takes (exact: three decimals)."""
    return f"{ms // 1000}.{ms % 1000:03d}"


def sample_value(text: Any) -> float | None:
    """A sample's value: Prometheus writes numbers as text ("1.5", "NaN", "+Inf"); anything else
    is not a number (None), counted by the job as ``invalid_value``.

    >>> sample_value("1.5"), sample_value("+Inf"), sample_value("up"), sample_value(None)
    (1.5, inf, None, None)
    """
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _frame(result: list[dict], labels: list[str], groups: tuple[str, ...], value: str,
           first: int, last: int) -> pd.DataFrame:
    """Samples of one answer in ``[first, last)``: group columns (None: the series lacks the
    label), timestamp (ms) and the value. A native histogram's sample is not a number: it is
    kept with no value, so that the job counts it (``invalid_value``) instead of losing it.

    >>> answer = [{"metric": {"instance": "h1"}, "values": [[1.0, "2.5"]], "histograms": [[2.0, {"count": "3"}]]}]
    >>> _frame(answer, ["instance"], ("instance",), "value", 0, 10_000).values.tolist()
    [['h1', 1000, 2.5], ['h1', 2000, None]]
    """
    columns: dict[str, list[Any]] = {g: [] for g in groups}
    columns[TIMESTAMP], columns[value] = [], []
    for series in result:
        metric = series.get("metric") or {}
        keys = [metric.get(label) for label in labels]
        points = [*(series.get("values") or []), *([p[0], None] for p in series.get("histograms") or []
                                                   if isinstance(p, list) and p)]
        for point in points:
            stamp = point[0] if isinstance(point, list) and len(point) == 2 else None
            if not isinstance(stamp, (int, float)) or isinstance(stamp, bool) or not math.isfinite(stamp):
                raise DataError(f"Prometheus answered a sample {point!r} without a [time, value] pair; "
                                "is url a Prometheus server?")
            ts = round(stamp * 1000)
            if not first <= ts < last:
                continue
            for g, key in zip(groups, keys):
                columns[g].append(key)
            columns[TIMESTAMP].append(ts)
            columns[value].append(sample_value(point[1]))
    return pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in columns.items()})
