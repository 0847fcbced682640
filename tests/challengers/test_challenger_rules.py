"""The pure comparison (admon.challengers) and the registry's limits on challengers."""

from __future__ import annotations

import pytest

from admon.challengers import LabelledOutcome, PromotionRule, check_name, standing
from admon.errors import ConfigError, ConflictError, NotFoundError
from admon.registry import challengers as registry_challengers
from admon.registry.db import session_scope

from .test_champion_challengers import make_entity


def test_unscored_and_expected_spans_do_not_count_and_nab_is_normalised():
    outcomes = [LabelledOutcome("confirmed", True), LabelledOutcome("confirmed", None),
                LabelledOutcome("expected", True), LabelledOutcome("false_alarm", False)]
    s = standing(outcomes)
    assert (s.tp, s.fp, s.fn, s.scored, s.unscored, s.f1, s.nab) == (1, 0, 0, 2, 1, 1.0, 100.0)
    assert standing([LabelledOutcome("confirmed", False)]).nab == 0.0
    assert standing([LabelledOutcome("false_alarm", True)]).nab is None  # nothing real labelled


def test_bad_rules_and_names_are_clear_errors():
    with pytest.raises(ConfigError, match="'gains=0.1' is not understood"):
        PromotionRule.parse("gains=0.1")
    with pytest.raises(ConfigError, match="incidents must be >= 1"):
        PromotionRule.parse("incidents=0")
    with pytest.raises(ConfigError, match="challenger name 'Bad Name'"):
        check_name("Bad Name")


def test_an_entity_runs_at_most_three_challengers_and_names_are_unique(db_url):
    de = make_entity("limits")
    fields = dict(detector="robust_zscore", params={}, model_namespace="admon-dev", model_name="m",
                  model_version="1", model_sha256="0" * 64, training_window=None, created_by="test")
    with session_scope() as s:
        for name in ("a", "b", "c"):
            registry_challengers.add_challenger(s, de.id, name=name, **fields)
        with pytest.raises(ConflictError, match="already has a challenger 'a'"):
            registry_challengers.add_challenger(s, de.id, name="a", **fields)
        with pytest.raises(ConflictError, match="already runs 3 challengers"):
            registry_challengers.add_challenger(s, de.id, name="d", **fields)
        registry_challengers.retire_challenger(s, de.id, "a")
        registry_challengers.add_challenger(s, de.id, name="d", **fields)
        with pytest.raises(NotFoundError, match="no challenger 'zz'"):
            registry_challengers.promote(s, de.id, "zz", decided_by="test")
        with pytest.raises(NotFoundError, match="no promotion to roll back"):
            registry_challengers.rollback(s, de.id, decided_by="test")
