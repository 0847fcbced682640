"""InfluxDB 1.x as a source of raw samples: :class:`InfluxSource` (InfluxQL over HTTP ``/query``).

The query is one InfluxQL ``SELECT`` whose ``WHERE`` holds the placeholder ``$timeFilter``
(as in Grafana); admon replaces it with ``time >= <start>ms AND time < <end>ms`` for each
chunk of the window, so the query reads exactly the window::

    SELECT "rx", "tx" FROM "net" WHERE "role" = 'gateway' AND $timeFilter GROUP BY "host"

Each row of the answer is one sample: the tags of ``GROUP BY`` become columns (so
``group_by=["host"]`` groups by the ``host`` tag; ``rename={"host": "node"}`` names it
``node``), and each selected field is a value column, named as InfluxDB names it (the field,
or its ``AS`` alias; ``rename`` renames it). The select list must name its columns: ``*``
is refused, because the value columns must be known before the query runs. A field that is
not a number in a row (text, a boolean, or no value at that time) makes the row count as
``invalid_value:<field>``, as a lake document without the value does: select fields written
together, or one field per source. The data job then buckets and aggregates the samples like
lake rows (see :mod:`admon.data.sources`).

Requests are GETs, which InfluxDB answers only for read statements (``SELECT``, ``SHOW``),
one statement per query, ``chunk_s`` seconds of the window at a time.

>>> src = InfluxSource('SELECT "rx" FROM "net" WHERE $timeFilter GROUP BY "host"', database="telegraf",
...                    url="http://influx:8086")
>>> src.value_columns(), InfluxSource.from_yaml(src.to_yaml()) == src
(['rx'], True)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import httpx
import pandas as pd
from pydantic import Field, model_validator

from admon.config import TIMESTAMP
from admon.data.http_query import HttpQuerySource
from admon.data.sources import SampleContext, register_source
from admon.errors import ConfigError, DataError

TIME_FILTER = "$timeFilter"
_IDENT = r'"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*'
_ALIAS = re.compile(rf"(?is)^(.*?)\s+AS\s+({_IDENT})\s*$")
_FIELD = re.compile(rf"(?s)^({_IDENT})(?:::(?:field|tag|float|integer|string|boolean))?\s*$")
_CALL = re.compile(r"(?s)^([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def _unquote(name: str) -> str:
    return name[1:-1].replace('\\"', '"') if name.startswith('"') else name


def _top_level(text: str) -> Iterator[tuple[int, str]]:
    """``(index, character)`` of ``text`` outside quotes and parentheses (depth 0)."""
    depth, quote, escaped = 0, "", False
    for i, c in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif depth == 0:
            yield i, c


def select_names(query: str) -> list[str]:
    """The names InfluxDB gives the columns of a ``SELECT`` (after ``time``): each item's alias,
    the field itself, or the function's name (``mean("rx")`` is ``mean``).

    >>> select_names('SELECT "rx", tx::field, mean(x) AS m, max(y) FROM net WHERE $timeFilter')
    ['rx', 'tx', 'm', 'max']
    """
    match = re.match(r"(?is)^\s*SELECT\s+(.*?)\s+FROM\s", query)
    if match is None:
        raise ConfigError(f"InfluxSource query {query!r} is not 'SELECT <fields> FROM ...'; write one InfluxQL SELECT")
    clause = match.group(1)
    cuts = [i for i, c in _top_level(clause) if c == ","]
    items = [clause[a + 1:b].strip() for a, b in zip([-1, *cuts], [*cuts, len(clause)])]
    names = []
    for item in items:
        alias, field, call = _ALIAS.match(item), _FIELD.match(item), _CALL.match(item)
        if alias:
            names.append(_unquote(alias.group(2)))
        elif field and item != "*":
            names.append(_unquote(field.group(1)))
        elif call:
            names.append(call.group(1).lower())
        else:
            raise ConfigError(f"InfluxSource query selects {item!r}, whose column name admon cannot tell before "
                              "the query runs; name the fields (no '*'), or give the item a name with AS")
    return names


@register_source("influx")
class InfluxSource(HttpQuerySource):
    """Raw samples of an InfluxQL query, read from InfluxDB 1.x's HTTP ``/query`` endpoint.

    ``InfluxSource(query, *, database, url=None, rename=None, retention_policy=None, chunk_s=86400,
    timeout_s=30, retries=2, headers=None, bearer_token_env=None, ca_file=None, verify=True)``;
    ``url`` defaults to the setting ``ADMON_INFLUX_URL``.
    """

    kind: Literal["influx"] = "influx"
    query: str = Field(min_length=1, max_length=10_000)
    database: str = Field(min_length=1)
    retention_policy: str | None = None
    chunk_s: int = Field(86_400, gt=0, description="Seconds of the window asked for per request.")

    server_name: ClassVar[str] = "InfluxDB"
    url_setting: ClassVar[str] = "influx_url"

    @model_validator(mode="before")
    @classmethod
    def _check_query(cls, data: Any) -> Any:
        query = data.get("query") if isinstance(data, dict) else None
        if not isinstance(query, str):
            return data
        if TIME_FILTER not in query:
            raise ValueError(f"query {query!r} lacks {TIME_FILTER}; add 'WHERE {TIME_FILTER}' (or "
                             f"'AND {TIME_FILTER}'), which admon replaces with the window's time bounds")
        if any(c == ";" for _, c in _top_level(query.rstrip().rstrip(";"))):
            raise ValueError(f"query {query!r} holds several statements; give one SELECT")
        select_names(query)
        return data

    def value_inputs(self) -> list[str]:
        return select_names(self.query)

    def describe(self) -> str:
        return f"influx {self.database}: {self.query!r}"

    # --- reading -------------------------------------------------------------------------
    def samples(self, start_ms: int, end_ms: int, context: SampleContext) -> Iterator[pd.DataFrame]:
        """The samples of ``[start_ms, end_ms)``, one frame per request."""
        groups = context.input_config.group_by
        tag_of = {new: old for old, new in self.rename.items()}
        tags = [tag_of.get(g, g) for g in groups]
        fields = self.value_inputs()
        with self.client() as client:
            for first in range(start_ms, end_ms, self.chunk_s * 1000):
                last = min(first + self.chunk_s * 1000, end_ms)
                query = self.query.replace(TIME_FILTER, f"time >= {first}ms AND time < {last}ms")
                params = {"db": self.database, "q": query, "epoch": "ms"}
                if self.retention_policy:
                    params["rp"] = self.retention_policy
                statement = self._statement(client, params)
                yield self._frame(statement.get("series") or [], tags, groups, fields, first, last)

    def _statement(self, client: httpx.Client, params: dict[str, str]) -> dict:
        reply = self.get(client, "/query", params)
        try:
            body = reply.json()
        except ValueError:
            raise DataError(f"InfluxDB at {client.base_url} answered {self.describe()} with HTTP "
                            f"{reply.status_code} and no JSON; check that url is "
                            "InfluxDB's base URL") from None
        results = body.get("results") if isinstance(body, dict) else None
        error = body.get("error") if isinstance(body, dict) else None
        if not error and results and isinstance(results[0], dict):
            error = results[0].get("error")
        if reply.status_code >= 400 or error or not results:
            raise ConfigError(f"InfluxDB at {client.base_url} refused the query {params['q']!r} on database "
                              f"{self.database!r}: {error or f'HTTP {reply.status_code}'}; fix the query or the database")
        statement = results[0]
        if statement.get("partial"):
            raise DataError(f"InfluxDB cut its answer to {self.describe()} short (max-row-limit); lower "
                            f"chunk_s (now {self.chunk_s}) so that each request returns fewer rows")
        return statement

    def _frame(self, series: list[dict], tags: list[str], groups: tuple[str, ...], fields: list[str],
               first: int, last: int) -> pd.DataFrame:
        """Samples of one answer in ``[first, last)``: tags (None: the series lacks it), the
        timestamp (ms) and the fields (None: not a number)."""
        outputs = [self.output_name(f) for f in fields]
        columns: dict[str, list[Any]] = {c: [] for c in [*groups, TIMESTAMP, *outputs]}
        for one in series:
            names = one.get("columns") or []
            missing = [f for f in fields if f not in names]
            if missing:
                raise DataError(f"InfluxDB answered {self.describe()} with the columns {names}, not {missing}; "
                                "name the select items with AS so that admon knows their columns")
            position = {name: k for k, name in enumerate(names)}
            series_tags = one.get("tags") or {}
            for row in one.get("values") or []:
                stamp = row[position["time"]] if "time" in position else None
                if not isinstance(stamp, int) or isinstance(stamp, bool):
                    raise DataError(f"InfluxDB answered a row {row!r} without an epoch-ms time; "
                                    "is url an InfluxDB 1.x server?")
                if not first <= stamp < last:
                    continue
                for g, tag in zip(groups, tags):
                    value = series_tags.get(tag, row[position[tag]] if tag in position else None)
                    columns[g].append(None if value in (None, "") else str(value))
                columns[TIMESTAMP].append(stamp)
                for field, out in zip(fields, outputs):
                    columns[out].append(_number(row[position[field]]))
        return pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in columns.items()})


def _number(value: Any) -> float | None:
    """A field's value as a float; text, booleans and missing values are not numbers (None)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)  # NaN or ±Inf is kept: the job counts it as non_finite_value
