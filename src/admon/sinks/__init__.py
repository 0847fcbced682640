"""Where results go: sinks named by URL in ``ADMON_SINKS`` (comma-separated).

- ``jsonl:///dir``: one JSON-lines file per UTC day, duplicates dropped by document id.
- ``http://host:port/path`` (or https): MONIT-style POST of a JSON list of documents.
- ``prometheus``: gauges on the ``/metrics`` endpoint of the scheduler or the service.

Durable sinks (jsonl, http) are fed from the outbox table: a document stays there
until the sink acknowledged it (:mod:`admon.sinks.outbox`), so nothing is lost
when a process dies and nothing is sent twice once acknowledged.

>>> [s.url for s in parse_sinks("jsonl:///tmp/out, prometheus")]
['jsonl:///tmp/out', 'prometheus']
"""

from __future__ import annotations

from admon.sinks.base import Sink, SinkError, parse_sink, parse_sinks
from admon.sinks.documents import build_document, document_id

__all__ = ["Sink", "SinkError", "parse_sink", "parse_sinks", "build_document", "document_id"]
