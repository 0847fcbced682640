"""Alert rules: which incidents of an entity become alerts, and the labels they carry.

A rule has a minimum peak score (on the calibrated 0-100 scale), a minimum duration, a
group filter (``{"host": ["h1", "web-*"]}``: each key a group key of the entity, each value
a list of shell-style patterns, every key must match) and label and annotation templates
(:mod:`admon.alerts.templates`). An entity without rules alerts every incident
(:data:`DEFAULT_RULE`); with rules, an incident alerts through the first rule (oldest
first) that it matches, so it is one alert, whatever the number of rules.

A rule is checked against its entity when it is saved (:func:`check_rule`): a group key the
entity does not group by, a label name Alertmanager would refuse, a label admon sets itself,
a template that does not render: each a :class:`~admon.errors.ConfigError` naming the field
and the fix, and nothing is stored.

>>> rule = AlertRuleCreate.parse(name="big", min_score=90, groups={"host": ["web-*"]})
>>> check_rule(rule, ["host"])
>>> check_rule(AlertRuleCreate.parse(name="x", groups={"site": ["cern"]}), ["host"])
Traceback (most recent call last):
...
admon.errors.ConfigError: groups.site: the entity does not group by 'site'; use one of its group keys (host) or remove it
>>> AlertRuleCreate.parse(name="x", min_duration_minutes=-5)
Traceback (most recent call last):
...
admon.errors.ConfigError: invalid AlertRuleCreate: min_duration_minutes: -5.0 is negative; give 0 (any duration) or more minutes
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from admon.alerts.templates import validate_template
from admon.errors import ConfigError, explain_validation

#: Alertmanager's (Prometheus's) label names.
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
#: Labels that identify an incident's alert; a rule may not set them (``alertname`` and
#: ``severity`` it may: routing on them is what rules are for).
RESERVED_LABELS = ("entity", "entity_id", "incident_id")


class AlertRuleCreate(BaseModel):
    """What a rule is made of (the body of ``POST /api/entities/{id}/alert-rules``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    min_score: float = Field(0.0, description="least peak score (calibrated, 0-100) of an incident that alerts")
    min_duration_minutes: float = Field(0.0, description="least incident duration (start to last anomalous "
                                                         "window end) that alerts")
    groups: dict[str, list[str]] = Field(default_factory=dict, description="group key -> patterns (fnmatch) "
                                         "its value must match one of; every key must match")
    labels: dict[str, str] = Field(default_factory=dict, description="extra alert labels (templates)")
    annotations: dict[str, str] = Field(default_factory=dict, description="alert annotations (templates)")

    @field_validator("min_score")
    @classmethod
    def _score_on_the_scale(cls, value: float) -> float:
        if not 0.0 <= value <= 100.0:
            raise ValueError(f"min_score {value} is off the calibrated 0-100 scale; give a score between 0 "
                             "and 100 (e.g. 75)")
        return value

    @field_validator("min_duration_minutes")
    @classmethod
    def _not_negative(cls, value: float) -> float:
        if not value >= 0:
            raise ValueError(f"min_duration_minutes: {value} is negative; give 0 (any duration) or more minutes")
        return value

    @field_validator("groups")
    @classmethod
    def _patterns_given(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for key, patterns in value.items():
            if not patterns:
                raise ValueError(f"groups.{key}: an empty list matches no group; give patterns, e.g. "
                                 f'{{"{key}": ["h1", "web-*"]}}, or remove the key')
        return value

    @classmethod
    def parse(cls, **values: Any) -> AlertRuleCreate:
        """Validate ``values``, raising :class:`ConfigError` with every problem named."""
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ConfigError(explain_validation(exc, cls.__name__, valid=cls.model_fields)) from None


@dataclasses.dataclass(frozen=True)
class AlertRule:
    """A stored rule of one entity (``id`` None: the default rule)."""

    id: int | None
    entity_id: int | None
    name: str
    min_score: float = 0.0
    min_duration_minutes: float = 0.0
    groups: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    annotations: dict[str, str] = dataclasses.field(default_factory=dict)
    created_ms: int = 0

    def matches(self, group: Mapping[str, Any], peak_score: float, duration_ms: int) -> bool:
        """Does an incident of ``group`` with this peak and duration alert through this rule?

        >>> rule = AlertRule(1, 7, "r", min_score=80, groups={"host": ["web-*"]})
        >>> rule.matches({"host": "web-1"}, 85.0, 0), rule.matches({"host": "db-1"}, 99.0, 0)
        (True, False)
        """
        if peak_score < self.min_score or duration_ms < self.min_duration_minutes * 60_000:
            return False
        return all(key in group and any(fnmatch.fnmatchcase(str(group[key]), p) for p in patterns)
                   for key, patterns in self.groups.items())

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: The rule of an entity that has none: every incident alerts.
DEFAULT_RULE = AlertRule(id=None, entity_id=None, name="default")


def check_rule(rule: AlertRuleCreate, group_keys: Sequence[str]) -> None:
    """Raise :class:`ConfigError` (naming the field and the fix) unless ``rule`` fits an entity
    grouped by ``group_keys``."""
    known = ", ".join(group_keys) or "it has none"
    for key in rule.groups:
        if key not in group_keys:
            raise ConfigError(f"groups.{key}: the entity does not group by {key!r}; use one of its group keys "
                              f"({known}) or remove it")
    for name in rule.labels:
        if not LABEL_NAME.match(name):
            raise ConfigError(f"labels.{name}: {name!r} is not a valid Alertmanager label name; use letters, "
                              "digits and underscores, not starting with a digit (e.g. 'team')")
        if name in RESERVED_LABELS or name in group_keys:
            raise ConfigError(f"labels.{name}: admon sets the label {name!r} itself (it identifies the "
                              "incident's alert); choose another name, e.g. 'team'")
    for name in rule.annotations:
        if not LABEL_NAME.match(name):
            raise ConfigError(f"annotations.{name}: {name!r} is not a valid annotation name; use letters, "
                              "digits and underscores (e.g. 'summary', 'runbook_url')")
    for section, templates in (("labels", rule.labels), ("annotations", rule.annotations)):
        for name, text in templates.items():
            validate_template(text, f"{section}.{name}", group_keys)


def matching_rule(rules: Sequence[AlertRule], group: Mapping[str, Any], peak_score: float,
                  duration_ms: int) -> AlertRule | None:
    """The rule an incident alerts through: the first of ``rules`` it matches, or the default
    rule if the entity has no rules; None: it does not alert."""
    if not rules:
        return DEFAULT_RULE
    return next((rule for rule in rules if rule.matches(group, peak_score, duration_ms)), None)
