"""The throughput rule: one notice per episode (delivery and state: tests/forecast/test_forecast_scheduler.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from admon.errors import ConfigError
from admon.forecast.actions import ThroughputRule, evaluate_rule, predicted_episode

LINK = ("source_se", "dest_se"), ("CERN-PROD", "BNL-ATLAS")


def forecast(start: str, values: list[float]) -> pd.DataFrame:
    idx = pd.date_range(start, periods=len(values), freq="5min", name="timestamp")
    mean = pd.Series(values, index=idx, dtype=float)
    return pd.DataFrame({"mean": mean, "lower": mean * 0.8, "upper": mean * 1.2})


HIGH = [1.0, 6.0, 6.0, 6.0, 6.0, 1.0]  # 20 minutes at 6 from the second step
LOW = [1.0] * 6


@pytest.fixture
def rule():
    return ThroughputRule(threshold=5.0, min_duration_minutes=15, webhook_url="http://127.0.0.1:9/hook")


def test_predicted_episode_needs_the_full_duration(rule):
    assert predicted_episode(forecast("2022-05-10", [6, 6, 1, 6, 6, 1]), rule) is None  # 10 min runs
    ep = predicted_episode(forecast("2022-05-10", [1, 6, 6, 1, 6, 7, 8]), rule)
    assert ep["expected_start"] == "2022-05-10T00:20:00Z" and ep["runs_past_horizon"]
    assert ep["predicted_volume_bytes"] == pytest.approx((6 + 7 + 8) * 300)
    upper = rule.model_copy(update={"band": "upper"})
    assert predicted_episode(forecast("2022-05-10", [5.0, 5.0, 5.0, 1]), upper) is not None
    lower = rule.model_copy(update={"band": "lower"})
    assert predicted_episode(forecast("2022-05-10", [6.0, 6.0, 6.0, 1]), lower) is None


def test_the_rule_is_the_post_rule_chain_threshold_then_sustained(rule):
    chain = rule.post_rules()
    assert chain.to_dict() == {"rules": [{"name": "threshold", "threshold": 5.0},
                                         {"name": "sustained", "min_duration_minutes": 15.0}]}
    fc = forecast("2022-05-10", [6, 6, 1, 6, 6, 6, 1, 9])
    steps = pd.DataFrame({"timestamp": fc.index.as_unit("ms").asi8})
    assert chain.apply(fc["mean"].to_numpy(), steps)["is_anomaly"].astype(int).tolist() == [0, 0, 0, 1, 1, 1, 0, 0]
    assert predicted_episode(fc, rule)["expected_start"] == "2022-05-10T00:15:00Z"


def test_announces_once_per_episode_and_again_after_it_clears(rule):
    open_episodes: dict[str, str] = {}  # what the registry's action_episodes holds between runs
    sequence = [HIGH, HIGH, HIGH, LOW, LOW, HIGH, HIGH]
    notices = []
    for i, values in enumerate(sequence):
        when = pd.Timestamp("2022-05-10 12:00") + pd.Timedelta(minutes=5 * i)
        link = "source_se=CERN-PROD|dest_se=BNL-ATLAS"
        decision = evaluate_rule(rule, open_episodes.get(link), *LINK, forecast(str(when), values),
                                 int(when.value // 10**6))
        notices.append(decision.notice)
        if decision.notice is not None:
            open_episodes[link] = decision.notice["episode_id"]
        if decision.close:
            del open_episodes[link]
    assert [n is not None for n in notices] == [True, False, False, False, False, True, False]
    first = notices[0]
    assert first["link"] == {"source_se": "CERN-PROD", "dest_se": "BNL-ATLAS"}
    assert first["expected_start"] == "2022-05-10T12:05:00Z"
    assert first["predicted_volume_bytes"] == pytest.approx(4 * 6.0 * 300)
    assert notices[5]["expected_start"] == "2022-05-10T12:30:00Z"
    assert first["episode_id"] != notices[5]["episode_id"]


def test_the_rule_has_webhook_headers(rule):
    with_auth = rule.model_copy(update={"webhook_headers": {"Authorization": "Bearer t"}})
    assert with_auth.webhook_headers == {"Authorization": "Bearer t"} and rule.webhook_headers == {}


def test_rule_validation_errors_name_the_value():
    with pytest.raises(ConfigError, match="webhook_url 'ftp://x' is not an http"):
        ThroughputRule(threshold=1, min_duration_minutes=1, webhook_url="ftp://x")
    with pytest.raises(ConfigError, match=r"threshold: .*greater than 0 \(got -1\)"):
        ThroughputRule(threshold=-1, min_duration_minutes=1, webhook_url="http://127.0.0.1/")
