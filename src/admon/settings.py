"""Runtime settings, read from ``ADMON_*`` environment variables.

Nothing is read at import time: call :func:`load_settings` at start-up and pass
the result down. Invalid values fail fast with a message naming the variable.

>>> s = Settings(lake_root="/tmp/lake")
>>> s.lake_root
'/tmp/lake'
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from admon.errors import ConfigError, explain_validation


class Settings(BaseSettings):
    """Every knob of admon in one place. Environment variable = ``ADMON_`` + field name."""

    model_config = SettingsConfigDict(env_prefix="ADMON_", frozen=True, extra="ignore")

    lake_root: str = Field(".admon/lake", description="Root of the monitoring lake (folder or URL).")
    database_url: str = Field(
        "sqlite:///.admon/admon.db", description="SQLAlchemy URL of the registry database."
    )
    model_store: str = Field(".admon/models", description="Root of the model store (folder or URL).")
    prometheus_url: str | None = Field(
        None, description="Base URL of the Prometheus a PrometheusSource reads when it names none.")
    influx_url: str | None = Field(
        None, description="Base URL of the InfluxDB 1.x an InfluxSource reads when it names none.")
    source_urls: str = Field(
        "", description="Comma-separated base URLs (besides ADMON_PROMETHEUS_URL and ADMON_INFLUX_URL) that "
        "query sources of entities created through the web service may read.")
    sinks: str = Field("", description="Comma-separated sink URLs results are exported to.")
    late_data_delay_seconds: int = Field(0, ge=0, description="How long to wait for late data.")
    max_catch_up_windows: int = Field(
        96, ge=1, description="At most this many missed windows per entity are caught up."
    )
    run_max_attempts: int = Field(3, ge=1, description="Attempts of a failing run before it fails.")
    # --- scheduler, runs and sinks (admon.runs, admon.sinks) ---
    run_retry_backoff_seconds: float = Field(
        30.0, ge=0, description="Wait before retrying a failed run; doubles with every failure."
    )
    run_lease_seconds: float = Field(
        30.0, gt=0, description="A run's lease, renewed every third of it while the run works: the "
        "window of a scheduler that died is taken over this long after its last renewal."
    )
    scheduler_poll_seconds: float = Field(10.0, gt=0, description="Pause between scheduler ticks.")
    shadow_budget_seconds: float = Field(
        30.0, ge=0, description="Seconds a detection run may spend scoring its entity's challengers in shadow; "
        "a challenger not started within it is skipped and counted.")
    incident_quiet_windows: int = Field(
        2, ge=1, description="An incident is resolved after this many windows of its entity without an "
        "anomalous result for its group (2: one quiet window inside an incident does not split it).")
    sink_retry_backoff_seconds: float = Field(
        2.0, ge=0, description="First wait before re-sending to a sink that failed; doubles, max 5 min."
    )
    sink_batch_size: int = Field(500, ge=1, description="Documents read from the outbox at a time.")
    sink_chunk_size: int = Field(
        100, ge=1, description="Documents per HTTP sink request. Each acknowledged request leaves the "
        "outbox at once: a failure or a kill re-sends at most the request in flight.")
    sink_timeout_seconds: float = Field(10.0, gt=0, description="Timeout of one HTTP sink request.")
    max_context_buckets: int = Field(
        2016, ge=0,
        description="At most this many buckets of history are read before a run's window, for "
        "detectors whose score depends on earlier points (their lookback).")
    model_cache_entries: int = Field(
        256, ge=1, description="Models a scheduler keeps loaded between runs (least recently used out); "
        "each entity's model is one entry.")
    detector_state: bool = Field(
        True, description="Carry the state of detectors that support it from run to run, so that a "
        "run scores only its new points (admon.runs.state); false: every run reads its context.")
    state_max_bytes: int = Field(
        8_000_000, ge=0, description="A group's detector state larger than this (compressed) is not "
        "kept; its next run reads its context instead.")
    bucket_cache_mb: int = Field(
        256, ge=0, description="Megabytes of closed buckets a scheduler (or backfill) keeps between runs, "
        "so that overlapping windows and entities with the same input data config read each bucket "
        "from the source once (admon.data.bucket_cache); the least recently used go first. 0: off.")
    # --- alerts (admon.alerts) ---
    alertmanager_url: str = Field(
        "", description="Base URL of the Prometheus Alertmanager incidents and health alerts are posted "
        "to (its v2 API), e.g. http://alertmanager:9093. Empty: no Alertmanager.")
    alert_webhook_url: str = Field(
        "", description="Without Alertmanager: an http(s) URL each alert is POSTed to as a JSON object "
        "(the same labels, annotations, startsAt, endsAt and generatorURL). Empty: none.")
    health_alert_runs: int = Field(
        3, ge=1, description="This many consecutive no_data or failed runs of an entity raise a health "
        "alert (resolved by its next succeeded run).")
    public_url: str = Field(
        "http://localhost:8000", description="The service's public base URL: alerts link to the entity "
        "pages under it (their generatorURL).")
    # --- service ---
    metrics_token: SecretStr | None = Field(
        None, description="Bearer token a Prometheus scraper presents to /metrics. Unset: /metrics "
        "is open but shows only public projects' entities; set: /metrics answers 401 without "
        "'Authorization: Bearer <it>' and shows every entity's series with it.")

    @field_validator("alertmanager_url", "alert_webhook_url", "public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("is not an http(s) URL; give one such as http://alertmanager:9093, or leave it empty")
        return value.rstrip("/")

    @field_validator("metrics_token")
    @classmethod
    def _strong_metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None  # ADMON_METRICS_TOKEN= (empty) means unset
        if len(value.get_secret_value().strip()) < MIN_METRICS_TOKEN_LENGTH:
            raise ValueError(
                f"shorter than {MIN_METRICS_TOKEN_LENGTH} characters; use a random one, e.g. the "
                "output of `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return SecretStr(value.get_secret_value().strip())


#: A metrics token shorter than this is refused: it would be guessable.
MIN_METRICS_TOKEN_LENGTH = 16


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (and ``overrides``), failing with a clear error."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        # values are not shown: some settings are secrets (tokens, database passwords)
        raise ConfigError(explain_validation(exc, "settings", name_of=_variable, show=None)) from exc


def _variable(loc: Sequence[object]) -> str:
    """The environment variable of a setting's location: ``ADMON_SINK_CHUNK_SIZE``."""
    return "ADMON_" + "_".join(str(p) for p in loc).upper()
