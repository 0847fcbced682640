"""Fixtures of the threshold tests: a registry (SQLite, and PostgreSQL under -m integration),
and a generated lake with injected spikes of known size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest_servers import db_url, postgres_server, postgres_url  # noqa: F401

from admon import DataSource, InputDataConfig, SourceConfig
from admon.data.generate import generate_lake
from admon.timeutil import to_epoch_ms

DAY = "2022-05-10"
MIN = 60_000


def xrootd_idc() -> InputDataConfig:
    gled = SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "value", "host"],
                        filter_expression="topic=='xrootd_raw_gled'", rename={"value": "gled_value"})
    alice = SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "value", "host"],
                         filter_expression="topic=='xrootd_raw_alice'", rename={"value": "alice_value"})
    return InputDataConfig(source_configs=[gled, alice], agg_interval_seconds=60, agg_method="avg",
                           group_by=["host"])


def inject_spikes(root: Path, spikes: list[tuple[int, str, float]], name: str) -> None:
    """Make ``gled_value`` of ``host`` ``factor`` times its level for three minutes from each
    ``start_ms`` (one more document per minute, so that the minute's average is the spike)."""
    frame = DataSource(None, xrootd_idc(), lake_root=str(root)).read_pandas(f"{DAY}T00:00:00Z",
                                                                            "2022-05-11T00:00:00Z")
    lines = []
    for start_ms, host, factor in spikes:
        for minute in range(3):
            ts = start_ms + minute * MIN
            level = float(frame[(frame.host == host) & (frame.timestamp == ts)]["gled_value"].iloc[0])
            lines.append(json.dumps({"timestamp": ts, "host": host, "topic": "xrootd_raw_gled",
                                     "value": level * (2 * factor - 1)}))
    (root / "collectd" / "raw" / "monitoring" / "2022" / "05" / "10" / f"{name}.json").write_text(
        "\n".join(lines) + "\n")


@pytest.fixture
def lake(tmp_path, monkeypatch) -> Path:
    """3 hosts over 2022-05-10, one point a minute, set as ADMON_LAKE_ROOT."""
    root = tmp_path / "lake"
    generate_lake(root, hosts=3, days=1, start=DAY, seed=7, step_seconds=60,
                  topics=["xrootd_raw_gled", "xrootd_raw_alice"])
    monkeypatch.setenv("ADMON_LAKE_ROOT", str(root))
    return root


def at(text: str) -> int:
    return to_epoch_ms(f"{DAY}T{text}:00Z")
