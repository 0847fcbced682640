"""The compiled loops against pandas, numpy and torch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from admon.detectors.kernels import rolling_quantiles


@pytest.mark.parametrize(("window", "min_periods"), [(1, 1), (5, 3), (64, 64), (500, 10)])
def test_rolling_quantiles_match_pandas_with_ties(window, min_periods):
    x = np.round(np.random.default_rng(window).standard_normal(300), 1)  # many ties
    qs = np.array([0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
    got = rolling_quantiles(x, window, min_periods, qs)
    roll = pd.Series(x).rolling(window, min_periods=min_periods)
    for k, q in enumerate(qs):
        np.testing.assert_allclose(got[k], roll.quantile(q).to_numpy(), rtol=0, atol=1e-12)


def test_the_row_by_row_lstm_and_dense_layers_compute_torchs_and_a_row_alone_as_in_a_batch():
    """The deep detectors score with these loops because torch's products round by the batch's
    shape (a row alone differs from the same row in a batch): a carried stream scores a run's
    few rows alone, and must give the bits of the group scored whole."""
    torch = pytest.importorskip("torch")
    from admon.detectors.kernels import dense_rows, lstm_last_hidden

    torch.manual_seed(0)
    lstm, head = torch.nn.LSTM(3, 16, batch_first=True), torch.nn.Linear(16, 3)
    windows = np.random.default_rng(1).standard_normal((300, 12, 3)).astype(np.float32)
    with torch.no_grad():
        out, _ = lstm(torch.from_numpy(windows))
        expected = head(out[:, -1]).numpy()
    w = {k: v.numpy().astype(np.float64) for k, v in lstm.state_dict().items()}
    hw = {k: v.numpy().astype(np.float64) for k, v in head.state_dict().items()}

    def forecast(x: np.ndarray) -> np.ndarray:
        hidden = lstm_last_hidden(x.astype(np.float64), w["weight_ih_l0"], w["weight_hh_l0"], w["bias_ih_l0"],
                                  w["bias_hh_l0"])
        return dense_rows(hidden, hw["weight"], hw["bias"], False)

    whole = forecast(windows)
    np.testing.assert_allclose(whole, expected, rtol=0, atol=1e-5)
    for a, b in [(0, 1), (1, 2), (5, 8), (100, 164), (7, 300)]:
        np.testing.assert_array_equal(forecast(windows[a:b]), whole[a:b])
    layer = torch.nn.Linear(12 * 3, 8)
    flat = windows.reshape(300, 36)
    with torch.no_grad():
        expected_relu = torch.relu(layer(torch.from_numpy(flat))).numpy()
    got = dense_rows(flat.astype(np.float64), layer.weight.detach().numpy().astype(np.float64),
                     layer.bias.detach().numpy().astype(np.float64), True)
    assert (expected_relu == 0).any()  # the ReLU cuts some
    np.testing.assert_allclose(got, expected_relu, rtol=0, atol=1e-5)
