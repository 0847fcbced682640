"""What the REST API reads and returns: the Create / Update / Public split of the service.

Inputs forbid unknown keys (a typo is a 422 naming the key, not a silently
ignored field); ``*Public`` models are what responses contain.

>>> AnnotationCreate(start_ms=0, end_ms=60_000, label="anomaly", kind="spike").label
'anomaly'
>>> AnnotationCreate(start_ms=60_000, end_ms=0, label="anomaly")
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for AnnotationCreate
  Value error, end_ms 0 (1970-01-01T00:00:00Z) is not after start_ms 60000 (1970-01-01T00:01:00Z); select the range again or swap start and end [type=value_error, input_value={'start_ms': 60000, 'end_...0, 'label': 'anomaly'}, input_type=dict]
    For further information visit https://errors.pydantic.dev/2.14/v/value_error
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    create_model,
    field_validator,
    model_validator,
)

from admon.registry.schemas import entity_fields
from admon.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, format_ms, to_epoch_ms

#: Labels of a time range drawn on the plot.
RANGE_LABELS = ("anomaly", "normal")
#: Verdicts on a detected anomaly.
VERDICTS = ("confirmed", "expected", "false_alarm")
#: Labels that make a window of the exported benchmark dataset (the data really is anomalous).
ANOMALOUS_LABELS = frozenset({"anomaly", "confirmed", "expected"})
Label = Literal["anomaly", "normal", "confirmed", "expected", "false_alarm"]
GroupKey = dict[str, str | int | float | bool | None]

# --- the ranges every request value is checked against, in one place ----------------------------

#: Largest id (a signed 64-bit integer, the registry's id columns).
MAX_ID = 2**63 - 1
TIME_RANGE_TEXT = (f"{MIN_TIMESTAMP_MS}..{MAX_TIMESTAMP_MS} epoch ms "
                   "(1970-01-01T00:00:00Z..2200-01-01T00:00:00Z)")


def check_epoch_ms(value: int) -> int:
    """``value`` if it is an instant admon stores (1970-01-01 .. 2200-01-01), else a ValueError.

    >>> check_epoch_ms(1652140800000)
    1652140800000
    >>> check_epoch_ms(2**64)
    Traceback (most recent call last):
    ...
    ValueError: 18446744073709551616 is outside 0..7258118400000 epoch ms (1970-01-01T00:00:00Z..2200-01-01T00:00:00Z); give a time in that range
    """
    if not MIN_TIMESTAMP_MS <= value <= MAX_TIMESTAMP_MS:
        shown = str(value) if len(str(value)) <= 40 else f"{str(value)[:20]}…({len(str(value))} digits)"
        raise ValueError(f"{shown} is outside {TIME_RANGE_TEXT}; give a time in that range")
    return value


def parse_time(value: str | int | None) -> int | None:
    """A time query parameter (epoch ms or ISO text) as checked epoch ms; None or blank is None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None  # a form's empty field: the default range
    if isinstance(value, str) and len(value) > 64:
        raise ValueError(f"{value[:20]!r}… ({len(value)} characters) is not a time; "
                         "give epoch ms or ISO text, e.g. 2022-05-10T00:00:00Z")
    return check_epoch_ms(to_epoch_ms(value))  # its ConfigError is a ValueError: a 422


#: An instant in a request body: epoch ms in the documented range.
EpochMs = Annotated[int, AfterValidator(check_epoch_ms), Field(
    description=f"epoch milliseconds, {TIME_RANGE_TEXT}")]


def _no_nul(value: Any) -> Any:
    """Text with a NUL character cannot be stored (PostgreSQL refuses it): a 422, not a 500."""
    texts = [value] if isinstance(value, str) else (
        [*value.keys(), *value.values()] if isinstance(value, dict) else [])
    if any(isinstance(v, str) and "\x00" in v for v in texts):
        raise ValueError("contains a NUL character (\\u0000); remove it")
    return value


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _text_without_nul(cls, value: Any) -> Any:
        return _no_nul(value)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- projects and entities ----------------------------------------------------------------------


class ProjectPublic(_Out):
    id: int
    title: str
    project_url: str | None
    description: str
    is_private: bool
    egroup: str | None
    created_ms: int
    updated_ms: int


# The entity's fields are those of the registry's EntityCreate (one list, one set of limits);
# the service takes and returns input_data_config as JSON, which the registry's rules then
# validate, so a bad config is the registry's ConfigError, the same as from the Python API.
_JSON_CONFIG = {"input_data_config": dict[str, Any]}
#: An id in a request body.
Id = Annotated[int, Field(ge=1, le=MAX_ID, description="an id (1 .. 2**63-1)")]

EntityCreateBody = create_model(
    "EntityCreateBody", __base__=_In, __module__=__name__, __doc__=(
        "A detection entity to register; the registry's own rules validate it further."),
    **entity_fields(types=_JSON_CONFIG | {"project_id": Id, "schedule_from_ms": EpochMs | None}),
)

#: Changes to an entity (``schedule_from_ms`` is set at creation only).
EntityUpdateBody = create_model(
    "EntityUpdateBody", __base__=_In, __module__=__name__,
    **entity_fields(optional=True, exclude={"project_id", "schedule_from_ms"}, types=_JSON_CONFIG),
)


