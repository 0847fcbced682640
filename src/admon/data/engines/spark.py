"""The Spark engine: the same data job on a SparkSession (local mode or a cluster).

Nothing of the job is written again here. This adapter does only what the
:class:`~admon.data.engines.base.Engine` protocol asks: it exposes lake files as
a scan view, runs the job's SQL (rendered from DuckDB's dialect by sqlglot, plus
the few Spark-specific rewrites in :func:`spark_sql`) into cached temp views, and
returns results.

Reading is where engines differ most, so the scan reproduces what the embedded
engine reads, value by value:

* JSON lines (``.gz`` decompressed by Spark) are read with an explicit schema in
  which every leaf is a *string*: Spark then keeps the raw JSON text of each value
  and fills what it can of a half-broken line (partial results), as DuckDB does.
  :func:`cast_sql` turns that text into the scan type the way DuckDB's reader
  does (``true`` is 1 as a number, ``"3.5"`` is 3.5, ``1652169600000.0`` is a
  timestamp, a float timestamp rounds half to even, overflow is null, ...).
* Parquet files are grouped by their footer schema; each group is read by Spark
  and every field is cast from its physical type as DuckDB's ``TRY_CAST`` does, a
  field a group lacks being NULL.

Lake roots are Hadoop URLs
(``file://``, ``hdfs://``, ``s3a://``); a plain path means the local file system.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from collections.abc import Sequence
from typing import Any

import pandas as pd
import sqlglot
from sqlglot import exp

from admon.data.engines.base import JOB_DIALECT
from admon.data.lake import LakeFile
from admon.data.schema import ScanField
from admon.errors import UnreadableFileError

DIALECT = "spark"
# A JSON/text number as DuckDB's cast accepts it (Java's parser alone would also take "1d", "0x1p3").
# (No backslashes: Spark SQL literals would unescape them.)
_SPACE = "[ \t\n\r]*"
_NUMBER_RE = f"^{_SPACE}[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?{_SPACE}$"
_SPECIAL_RE = f"^{_SPACE}[-+]?(?i)(nan|inf|infinity){_SPACE}$"
_INTEGER_RE = f"^{_SPACE}[-+]?[0-9]+{_SPACE}$"
_LONG_LIMIT = "9.223372036854775807E18"


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _lit(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --- SQL rendering ---------------------------------------------------------------------------
def _integral(node: exp.Expression) -> bool:
    """Whether an expression of the job is integer-typed (the only BIGINT column is timestamp)."""
    if isinstance(node, exp.Paren):
        return _integral(node.this)
    if isinstance(node, exp.Literal):
        return node.is_int
    if isinstance(node, exp.Column):
        return node.name == "timestamp"
    if isinstance(node, exp.Cast):
        return node.to.this in (exp.DataType.Type.BIGINT, exp.DataType.Type.INT, exp.DataType.Type.SMALLINT)
    if isinstance(node, exp.Neg):
        return _integral(node.this)
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Mod, exp.IntDiv)):
        return _integral(node.left) and _integral(node.right)
    return False


def _ieee_div(left: exp.Expression, right: exp.Expression) -> exp.Expression:
    """DuckDB divides doubles the IEEE way (x/0 = ±inf, 0/0 = NaN); Spark gives NULL or fails."""
    num = f"CAST(({left.sql(DIALECT)}) AS DOUBLE)"
    den = f"CAST(({right.sql(DIALECT)}) AS DOUBLE)"
    return sqlglot.parse_one(
        f"CASE WHEN {den} = 0 THEN CASE WHEN {num} > 0 THEN CAST('Infinity' AS DOUBLE) "
        f"WHEN {num} < 0 THEN CAST('-Infinity' AS DOUBLE) ELSE CAST('NaN' AS DOUBLE) END "
        f"ELSE {num} / {den} END",
        read=DIALECT,
    )


def _where_on_aliases(node: exp.Select) -> exp.Expression | None:
    """DuckDB lets WHERE name a SELECT alias (``SELECT COALESCE(a, b) AS x ... WHERE x > 0``);
    Spark does not: filter a subquery instead. (FROM columns win over aliases in DuckDB;
    the job's scan columns are marked internal, e.g. ``data#x``, so they never clash.)"""
    where = node.args.get("where")
    if where is None or node.args.get("group") or node.args.get("having"):
        return None
    aliases = {e.alias for e in node.expressions if isinstance(e, exp.Alias)}
    if not any(c.name in aliases and not c.table for c in where.find_all(exp.Column)):
        return None
    inner = node.copy()
    inner.set("where", None)
    return exp.select("*").from_(inner.subquery("_where")).where(where.this.copy())


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Select):
        wrapped = _where_on_aliases(node)
        if wrapped is not None:
            return wrapped
    # QUANTILE_CONT(v, q): Spark's exact, linearly interpolated PERCENTILE(v, q) is the same
    # definition (position (n - 1) * q); its PERCENTILE_CONT only has the WITHIN GROUP form.
    if isinstance(node, (exp.PercentileCont, exp.Quantile)) and node.args.get("expression") is not None:
        return exp.Anonymous(this="PERCENTILE", expressions=[node.this, node.expression])
    # ``a // b``: DuckDB divides integers truncating, anything else like ``/``.
    if isinstance(node, exp.IntDiv):
        if _integral(node.left) and _integral(node.right):
            return node
        return _ieee_div(node.left, node.right)
    if isinstance(node, exp.Div):
        return _ieee_div(node.left, node.right)
    return node


