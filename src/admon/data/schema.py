"""Which columns documents have, where they sit and what type they hold.

Documents are flat or MONIT-shaped (``{"metadata": {...}, "data": {...}}``);
flattening makes the fields of ``data`` and ``metadata`` columns, ``data``
winning a clash. The schema is read from a sample of the window's files (as
DuckDB and Spark do for JSON), and it lets a config be checked before the job
runs: an unknown column is an error naming the columns that exist, and a filter that
compares a column with a value of another kind (``topic == 1`` where topic holds text)
is an error too, before any engine meets it.

>>> s = DocumentSchema()
>>> s.observe({"metadata": {"host": "h1"}, "data": {"value": 1.5}, "timestamp": 1})
>>> [(f.name, f.locations, f.kind) for f in s.fields.values()]
[('value', ('data',), 'number'), ('host', ('metadata',), 'string'), ('timestamp', ('',), 'number')]
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from dataclasses import dataclass, field

import fsspec

from admon.config import INTERNAL_MARK, TIMESTAMP, InputDataConfig, SourceConfig
from admon.data.filters import check_filter_types
from admon.data.lake import LakeFile, list_files, parquet_schema
from admon.errors import ConfigError
from admon.timeutil import MS_PER_DAY

# Where a field can sit in a document, in the order that wins a clash ('' = top level).
LOCATIONS = ("data", "metadata", "")
SAMPLE_LINES_PER_FILE = 200
SAMPLE_FILES = 12
# How many day folders the check of a new entity's config looks through for the latest data.
LATEST_DAY_FOLDERS = 31

SqlType = str  # "BIGINT" | "DOUBLE" | "VARCHAR"


@dataclass
class FieldInfo:
    name: str
    locations: tuple[str, ...] = ()
    kinds: Counter = field(default_factory=Counter)

    @property
    def kind(self) -> str:
        # One number in the sample makes a numeric column: text in it is then bad data, counted
        # per row, not a reason to refuse the whole read.
        return "number" if self.kinds["number"] else "string"


@dataclass
class DocumentSchema:
    """Fields seen in a sample of documents."""

    fields: dict[str, FieldInfo] = field(default_factory=dict)

    def _see(self, name: str, location: str, value: object) -> None:
        info = self.fields.setdefault(name, FieldInfo(name))
        if location not in info.locations:
            info.locations = tuple(loc for loc in LOCATIONS if loc in (*info.locations, location))
        if isinstance(value, bool) or value is None:
            return
        info.kinds["number" if isinstance(value, (int, float)) else "string"] += 1

    def observe(self, doc: object) -> None:
        if not isinstance(doc, dict):
            return
        for location in ("data", "metadata"):
            nested = doc.get(location)
            if isinstance(nested, dict):
                for name, value in nested.items():
                    self._see(name, location, value)
        for name, value in doc.items():
            if name in ("data", "metadata") and isinstance(value, dict):
                continue
            self._see(name, "", value)

    def observe_arrow(self, schema) -> None:
        import pyarrow as pa

        def kind_of(t) -> str | None:
            if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
                return "number"
            if pa.types.is_string(t) or pa.types.is_large_string(t):
                return "string"
            return None

        for f in schema:
            if f.name in ("data", "metadata") and pa.types.is_struct(f.type):
                for sub in f.type:
                    self._see_kind(sub.name, f.name, kind_of(sub.type))
            else:
                self._see_kind(f.name, "", kind_of(f.type))

    def _see_kind(self, name: str, location: str, kind: str | None) -> None:
        self._see(name, location, None)
        if kind:
            self.fields[name].kinds[kind] += 1


def sample_schema(files: list[LakeFile]) -> DocumentSchema:
    """Read the schema from a spread of the files (every file's footer for Parquet)."""
    schema = DocumentSchema()
    json_files = [f for f in files if f.format == "json"]
    if len(json_files) > SAMPLE_FILES:  # first, last and evenly spread in between
        step = (len(json_files) - 1) / (SAMPLE_FILES - 1)
        json_files = [json_files[round(i * step)] for i in range(SAMPLE_FILES)]
    for f in json_files:
        try:
            with fsspec.open(f.path, "rt", compression="infer", encoding="utf-8", errors="replace") as fh:
                for i, line in enumerate(fh):
                    if i >= SAMPLE_LINES_PER_FILE:
                        break
                    try:
                        schema.observe(json.loads(line))
                    except (ValueError, RecursionError):  # e.g. 100,000 nested brackets
                        continue  # counted later, by the engine's read
        except (OSError, EOFError):
            continue  # an unreadable file is reported by the read itself
    for f in files:
        if f.format == "parquet":
            try:
                schema.observe_arrow(parquet_schema(f.path))
            except Exception:  # noqa: BLE001 - a corrupt footer is reported by the read itself
                continue
    return schema


@dataclass(frozen=True)
class ScanField:
    """A document column the engine must read: its name, where it may sit, and its SQL type."""

    name: str
    locations: tuple[str, ...]
    sql_type: SqlType

    def scan_column(self, location: str) -> str:
        """Name of this field's column in the engine's scan view, for one location (marked as
        internal: no field name can hold the mark, so no field is ever mistaken for it)."""
        return f"{location or 'top'}{INTERNAL_MARK}{self.name}"


def plan_scan(source: SourceConfig, config: InputDataConfig, schema: DocumentSchema) -> list[ScanField]:
    """The fields a source needs, checked against the schema, with the type each is read as.

    The timestamp is read as text (VARCHAR) and parsed by the job, so that ``true`` or
    ``1652141000000.5`` is counted, not read as 1 or rounded.
    """
    needed = list(dict.fromkeys([*source.select, *source.filter_columns()]))
    missing = [c for c in needed if c not in schema.fields]
    if missing:
        existing = ", ".join(sorted(schema.fields)) or "(none: no readable documents)"
        raise ConfigError(
            f"source {source.lake_path()}: column(s) {missing} do not exist in its documents; "
            f"columns that exist: {existing}"
        )
    group_inputs = {c for c in source.select if source.output_name(c) in config.group_by}
    filter_types = _filter_column_types(source, config, schema)
    fields = []
    for name in needed:
        info = schema.fields[name]
        if name == TIMESTAMP:
            sql_type = "VARCHAR"
        elif name in group_inputs:
            sql_type = "VARCHAR"
        elif name in source.select:  # a value column: it is aggregated, so it must be a number
            if info.kind != "number":
                raise ConfigError(
                    f"source {source.lake_path()}: column {name!r} holds text, so it cannot be "
                    f"aggregated with {config.agg_method!r}; add it to group_by or remove it from select"
                )
            sql_type = "DOUBLE"
        else:  # read only by the filter
            sql_type = filter_types[name]
        fields.append(ScanField(name, info.locations, sql_type))
    return fields


def _filter_column_types(source: SourceConfig, config: InputDataConfig, schema: DocumentSchema) -> dict[str, str]:
    """The SQL type of each column read only by the filter, present in ``schema``, type-checked.

    A column the filter compares with a number is read as DOUBLE, with text as VARCHAR, unless
    the sample holds only values of the other kind: then the filter is refused (it would
    fail inside the engine, or match nothing). Other columns are typed by the sample. Last, the
    whole filter is checked against every kind, so that ``a == b`` across kinds is refused too.
    """
    if not source.filter_expression:
        return {}
    text = source.filter_expression
    declared = config.declared_kinds(source)
    expected = check_filter_types(text, declared)
    types: dict[str, str] = {}
    for name in source.filter_columns():
        if name in declared or name not in schema.fields:
            continue
        kinds = schema.fields[name].kinds
        sampled = {"number"} if kinds["number"] and not kinds["string"] else \
            {"text"} if kinds["string"] and not kinds["number"] else set()
        wanted = expected.get(name)
        if wanted and sampled and wanted not in sampled:
            held = "numbers" if "number" in sampled else "text"
            raise ConfigError(
                f"source {source.lake_path()}: filter_expression {text!r} compares {name!r}, which holds "
                f"{held} in the lake's documents, with {'a number' if wanted == 'number' else 'text'}; "
                f"compare it with {'a number' if held == 'numbers' else 'text in quotes'}, or use another column"
            )
        kind = wanted or ("number" if schema.fields[name].kind == "number" else "text")
        types[name] = "DOUBLE" if kind == "number" else "VARCHAR"
    kinds_read = {**declared, **{n: "number" if t == "DOUBLE" else "text" for n, t in types.items()}}
    try:
        check_filter_types(text, kinds_read)
    except ConfigError as exc:
        raise ConfigError(f"source {source.lake_path()}: {exc} (kinds read from the lake's documents)") from None
    return types


def latest_files(lake_root: str, source_path: str) -> list[LakeFile]:
    """The data files of the latest day folder of a source that has any (empty if none)."""
    fs, root_path = fsspec.core.url_to_fs(lake_root)
    base = f"{root_path.rstrip('/')}/{source_path}"

    def names(folder: str, digits: int) -> list[str]:
        try:
            entries = fs.ls(folder, detail=False)
        except (OSError, ValueError):
            return []
        found = (e.rstrip("/").rsplit("/", 1)[-1] for e in entries)
        return sorted((n for n in found if re.fullmatch(rf"[0-9]{{{digits}}}", n)), reverse=True)

    looked = 0
    for year in names(base, 4):
        for month in names(f"{base}/{year}", 2):
            for day in names(f"{base}/{year}/{month}", 2):
                looked += 1
                if looked > LATEST_DAY_FOLDERS:
                    return []
                try:
                    start = int(dt.datetime(int(year), int(month), int(day), tzinfo=dt.UTC).timestamp()) * 1000
                except ValueError:
                    continue  # not a date, e.g. 2022/02/31
                files = list_files(lake_root, source_path, start, start + MS_PER_DAY).files
                if files:
                    return files
    return []


def check_filters_against_lake(config: InputDataConfig, lake_root: str) -> None:
    """Type-check each source's filter against a sample of the latest day of its data, if any.

    What a new entity's config is checked with before it is stored: ``topic == 1`` where the
    lake's topics are text is a :class:`ConfigError` then, not a failure of every later run.
    Columns the sample lacks are not checked here (the run reports them).
    """
    for source in config.source_configs:
        if not isinstance(source, SourceConfig) or not source.filter_expression:
            continue  # only a lake source has a filter
        files = latest_files(lake_root, source.lake_path())
        if files:
            _filter_column_types(source, config, sample_schema(files))
