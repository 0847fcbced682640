"""What the query sources that answer over HTTP share (Prometheus, InfluxDB): the server's URL,
credentials, TLS, timeouts, retries, and the rule that no request leaves the configured server.

A request that fails to connect, times out or gets a 5xx answer is retried ``retries`` times
(waiting 0.5 s, then 1 s, ...); if it still fails, the source cannot be read
(:class:`~admon.errors.SourceReadError`, counted by the read or raised in strict mode).
A redirect is never followed: it is a :class:`~admon.errors.ConfigError` naming where the
server points, so that a token is never sent to a server the user did not configure.
Credentials are not stored with the config: ``bearer_token_env`` names the environment
variable that holds the token. Errors quote only the API's own error message, never the body
of another answer: a url pointing at some other service leaks nothing of it through run errors.
"""

from __future__ import annotations

import os
import time
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from pydantic import Field, field_validator

from admon.config import InputDataConfig, QuerySource
from admon.errors import ConfigError, SourceReadError
from admon.settings import Settings, load_settings

_FIRST_RETRY_WAIT_S = 0.5


class HttpQuerySource(QuerySource):
    """A query source read from an HTTP API (base of PrometheusSource and InfluxSource)."""

    url: str | None = Field(None, description="Base URL of the server; None: the kind's ADMON_*_URL setting.")
    timeout_s: float = Field(30.0, gt=0, description="Timeout of one request, in seconds.")
    retries: int = Field(2, ge=0, le=10, description="Retries of a request that failed to connect, "
                         "timed out or got a 5xx answer.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers (stored "
                                    "with the config: put secrets in bearer_token_env instead).")
    bearer_token_env: str | None = Field(None, description="Environment variable holding a bearer token, "
                                         "sent as 'Authorization: Bearer <token>'.")
    ca_file: str | None = Field(None, description="CA bundle (PEM) that verifies the server's certificate.")
    verify: bool = Field(True, description="Verify the server's TLS certificate (False: only for tests).")

    #: The server's name in messages and the setting that gives its default URL.
    server_name: ClassVar[str] = "server"
    url_setting: ClassVar[str] = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """The query may come first by position: ``PrometheusSource("up", url=...)``."""
        name = type(self).__name__
        if len(args) > 1:
            raise ConfigError(f"{name} takes one positional argument (the query), got {len(args)}; "
                              "pass the others by name")
        if args:
            if "query" in kwargs:
                raise ConfigError(f"{name} got 'query' both by position and by name")
            kwargs["query"] = args[0]
        super().__init__(**kwargs)  # a ConfigError naming the bad field

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str | None) -> str | None:
        return None if url is None else check_base_url(url, "url")

    def base_url(self) -> str:
        """The configured URL, or the setting's; a ConfigError naming both when neither is set."""
        if self.url is not None:
            return self.url
        configured = getattr(load_settings(), self.url_setting)
        if not configured:
            variable = "ADMON_" + self.url_setting.upper()
            raise ConfigError(f"{self.describe()} has no url; pass url='http://host:port' or set {variable}")
        return check_base_url(configured, "ADMON_" + self.url_setting.upper())

    def client(self) -> httpx.Client:
        """A client bound to the base URL: no redirects, the source's TLS options and headers."""
        headers = dict(self.headers)
        if self.bearer_token_env is not None:
            token = os.environ.get(self.bearer_token_env, "").strip()
            if not token:
                raise ConfigError(f"{self.describe()}: bearer_token_env names {self.bearer_token_env!r}, "
                                  "which is not set or empty; export the token in it")
            headers["Authorization"] = f"Bearer {token}"
        verify: Any = self.verify
        if self.ca_file is not None:
            if not os.path.isfile(self.ca_file):
                raise ConfigError(f"{self.describe()}: ca_file {self.ca_file!r} is not a file; give the "
                                  "path of the CA bundle (PEM) that signed the server's certificate")
            verify = self.ca_file  # httpx builds the SSL context from the bundle's path
        # trust_env=False: no proxy or .netrc credentials from the environment; a request goes to
        # the configured URL with the configured credentials only
        return httpx.Client(base_url=self.base_url(), headers=headers, timeout=self.timeout_s,
                            verify=verify, follow_redirects=False, trust_env=False)

    def get(self, client: httpx.Client, path: str, params: dict[str, str]) -> httpx.Response:
        """GET ``path`` with retries; the final answer (2xx or 4xx), or SourceReadError."""
        where = f"{self.server_name} at {client.base_url}"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(_FIRST_RETRY_WAIT_S * 2 ** (attempt - 1))
            try:
                reply = client.get(path, params=params)
            except httpx.TimeoutException:
                failure = ("source_timeout", f"{where} did not answer {self.describe()} within "
                           f"timeout_s={self.timeout_s}; raise timeout_s or make the query cheaper")
                continue
            except httpx.TransportError as exc:
                failure = ("source_unreachable", f"{where} cannot be reached ({type(exc).__name__}: {exc}); "
                           "check the url and that the server runs")
                continue
            if reply.is_redirect:
                raise ConfigError(f"{where} answered {self.describe()} with a redirect to "
                                  f"{reply.headers.get('location')!r}, which admon does not follow; "
                                  "set url to the server's own address")
            if reply.status_code >= 500:
                failure = self.server_failure(reply, where)
                continue
            if reply.status_code in (401, 403):
                raise ConfigError(f"{where} refused the credentials of {self.describe()} "
                                  f"(HTTP {reply.status_code}); check bearer_token_env or headers")
            return reply
        raise SourceReadError(*failure)

    def server_failure(self, reply: httpx.Response, where: str) -> tuple[str, str]:
        """The reason and message of a 5xx answer (a kind may tell a timeout apart)."""
        # the body is not quoted: an answer that is not the API's own error may be anything
        return ("source_server_error", f"{where} failed on {self.describe()} (HTTP {reply.status_code}); "
                "check the server's health and logs")


def check_base_url(url: str, field: str) -> str:
    """An http(s) URL with a host and no query, fragment or credentials."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{field} {url!r} is not an http(s) URL with a host; give e.g. 'http://prometheus:9090'")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(f"{field} {url!r} holds a query, fragment or credentials; give the base URL only "
                          "(credentials go in bearer_token_env)")
    return url.rstrip("/")


def check_source_urls(config: InputDataConfig, settings: Settings) -> None:
    """Refuse a query source whose server is not one the service's operator configured.

    An entity made through the web service is read by the scheduler, on the service's network:
    a source naming any URL would let every API user make the service fetch it (and see the
    answer in results or errors). The allowed base URLs are ``ADMON_PROMETHEUS_URL``,
    ``ADMON_INFLUX_URL`` and those of ``ADMON_SOURCE_URLS``; a source without ``url`` uses its
    kind's setting and is always allowed.
    """
    allowed = {check_base_url(u, "ADMON_SOURCE_URLS") for u in settings.source_urls.split(",") if u.strip()}
    allowed |= {check_base_url(u, "setting") for u in (settings.prometheus_url, settings.influx_url) if u}
    for index, source in enumerate(config.source_configs):
        url = getattr(source, "url", None)
        if isinstance(source, HttpQuerySource) and url is not None and url not in allowed:
            raise ConfigError(
                f"source_configs[{index}].url {url!r} is not a server this service reads; drop url to use "
                f"the kind's setting, or have the operator add it to ADMON_SOURCE_URLS "
                f"(allowed now: {sorted(allowed) or 'none'})")
