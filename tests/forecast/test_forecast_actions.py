"""The throughput rule: a webhook POST once per episode, state surviving restarts, retries."""

from __future__ import annotations

import pandas as pd
import pytest

from admon.errors import ConfigError
from admon.forecast.actions import ActionState, ThroughputRule, evaluate_rule, predicted_episode

LINK = ("source_se", "dest_se"), ("CERN-PROD", "BNL-ATLAS")


def forecast(start: str, values: list[float]) -> pd.DataFrame:
    idx = pd.date_range(start, periods=len(values), freq="5min", name="timestamp")
    mean = pd.Series(values, index=idx, dtype=float)
    return pd.DataFrame({"mean": mean, "lower": mean * 0.8, "upper": mean * 1.2})


HIGH = [1.0, 6.0, 6.0, 6.0, 6.0, 1.0]  # 20 minutes at 6 from the second step
LOW = [1.0] * 6


@pytest.fixture
def rule(receiver):
    return ThroughputRule(threshold=5.0, min_duration_minutes=15, webhook_url=receiver.url)


def run(rule, state, values, when):
    return evaluate_rule(rule, state, *LINK, forecast(when, values), int(pd.Timestamp(when).value // 10**6))


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


def test_fires_exactly_once_per_episode_and_again_after_it_clears(rule, receiver, tmp_path):
    state = ActionState(tmp_path / "actions.sqlite")
    sequence = [HIGH, HIGH, HIGH, LOW, LOW, HIGH, HIGH]
    fired = []
    for i, values in enumerate(sequence):
        when = pd.Timestamp("2022-05-10 12:00") + pd.Timedelta(minutes=5 * i)
        fired.append(run(rule, state, values, str(when)))
    assert [a is not None for a in fired] == [True, False, False, False, False, True, False]
    assert len(receiver.received) == 2
    first = receiver.received[0]
    assert first["link"] == {"source_se": "CERN-PROD", "dest_se": "BNL-ATLAS"}
    assert first["expected_start"] == "2022-05-10T12:05:00Z"
    assert first["predicted_volume_bytes"] == pytest.approx(4 * 6.0 * 300)
    assert receiver.headers[0]["Idempotency-Key"] == first["episode_id"]
    assert receiver.received[1]["expected_start"] == "2022-05-10T12:30:00Z"
    assert [n["delivered"] for n in state.notices()] == [1, 1]


def test_state_survives_a_restart(rule, receiver, tmp_path):
    path = tmp_path / "actions.sqlite"
    assert run(rule, ActionState(path), HIGH, "2022-05-10 12:00") is not None
    # A new process: a new ActionState on the same file must not announce the episode again.
    restarted = ActionState(path)
    assert list(restarted.open_links()) == ["source_se=CERN-PROD|dest_se=BNL-ATLAS"]
    assert run(rule, restarted, HIGH, "2022-05-10 12:05") is None
    assert len(receiver.received) == 1
    assert run(rule, ActionState(path), LOW, "2022-05-10 12:10") is None
    assert ActionState(path).open_links() == {}


def test_failed_delivery_is_retried_and_then_sent_once(rule, receiver, tmp_path):
    state = ActionState(tmp_path / "actions.sqlite")
    receiver.status = 503
    failed = run(rule, state, HIGH, "2022-05-10 12:00")
    assert failed is not None and not failed.delivered and failed.status_code == 503
    assert state.open_links() == {}, "an undelivered notice must not close the door on a retry"
    receiver.status = 200
    assert run(rule, state, HIGH, "2022-05-10 12:05").delivered
    assert run(rule, state, HIGH, "2022-05-10 12:10") is None
    assert len(receiver.received) == 1
    assert [n["delivered"] for n in state.notices()] == [0, 1]


def test_unreachable_webhook_is_reported_not_raised(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = ThroughputRule(threshold=5, min_duration_minutes=15, webhook_url=f"http://127.0.0.1:{port}/x",
                          timeout_seconds=2)
    action = run(dead, ActionState(tmp_path / "a.sqlite"), HIGH, "2022-05-10 12:00")
    assert not action.delivered and "failed" in action.error


def test_rule_validation_errors_name_the_value():
    with pytest.raises(ConfigError, match="webhook_url 'ftp://x' is not an http"):
        ThroughputRule(threshold=1, min_duration_minutes=1, webhook_url="ftp://x")
    with pytest.raises(ConfigError, match=r"threshold: .*greater than 0 \(got -1\)"):
        ThroughputRule(threshold=-1, min_duration_minutes=1, webhook_url="http://127.0.0.1/")
