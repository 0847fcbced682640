"""``webhook:http(s)://host/path``: each document POSTed alone, as a JSON object.

The durable sink of actions: a forecast notice (and every alert after it) is a document
queued in the outbox in the commit of the run that decided it, and delivered after that
commit, so a run that lost its lease (and never committed) sends nothing. The outbox hands
this sink one document at a time (``chunk_size`` 1); a 2xx answer acknowledges it,
anything else (refused, timeout, 4xx/5xx) raises :class:`~admon.errors.SinkError` and the
notice is sent again after a backoff, with the same ``Idempotency-Key`` (the scheme of
:mod:`admon.sinks.monit_http`: sha256 of the document id), so a receiver that got it
but whose answer was lost can drop the repeat.

A job config names its webhook with a URL, optional headers (e.g. ``Authorization``) and
a timeout (:class:`WebhookSink`); in ``ADMON_SINKS`` it is ``webhook:https://host/path``.
Its identity in the outbox (``url``) is ``webhook:<endpoint>``, plus a digest of the
headers when there are some (never the headers themselves).

>>> WebhookSink("https://example.org/hook").url
'webhook:https://example.org/hook'
>>> WebhookSink("https://example.org/hook", headers={"Authorization": "Bearer x"}).url
'webhook:https://example.org/hook#h=783cd19dd615'
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from admon.errors import ConfigError
from admon.sinks.base import SinkOptions, register_sink
from admon.sinks.monit_http import JsonPoster

SCHEME = "webhook:"


@register_sink("webhook")
class WebhookSink(JsonPoster):
    url_schemes = ("webhook",)
    url_form = "webhook:http(s)://host/path"
    durable = True
    #: One notice per request: the receiver gets a JSON object, acknowledged on its own.
    chunk_size = 1

    def __init__(self, endpoint: str, *, headers: dict[str, str] | None = None,
                 timeout_seconds: float = 10.0) -> None:
        if not endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"webhook URL {endpoint!r} is not an http(s) URL; e.g. https://host/hook")
        self.endpoint = endpoint
        self.headers = dict(headers or {})
        self.timeout_seconds = timeout_seconds
        self.url = SCHEME + endpoint
        if self.headers:
            digest = hashlib.sha256(json.dumps(self.headers, sort_keys=True).encode()).hexdigest()
            self.url += f"#h={digest[:12]}"

    @classmethod
    def from_url(cls, url: str, options: SinkOptions) -> WebhookSink:
        return cls(url.strip()[len(SCHEME):], timeout_seconds=options.timeout_seconds)

    def send(self, documents: list[dict[str, Any]]) -> None:
        """POST each document as its own request; return once every one was answered 2xx."""
        for doc in documents:
            self._post_json(self.endpoint, doc, [str(doc["id"])], self.headers)

    def __repr__(self) -> str:
        return f"WebhookSink({self.endpoint!r})"
