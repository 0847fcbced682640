"""Champion and challenger models: the pure comparison, no database, no HTTP.

An entity's champion is its model (results exported and alerted); its challengers run in
shadow on the same windows. Each model is judged on the entity's labelled history: every
verdict on an incident and every labelled window is a :class:`LabelledOutcome` saying whether
the model flagged that span (None: the model scored nothing there, so it cannot count).

- ``confirmed`` (or a range labelled ``anomaly``) flagged is a true positive, else a miss;
- ``false_alarm`` (or ``normal``) flagged is a false alarm;
- ``expected`` is neither (as for thresholds, :mod:`admon.thresholds`).

:func:`standing` gives event-level F1 and a NAB-style score (the standard profile's costs,
a detection anywhere in a labelled window counting as on time: 100 is perfect, 0 is what
flagging nothing scores). A :class:`PromotionRule` promotes a challenger whose F1 beats the
champion's by ``min_f1_gain`` on at least ``min_incidents`` labelled events both scored.

>>> champ = [LabelledOutcome("confirmed", True), LabelledOutcome("false_alarm", True),
...          LabelledOutcome("false_alarm", True), LabelledOutcome("confirmed", False)]
>>> chall = [LabelledOutcome("confirmed", True), LabelledOutcome("false_alarm", False),
...          LabelledOutcome("false_alarm", False), LabelledOutcome("confirmed", True)]
>>> standing(champ).f1, standing(chall).f1
(0.4, 1.0)
>>> PromotionRule(min_f1_gain=0.1, min_incidents=4).judge(champ, chall).promote
True
>>> PromotionRule(min_f1_gain=0.1, min_incidents=5).judge(champ, chall).reason
'not enough labelled events scored by both: 4, the rule needs 5'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from admon.errors import ConfigError
from admon.evaluation.nab import PROFILES
from admon.thresholds import CONFIRMED, FALSE_ALARM

#: How many active challengers an entity may run beside its champion.
MAX_CHALLENGERS = 3
#: What a challenger's name may look like (it becomes part of its stored model's name).
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,39}$")
#: Challenger statuses.
ACTIVE, CHAMPION, RETIRED = "active", "champion", "retired"
#: Who promotes when the rule does (a user's promotion carries the user's name).
BY_RULE = "rule"


def check_name(name: str) -> str:
    """``name`` if it is a valid challenger name, else a ConfigError saying what is allowed.

    >>> check_name("iforest-1")
    'iforest-1'
    """
    if not NAME_PATTERN.match(name):
        raise ConfigError(f"challenger name {name!r} is not allowed; use lower-case letters, digits, '_' and '-' "
                          "(at most 40, starting with a letter or digit), e.g. 'iforest-1'")
    return name


def challenger_model_name(champion_model: str, name: str) -> str:
    """The model-store name of challenger ``name`` of an entity whose model is ``champion_model``.

    >>> challenger_model_name("xrootd-model", "iforest")
    'xrootd-model.challenger.iforest'
    """
    return f"{champion_model}.challenger.{check_name(name)}"


@dataclass(frozen=True)
class LabelledOutcome:
    """One labelled span and whether a model flagged it (None: it scored nothing there)."""

    verdict: str
    flagged: bool | None
    label: str = ""


@dataclass(frozen=True)
class Standing:
    """How a model does on the labelled history: event counts, F1 and NAB-style score."""

    tp: int
    fp: int
    fn: int
    scored: int
    unscored: int

    @property
    def f1(self) -> float:
        denominator = 2 * self.tp + self.fp + self.fn
        return 0.0 if denominator == 0 else round(2 * self.tp / denominator, 4)

    @property
    def nab(self) -> float | None:
        """NAB's normalised score with the standard profile (None: no real event labelled)."""
        cost = PROFILES["standard"]
        real = self.tp + self.fn
        if real == 0:
            return None
        raw = self.tp * cost.tp - self.fp * cost.fp - self.fn * cost.fn
        null, perfect = -real * cost.fn, real * cost.tp
        return round(100.0 * (raw - null) / (perfect - null), 2)

    def as_json(self) -> dict[str, Any]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "f1": self.f1, "nab": self.nab,
                "labelled_scored": self.scored, "labelled_unscored": self.unscored}


