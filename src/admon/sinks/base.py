"""The sink protocol, the sink registry and the URL -> sink builder.

A sink has a ``url`` (its identity in the outbox), ``durable`` (fed through the
outbox, acknowledged per ``send``) and ``send(documents)``, which returns only once
the receiver has accepted every document, and raises :class:`SinkError` otherwise.
A durable sink may set ``chunk_size``: the outbox then hands it at most that many
documents per ``send`` and drops each acknowledged chunk from the outbox at once,
so a failure re-sends only the chunk in flight (the HTTP sink does; see
:mod:`admon.sinks.monit_http`).

A sink kind is a class in :data:`SINKS` (entry-point group ``admon.sinks``), the same
shape as every other plugin point (:mod:`admon.plugins`). It declares the URL schemes
it handles (``url_schemes``, the text before the first ``:``; its registered name by
default), the form its URL takes in messages (``url_form``) and a classmethod
``from_url(url, options)`` building it from a URL and :class:`SinkOptions`::

    @register_sink("memory")
    class MemorySink:
        url_form = "memory"
        durable = False

        @classmethod
        def from_url(cls, url: str, options: SinkOptions) -> MemorySink: ...

A plugin package declares it instead with
``[project.entry-points."admon.sinks"] memory = "my_package.sinks:MemorySink"``.

>>> parse_sink("jsonl:///tmp/x").directory
'/tmp/x'
>>> parse_sink("kafka://broker")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
admon.errors.ConfigError: sink 'kafka://broker' is not supported; use alertmanager:http(s)://host:9093, jsonl:///dir, ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from admon.errors import ConfigError, SinkError
from admon.plugins import Registry

__all__ = ["SINKS", "Sink", "SinkError", "SinkOptions", "parse_sink", "parse_sinks", "register_sink"]


@runtime_checkable
class Sink(Protocol):
    url: str
    durable: bool

    def send(self, documents: list[dict[str, Any]]) -> None:
        """Deliver ``documents`` (in order); raise :class:`SinkError` unless all were accepted."""


@dataclass(frozen=True)
class SinkOptions:
    """Settings every sink kind is built with (``ADMON_SINK_TIMEOUT_SECONDS``, ``ADMON_SINK_CHUNK_SIZE``)."""

    timeout_seconds: float = 10.0
    chunk_size: int | None = 100


#: Sink kinds by name; the built-ins register themselves when their module is imported.
SINKS: Registry[type] = Registry(
    "sink", "admon.sinks",
    builtin_modules=("admon.sinks.jsonl", "admon.sinks.monit_http", "admon.sinks.prometheus",
                     "admon.sinks.webhook", "admon.sinks.alertmanager"),
)
register_sink = SINKS.register


def url_scheme(url: str) -> str:
    """The text before the first ``:`` (the whole text if none), lower-cased: how a URL picks its sink kind.

    >>> url_scheme("jsonl:///tmp/x"), url_scheme("HTTPS://h/x"), url_scheme("prometheus")
    ('jsonl', 'https', 'prometheus')
    """
    return url.split(":", 1)[0].strip().lower()


def sink_kind(url: str) -> type:
    """The registered sink class handling ``url``'s scheme; a ConfigError listing the forms otherwise."""
    scheme = url_scheme(url)
    for name, cls in SINKS.items():
        if scheme in getattr(cls, "url_schemes", (name,)):
            return cls
    forms = ", ".join(getattr(cls, "url_form", name) for name, cls in SINKS.items())
    raise ConfigError(
        f"sink {url!r} is not supported; use {forms} "
        f"(or install a sink plugin: entry-point group {SINKS.group!r})"
    )


def parse_sink(url: str, *, timeout_seconds: float = 10.0, chunk_size: int | None = 100) -> Sink:
    """The sink a URL names, built by the registered kind of its scheme."""
    text = url.strip()
    cls = sink_kind(text)
    from_url = getattr(cls, "from_url", None)
    if from_url is None:
        raise ConfigError(f"sink kind {cls.__name__} ({getattr(cls, 'name', '?')}) has no classmethod "
                          "from_url(url, options); add one to build it from its URL")
    sink = from_url(text, SinkOptions(timeout_seconds=timeout_seconds, chunk_size=chunk_size))
    if not isinstance(sink, Sink):
        raise ConfigError(f"sink kind {cls.__name__} built {sink!r} for {url!r}, which is not a Sink "
                          "(it needs url, durable and send(documents))")
    return sink


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
