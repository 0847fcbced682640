"""What to read and how to shape it: :class:`SourceConfig` and :class:`InputDataConfig`.

Both are frozen pydantic models that round-trip to JSON and YAML, so the same
config is used in a notebook, stored with a detection entity and read by the CLI.

>>> sc = SourceConfig("collectd", "raw", "monitoring",
...                   select=["timestamp", "value", "host"],
...                   filter_expression="topic=='xrootd_raw_gled'",
...                   rename={"value": "gled_value"})
>>> idc = InputDataConfig(source_configs=[sc], agg_interval_seconds=300,
...                       agg_method="avg", group_by=["host"])
>>> idc.value_columns()
['gled_value']
>>> InputDataConfig.from_yaml(idc.to_yaml()) == idc
True
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)

from admon.data.filters import check_filter_types, parse_filter, referenced_columns
from admon.data.lake import check_name
from admon.errors import ConfigError, explain_validation
from admon.plugins import Registry

AggMethod = Literal[
    "avg", "sum", "min", "max", "count", "median", "stddev", "first", "last", "p50", "p90", "p95", "p99"
]
AGG_METHODS: tuple[str, ...] = AggMethod.__args__  # type: ignore[attr-defined]
TIMESTAMP = "timestamp"
# admon's own columns (row counts, skip reasons, scan columns) carry this mark, and no column
# name a user writes may hold it: a rename can never overwrite them.
INTERNAL_MARK = "#"
MAX_NAME_LENGTH = 255


def check_column_name(field: str, name: str) -> None:
    """Refuse a column name a user wrote (in ``field``) that the engines cannot take as it is.

    >>> check_column_name("rename", "gled_value")
    >>> check_column_name("rename", "#rows")
    Traceback (most recent call last):
    ...
    ValueError: rename name '#rows' holds '#', which admon keeps for its internal columns; choose a name without it
    """
    if not isinstance(name, str) or not name:
        problem = "is empty; give a name"
    elif len(name) > MAX_NAME_LENGTH:
        problem = f"is longer than {MAX_NAME_LENGTH} characters; shorten it"
    elif name != name.strip():
        problem = "starts or ends with spaces; remove them"
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        problem = "holds a control character; remove it"
    elif INTERNAL_MARK in name:
        problem = f"holds {INTERNAL_MARK!r}, which admon keeps for its internal columns; choose a name without it"
    else:
        return
    raise ValueError(f"{field} name {name!r} {problem}")


def _same_name(a: str, b: str) -> bool:
    """Whether two column names are the same to the engines: DuckDB and Spark ignore case."""
    return a.casefold() == b.casefold()


_CASE_NOTE = "names are compared ignoring case, as DuckDB and Spark do"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_json(self) -> str:
        """JSON text of this config (stable key order)."""
        return self.model_dump_json()

    def to_yaml(self) -> str:
        """YAML text of this config."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)

    @classmethod
    def from_json(cls, text: str | bytes):
        return cls._validated(json.loads(text))

    @classmethod
    def from_yaml(cls, text: str):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"config is not valid YAML: {exc}") from None
        return cls._validated(data)

    @classmethod
    def _validated(cls, data: Any):
        if not isinstance(data, dict):
            raise ConfigError(f"a {cls.__name__} must be a mapping of fields, got {type(data).__name__}")
        return cls(**data)  # __init__ turns validation errors into one ConfigError

    def content_hash(self) -> str:
        """sha256 of the canonical JSON: the identity of a config in run provenance."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class SourceConfig(_Frozen):
    """One monitoring source: where its documents live and which rows/columns to take.

    ``SourceConfig(producer, type_prefix, type, select=..., filter_expression=..., rename=...)``;
    the first three may be given by position, as in the original admonapi.

    ``producer``, ``type_prefix`` and ``type`` name folders under the lake root, so each must be
    a *lake name*: 1 to 255 of the characters ``A-Z a-z 0-9 _ . -``, and not ``.`` or ``..``
    (so no separator, NUL, glob character or way out of the root; e.g. ``"collectd"``,
    ``"raw"``, ``"monitoring"``). Anything else is a :class:`~admon.errors.ConfigError`.
    In the day folders, only regular files inside the lake root are read; other entries are
    skipped and counted (see :mod:`admon.data.lake`).
    """

    producer: str = Field(min_length=1)
    type_prefix: str = Field(min_length=1)
    type: str = Field(min_length=1)
    select: tuple[str, ...] = Field(
        description="Columns to keep: 'timestamp', the group columns and the value columns."
    )
    filter_expression: str | None = None
    rename: dict[str, str] = Field(default_factory=dict)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        positional = ("producer", "type_prefix", "type")
        if len(args) > len(positional):
            raise ConfigError(
                f"SourceConfig takes at most 3 positional arguments (producer, type_prefix, type), "
                f"got {len(args)}; pass select=, filter_expression= and rename= by name"
            )
        for field, value in zip(positional, args):
            if field in kwargs:
                raise ConfigError(f"SourceConfig got {field!r} both by position and by name")
            kwargs[field] = value
        try:
            super().__init__(**kwargs)
        except ValidationError as exc:
            raise ConfigError(explain_validation(exc, "SourceConfig")) from None

    @field_validator("producer", "type_prefix", "type")
    @classmethod
    def _check_lake_name(cls, name: str) -> str:
        return check_name(name)  # a folder under the lake root: never '..', '/', NUL or a glob

    @field_validator("select")
    @classmethod
    def _check_select(cls, select: tuple[str, ...]) -> tuple[str, ...]:
        for name in select:
            check_column_name("select", name)
        if TIMESTAMP not in select:
            raise ValueError(f"select {list(select)} lacks 'timestamp'; add it")
        dupes = sorted({c for c in select if select.count(c) > 1})
        if dupes:
            raise ValueError(f"select names {dupes} more than once")
        for i, a in enumerate(select):
            for b in select[:i]:
                if _same_name(a, b):
                    raise ValueError(f"select names {b!r} and {a!r}, which differ only by case ({_CASE_NOTE}); "
                                     "keep one of them")
        return select

    @field_validator("filter_expression")
    @classmethod
    def _check_filter(cls, text: str | None) -> str | None:
        if text is not None:
            parse_filter(text)
        return text

    @model_validator(mode="after")
    def _check_rename(self) -> SourceConfig:
        unknown = sorted(set(self.rename) - set(self.select))
        if unknown:
            raise ValueError(f"rename names {unknown}, which are not in select {list(self.select)}")
        if TIMESTAMP in self.rename:
            raise ValueError("'timestamp' cannot be renamed")
        for column, name in self.rename.items():
            check_column_name("rename", name)
            clash = next((c for c in self.select if c != column and _same_name(name, self.output_name(c))), None)
            clash = clash or next((c for c in self.select if c != column and _same_name(name, c)), None)
            if clash is not None:
                raise ValueError(
                    f"rename gives {column!r} the name {name!r}, which selected column {clash!r} already has or "
                    f"is given ({_CASE_NOTE}); give it another name"
                )
        if self.filter_expression is not None:
            self._check_filter_columns(self.filter_expression)
        return self

    def _check_filter_columns(self, text: str) -> None:
        read = list(dict.fromkeys([*self.select, *self.filter_columns()]))
        for name in self.filter_columns():
            check_column_name("filter_expression column", name)
            clash = next((c for c in read if c != name and _same_name(c, name)), None)
            if clash is not None:
                raise ValueError(f"filter_expression reads {name!r} and {clash!r}, which differ only by case "
                                 f"({_CASE_NOTE}); write the column's name the same way everywhere")
        check_filter_types(text, {TIMESTAMP: "number"})

    # --- derived names -------------------------------------------------------------------
    def output_name(self, column: str) -> str:
        """The name of a selected column after ``rename``."""
        return self.rename.get(column, column)

    def filter_columns(self) -> list[str]:
        """Document columns the filter reads."""
        return referenced_columns(self.filter_expression) if self.filter_expression else []

    def lake_path(self) -> str:
        """``producer/type_prefix/type``, the folder of this source under the lake root."""
        return f"{self.producer}/{self.type_prefix}/{self.type}"


#: Source kinds by name (entry-point group ``admon.sources``): ``lake`` (a :class:`SourceConfig`,
#: read by ``admon.data.sources.LakeSource``), ``prometheus``, ``influx`` and plugins. A kind is
#: either a :class:`QuerySource` subclass (its own config and reader) or a reader class whose
#: ``config_class`` is its config. The modules are imported on the first lookup, not here.
SOURCES: Registry[type] = Registry(
    "source", "admon.sources",
    builtin_modules=("admon.data.sources", "admon.data.prometheus", "admon.data.influx"))


class QuerySource(_Frozen):
    """Base of the sources that are not the lake (Prometheus, InfluxDB, plugins): a config that
    reads its own raw samples.

    A subclass declares ``kind: Literal["my_kind"] = "my_kind"`` (its name in JSON and YAML),
    is registered in :data:`SOURCES` under that name, and implements :meth:`value_inputs` and
    ``samples(start_ms, end_ms, context)`` (see :mod:`admon.data.sources`), which yields frames
    of the raw samples: ``[*group_by, "timestamp", *value_columns()]``, output names, a group
    that a sample lacks as None, a value that is not a number as None. The data job buckets,
    aggregates, counts and joins them exactly as it does the lake's rows.
    """

    kind: str
    rename: dict[str, str] = Field(default_factory=dict)

    def __init__(self, **kwargs: Any) -> None:
        try:
            super().__init__(**kwargs)
        except ValidationError as exc:
            raise ConfigError(explain_validation(exc, type(self).__name__)) from None

    def value_inputs(self) -> list[str]:
        """Names of the value columns as the source gives them (before ``rename``)."""
        raise NotImplementedError

    def describe(self) -> str:
        """How reports and errors name this source."""
        return self.kind

    def output_name(self, column: str) -> str:
        """The name of a column (a label, tag or value) after ``rename``."""
        return self.rename.get(column, column)

    def value_columns(self) -> list[str]:
        """Output value columns of this source."""
        return [self.output_name(c) for c in self.value_inputs()]

    @model_validator(mode="after")
    def _check_rename(self) -> QuerySource:
        if TIMESTAMP in self.rename or TIMESTAMP in self.rename.values():
            raise ValueError("'timestamp' cannot be renamed, nor be the new name of a column")
        for column, name in self.rename.items():
            check_column_name("rename", column)
            check_column_name("rename", name)
        targets = list(self.rename.values())
        dupes = sorted({n for n in targets if sum(_same_name(n, m) for m in targets) > 1})
        if dupes:
            raise ValueError(f"rename gives several columns the name(s) {dupes} ({_CASE_NOTE}); "
                             "give each its own name")
        values = [self.output_name(name) for name in self.value_inputs()]
        for name in values:
            check_column_name("value column", name)
        twice = sorted({v for v in values if sum(_same_name(v, w) for w in values) > 1})
        if twice:
            raise ValueError(f"{self.describe()} gives the value column(s) {twice} more than once "
                             f"({_CASE_NOTE}); give each its own name")
        return self


def _source_config(item: Any) -> Any:
    """A source config from its JSON/YAML form: ``kind`` names the kind, none (or ``lake``) the lake."""
    if not isinstance(item, dict) or item.get("kind", "lake") == "lake":
        return {k: v for k, v in item.items() if k != "kind"} if isinstance(item, dict) else item
    kind = item["kind"]
    if not isinstance(kind, str):
        raise ValueError(f"source kind {kind!r} is not a name; use one of: {', '.join(SOURCES.names())}")
    cls = SOURCES.get(kind)
    cls = getattr(cls, "config_class", cls)
    if not (isinstance(cls, type) and issubclass(cls, QuerySource)):
        raise ValueError(f"source kind {kind!r} ({cls!r}) has no QuerySource config; fix its plugin")
    return cls(**item)


def source_label(source: SourceConfig | QuerySource) -> str:
    """How reports and errors name a source: the lake path, or the query source's description."""
    return source.lake_path() if isinstance(source, SourceConfig) else source.describe()


