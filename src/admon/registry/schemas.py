"""Validated inputs of the registry: the Create / Update split for projects and entities.

Every rule about what a project or a detection entity may contain lives here,
so the Python API, the CLI and the service reject the same things with the
same message (a :class:`~admon.errors.ConfigError`).

>>> EntityFields.check_intervals(60, 15)
(60, 15)
>>> EntityFields.check_intervals(0, 15)
Traceback (most recent call last):
...
admon.errors.ConfigError: interval_minutes 0 must be > 0; e.g. 60
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from admon.config import InputDataConfig
from admon.errors import ConfigError, explain_validation
from admon.runs.kinds import DEFAULT_KIND, check_job


class _Input(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    @classmethod
    def parse(cls, **values: Any):
        """Validate ``values``, raising :class:`ConfigError` with every problem named."""
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ConfigError(explain_validation(exc, cls.__name__)) from None


def _check_label(label: Any) -> Any:
    if label is None:
        return {}
    if not isinstance(label, dict):
        raise ValueError(f"monit_label must be a mapping of strings to strings, got {label!r}")
    for key, value in label.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"monit_label key {key!r} is not a non-empty string; use text keys")
        if not isinstance(value, str):
            raise ValueError(
                f"monit_label[{key!r}] = {value!r} is a {type(value).__name__}; "
                f"monit_label values must be strings, e.g. {str(value)!r}"
            )
    return label


def _check_idc(value: Any) -> Any:
    if isinstance(value, InputDataConfig):
        return value
    if isinstance(value, str):
        return InputDataConfig.from_json(value)
    if isinstance(value, dict):
        return InputDataConfig._validated(value)
    raise ValueError(f"input_data_config must be an InputDataConfig, got {type(value).__name__}")


class ProjectCreate(_Input):
    title: str = Field(min_length=1, max_length=200)
    project_url: str | None = Field(None, max_length=500)
    description: str = ""
    is_private: bool = False
    egroup: str | None = Field(None, max_length=200)


class ProjectUpdate(_Input):
    title: str | None = Field(None, min_length=1, max_length=200)
    project_url: str | None = Field(None, max_length=500)
    description: str | None = None
    is_private: bool | None = None
    egroup: str | None = Field(None, max_length=200)


#: Longest window or slide of an entity.
MAX_INTERVAL_MINUTES = 366 * 24 * 60


class EntityFields:
    """Rules shared by :class:`EntityCreate` and :class:`EntityUpdate`."""

    @staticmethod
    def check_intervals(interval: int, sliding: int) -> tuple[int, int]:
        if interval <= 0:
            raise ConfigError(f"interval_minutes {interval} must be > 0; e.g. 60")
        if sliding <= 0:
            raise ConfigError(f"sliding_interval_minutes {sliding} must be > 0; e.g. 15")
        if sliding > interval:
            raise ConfigError(
                f"sliding_interval_minutes {sliding} is larger than interval_minutes {interval}; "
                "windows would leave gaps: make the slide at most the window length"
            )
        return interval, sliding


class _EntityRules(_Input):
    """The per-field rules of an entity, for :class:`EntityCreate` and the models derived from it.

    ``None`` means "the field's default" (``{}`` for ``monit_label`` on create, "unchanged" on
    update); a required field given ``None`` is an error naming it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True,
                              arbitrary_types_allowed=True)

    @classmethod
    def _given(cls, name: str, value: Any) -> bool:
        """False where ``value`` is None for an optional field: it takes the default, unchecked."""
        return value is not None or cls.model_fields[name].is_required()

    @field_validator("monit_label", mode="before", check_fields=False)
    @classmethod
    def _label(cls, value: Any) -> Any:
        if not cls._given("monit_label", value):
            return cls.model_fields["monit_label"].get_default(call_default_factory=True)
        return _check_label(value)

    @field_validator("input_data_config", mode="before", check_fields=False)
    @classmethod
    def _idc(cls, value: Any) -> Any:
        return _check_idc(value) if cls._given("input_data_config", value) else None

    @field_validator("job_config", mode="before", check_fields=False)
    @classmethod
    def _job_config(cls, value: Any) -> Any:
        return value.model_dump(mode="json") if isinstance(value, BaseModel) else value  # a kind's config object

    @model_validator(mode="after")
    def _job(self) -> Any:
        """``job_config`` validated by its ``kind`` (on an update, a new job_config names its kind)."""
        kind, job_config = getattr(self, "kind", None), getattr(self, "job_config", None)
        if kind is None and job_config is None:
            return self  # an update that leaves both as they are
        if kind is None:
            raise ConfigError(f"job_config {job_config!r} is checked by its job kind; give kind with it, "
                              "e.g. kind='forecast'")
        _, job_config = check_job(kind, job_config)
        object.__setattr__(self, "job_config", job_config)  # as the kind stores it (frozen model)
        return self

    @field_validator("interval_minutes", "sliding_interval_minutes", mode="before", check_fields=False)
    @classmethod
    def _int(cls, value: Any, info: ValidationInfo) -> Any:
        if cls._given(info.field_name, value) and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{value!r} is not a whole number of minutes")
        if isinstance(value, int) and value > MAX_INTERVAL_MINUTES:  # nor would it fit the database
            raise ValueError(f"{value} is more than {MAX_INTERVAL_MINUTES} minutes (366 days); "
                             "give a shorter window or slide")
        return value


