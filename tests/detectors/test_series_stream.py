"""A stream scored piece by piece, through its saved state, gives the bits of one scored whole."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from admon.detectors import create
from admon.detectors.events import EventConfig
from admon.detectors.streaming import DefaultConfig, SeriesStream, score_series


def pieces(x: np.ndarray, cuts: list[int], config) -> np.ndarray:
    """``x`` scored in pieces, each continued from the state the previous one saved as arrays."""
    stream = SeriesStream(config)
    out, start = [], 0
    for stop in [*cuts, len(x)]:
        if out:
            stream = SeriesStream.from_arrays(config, {k: v.copy() for k, v in stream.arrays().items()})
        out.append(stream.advance(x[start:stop]))
        start = stop
    return np.concatenate(out)


@pytest.mark.parametrize("config", [EventConfig().channel_config(), DefaultConfig(),
                                    DefaultConfig(startup=40, paa=3, history=60, rank_history=300, warmup=20)])
@pytest.mark.parametrize("seed", range(6))
def test_pieces_through_saved_states_equal_the_whole_series_bit_for_bit(config, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(30, 3000))
    x = np.cumsum(rng.standard_normal(n)) * float(rng.choice([1e-3, 1.0, 1e7])) + float(rng.choice([0.0, 1e6]))
    x[rng.integers(0, n, 8)] += 20.0
    if seed % 2:
        x[rng.integers(1, n, 12)] = np.nan  # gaps inside (not at the start: see the next test)
    cuts = sorted({int(c) for c in rng.integers(1, n, size=int(rng.integers(1, 10)))})
    np.testing.assert_array_equal(pieces(x, cuts, config), score_series(x, config))


def test_a_stream_without_a_known_value_yet_cannot_be_continued():
    """A whole-series score fills leading gaps with the first value to come: no state can know it."""
    stream = SeriesStream(DefaultConfig())
    stream.advance(np.full(5, np.nan))
    assert not stream.continuable
    with pytest.raises(ValueError, match="cannot be continued"):
        stream.advance(np.ones(3))


def test_the_detector_scores_a_group_as_streams_continued_from_its_training_tail():
    rng = np.random.default_rng(3)
    ts = np.arange(900, dtype="int64") * 300_000
    frame = pd.DataFrame({"host": "a", "timestamp": ts, "v": rng.standard_normal(900),
                          "w": np.sin(np.arange(900) / 7.0)})
    det = create("default").fit(frame.iloc[:400])
    later = frame.iloc[400:].reset_index(drop=True)
    streams = det.start_streams(("a",), int(later["timestamp"].iloc[0]))
    values = later[["v", "w"]].to_numpy()
    first = det.advance_streams(streams, values[:300])
    rest = det.advance_streams(streams, values[300:])
    whole = det.feature_scores(later).to_numpy()
    np.testing.assert_array_equal(np.vstack([first, rest]), whole)
    np.testing.assert_array_equal(whole.max(axis=1), det.score(later).to_numpy())


@pytest.mark.parametrize("seed", range(4))
def test_ewma_streams_are_pandas_ewm_and_continue_through_saved_states(seed):
    from admon.detectors.statistical import EwmaStream

    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 400))
    x = rng.standard_normal(n) * 100.0
    x[rng.integers(0, n, n // 4)] = np.nan
    alpha, minp = float(rng.choice([0.05, 0.3, 1.0])), int(rng.integers(1, 5))
    ewm = pd.DataFrame(x).ewm(alpha=alpha, min_periods=minp, ignore_na=True)
    mean, std = EwmaStream(alpha, minp).advance(x)
    np.testing.assert_array_equal(mean, ewm.mean().shift(1).to_numpy()[:, 0])
    np.testing.assert_array_equal(std, ewm.std(bias=True).shift(1).to_numpy()[:, 0])
    stream, parts, start = EwmaStream(alpha, minp), [], 0
    for stop in [*sorted({int(c) for c in rng.integers(0, n, 3)}), n]:
        stream = EwmaStream.from_arrays(alpha, minp, stream.arrays()["ewm"])
        parts.append(stream.advance(x[start:stop])[0])
        start = stop
    np.testing.assert_array_equal(np.concatenate(parts), mean)
