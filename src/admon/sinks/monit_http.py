"""``http(s)://host:port/path``: MONIT-style HTTP POST of a JSON list of documents.

A 2xx answer acknowledges the whole batch; anything else (refused connection,
timeout, 4xx/5xx) raises :class:`~admon.sinks.base.SinkError` and the documents
stay in the outbox, to be sent again (in the same order) after a backoff.
"""

from __future__ import annotations

import json
from typing import Any

from admon.sinks.base import SinkError


class HttpSink:
    durable = True

    def __init__(self, url: str, *, timeout_seconds: float = 10.0) -> None:
        self.url = url
        self.timeout_seconds = timeout_seconds
        self._client = None

    def _http(self):
        import httpx

        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout_seconds)
        return self._client

    def send(self, documents: list[dict[str, Any]]) -> None:
        import httpx

        body = json.dumps(documents, separators=(",", ":"), allow_nan=False)
        try:
            reply = self._http().post(self.url, content=body,
                                      headers={"Content-Type": "application/json; charset=UTF-8"})
        except httpx.HTTPError as exc:
            raise SinkError(f"POST {self.url} failed: {type(exc).__name__}: {exc}") from exc
        if not 200 <= reply.status_code < 300:
            raise SinkError(f"POST {self.url} answered {reply.status_code}: {reply.text[:200]!r}")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __repr__(self) -> str:
        return f"HttpSink({self.url!r})"
