"""bench/nab_loco.py prints the threshold-regime table for admon detectors and stored outputs."""

from __future__ import annotations

import runpy
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "nab_loco.py"


def test_nab_loco_table_on_the_vendored_slice_and_a_synthetic_split(nab_fixture, capsys):
    main = runpy.run_path(str(BENCH))["main"]
    assert main([str(nab_fixture), "--only", "ewma", "--markdown", "--synth-split", "dev",
                 "--synth-series", "3", "--kinds"]) == 0
    out = capsys.readouterr().out
    assert "| detector | shared | per-category | per-file | gap | LOCO mean | LOCO pooled | seconds |" in out
    assert "| numenta (stored) | 73.96 |" in out  # NAB's own number for the stored outputs
    assert out.count("| ewma |") == 2  # the NAB slice and the synthetic dev split
    assert "21 files, 7 categories" in out
    assert "incident kinds detected at the shared threshold" in out and "false alarms / 1k rows" in out