def spark_sql(sql: str) -> str:
    """The job's SQL (DuckDB dialect) for Spark: sqlglot's transpiler plus a few rewrites.

    >>> spark_sql("SELECT QUANTILE_CONT(v, 0.9) FILTER (WHERE r IS NULL) AS p FROM t")
    'SELECT PERCENTILE(v, 0.9) FILTER(WHERE r IS NULL) AS p FROM t'
    >>> spark_sql('SELECT ("timestamp" // 300) * 300 AS b FROM t')
    'SELECT (`timestamp` DIV 300) * 300 AS b FROM t'
    >>> spark_sql("SELECT v // 2 AS h FROM t").startswith("SELECT CASE WHEN CAST((2) AS DOUBLE) = 0 THEN")
    True
    """
    tree = sqlglot.parse_one(sql, read=JOB_DIALECT)
    return tree.transform(_rewrite).sql(DIALECT)


# --- value casts, as DuckDB reads them -------------------------------------------------------
def cast_sql(raw: str, sql_type: str) -> str:
    """Spark SQL turning the raw JSON text ``raw`` of a value into ``sql_type`` as DuckDB's reader does."""
    number = f"({raw} RLIKE '{_NUMBER_RE}' OR {raw} RLIKE '{_SPECIAL_RE}')"
    as_double = (
        f"CASE WHEN {raw} = 'true' THEN 1.0D WHEN {raw} = 'false' THEN 0.0D "
        f"WHEN {number} THEN TRY_CAST(TRIM({raw}) AS DOUBLE) END"
    )
    if sql_type == "DOUBLE":
        return as_double
    if sql_type == "BIGINT":
        # integers exactly (NULL when out of range); other numbers round half to even, like
        # DuckDB's JSON reader does for a float in a BIGINT column.
        return (
            f"CASE WHEN {raw} RLIKE '{_INTEGER_RE}' THEN TRY_CAST(TRIM({raw}) AS BIGINT) "
            f"ELSE {_double_to_bigint(as_double)} END"
        )
    return raw  # VARCHAR: the text itself


def _double_to_bigint(double_sql: str) -> str:
    return f"CASE WHEN ABS({double_sql}) < {_LONG_LIMIT} THEN CAST(BROUND({double_sql}, 0) AS BIGINT) END"


def _parquet_cast(expr: str, arrow_type: Any, sql_type: str) -> str:
    """Spark SQL casting a Parquet column of ``arrow_type`` to ``sql_type`` as DuckDB's TRY_CAST does."""
    import pyarrow as pa

    target = {"BIGINT": "BIGINT", "DOUBLE": "DOUBLE", "VARCHAR": "STRING"}[sql_type]
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        if sql_type == "VARCHAR":
            return expr
        as_double = (f"CASE WHEN {expr} RLIKE '{_NUMBER_RE}' OR {expr} RLIKE '{_SPECIAL_RE}' "
                     f"THEN TRY_CAST(TRIM({expr}) AS DOUBLE) END")
        if sql_type == "DOUBLE":
            return as_double
        # DuckDB's text-to-integer cast rounds half away from zero
        return (f"CASE WHEN {expr} RLIKE '{_INTEGER_RE}' THEN TRY_CAST(TRIM({expr}) AS BIGINT) "
                f"WHEN ABS({as_double}) < {_LONG_LIMIT} THEN CAST(ROUND({as_double}, 0) AS BIGINT) END")
    if pa.types.is_boolean(arrow_type):
        return f"CAST(CAST({expr} AS INT) AS {target})" if sql_type != "VARCHAR" else f"CAST({expr} AS STRING)"
    if pa.types.is_integer(arrow_type):
        return f"TRY_CAST({expr} AS {target})"
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        if sql_type == "BIGINT":
            return _double_to_bigint(f"CAST({expr} AS DOUBLE)")
        return f"TRY_CAST({expr} AS {target})"
    return f"CAST(NULL AS {target})"


