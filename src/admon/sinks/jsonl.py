"""``jsonl:///dir``: one JSON-lines file per UTC day of the document's ``timestamp``.

Writing is idempotent: the sink knows the ids already in a day's file (read once,
then only the bytes appended since) and skips them, so a batch re-sent after a
crash is not written twice. A later ``revision`` of a document (a window re-run for
late data) is a new line: ids count with their revision (:func:`delivery_key`). A last line cut short by a crash is removed before
the next append. Each batch is one ``write`` followed by ``fsync``.

>>> import tempfile, json, pathlib
>>> sink = JsonlSink(tempfile.mkdtemp())
>>> docs = [{"id": "a", "timestamp": 1652173200000}, {"id": "b", "timestamp": 1652173200000}]
>>> sink.send(docs); sink.send(docs)
>>> [json.loads(l)["id"] for l in (pathlib.Path(sink.directory) / "2022-05-10.jsonl").read_text().splitlines()]
['a', 'b']
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from admon.errors import ConfigError, SinkError
from admon.sinks.base import SinkOptions, register_sink
from admon.sinks.documents import delivery_key

#: Day files whose ids the sink keeps in memory (a window's documents fall on one or two days).
DAYS_KEPT = 4


@register_sink("jsonl")
class JsonlSink:
    url_form = "jsonl:///dir"
    durable = True

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.url = f"jsonl://{directory}" if directory.startswith("/") else f"jsonl:{directory}"
        # file name -> (ids in it, bytes already read)
        self._seen: dict[str, tuple[set[str], int]] = {}

    @classmethod
    def from_url(cls, url: str, options: SinkOptions) -> JsonlSink:
        """``jsonl:///absolute/folder`` (or ``jsonl:relative/folder``)."""
        directory = url.strip().split(":", 1)[1].removeprefix("//")
        if not directory:
            raise ConfigError(f"sink {url!r} names no folder; use jsonl:///absolute/folder")
        return cls(directory)

    def path_for(self, timestamp_ms: int) -> Path:
        day = dt.datetime.fromtimestamp(timestamp_ms / 1000, dt.UTC).date()
        return Path(self.directory) / f"{day.isoformat()}.jsonl"

    def send(self, documents: list[dict[str, Any]]) -> None:
        by_file: dict[Path, list[dict[str, Any]]] = {}
        for doc in documents:
            by_file.setdefault(self.path_for(int(doc["timestamp"])), []).append(doc)
        try:
            Path(self.directory).mkdir(parents=True, exist_ok=True)
            for path, docs in by_file.items():
                self._append(path, docs)
        except OSError as exc:
            raise SinkError(f"cannot write to {self.url}: {exc}; check the folder exists and is writable") from exc

    def _append(self, path: Path, docs: list[dict[str, Any]]) -> None:
        ids = self._ids(path)
        lines = []
        for doc in docs:
            key = delivery_key(doc)
            if key in ids:
                continue
            ids.add(key)
            lines.append(json.dumps(doc, separators=(",", ":"), allow_nan=False))
        if not lines:
            return
        data = ("\n".join(lines) + "\n").encode()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        seen, _ = self._seen[str(path)]
        self._seen[str(path)] = (seen, path.stat().st_size)

    def _ids(self, path: Path) -> set[str]:
        """Ids in ``path``, reading only what was appended since the last call.

        The ids of at most :data:`DAYS_KEPT` files stay in memory (the least recently written
        goes first: a day that gets documents again is read again), so a scheduler running for
        months does not keep every id it ever wrote.
        """
        seen, offset = self._seen.pop(str(path), (set(), 0))
        while len(self._seen) >= DAYS_KEPT:
            self._seen.pop(next(iter(self._seen)))
        if not path.exists():
            self._seen[str(path)] = (seen, 0)
            return seen
        size = path.stat().st_size
        if size < offset:  # replaced or truncated by someone else: read it again
            seen, offset = set(), 0
        with open(path, "rb") as handle:
            handle.seek(offset)
            tail = handle.read()
        complete = tail[: tail.rfind(b"\n") + 1]
        if len(complete) < len(tail):
            # A crash cut the last line short: drop it, its document will be written again.
            os.truncate(path, offset + len(complete))
        for line in complete.splitlines():
            if line.strip():
                seen.add(delivery_key(json.loads(line)))
        self._seen[str(path)] = (seen, offset + len(complete))
        return seen

    def __repr__(self) -> str:
        return f"JsonlSink({self.directory!r})"
