"""The ``default_v1`` detector (``default`` before issue 14): its kernels against brute force, causality, streaming, persistence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from admon import detectors
from admon.detectors.postrules import PostRuleChain, refractory
from admon.detectors.streaming import (
    DefaultConfig,
    DefaultDetector,
    causal_rank,
    left_nn_distance,
    paa_channel,
    quantile_shift,
    score_series,
    spatial_anomaly,
)
from admon.errors import ConfigError


def _brute_nn(x, w, h):
    out = np.zeros(len(x))
    for t in range(len(x)):
        best = np.inf
        for k in range(w, min(h, t - w + 1) + 1):
            best = min(best, float(((x[t - w + 1 : t + 1] - x[t - w + 1 - k : t + 1 - k]) ** 2).sum()))
        out[t] = 0.0 if best == np.inf else np.sqrt(best)
    return out


@pytest.mark.parametrize(("w", "h"), [(1, 5), (3, 40), (4, 300), (8, 299)])
def test_left_nn_matches_brute_force(w, h):
    x = np.random.default_rng(w).standard_normal(300) * 100 + 1e6
    np.testing.assert_allclose(left_nn_distance(x, w, h, block=32), _brute_nn(x, w, h), rtol=1e-3, atol=1e-3)


def test_causal_rank_matches_brute_force_with_bounded_history():
    raw = np.round(np.random.default_rng(1).standard_normal(400), 1)
    got = causal_rank(raw, history=50, warmup=10)
    for t in range(len(raw)):
        past = raw[max(0, t - 50) : t]
        if len(past) < 10:
            assert got[t] == 0.0
        elif raw[t] > past.max():
            assert 1 - 0.5 / len(past) <= got[t] < 1.0
        else:
            expected = ((past < raw[t]).sum() + 0.5 * (past == raw[t]).sum()) / len(past)
            assert got[t] == pytest.approx(expected)


def test_quantile_shift_matches_brute_force():
    x = np.random.default_rng(7).standard_normal(400).cumsum()
    windows, reference = (5, 12), 60
    got = quantile_shift(x, windows, reference)
    qs = [0.1, 0.25, 0.5, 0.75, 0.9]
    for w, dist in zip(windows, got):
        for t in range(len(x)):
            ref = x[max(0, t - w - reference + 1) : t - w + 1] if t - w + 1 > 0 else x[:0]
            if t + 1 < w or len(ref) < max(windows):
                assert dist[t] == 0.0
                continue
            recent = x[t - w + 1 : t + 1]
            iqr = np.quantile(ref, 0.75) - np.quantile(ref, 0.25)
            scale = max(iqr, 0.1 * ref.std(ddof=1)) + 1e-9
            expected = np.mean(np.abs(np.quantile(recent, qs) - np.quantile(ref, qs))) / scale
            assert dist[t] == pytest.approx(expected, rel=1e-6, abs=1e-9), (w, t)


def test_a_shift_only_lowers_the_bar_for_context_evidence():
    x = _series(1500, seed=6)
    x[1200:] = 10 + 3 * (x[1200:] - 10)  # the spread triples: a distribution shift
    with_shift = score_series(x)
    without = score_series(x, DefaultConfig(shift_windows=()))
    # before the change no shift is a record, so the two designs hardly differ
    assert np.abs(with_shift[:1150] - without[:1150]).max() <= 0.5
    # the shift record corroborates the context channels early in the change
    assert with_shift[1200:1300].max() >= without[1200:1300].max()
    assert with_shift[1200:1300].max() > np.quantile(with_shift[300:1190], 0.99)


def test_post_rules_by_hand():
    assert refractory(np.array([0.2, 0.9, 0.5, 0.95, 0.1]), 2).tolist() == [0.2, 0.9, 0.25, 0.95, 0.05]
    # with a gap, creeping up from 0.9 to 0.95 closes only half of the way to 1: halved
    assert refractory(np.array([0.2, 0.9, 0.95, 0.99]), 3, gap=0.6).tolist() == [0.2, 0.9, 0.475, 0.99]
    x = np.array([0.0, 10.0] * 60 + [10.4, 11.0])
    exc = spatial_anomaly(x, tolerance=0.05, warmup=100)
    assert exc[-2] == 0.0  # 4 % beyond the old range: within tolerance
    assert exc[-1] == pytest.approx(0.6 / 10.4)  # the range now includes 10.4
    # a block value is known only once its block is complete
    ch = paa_channel(np.arange(20.0), 4, 1, 10)
    assert (ch[:7] == 0).all()


def _frame(values, hosts=("a",)):
    n = len(values)
    return pd.concat(
        [pd.DataFrame({"host": h, "timestamp": np.arange(n, dtype=np.int64) * 300_000, "value": values}) for h in hosts],
        ignore_index=True,
    )


def _series(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    return 10 + np.sin(np.arange(n) * 2 * np.pi / 96) + 0.1 * rng.standard_normal(n)


def test_default_v1_is_registered_and_finds_a_level_shift():
    assert "default_v1" in detectors.available()
    x = _series()
    x[1200:] += 2.5
    frame = _frame(x)
    s = detectors.create("default_v1").fit(frame).score(frame)
    assert ((s >= 0) & (s <= 1)).all()
    assert 1200 <= int(s.iloc[300:].idxmax()) < 1210
    # the alarm is an outlier: far above the usual score
    assert s.iloc[1200:1210].max() > s.iloc[300:1190].quantile(0.99)


def test_scores_are_causal():
    x = _series(900, seed=3)
    full = score_series(x)
    for cut in [150, 400, 777]:
        np.testing.assert_array_equal(score_series(x[:cut]), full[:cut])


def test_streaming_fit_then_score_continues_the_stream():
    x = _series(1200, seed=4)
    frame = _frame(x)
    head, tail = frame.iloc[:700], frame.iloc[700:]
    streamed = DefaultDetector().fit(head).score(tail).to_numpy()
    np.testing.assert_allclose(streamed, score_series(x)[700:])
    # scoring the fitted frame itself starts from scratch: nothing after a row leaks into it
    np.testing.assert_allclose(DefaultDetector().fit(frame).score(frame).to_numpy(), score_series(x))


def test_groups_are_scored_independently_and_missing_values_are_tolerated():
    a, b = _series(600, 1), _series(600, 2) * 3
    b[100:110] = np.nan
    frame = pd.concat([_frame(a, ["a"]), _frame(b, ["b"])], ignore_index=True)
    s = DefaultDetector().fit(frame).score(frame)
    np.testing.assert_allclose(s[frame.host == "a"].to_numpy(), score_series(a))
    assert np.isfinite(s).all()


def test_the_detector_only_scores_and_its_chain_starts_with_the_refractory_period():
    # suppress moved from score_series into the post-rule chain: per group, same numbers
    a, b = _series(700, 7), _series(700, 8) * 2
    a[500:505] += 3.0
    frame = pd.concat([_frame(a, ["a"]), _frame(b, ["b"])], ignore_index=True)
    det = DefaultDetector(refractory=20, refractory_gap=0.3).fit(frame)
    raw = det.score(frame)
    assert det.default_post_rules() == [{"name": "suppress", "period": 20, "gap": 0.3, "factor": 0.5, "top": 1.0}]
    suppressed = PostRuleChain(det.default_post_rules()).apply(raw, frame)["anomaly_score"]
    for host, x in (("a", a), ("b", b)):
        rows = frame.host == host
        np.testing.assert_array_equal(raw[rows].to_numpy(), score_series(x, det.config))
        np.testing.assert_array_equal(suppressed[rows].to_numpy(), refractory(score_series(x, det.config), 20, 0.3))
    assert (suppressed < raw).any()  # the rule does something on this series


def test_save_load_round_trip(tmp_path):
    x = _series(800, 5)
    frame = _frame(x, ["a", "b"])
    det = DefaultDetector(refractory=10).fit(frame.iloc[:1000])
    det.save(tmp_path / "m")
    loaded = detectors.Detector.load(tmp_path / "m")
    assert isinstance(loaded, DefaultDetector) and loaded.config == det.config
    np.testing.assert_array_equal(loaded.score(frame).to_numpy(), det.score(frame).to_numpy())


def test_lookback_covers_every_channel_and_the_rank_history():
    det = DefaultDetector()
    c = det.config
    assert det.lookback == c.paa * (c.long_window + c.history) + c.rank_history  # the PAA channel is the widest
    wide_shift = DefaultDetector(shift_reference=20_000)
    assert wide_shift.lookback == 20_000 + max(c.shift_windows) + c.rank_history


def test_config_is_frozen_and_strict():
    with pytest.raises(ConfigError, match="unknown parameter"):
        DefaultDetector(windw=3)
    with pytest.raises(ConfigError):
        DefaultDetector(short_window=0)
    with pytest.raises(ConfigError, match="at least 2 points"):
        DefaultDetector(shift_windows=(16, 1))
    assert DefaultConfig().spatial_tolerance == 0.05
