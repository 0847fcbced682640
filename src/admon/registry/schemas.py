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

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from admon.config import InputDataConfig
from admon.errors import ConfigError


def _explain(name: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if not where:
            parts.append(msg)
        elif err["type"] == "value_error":
            parts.append(f"{where}: {msg}")
        else:
            parts.append(f"{where}: {msg} (got {err.get('input')!r})")
    return f"invalid {name}: " + "; ".join(parts)


class _Input(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    @classmethod
    def parse(cls, **values: Any):
        """Validate ``values``, raising :class:`ConfigError` with every problem named."""
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ConfigError(_explain(cls.__name__, exc)) from None


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


class EntityCreate(_Input):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True,
                              arbitrary_types_allowed=True)

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

    _label = field_validator("monit_label", mode="before")(classmethod(lambda cls, v: _check_label(v)))
    _idc = field_validator("input_data_config", mode="before")(classmethod(lambda cls, v: _check_idc(v)))

    @field_validator("interval_minutes", "sliding_interval_minutes", mode="before")
    @classmethod
    def _int(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{value!r} is not a whole number of minutes")
        return value

    @model_validator(mode="after")
    def _intervals(self) -> EntityCreate:
        EntityFields.check_intervals(self.interval_minutes, self.sliding_interval_minutes)
        return self


class EntityUpdate(_Input):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True,
                              arbitrary_types_allowed=True)

    title: str | None = Field(None, min_length=1, max_length=300)
    interval_minutes: int | None = None
    sliding_interval_minutes: int | None = None
    input_data_config: InputDataConfig | None = None
    inference_model: str | None = Field(None, min_length=1, max_length=200)
    inference_namespace: str | None = Field(None, min_length=1, max_length=200)
    monit_producer: str | None = Field(None, min_length=1, max_length=200)
    monit_label: dict[str, str] | None = None
    enabled: bool | None = None
    schedule_from_ms: int | None = None

    _label = field_validator("monit_label", mode="before")(
        classmethod(lambda cls, v: None if v is None else _check_label(v))
    )
    _idc = field_validator("input_data_config", mode="before")(
        classmethod(lambda cls, v: None if v is None else _check_idc(v))
    )