def _public_entity_fields() -> dict[str, tuple[Any, Any]]:
    fields: dict[str, tuple[Any, Any]] = {"id": (int, ...)}
    for name, spec in entity_fields(constrained=False, types=_JSON_CONFIG).items():
        fields[name] = spec
        if name == "input_data_config":
            fields["config_hash"] = (str, ...)  # next to the config it hashes, as it always was
    return fields | {"created_ms": (int, ...), "updated_ms": (int, ...)}


EntityPublic = create_model("EntityPublic", __base__=_Out, __module__=__name__, **_public_entity_fields())


# --- runs and results ---------------------------------------------------------------------------


class RunPublic(_Out):
    id: int
    entity_id: int
    window_start_ms: int
    window_end_ms: int
    status: str
    attempts: int
    trigger: str
    rows: int | None
    groups: int | None
    anomalies: int | None
    timings: dict[str, float] | None
    error: str | None
    created_ms: int
    started_ms: int | None
    finished_ms: int | None
    #: 1, plus one per re-run for late data (:mod:`admon.runs.late`), and what each re-run found
    revision: int = 1
    late_data: list[dict[str, Any]] | None = None


class ResultPublic(_Out):
    id: str
    run_id: int
    window_end_ms: int
    group_key: dict[str, Any]
    timestamp_ms: int
    anomaly_score: float | None
    is_anomaly: bool
    threshold: float | None


class IncidentPublic(BaseModel):
    """An incident (:mod:`admon.incidents`); ``start``, ``end`` and ``peak_timestamp`` in epoch ms,
    ``end`` null while it is open, ``features`` most contributing first."""

    id: str
    entity_id: int
    group: dict[str, Any]
    start: int
    end: int | None
    peak_score: float
    peak_timestamp: int | None
    features: list[str]
    status: str
    revision: int
    run_ids: list[int]
    #: The cross-group incident it belongs to (:mod:`admon.incidents.links`): the id of its
    #: first-started member, and every member's group (this one included). Null when no other
    #: group of the entity broke in the same windows.
    cross_group_id: str | None = None
    cross_group_groups: list[dict[str, Any]] | None = None

    @classmethod
    def of(cls, incident: Any, link: Any = None) -> IncidentPublic:
        return cls(id=incident.id, entity_id=incident.entity_id, group=incident.group, start=incident.start_ms,
                   end=incident.end_ms, peak_score=incident.peak_score,
                   peak_timestamp=incident.peak_timestamp_ms, features=incident.features,
                   status=incident.status, revision=incident.revision, run_ids=incident.run_ids,
                   cross_group_id=link.id if link is not None else None,
                   cross_group_groups=link.groups if link is not None else None)


class ModelPublic(BaseModel):
    namespace: str
    name: str
    versions: list[str]
    entities: list[int]


# --- annotations --------------------------------------------------------------------------------


def _check_range(start_ms: int | None, end_ms: int | None) -> None:
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise ValueError(
            f"end_ms {end_ms} ({format_ms(end_ms)}) is not after start_ms {start_ms} "
            f"({format_ms(start_ms)}); select the range again or swap start and end"
        )


class AnnotationCreate(_In):
    """A label on a time range (``anomaly``/``normal``) or a verdict on a detection.

    A verdict (``confirmed``, ``expected``, ``false_alarm``) names the detected
    anomaly by ``detection_id`` (a result id); its range and group come from it.
    """

    label: Label
    start_ms: EpochMs | None = None
    end_ms: EpochMs | None = None
    group_key: GroupKey = Field(default_factory=dict)
    series: str | None = Field(None, max_length=200)
    kind: str = Field("", max_length=64)
    comment: str = Field("", max_length=4000)
    detection_id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")

    @model_validator(mode="after")
    def _consistent(self) -> AnnotationCreate:
        if self.detection_id is None:
            if self.label not in RANGE_LABELS:
                raise ValueError(
                    f"label {self.label!r} is a verdict on a detection: give detection_id, "
                    f"or label the range one of {list(RANGE_LABELS)}"
                )
            if self.start_ms is None or self.end_ms is None:
                raise ValueError("a range label needs start_ms and end_ms (epoch milliseconds)")
        elif self.label not in VERDICTS:
            raise ValueError(
                f"label {self.label!r} does not judge a detection; use one of {list(VERDICTS)}"
            )
        _check_range(self.start_ms, self.end_ms)
        return self


class AnnotationUpdate(_In):
    label: Label | None = None
    start_ms: EpochMs | None = None
    end_ms: EpochMs | None = None
    kind: str | None = Field(None, max_length=64)
    comment: str | None = Field(None, max_length=4000)
    series: str | None = Field(None, max_length=200)

    @model_validator(mode="after")
    def _range(self) -> AnnotationUpdate:
        _check_range(self.start_ms, self.end_ms)
        return self


class AnnotationPublic(_Out):
    id: int
    entity_id: int
    group_key: dict[str, Any]
    series: str | None
    start_ms: int
    end_ms: int
    label: str
    kind: str
    comment: str
    detection_id: str | None
    author: str | None  # None: added outside the service (registry API), no author recorded
    created_ms: int
    updated_by: str | None
    updated_ms: int | None


class IncidentVerdictCreate(_In):
    """A verdict on a whole incident (``POST /api/incidents/{id}/label``): its range and group
    come from the incident; judging an incident again replaces its verdict.

    >>> IncidentVerdictCreate(verdict="confirmed").verdict
    'confirmed'
    """

    verdict: Literal["confirmed", "expected", "false_alarm"]
    kind: str = Field("", max_length=64)
    comment: str = Field("", max_length=4000)
