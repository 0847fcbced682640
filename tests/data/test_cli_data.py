"""``admon lake …``, ``admon data preview`` and ``admon demo`` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def admon(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "admon.cli", *args], capture_output=True, text=True)
    if check:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


def test_generate_then_preview_shows_the_frame_and_the_read_report(tmp_path):
    out = admon("lake", "generate", "--root", str(tmp_path), "--hosts", "2", "--days", "1", "--seed", "3",
                "--step-seconds", "60")
    assert "documents" in out.stdout and (tmp_path / "labels.json").exists()
    out = admon("data", "preview", str(EXAMPLES / "xrootd.yaml"), "--root", str(tmp_path),
                "--start", "2022-05-10T00:00:00Z", "--end", "2022-05-10T01:00:00Z", "--rows", "3")
    assert "gled_value" in out.stdout and "read report" in out.stdout
    assert "24 rows, 2 groups" in out.stdout  # 2 hosts x 12 five-minute buckets
    docs = admon("data", "preview", str(EXAMPLES / "xrootd.yaml"), "--root", str(tmp_path),
                 "--start", "2022-05-10T00:00:00Z", "--end", "2022-05-10T01:00:00Z", "--documents").stdout
    first = json.loads(docs.splitlines()[0])
    assert first["metadata"]["agg_method"] == "avg" and len(first["data"]) == 12


def test_errors_are_one_clear_line_and_exit_code_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((EXAMPLES / "xrootd.yaml").read_text().replace("agg_method: avg", "agg_method: mean"))
    out = admon("data", "preview", str(bad), "--start", "2022-05-10", "--end", "2022-05-11", check=False)
    assert out.returncode == 2
    assert "agg_method 'mean' is not supported" in out.stderr and "Traceback" not in out.stderr
    out = admon("data", "preview", str(EXAMPLES / "xrootd.yaml"), "--start", "2022-05-11", "--end", "2022-05-10", check=False)
    assert out.returncode == 2 and "not after start" in out.stderr


def test_demo_runs_the_whole_loop_and_saves_a_plot(tmp_path):
    out = admon("demo", "--out", str(tmp_path), "--hosts", "3")
    assert '"agg_interval_seconds": "300"' in out.stdout
    assert "93 windows: 93 run now" in out.stdout  # one day of 15-minute slides of a 1-hour window
    png = next(tmp_path.glob("xrootd_*.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert str(png) in out.stdout.replace("\n", "")
    again = admon("demo", "--out", str(tmp_path), "--hosts", "3")  # the same windows are not run twice
    assert "0 run now, 93 already done" in again.stdout
