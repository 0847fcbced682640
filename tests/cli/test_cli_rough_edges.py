"""The CLI's rough edges of issue 17: ``data preview`` shows UTC ISO times and tells its sources
apart, a missing lake root is an error, ``serve`` announces its URL only once the port is bound,
and ``forecast backtest`` shows progress and a readable step."""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from admon.forecast.backtest import BacktestConfig, backtest
from admon.forecast.series import load_csv_series
from tests.service.conftest import design_idc

ADMON = str(Path(sys.executable).with_name("admon"))


def admon(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([ADMON, *args], env={**os.environ, "COLUMNS": "80", **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "xrootd.yaml"
    path.write_text(design_idc().to_yaml())
    return path


def test_data_preview_shows_utc_iso_times_and_names_each_source(world_env, tmp_path):
    result = admon("data", "preview", str(_config(tmp_path)), "--start", "2022-05-10", "--end", "2022-05-11",
                   "--rows", "2")
    assert result.returncode == 0, result.stderr
    assert "2022-05-10T00:00:00Z" in result.stdout and "2022-05-10T00:05:00Z" in result.stdout
    assert "1652140800000" not in result.stdout
    report = result.stdout.split("read report", 1)[1]
    assert report.count("collectd/raw/monitoring") == 2 and report.count("→") == 2
    assert "gled_value" in report and "alice_value" in report  # each source by the column it gives
    assert "…" not in result.stdout


def test_a_missing_lake_root_is_an_error_naming_it(world_env, tmp_path):
    config = str(_config(tmp_path))
    missing = str(tmp_path / "no-such-lake")
    given = admon("data", "preview", config, "--start", "2022-05-10", "--end", "2022-05-11", "--root", missing)
    assert given.returncode == 2 and f"--root '{missing}' does not exist" in given.stderr
    from_env = admon("data", "preview", config, "--start", "2022-05-10", "--end", "2022-05-11",
                     env={"ADMON_LAKE_ROOT": missing})
    assert from_env.returncode == 2
    assert f"'{missing}' (ADMON_LAKE_ROOT) does not exist" in from_env.stderr and "--root" in from_env.stderr
    assert "rows" not in from_env.stdout


def test_an_unknown_status_exits_non_zero_naming_the_fix(world_env):
    result = admon("runs", "list", "1", "--status", "bogus")
    assert result.returncode == 2
    assert "--status 'bogus' is not a run status" in result.stderr and "succeeded" in result.stderr


def test_serve_announces_its_url_only_once_the_port_is_bound(world_env):
    env = {**os.environ, "COLUMNS": "200"}
    server = subprocess.Popen([ADMON, "serve", "--port", "0", "--no-scheduler", "--log-level", "warning"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()  # blocks until the announcement
        assert line.startswith("admon serving on http://127.0.0.1:"), (line, server.poll())
        url = line.split()[3]
        port = int(url.rsplit(":", 1)[1])
        assert port != 0
        # bound and listening already: a request right after the line is answered
        assert httpx.get(f"{url}/healthz", timeout=30).json() == {"status": "ok"}
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_serve_on_a_port_in_use_fails_without_announcing(world_env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = admon("serve", "--port", str(port), "--no-scheduler")
    assert result.returncode == 2
    assert "serving on" not in result.stdout
    assert f"127.0.0.1:{port} is in use" in result.stderr and "--port" in result.stderr


def _csv(tmp_path: Path, points: int = 864) -> Path:
    """Three days of 5-minute points with a daily cycle (what the seasonal models need)."""
    path = tmp_path / "series.csv"
    start = dt.datetime(2022, 5, 10, tzinfo=dt.UTC)
    rows = [f"{(start + dt.timedelta(minutes=5 * i)).strftime('%Y-%m-%d %H:%M:%S')},{math.sin(i / 288 * 2 * math.pi) * 10 + (i % 7) * 0.3:.4f}"
            for i in range(points)]
    path.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    return path


def test_backtest_reports_progress_after_every_fit(tmp_path):
    series = load_csv_series(str(_csv(tmp_path)))
    seen: list[tuple[str, int, int]] = []
    backtest(series, [{"name": "seasonal_naive"}, {"name": "ets"}],
             BacktestConfig(horizon=6, origins=3, mase_season=12), progress=lambda *a: seen.append(a))
    assert seen[0] == ("seasonal_naive", 0, 6) and seen[-1] == ("", 6, 6)
    assert [done for _, done, _ in seen] == sorted(done for _, done, _ in seen)
    assert {model for model, done, _ in seen if 0 < done < 6} >= {"seasonal_naive", "ets"}
    assert len(seen) == 1 + 3 + 1 + 3 + 1  # each model's start, each fit, the end


def test_forecast_backtest_draws_a_progress_bar_and_a_clean_title(tmp_path):
    csv = str(_csv(tmp_path))
    # TTY_COMPATIBLE/FORCE_COLOR: rich draws live progress as on a terminal
    result = admon("forecast", "backtest", "--csv", csv, "--model", "seasonal_naive", "--horizon", "6",
                   "--origins", "3", "--mase-season", "12", env={"TTY_COMPATIBLE": "1", "FORCE_COLOR": "1"})
    assert result.returncode == 0, result.stderr
    assert "3/3" in result.stderr and "fits" in result.stderr
    shown = " ".join(re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", result.stdout).split())
    assert "864 points of 5 min" in shown and "0 days" not in shown


def test_train_and_forecast_backtest_refuse_a_missing_lake_root(world_env, tmp_path):
    missing = str(tmp_path / "gone")
    train = admon("train", str(world_env.public_entity), "--from", "2022-05-10", "--to", "2022-05-11",
                  "--lake-root", missing)
    assert train.returncode == 2 and f"--lake-root '{missing}' does not exist" in train.stderr
    backtest_lake = admon("forecast", "backtest", "--lake", "--root", missing)
    assert backtest_lake.returncode == 2 and f"--root '{missing}' does not exist" in backtest_lake.stderr
