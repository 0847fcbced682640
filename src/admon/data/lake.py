"""The lake layout: ``<root>/<producer>/<type_prefix>/<type>/YYYY/MM/DD/<files>``.

Only the day folders that overlap the read window are listed, so files of other
days are never opened. Roots are local folders or fsspec URLs (``file://``,
``s3://``, ``hdfs://``).

>>> day_folder("/lake", "collectd/raw/monitoring", __import__("datetime").date(2022, 5, 10))
'/lake/collectd/raw/monitoring/2022/05/10'
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Literal

import fsspec

from admon.timeutil import days_overlapping

FileFormat = Literal["json", "parquet"]

# Suffix -> format. JSON lines may be gzipped; Parquet carries its own compression.
_SUFFIXES: dict[str, FileFormat] = {
    ".json": "json", ".jsonl": "json", ".ndjson": "json",
    ".json.gz": "json", ".jsonl.gz": "json", ".ndjson.gz": "json",
    ".parquet": "parquet",
}


@dataclass(frozen=True)
class LakeFile:
    path: str  # as the engine must open it: a local path or a full URL
    format: FileFormat
    day: dt.date


def file_format(name: str) -> FileFormat | None:
    """The format of a lake file by its suffix, or None for files that are not data (e.g. _SUCCESS)."""
    lower = name.lower()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix):
            return _SUFFIXES[suffix]
    return None


def day_folder(root: str, source_path: str, day: dt.date) -> str:
    return f"{root.rstrip('/')}/{source_path}/{day:%Y/%m/%d}"


def list_files(root: str, source_path: str, start_ms: int, end_ms: int) -> tuple[list[LakeFile], list[str]]:
    """Data files of one source whose day folder overlaps ``[start_ms, end_ms)``, sorted by path.

    Returns the files and the names of ignored non-data files in those folders.
    """
    fs, root_path = fsspec.core.url_to_fs(root)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    remote = protocol not in ("file", "local")
    files: list[LakeFile] = []
    ignored: list[str] = []
    for day in days_overlapping(start_ms, end_ms):
        folder = day_folder(root_path, source_path, day)
        if not fs.isdir(folder):
            continue
        for path in sorted(fs.ls(folder, detail=False)):
            fmt = file_format(path)
            if fmt is None:
                ignored.append(path)
                continue
            files.append(LakeFile(fs.unstrip_protocol(path) if remote else path, fmt, day))
    return files, ignored


def parquet_schema(path: str):
    """The Arrow schema of a Parquet file (its footer), cached by path, size and modification time:
    the schema sampling and the engine both need it, and footers are read over the network on
    remote lakes."""
    fs, local = fsspec.core.url_to_fs(path)
    info = fs.info(local)
    return _parquet_schema(path, info.get("size"), info.get("mtime") or info.get("LastModified"))


@functools.lru_cache(maxsize=4096)
def _parquet_schema(path: str, size, mtime):
    import pyarrow.parquet as pq

    with fsspec.open(path, "rb") as fh:
        return pq.read_schema(fh)
