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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from admon.data.filters import parse_filter, referenced_columns
from admon.errors import ConfigError

AggMethod = Literal[
    "avg", "sum", "min", "max", "count", "median", "stddev", "first", "last", "p50", "p90", "p95", "p99"
]
AGG_METHODS: tuple[str, ...] = AggMethod.__args__  # type: ignore[attr-defined]
TIMESTAMP = "timestamp"


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


def _explain(name: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or name
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg} (got {err.get('input')!r})" if err["type"] != "value_error" else f"{where}: {msg}")
    return f"invalid {name}: " + "; ".join(parts)


class SourceConfig(_Frozen):
    """One monitoring source: where its documents live and which rows/columns to take.

    ``SourceConfig(producer, type_prefix, type, select=..., filter_expression=..., rename=...)``;
    the first three may be given by position, as in the original admonapi.
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
            raise ConfigError(_explain("SourceConfig", exc)) from None

    @field_validator("select")
    @classmethod
    def _check_select(cls, select: tuple[str, ...]) -> tuple[str, ...]:
        if TIMESTAMP not in select:
            raise ValueError(f"select {list(select)} lacks 'timestamp'; add it")
        dupes = sorted({c for c in select if select.count(c) > 1})
        if dupes:
            raise ValueError(f"select names {dupes} more than once")
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
        return self

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


class InputDataConfig(_Frozen):
    """Several sources, bucketed in time per group and full-outer-joined on (groups, timestamp)."""

    source_configs: tuple[SourceConfig, ...] = Field(min_length=1)
    agg_interval_seconds: int = Field(gt=0)
    agg_method: AggMethod = "avg"
    group_by: tuple[str, ...] = ()

    def __init__(self, **kwargs: Any) -> None:
        try:
            super().__init__(**kwargs)
        except ValidationError as exc:
            raise ConfigError(_explain("InputDataConfig", exc)) from None

    @field_validator("agg_method", mode="before")
    @classmethod
    def _check_method(cls, method: Any) -> Any:
        if isinstance(method, str) and method.lower() not in AGG_METHODS:
            raise ValueError(f"agg_method {method!r} is not supported; use one of: {', '.join(AGG_METHODS)}")
        return method.lower() if isinstance(method, str) else method

    @model_validator(mode="after")
    def _check_columns(self) -> InputDataConfig:
        if TIMESTAMP in self.group_by:
            raise ValueError("group_by must not contain 'timestamp': time is bucketed, not grouped")
        seen: dict[str, int] = {}
        for i, source in enumerate(self.source_configs):
            outputs = [source.output_name(c) for c in source.select]
            missing = [g for g in self.group_by if g not in outputs]
            if missing:
                raise ValueError(
                    f"source_configs[{i}] ({source.lake_path()}) does not select the group_by "
                    f"columns {missing}; add them to its select"
                )
            for column in outputs:
                if column == TIMESTAMP or column in self.group_by:
                    continue
                if column in seen:
                    raise ValueError(
                        f"value column {column!r} comes from source_configs[{seen[column]}] and "
                        f"source_configs[{i}]; give one of them another name with rename"
                    )
                seen[column] = i
        return self

    @property
    def agg_interval_ms(self) -> int:
        return self.agg_interval_seconds * 1000

    def value_columns(self) -> list[str]:
        """Output value columns in source order: every selected column but timestamp and groups."""
        out = []
        for source in self.source_configs:
            for column in source.select:
                name = source.output_name(column)
                if name != TIMESTAMP and name not in self.group_by:
                    out.append(name)
        return out

    def output_columns(self) -> list[str]:
        """Columns of the frame :class:`admon.DataSource` returns."""
        return [*self.group_by, TIMESTAMP, *self.value_columns()]
