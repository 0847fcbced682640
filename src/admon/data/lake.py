"""The lake layout: ``<root>/<producer>/<type_prefix>/<type>/YYYY/MM/DD/<files>``.

Only the day folders that overlap the read window are listed, so files of other
days are never opened. Roots are local folders or fsspec URLs (``file://``,
``s3://``, ``hdfs://``).

Paths never leave the lake root:

* ``producer``, ``type_prefix`` and ``type`` are *lake names*: 1 to 255 of the
  characters ``A-Z a-z 0-9 _ . -``, and not ``.`` or ``..`` (:func:`check_name`).
* admon lists the files itself and hands each engine exact paths, never patterns.
* An entry with a data suffix is read only if it is a regular file inside the
  root; anything else is skipped under a reason (:data:`admon.data.report.FILE_REASONS`)
  without being opened: ``outside_lake`` (a symlink, or a symlinked day folder,
  resolving outside the root), ``not_regular_file`` (FIFO, socket, device, a
  directory named ``*.json``, a dangling link), ``unsafe_file_name`` (a name with
  ``\\``, ``:`` or a control character, which one engine or another cannot address
  literally). Symlinks only exist on local roots; on fsspec roots every entry that
  is not a file is ``not_regular_file``.

>>> day_folder("/lake", "collectd/raw/monitoring", __import__("datetime").date(2022, 5, 10))
'/lake/collectd/raw/monitoring/2022/05/10'
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import stat
from dataclasses import dataclass, field
from typing import Literal

import fsspec

from admon.errors import ConfigError
from admon.timeutil import days_overlapping

FileFormat = Literal["json", "parquet"]

# Suffix -> format. JSON lines may be gzipped; Parquet carries its own compression.
_SUFFIXES: dict[str, FileFormat] = {
    ".json": "json", ".jsonl": "json", ".ndjson": "json",
    ".json.gz": "json", ".jsonl.gz": "json", ".ndjson.gz": "json",
    ".parquet": "parquet",
}


#: The characters of a lake name (producer, type_prefix, type), as shown in errors.
NAME_CHARACTERS = "A-Z a-z 0-9 _ . -"
_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,255}")
# A file name some engine cannot address literally: a Hadoop path cannot hold a colon, and
# DuckDB's glob expansion splits at a backslash; control characters would garble reports.
_UNSAFE_FILE_NAME_RE = re.compile(r"[\\:\x00-\x1f\x7f]")


def check_name(value: str) -> str:
    """``value`` if it is a lake name (a producer, type_prefix or type), else a ValueError naming it.

    >>> check_name("collectd")
    'collectd'
    >>> check_name("..")
    Traceback (most recent call last):
    ...
    ValueError: '..' is not a lake name: use 1 to 255 of the characters A-Z a-z 0-9 _ . - (not '.' or '..'), e.g. 'collectd'
    """
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value) or value in (".", ".."):
        raise ValueError(
            f"{value!r} is not a lake name: use 1 to 255 of the characters {NAME_CHARACTERS} "
            "(not '.' or '..'), e.g. 'collectd'"
        )
    return value


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


@dataclass
class LakeListing:
    """What :func:`list_files` found in the day folders of one source."""

    files: list[LakeFile] = field(default_factory=list)  # to read, sorted by path
    ignored: list[str] = field(default_factory=list)  # not data by their suffix (_SUCCESS, .crc, ...)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (reason, path): data names not read


def list_files(root: str, source_path: str, start_ms: int, end_ms: int) -> LakeListing:
    """Data files of one source whose day folder overlaps ``[start_ms, end_ms)``, sorted by path.

    Entries are classified by ``lstat``/``stat`` only, never opened (a FIFO would block an open).
    """
    for part in source_path.split("/"):  # SourceConfig checks its names; this guards other callers
        try:
            check_name(part)
        except ValueError as exc:
            raise ConfigError(f"lake path {source_path!r}: {exc}") from None
    fs, root_path = fsspec.core.url_to_fs(root)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    local = protocol in ("file", "local")
    # resolved once: a root that is itself a symlink (e.g. /data/lake -> /mnt/lake) is fine
    real_root = os.path.realpath(root_path) if local else None
    listing = LakeListing()
    for day in days_overlapping(start_ms, end_ms):
        folder = day_folder(root_path, source_path, day)
        if not fs.isdir(folder):
            continue
        entries = _local_entries(folder, real_root) if local else _remote_entries(fs, folder)
        for path, reason in sorted(entries):
            fmt = file_format(path)
            if fmt is None:
                listing.ignored.append(path)
            elif reason is None and _UNSAFE_FILE_NAME_RE.search(path.rsplit("/", 1)[-1]):
                listing.skipped.append(("unsafe_file_name", path))
            elif reason is not None:
                listing.skipped.append((reason, path))
            else:
                listing.files.append(LakeFile(path if local else fs.unstrip_protocol(path), fmt, day))
    return listing


def _local_entries(folder: str, real_root: str) -> list[tuple[str, str | None]]:
    """(path, reason it is not read or None) of every entry of a local day folder."""
    out = []
    with os.scandir(folder) as entries:
        for entry in entries:
            path = f"{folder}/{entry.name}"
            real = os.path.realpath(path)
            if os.path.commonpath([real_root, real]) != real_root:
                out.append((path, "outside_lake"))  # a symlink, or a symlinked day folder
                continue
            try:
                regular = stat.S_ISREG(os.stat(path).st_mode)
            except OSError:  # a dangling or looping link
                regular = False
            out.append((path, None if regular else "not_regular_file"))
    return out


def _remote_entries(fs, folder: str) -> list[tuple[str, str | None]]:
    """(path, reason it is not read or None) of every entry of a day folder on an fsspec root."""
    out = []
    prefix = folder.rstrip("/") + "/"
    for info in fs.ls(folder, detail=True):
        path = info["name"].rstrip("/")
        name = path[len(prefix):] if path.startswith(prefix) else ""
        if not name or "/" in name or name in (".", ".."):
            out.append((path, "outside_lake"))  # an object key that names something else
        else:
            out.append((path, None if info.get("type") == "file" else "not_regular_file"))
    return out


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
