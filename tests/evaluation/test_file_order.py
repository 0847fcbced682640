"""Files whose timestamps repeat or go backwards are processed in file order (issue 14, item 4)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from admon.evaluation.corpus import load_corpus, timestamp_order
from admon.evaluation.runner import run_detector


def _repeated_hour_corpus(root: Path) -> tuple[Path, pd.DatetimeIndex]:
    """12 hours of 5-minute rows in which hour 06:00-06:55 is written twice (as NAB's
    machine_temperature file has), and one window inside the repeated hour and one after it."""
    first = pd.date_range("2020-03-01 00:00", "2020-03-01 06:55", freq="5min")
    again = pd.date_range("2020-03-01 06:00", "2020-03-01 11:55", freq="5min")
    ts = first.append(again)
    values = np.sin(np.arange(len(ts)) / 6.0)
    values[len(first) + 3] = 9.0  # an incident in the second copy of the hour
    (root / "data" / "machine").mkdir(parents=True)
    pd.DataFrame({"timestamp": ts.strftime("%Y-%m-%d %H:%M:%S"), "value": values}).to_csv(
        root / "data" / "machine" / "repeated_hour.csv", index=False)
    (root / "labels").mkdir()
    windows = {"machine/repeated_hour.csv": [["2020-03-01 06:10:00.000000", "2020-03-01 06:20:00.000000"],
                                             ["2020-03-01 09:00:00.000000", "2020-03-01 09:30:00.000000"]]}
    (root / "labels" / "combined_windows.json").write_text(json.dumps(windows))
    return root, ts


def test_a_repeated_hour_loads_in_file_order_with_a_counted_warning(tmp_path):
    root, ts = _repeated_hour_corpus(tmp_path)
    corpus = load_corpus(root)
    f = corpus.files[0]
    assert len(f) == len(ts)
    np.testing.assert_array_equal(f.data["timestamp"].to_numpy(), ts.to_numpy())  # not sorted, not deduplicated
    order = timestamp_order(f.timestamps_ns())
    assert (order.backward_steps, order.repeated) == (1, 12)
    assert corpus.order_warnings() == [
        "machine/repeated_hour.csv: 1 backward step(s), 12 repeated timestamp(s); processed in file order"]


def test_windows_map_to_row_ranges_in_file_order(tmp_path):
    root, ts = _repeated_hour_corpus(tmp_path)
    f = load_corpus(root).files[0]
    # 06:10..06:20 occurs twice: rows 74..76 and 86..88; the window spans both copies (NAB's
    # window is every row with t1 <= timestamp <= t2); 09:00..09:30 occurs once, after the repeat
    first_row = int(np.flatnonzero(ts == pd.Timestamp("2020-03-01 09:00"))[0])
    assert f.window_bounds().tolist() == [[74, 88], [first_row, first_row + 6]]
    assert f.labels().sum() == 15 + 7


def test_benchmark_runs_a_file_with_a_repeated_hour(tmp_path):
    from admon.cli import app, build_app

    root, ts = _repeated_hour_corpus(tmp_path / "corpus")
    run = run_detector(load_corpus(root), "default")
    assert len(run.scores["machine/repeated_hour.csv"]) == len(ts)
    build_app()
    res = CliRunner().invoke(app, ["benchmark", str(root), "-d", "robust_zscore", "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "1 file(s) with timestamps out of order" in res.output
    assert "1 backward step(s), 12 repeated timestamp(s)" in res.output


def test_detectors_see_the_rows_in_file_order(tmp_path):
    # detectors order a frame's rows by timestamp: the frame's timestamps are the running
    # maximum, so the second copy of the hour stays after the first (as NAB's detectors read it)
    root, ts = _repeated_hour_corpus(tmp_path)
    f = load_corpus(root).files[0]
    frame = f.frame()
    assert frame["timestamp"].is_monotonic_increasing
    np.testing.assert_array_equal(frame["value"].to_numpy(), f.data["value"].to_numpy())
    second_copy = frame["timestamp"].to_numpy()[84:96]
    assert (second_copy == pd.Timestamp("2020-03-01 06:55").value // 1_000_000).all()
