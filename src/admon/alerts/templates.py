"""The templates of alert labels and annotations: Jinja in a sandbox, strict about names.

A template sees the incident's fields (:data:`TEMPLATE_FIELDS`): ``{{ entity }}``,
``{{ group.host }}``, ``{{ peak_score | round(1) }}``, ``{{ features | join(', ') }}``... A name
that is not one of them is an error (``StrictUndefined``), found when the rule is saved
(:func:`validate_template` renders it on an example incident), not when an alert is due.
The sandbox (:class:`~jinja2.sandbox.SandboxedEnvironment`) keeps a template from reaching
Python internals: templates are user input.

>>> render("{{ entity }}: {{ group.host }} at {{ peak_score | round(1) }}",
...        {"entity": "xrootd", "group": {"host": "h1"}, "peak_score": 97.04})
'xrootd: h1 at 97.0'
>>> validate_template("{{ grup.host }}", "annotations.summary", ["host"])
Traceback (most recent call last):
...
admon.errors.ConfigError: annotations.summary: template '{{ grup.host }}' cannot be rendered: 'grup' is undefined; use only the incident fields entity, entity_id, incident_id, group, start, end, start_iso, end_iso, peak_score, peak_timestamp, features, status, severity, duration_minutes, url (the group's keys: group.host)
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from admon.errors import ConfigError

#: The names a label or annotation template may use: the incident as the alert reports it.
TEMPLATE_FIELDS = ("entity", "entity_id", "incident_id", "group", "start", "end", "start_iso", "end_iso",
                   "peak_score", "peak_timestamp", "features", "status", "severity", "duration_minutes",
                   "url")
#: Longest template text accepted (a label or annotation is a line or a paragraph, not a program).
MAX_TEMPLATE_LENGTH = 4000


@functools.lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    # made on first use, not at import; autoescape off: the output is a label value, not HTML
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


@functools.lru_cache(maxsize=512)
def _compiled(text: str) -> Template:
    return _environment().from_string(text)


def render(text: str, context: Mapping[str, Any]) -> str:
    """``text`` rendered with ``context``; raises :class:`jinja2.TemplateError` on any error."""
    return _compiled(text).render(**context)


def example_context(group_keys: Sequence[str]) -> dict[str, Any]:
    """An incident with every template field set, of a group with ``group_keys``: what
    :func:`validate_template` renders a template on."""
    return {"entity": "example entity", "entity_id": 1, "incident_id": "0" * 64,
            "group": {key: "example" for key in group_keys}, "start": 1_652_169_600_000,
            "end": 1_652_173_200_000, "start_iso": "2022-05-10T08:00:00Z", "end_iso": "2022-05-10T09:00:00Z",
            "peak_score": 97.5, "peak_timestamp": 1_652_170_500_000, "features": ["value"],
            "status": "open", "severity": "critical", "duration_minutes": 60.0,
            "url": "http://localhost:8080/entities/1"}


def validate_template(text: str, field: str, group_keys: Sequence[str]) -> None:
    """Raise :class:`ConfigError` naming ``field`` unless ``text`` parses and renders on an
    example incident of an entity grouped by ``group_keys``."""
    if len(text) > MAX_TEMPLATE_LENGTH:
        raise ConfigError(f"{field}: template is {len(text)} characters long; keep it under "
                          f"{MAX_TEMPLATE_LENGTH}")
    try:
        render(text, example_context(group_keys))
    except TemplateError as exc:
        keys = ", ".join(f"group.{key}" for key in group_keys) or "none: the entity has no group keys"
        raise ConfigError(
            f"{field}: template {text!r} cannot be rendered: {exc}; use only the incident fields "
            f"{', '.join(TEMPLATE_FIELDS)} (the group's keys: {keys})"
        ) from None