class EntityCreate(_EntityRules):
    """A detection entity to register: the one list of an entity's settable fields.

    Adding a field here adds it, with its limits, to :class:`EntityUpdate` and to the
    service's request and response bodies (:mod:`admon.service.schemas`). What it stores
    also needs its column (registry models and a migration) and its place in
    :class:`EntityRecord`; a test checks the record keeps every field.
    """

    project_id: int
    title: str = Field(min_length=1, max_length=300)
    interval_minutes: int
    sliding_interval_minutes: int
    input_data_config: InputDataConfig
    inference_model: str = Field(min_length=1, max_length=200)
    inference_namespace: str = Field(min_length=1, max_length=200)
    monit_producer: str = Field("admon", min_length=1, max_length=200)
    monit_label: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True
    schedule_from_ms: int | None = None
    kind: str = Field(DEFAULT_KIND, min_length=1, max_length=64,
                      description="Job kind: detect, forecast or a plugin's (admon.runs.kinds).")
    job_config: dict[str, Any] | None = Field(None, description="The kind's config, validated by the kind.")
    query_delay_seconds: int | None = Field(
        None, ge=0, le=7 * 86_400,
        description="A window ending at t runs at t + this delay (null: ADMON_LATE_DATA_DELAY_SECONDS).")
    rescore_horizon_minutes: int = Field(
        0, ge=0, le=7 * 1440,
        description="Each scheduler tick re-checks the finished windows of this last span for late data "
                    "and re-runs those whose input changed (0: off).")

    @model_validator(mode="after")
    def _intervals(self) -> EntityCreate:
        EntityFields.check_intervals(self.interval_minutes, self.sliding_interval_minutes)
        return self


def entity_fields(
    *,
    optional: bool = False,
    constrained: bool = True,
    exclude: frozenset[str] | set[str] = frozenset(),
    types: dict[str, Any] | None = None,
) -> dict[str, tuple[Any, Any]]:
    """The fields of :class:`EntityCreate` as :func:`pydantic.create_model` takes them.

    ``optional``: every field ``None`` by default (an update); ``constrained=False``: bare
    required fields without limits or defaults (a response); ``types`` replaces annotations
    (the service takes and returns ``input_data_config`` as JSON).

    >>> sorted(entity_fields(optional=True, exclude={"project_id"}))[:3]
    ['enabled', 'inference_model', 'inference_namespace']
    """
    types = types or {}
    out: dict[str, tuple[Any, Any]] = {}
    for name, field in EntityCreate.model_fields.items():
        if name in exclude:
            continue
        annotation = types.get(name, field.annotation)
        if not constrained:
            out[name] = (annotation, ...)
        elif optional:
            unset = FieldInfo.merge_field_infos(field, default=None, default_factory=None)
            out[name] = (annotation | None, unset)
        else:
            out[name] = (annotation, FieldInfo.merge_field_infos(field))
    return out


#: Changes to an entity: every field of :class:`EntityCreate` but ``project_id``, all optional.
EntityUpdate = create_model(
    "EntityUpdate", __base__=_EntityRules, __module__=__name__,
    **entity_fields(optional=True, exclude={"project_id"}),
)


@dataclasses.dataclass
class EntityRecord:
    """A stored detection entity as plain values (no session attached).

    The fields of :class:`EntityCreate` (but ``input_data_config`` parsed) plus what the
    registry adds: id, the config's hash, timestamps and the recorded model. The base of
    :class:`~admon.registry.api.DetectionEntity`, and what a run reads its entity from
    (:class:`~admon.runs.kinds.EntitySpec`).
    """

    id: int
    project_id: int
    title: str
    interval_minutes: int
    sliding_interval_minutes: int
    input_data_config: InputDataConfig
    config_hash: str
    inference_model: str
    inference_namespace: str
    monit_producer: str
    monit_label: dict[str, str]
    enabled: bool
    schedule_from_ms: int | None
    created_ms: int
    updated_ms: int
    model_version: str | None = None
    model_sha256: str | None = None
    kind: str = DEFAULT_KIND
    job_config: dict[str, Any] | None = None
    query_delay_seconds: int | None = None
    rescore_horizon_minutes: int = 0

    @staticmethod
    def values_of(row: Any) -> dict[str, Any]:
        """The record's fields read from an ``EntityRow``, the stored JSON config parsed."""
        values = {f.name: getattr(row, f.name) for f in dataclasses.fields(EntityRecord)}
        values["input_data_config"] = InputDataConfig._validated(row.input_data_config)
        values["monit_label"] = dict(row.monit_label or {})
        return values
