"""The one error hierarchy of admon.

Every message names the bad value and says how to fix it. The service layer
turns these into HTTP responses in one place (``admon.service``), the CLI into
a red line and exit code 2.

>>> raise ConfigError("agg_method 'mean' is not supported; use one of: avg, sum")
Traceback (most recent call last):
...
admon.errors.ConfigError: agg_method 'mean' is not supported; use one of: avg, sum
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any


class AdmonError(Exception):
    """Base of every error admon raises on purpose."""

    #: HTTP status the service answers with for this error.
    http_status: int = 500


class ConfigError(AdmonError, ValueError):
    """A configuration, parameter or request is invalid."""

    http_status = 422


class DataError(AdmonError):
    """Input data is unreadable or invalid (raised in strict mode, or when nothing can be read)."""

    http_status = 422


class NotFittedError(AdmonError):
    """A detector or forecaster was used before ``fit``."""

    http_status = 409


class NotFoundError(AdmonError, LookupError):
    """A named thing (project, entity, run, model) does not exist or is not visible to the caller."""

    http_status = 404


class PermissionDeniedError(AdmonError):
    """The caller may see the thing but not change it."""

    http_status = 403


class ConflictError(AdmonError):
    """The request clashes with existing state (a duplicate title, a run already leased)."""

    http_status = 409


class IntegrityError(AdmonError):
    """Stored content does not match its recorded hash (a tampered or corrupt artifact)."""

    http_status = 409


class AuthenticationError(PermissionDeniedError):
    """No valid credentials were given for something that needs them (HTTP 401)."""

    http_status = 401


class UnreadableFileError(DataError):
    """A file of the lake cannot be read at all (corrupt, truncated, wrong format): the data job
    skips and counts it, or names it in strict mode."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class SinkError(AdmonError):
    """A sink did not accept documents (receiver down, refused, timed out); they stay queued."""

    http_status = 502


# --------------------------------------------------------------------------- validation errors
def _dotted(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc)


def explain_validation(exc: Any, what: str, *, valid: Iterable[str] | None = None, noun: str = "field",
                       name_of: Callable[[Sequence[Any]], str] = _dotted,
                       show: Callable[[Any], str] | None = repr) -> str:
    """One line naming every problem of a pydantic ``ValidationError`` (or FastAPI's
    ``RequestValidationError``): where, what is wrong, the value given and the fix.

    ``what`` names the thing validated ("SourceConfig", "request"); ``valid`` lists the
    allowed names for an unknown one, called a ``noun`` ("field", "parameter");
    ``name_of(loc)`` names a location (default: dotted, ``rename.value``); ``show(value)``
    shows a given value (None: never show it, e.g. for settings that hold secrets).
    Messages of our own validators name their field already and are kept as they are.

    >>> from pydantic import BaseModel, ConfigDict, ValidationError
    >>> class Box(BaseModel):
    ...     model_config = ConfigDict(extra="forbid")
    ...     size: int
    ...     colour: str = "red"
    >>> try:
    ...     Box(size="big", weight=3)
    ... except ValidationError as exc:
    ...     print(explain_validation(exc, "Box", valid=Box.model_fields))
    invalid Box: size: Input should be a valid integer, unable to parse string as an integer (got 'big'); unknown field 'weight'; remove it (valid fields: size, colour)
    """
    problems = [_explain_one(err, what, valid, noun, name_of, show) for err in exc.errors()]
    return f"invalid {what}: " + "; ".join(problems)


def _explain_one(err: dict[str, Any], what: str, valid: Iterable[str] | None, noun: str,
                 name_of: Callable[[Sequence[Any]], str], show: Callable[[Any], str] | None) -> str:
    where = name_of(tuple(err.get("loc", ())))
    kind = err.get("type")
    msg = str(err.get("msg", "")).removeprefix("Value error, ")
    given = err.get("input")
    if kind == "json_invalid":
        detail = (err.get("ctx") or {}).get("error", msg)
        return f"the {where or 'text'} is not valid JSON ({detail}); send a JSON object"
    if kind in ("model_attributes_type", "model_type", "dict_type") and where in ("", "body"):
        subject = "the body" if where == "body" else what
        return f"{subject} must be a JSON object, got {type(given).__name__}"
    if kind == "missing":
        return f"{where}: missing; add it"
    if kind == "extra_forbidden":
        names = ", ".join(valid) if valid is not None else ""
        return f"unknown {noun} {where!r}; remove it" + (f" (valid {noun}s: {names})" if names else "")
    if not where:  # a check of the whole object: its message names the fields
        return msg
    if kind == "value_error" or show is None:  # our own messages name the value already
        return msg if msg.startswith(where) else f"{where}: {msg}"
    return f"{where}: {msg} (got {show(given)})"


class SourceReadError(DataError):
    """A query source (Prometheus, InfluxDB) could not be read; ``reason`` is one of
    :data:`admon.data.sources.SOURCE_REASONS`, counted in the read report (or raised in strict mode)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class WorkerLostError(AdmonError):
    """A peer worker of distributed pretraining died or hung and did not come back within the
    rejoin timeout; the message names the missing ranks."""
