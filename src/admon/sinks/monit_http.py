"""``http(s)://host:port/path``: MONIT-style HTTP POST of a JSON list of documents.

Delivery is at least once, with a bound on duplicates. The outbox hands this sink
at most ``chunk_size`` documents (``ADMON_SINK_CHUNK_SIZE``, 100 by default) per
:meth:`HttpSink.send`, which is one request; a 2xx answer acknowledges that chunk,
and the outbox drops its documents at once, before the next chunk is sent. Anything
else (refused connection, timeout, 4xx/5xx) raises
:class:`~admon.errors.SinkError`: the chunk and everything after it stay queued
and are sent again, in the same order, after a backoff. So a receiver sees a
document twice only when the chunk carrying it was in flight at a failure: a reply
lost or too late (timeout), or the sending process killed between the receiver's
answer and the outbox commit. Each such failure re-sends one chunk: at most
``chunk_size`` duplicates per failure.

Each request says what it carries, for a receiver that drops duplicates:

- every document has its deterministic ``id`` in the body (the per-document key;
  the same window and group always get the same id, also when re-computed) and its
  ``revision`` (above 1 when late data re-ran the window: a new version, not a duplicate);
- the ``Idempotency-Key`` header is the sha256 (hex) of the chunk's document ids
  (with their revision above 1, :func:`~admon.sinks.documents.delivery_key`) joined by newlines, in order: a chunk re-sent as it was carries the same key.
  (A re-sent chunk can differ when other documents were queued ahead of it in the
  meantime; a receiver that must drop every duplicate uses the document ids.)

>>> idempotency_key(["a", "b"]) == idempotency_key(["a", "b"]) != idempotency_key(["b", "a"])
True
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx

from admon.errors import SinkError
from admon.sinks.base import SinkOptions, register_sink
from admon.sinks.documents import delivery_key

IDEMPOTENCY_HEADER = "Idempotency-Key"


def idempotency_key(document_ids: list[str]) -> str:
    """The ``Idempotency-Key`` of a request carrying documents with these ids, in this order."""
    return hashlib.sha256("\n".join(document_ids).encode()).hexdigest()


class JsonPoster:
    """An HTTP client made on first use that POSTs JSON and wants a 2xx, else a SinkError.

    Shared by the sinks that deliver over HTTP (this one and the webhook sink).
    """

    timeout_seconds: float
    _client: httpx.Client | None = None

    def _post_json(self, url: str, payload: Any, document_ids: list[str],
                   headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload, separators=(",", ":"), allow_nan=False)
        sent = {**(headers or {}), "Content-Type": "application/json; charset=UTF-8",
                IDEMPOTENCY_HEADER: idempotency_key(document_ids)}
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout_seconds)
        try:
            reply = self._client.post(url, content=body, headers=sent)
        except httpx.HTTPError as exc:
            raise SinkError(f"POST {url} failed: {type(exc).__name__}: {exc}") from exc
        if not 200 <= reply.status_code < 300:
            raise SinkError(f"POST {url} answered {reply.status_code}: {reply.text[:200]!r}")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


@register_sink("monit_http")
class HttpSink(JsonPoster):
    url_schemes = ("http", "https")
    url_form = "http(s)://host:port/path"
    durable = True

    def __init__(self, url: str, *, timeout_seconds: float = 10.0, chunk_size: int | None = 100) -> None:
        self.url = url
        self.timeout_seconds = timeout_seconds
        #: Most documents per request (the outbox splits its batches into chunks of this size).
        self.chunk_size = chunk_size

    @classmethod
    def from_url(cls, url: str, options: SinkOptions) -> HttpSink:
        return cls(url.strip(), timeout_seconds=options.timeout_seconds, chunk_size=options.chunk_size)

    def send(self, documents: list[dict[str, Any]]) -> None:
        """POST ``documents`` as one request; return once the receiver answered 2xx."""
        self._post_json(self.url, documents, [delivery_key(d) for d in documents])

    def __repr__(self) -> str:
        return f"HttpSink({self.url!r})"
