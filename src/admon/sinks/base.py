"""The sink protocol and the URL -> sink parser.

A sink has a ``url`` (its identity in the outbox), ``durable`` (fed through the
outbox, acknowledged per ``send``) and ``send(documents)``, which returns only once
the receiver has accepted every document, and raises :class:`SinkError` otherwise.
A durable sink may set ``chunk_size``: the outbox then hands it at most that many
documents per ``send`` and drops each acknowledged chunk from the outbox at once,
so a failure re-sends only the chunk in flight (the HTTP sink does; see
:mod:`admon.sinks.monit_http`).

>>> parse_sink("jsonl:///tmp/x").directory
'/tmp/x'
>>> parse_sink("kafka://broker")
Traceback (most recent call last):
...
admon.errors.ConfigError: sink 'kafka://broker' is not supported; use jsonl:///dir, http(s)://host:port/path or prometheus
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from admon.errors import AdmonError, ConfigError


class SinkError(AdmonError):
    """A sink did not accept documents (receiver down, refused, timed out); they stay queued."""

    http_status = 502


@runtime_checkable
class Sink(Protocol):
    url: str
    durable: bool

    def send(self, documents: list[dict[str, Any]]) -> None:
        """Deliver ``documents`` (in order); raise :class:`SinkError` unless all were accepted."""


def parse_sink(url: str, *, timeout_seconds: float = 10.0, chunk_size: int | None = 100) -> Sink:
    """The sink a URL names."""
    text = url.strip()
    if text.startswith("jsonl:"):
        from admon.sinks.jsonl import JsonlSink

        directory = text.removeprefix("jsonl:").removeprefix("//")
        if not directory:
            raise ConfigError(f"sink {url!r} names no folder; use jsonl:///absolute/folder")
        return JsonlSink(directory)
    if text.startswith(("http://", "https://")):
        from admon.sinks.monit_http import HttpSink

        return HttpSink(text, timeout_seconds=timeout_seconds, chunk_size=chunk_size)
    if text in ("prometheus", "prometheus://", "prometheus:"):
        from admon.sinks.prometheus import PrometheusSink

        return PrometheusSink()
    raise ConfigError(
        f"sink {url!r} is not supported; use jsonl:///dir, http(s)://host:port/path or prometheus"
    )


def parse_sinks(text: str | None, *, timeout_seconds: float = 10.0,
                chunk_size: int | None = 100) -> list[Sink]:
    """Every sink of a comma-separated list (``ADMON_SINKS``); empty text = no sinks."""
    sinks = [parse_sink(part, timeout_seconds=timeout_seconds, chunk_size=chunk_size)
             for part in (text or "").split(",") if part.strip()]
    urls = [s.url for s in sinks]
    dupes = sorted({u for u in urls if urls.count(u) > 1})
    if dupes:
        raise ConfigError(f"ADMON_SINKS names {dupes} more than once; list each sink once")
    return sinks
