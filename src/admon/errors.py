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


class SinkError(AdmonError):
    """A sink did not accept documents (receiver down, refused, timed out); they stay queued."""

    http_status = 502