class InputDataConfig(_Frozen):
    """Several sources, bucketed in time per group and full-outer-joined on (groups, timestamp).

    Sources of any kind mix: ``source_configs=[SourceConfig(...), PrometheusSource(...)]``.
    """

    source_configs: tuple[SourceConfig | SerializeAsAny[QuerySource], ...] = Field(min_length=1)
    agg_interval_seconds: int = Field(gt=0)
    agg_method: AggMethod = "avg"
    group_by: tuple[str, ...] = ()

    def __init__(self, **kwargs: Any) -> None:
        try:
            super().__init__(**kwargs)
        except ValidationError as exc:
            raise ConfigError(explain_validation(exc, "InputDataConfig")) from None

    @field_validator("source_configs", mode="before")
    @classmethod
    def _build_sources(cls, items: Any) -> Any:
        if isinstance(items, (list, tuple)):
            return tuple(_source_config(item) for item in items)
        return items

    @field_validator("group_by")
    @classmethod
    def _check_group_by(cls, group_by: tuple[str, ...]) -> tuple[str, ...]:
        for i, name in enumerate(group_by):
            check_column_name("group_by", name)
            if _same_name(name, TIMESTAMP):
                raise ValueError(f"group_by must not contain {name!r} (the timestamp column): "
                                 "time is bucketed, not grouped")
            clash = next((g for g in group_by[:i] if _same_name(g, name)), None)
            if clash is not None:
                word = "are the same" if clash == name else "differ only by case"
                raise ValueError(f"group_by names {clash!r} and {name!r} {word} ({_CASE_NOTE}); keep one")
        return group_by

    @field_validator("agg_method", mode="before")
    @classmethod
    def _check_method(cls, method: Any) -> Any:
        if isinstance(method, str) and method.lower() not in AGG_METHODS:
            raise ValueError(f"agg_method {method!r} is not supported; use one of: {', '.join(AGG_METHODS)}")
        return method.lower() if isinstance(method, str) else method

    @model_validator(mode="after")
    def _check_columns(self) -> InputDataConfig:
        seen: dict[str, tuple[int, str]] = {}
        for i, source in enumerate(self.source_configs):
            # a query source's groups are its series' labels or tags, found when it is read
            outputs = self.source_value_columns(source)
            if isinstance(source, SourceConfig):
                selected = [source.output_name(c) for c in source.select]
                missing = [g for g in self.group_by if g not in selected]
                if missing:
                    raise ValueError(
                        f"source_configs[{i}] ({source.lake_path()}) does not select the group_by "
                        f"columns {missing}; add them to its select"
                    )
            else:
                clash = [c for c in outputs if c in self.group_by]
                if clash:
                    raise ValueError(f"source_configs[{i}] ({source.describe()}) gives the value column(s) "
                                     f"{clash} the name of a group_by column; rename them")
            for column in outputs:
                if column == TIMESTAMP or column in self.group_by:
                    continue
                if column.casefold() in seen:
                    first, name = seen[column.casefold()]
                    same = f"{column!r} comes" if name == column else f"{name!r} and {column!r} ({_CASE_NOTE}) come"
                    raise ValueError(
                        f"value column {same} from source_configs[{first}] and "
                        f"source_configs[{i}]; give one of them another name with rename"
                    )
                seen[column.casefold()] = (i, column)
            if isinstance(source, SourceConfig) and source.filter_expression is not None:
                try:
                    check_filter_types(source.filter_expression, self.declared_kinds(source))
                except ConfigError as exc:
                    raise ValueError(f"source_configs[{i}] ({source.lake_path()}): {exc}") from None
        return self

    def declared_kinds(self, source: SourceConfig) -> dict[str, str]:
        """What the document columns of a source hold, as the config declares them: the timestamp
        and the value columns are numbers, the group columns text (columns read only by the
        filter are not declared: their kind comes from the lake)."""
        kinds = {TIMESTAMP: "number"}
        for column in source.select:
            if column != TIMESTAMP:
                kinds[column] = "text" if source.output_name(column) in self.group_by else "number"
        return kinds

    @property
    def agg_interval_ms(self) -> int:
        return self.agg_interval_seconds * 1000

    def value_columns(self) -> list[str]:
        """Output value columns in source order: every selected column but timestamp and groups."""
        return [name for source in self.source_configs for name in self.source_value_columns(source)]

    def source_value_columns(self, source: SourceConfig | QuerySource) -> list[str]:
        """Output value columns of one of the sources."""
        if isinstance(source, QuerySource):
            return source.value_columns()
        names = [source.output_name(c) for c in source.select]
        return [n for n in names if n != TIMESTAMP and n not in self.group_by]

    def output_columns(self) -> list[str]:
        """Columns of the frame :class:`admon.DataSource` returns."""
        return [*self.group_by, TIMESTAMP, *self.value_columns()]