# --- the engine ----------------------------------------------------------------------------------
def spark_path(path: str) -> str:
    """A lake file's path as a Hadoop URL that matches only that file: local paths become
    ``file://`` URLs, and glob characters are escaped, because Spark expands every path it
    reads as a Hadoop glob (``part-?.json`` would read its neighbours too).

    >>> spark_path("/lake/a/2022/05/10/part-0.json")
    'file:///lake/a/2022/05/10/part-0.json'
    >>> spark_path("hdfs://nn:8020/lake/x.json")
    'hdfs://nn:8020/lake/x.json'
    >>> print(spark_path("/lake/a[1]/part-?{x}.json"))
    file:///lake/a\\[1\\]/part-\\?\\{x\\}.json
    """
    if "://" in path:
        scheme, rest = path.split("://", 1)
        url = f"s3a://{rest}" if scheme == "s3" else path  # fsspec names S3 's3', Hadoop 's3a'
    else:
        url = "file://" + os.path.abspath(path)
    # Hadoop's glob syntax (FileSystem.globStatus): a backslash escapes the next character.
    return re.sub(r"[\\*?\[\]{}]", r"\\\g<0>", url)


class SparkEngine:
    """Runs the data job on a ``SparkSession``; ``DataSource(spark, idc)`` selects it."""

    name = "spark"
    # render() hands this engine the job's own SQL; spark_sql() renders it for Spark, with
    # the rewrites sqlglot's transpiler alone gets wrong.
    dialect = JOB_DIALECT

    def __init__(self, spark: Any):
        self.spark = spark

    # --- scans ---------------------------------------------------------------------------
    def _json_frame(self, paths: list[str], fields: Sequence[ScanField]):
        from pyspark.sql import functions as F
        from pyspark.sql.types import StringType, StructField, StructType

        nested: dict[str, list[str]] = {"data": [], "metadata": []}
        top: list[str] = []
        for f in fields:
            for loc in f.locations:
                (nested[loc] if loc else top).append(f.name)
        schema_fields = [
            StructField(loc, StructType([StructField(n, StringType()) for n in dict.fromkeys(names)]))
            for loc, names in nested.items() if names
        ]
        schema_fields += [StructField(n, StringType()) for n in dict.fromkeys(top) if n not in nested or not nested[n]]
        reader = self.spark.read.schema(StructType(schema_fields)).option("mode", "PERMISSIVE")
        frame = reader.json(paths)
        columns = []
        for f in fields:
            for loc in f.locations:
                raw = f"{_q(loc)}.{_q(f.name)}" if loc else _q(f.name)
                columns.append(F.expr(cast_sql(raw, f.sql_type)).alias(f.scan_column(loc)))
        return frame.select(*columns)

    def _parquet_frames(self, paths: list[str], fields: Sequence[ScanField]):
        from pyspark.sql import functions as F

        groups: dict[str, tuple[Any, list[str]]] = {}
        for path in paths:
            try:
                schema = _parquet_schema(path)
            except Exception as exc:  # noqa: BLE001 - pyarrow raises its own ArrowInvalid
                raise UnreadableFileError(path, f"{type(exc).__name__}: {exc}") from exc
            groups.setdefault(str(schema), (schema, []))[1].append(spark_path(path))
        frames = []
        for schema, group in groups.values():
            types = _leaf_types(schema)
            columns = []
            for f in fields:
                for loc in f.locations:
                    arrow_type = types.get((loc, f.name))
                    target = {"BIGINT": "BIGINT", "DOUBLE": "DOUBLE", "VARCHAR": "STRING"}[f.sql_type]
                    expr = (
                        f"CAST(NULL AS {target})" if arrow_type is None else
                        _parquet_cast(f"{_q(loc)}.{_q(f.name)}" if loc else _q(f.name), arrow_type, f.sql_type)
                    )
                    columns.append(F.expr(expr).alias(f.scan_column(loc)))
            frames.append(self.spark.read.parquet(*group).select(*columns))
        return frames

    def register_scan(self, view: str, files: Sequence[LakeFile], fields: Sequence[ScanField], *,
                      integer_timestamp: bool = False) -> tuple[ScanField, ...]:
        # the timestamp is always scanned as text here (integer_timestamp is an option, not a duty)
        frames = []
        json_paths = [spark_path(f.path) for f in files if f.format == "json"]
        parquet_paths = [f.path for f in files if f.format == "parquet"]
        if json_paths:
            frames.append(self._json_frame(json_paths, fields))
        if parquet_paths:
            frames += self._parquet_frames(parquet_paths, fields)
        scan = frames[0]
        for frame in frames[1:]:
            scan = scan.unionByName(frame)
        scan.createOrReplaceTempView(view)
        return tuple(fields)

    def register_samples(self, view: str, frame: pd.DataFrame, fields: Sequence[ScanField]) -> None:
        """The samples were fetched on the driver (a query source answers over HTTP): they become
        a DataFrame of Python rows, so None is NULL and NaN stays NaN."""
        from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

        types = {"VARCHAR": StringType(), "BIGINT": LongType(), "DOUBLE": DoubleType()}
        schema = StructType([StructField(f.scan_column(""), types[f.sql_type], True) for f in fields])
        rows = list(zip(*(frame[f.name].tolist() for f in fields)))
        self.spark.createDataFrame(rows, schema).createOrReplaceTempView(view)

    def probe(self, file: LakeFile, fields: Sequence[ScanField]) -> str | None:
        """Checked on the driver through fsspec (the lake listing already needs it): a gzip
        stream must decompress to its end, a Parquet file must have a readable footer."""
        import fsspec

        try:
            if file.format == "parquet":
                _parquet_schema(file.path)
            elif file.path.lower().endswith(".gz"):
                with fsspec.open(file.path, "rb") as raw, gzip.GzipFile(fileobj=raw) as fh:
                    while fh.read(1 << 20):
                        pass
        except (OSError, EOFError, zlib.error, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # noqa: BLE001 - pyarrow raises its own ArrowInvalid for a bad footer
            return f"{type(exc).__name__}: {exc}"
        return None

    # --- queries -------------------------------------------------------------------------
    def materialize(self, table: str, sql: str) -> None:
        frame = self.spark.sql(spark_sql(sql))
        frame.createOrReplaceTempView(table)
        self.spark.catalog.cacheTable(table)
        self.spark.table(table).count()  # fill the cache now: the job reads it twice

    def fetch(self, sql: str) -> pd.DataFrame:
        return self.to_pandas(self.spark.sql(spark_sql(sql)))

    def result(self, sql: str) -> Any:
        """The joined frame, typed like the embedded engine's: text groups, BIGINT timestamp,
        DOUBLE values. Checkpointed on first use, so it outlives the job's temp views."""
        from pyspark.sql import functions as F
        from pyspark.sql.types import NumericType

        frame = self.spark.sql(spark_sql(sql))
        columns = []
        for field in frame.schema.fields:
            column = F.col(_q(field.name))
            if field.name != "timestamp" and isinstance(field.dataType, NumericType):
                column = column.cast("double")
            columns.append(column.alias(field.name))
        return frame.select(*columns).localCheckpoint(eager=False)

    def to_pandas(self, frame: Any) -> pd.DataFrame:
        return frame.toArrow().to_pandas()

    def count(self, frame: Any, group_by: Sequence[str]) -> tuple[int, int]:
        """One aggregation on the executors (it also fills the result's checkpoint)."""
        from pyspark.sql import functions as F

        if not group_by:
            rows = frame.count()
            return rows, int(rows > 0)
        totals = frame.agg(F.count(F.lit(1)).alias("rows"),
                           F.countDistinct(*(F.col(_q(c)) for c in group_by)).alias("groups")).first()
        return int(totals["rows"]), int(totals["groups"])

    def drop(self, names: Sequence[str]) -> None:
        catalog = self.spark.catalog
        for name in reversed(list(names)):
            if catalog.tableExists(name):
                if catalog.isCached(name):
                    catalog.uncacheTable(name)
                catalog.dropTempView(name)

    def is_read_error(self, exc: BaseException) -> bool:
        """Whether an exception from a query is a file that could not be read (vs. a bug)."""
        if isinstance(exc, UnreadableFileError):
            return True
        text = str(exc)
        return any(s in text for s in ("FileNotFoundException", "EOFException", "ZipException",
                                       "CorruptedInputException", "FAILED_READ_FILE"))

    def is_data_error(self, exc: BaseException) -> bool:
        """A value Spark could not convert or compute with (ANSI mode), or operand types it refuses."""
        text = str(exc)
        return any(s in text for s in ("CAST_INVALID_INPUT", "ARITHMETIC_OVERFLOW", "DIVIDE_BY_ZERO",
                                       "NumberFormatException", "DATATYPE_MISMATCH"))


def _parquet_schema(path: str):
    import fsspec
    import pyarrow.parquet as pq

    with fsspec.open(path, "rb") as fh:
        return pq.read_schema(fh)


def _leaf_types(schema) -> dict[tuple[str, str], Any]:
    import pyarrow as pa

    types: dict[tuple[str, str], Any] = {}
    for f in schema:
        if f.name in ("data", "metadata") and pa.types.is_struct(f.type):
            for sub in f.type:
                types[(f.name, sub.name)] = sub.type
        else:
            types[("", f.name)] = f.type
    return types