def standing(outcomes: Sequence[LabelledOutcome]) -> Standing:
    """Event-level counts of ``outcomes`` (unscored spans and ``expected`` ones do not count)."""
    tp = fp = fn = scored = unscored = 0
    for o in outcomes:
        if o.flagged is None:
            unscored += 1
            continue
        if o.verdict == CONFIRMED:
            scored += 1
            tp, fn = tp + o.flagged, fn + (not o.flagged)
        elif o.verdict == FALSE_ALARM:
            scored += 1
            fp += o.flagged
    return Standing(tp, fp, fn, scored, unscored)


@dataclass(frozen=True)
class Judgement:
    """What a :class:`PromotionRule` says of one challenger against the champion."""

    promote: bool
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PromotionRule:
    """Promote a challenger whose event F1 beats the champion's by at least ``min_f1_gain`` on
    at least ``min_incidents`` labelled events (confirmed or false alarm) that both scored."""

    min_f1_gain: float = 0.1
    min_incidents: int = 5

    @classmethod
    def parse(cls, text: str) -> PromotionRule:
        """``"gain=0.1,incidents=5"`` (either may be left out: the defaults).

        >>> PromotionRule.parse("gain=0.2, incidents=8")
        PromotionRule(min_f1_gain=0.2, min_incidents=8)
        """
        values: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, _, value = part.partition("=")
            try:
                if key.strip() == "gain":
                    values["min_f1_gain"] = float(value)
                elif key.strip() == "incidents":
                    values["min_incidents"] = int(value)
                else:
                    raise ValueError(key)
            except ValueError:
                raise ConfigError(f"promotion rule part {part!r} is not understood; write e.g. "
                                  "'gain=0.1,incidents=5' (F1 gain over the champion, least labelled events)") from None
        rule = cls(**values)
        if rule.min_incidents < 1 or not 0.0 <= rule.min_f1_gain <= 1.0:
            raise ConfigError(f"promotion rule {text!r}: incidents must be >= 1 and gain within 0..1")
        return rule

    def as_json(self) -> dict[str, Any]:
        return {"min_f1_gain": self.min_f1_gain, "min_incidents": self.min_incidents}

    def judge(self, champion: Sequence[LabelledOutcome], challenger: Sequence[LabelledOutcome]) -> Judgement:
        """Compare on the labelled events both models scored (``champion[i]`` and
        ``challenger[i]`` are the same labelled span)."""
        if len(champion) != len(challenger):
            raise ValueError("champion and challenger outcomes must be of the same labelled spans")
        pairs = [(a, b) for a, b in zip(champion, challenger)
                 if a.flagged is not None and b.flagged is not None and a.verdict in (CONFIRMED, FALSE_ALARM)]
        champ, chall = standing([a for a, _ in pairs]), standing([b for _, b in pairs])
        evidence = {"rule": self.as_json(), "labelled_events": len(pairs), "champion": champ.as_json(),
                    "challenger": chall.as_json(), "f1_gain": round(chall.f1 - champ.f1, 4)}
        if len(pairs) < self.min_incidents:
            return Judgement(False, f"not enough labelled events scored by both: {len(pairs)}, "
                                    f"the rule needs {self.min_incidents}", evidence)
        gain = chall.f1 - champ.f1
        if gain + 1e-9 < self.min_f1_gain:
            return Judgement(False, f"event F1 {chall.f1:g} vs the champion's {champ.f1:g} on {len(pairs)} "
                                    f"labelled events: a gain of {gain:+.4g}, the rule needs {self.min_f1_gain:+g}",
                             evidence)
        return Judgement(True, f"event F1 {chall.f1:g} beats the champion's {champ.f1:g} by {gain:+.4g} "
                               f"(rule: {self.min_f1_gain:+g}) on {len(pairs)} labelled events", evidence)
