"""The FTS lake generator: layout, fields, determinism, episodes that show in the data."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from admon.data.source import DataSource
from admon.errors import ConfigError
from admon.forecast.fts_lake import FIELDS, fts_input_config, generate_fts_lake, read_episodes


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return h.hexdigest()


def test_layout_fields_and_flat_documents(tmp_path):
    s = generate_fts_lake(tmp_path, links=3, days=2, start="2022-05-10", seed=0, step_seconds=300)
    assert [Path(f).relative_to(tmp_path).as_posix() for f in s.files] == [
        "fts/raw/transfers/2022/05/10/part-00000.json", "fts/raw/transfers/2022/05/11/part-00000.json"]
    docs = [json.loads(line) for line in Path(s.files[0]).read_text().splitlines()]
    assert len(docs) == 3 * 288 == s.documents / 2
    assert list(docs[0]) == ["timestamp", "source_se", "dest_se", *FIELDS]
    assert docs[0]["timestamp"] == 1652140800000
    assert {(d["source_se"], d["dest_se"]) for d in docs} == set(s.links)
    assert all(isinstance(d["active_count"], int) and 0 <= d["success_rate"] <= 1 for d in docs)
    assert all(d["throughput"] > 0 and d["filesize_avg"] > 0 for d in docs)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    for name, seed in [("a", 7), ("b", 7), ("c", 8)]:
        generate_fts_lake(tmp_path / name, links=2, days=1, seed=seed, step_seconds=120)
    assert digest(tmp_path / "a") == digest(tmp_path / "b") != digest(tmp_path / "c")


def test_daily_pattern_and_episodes_show_in_the_aggregated_data(tmp_path):
    generate_fts_lake(tmp_path, links=2, days=4, seed=3, step_seconds=60)
    episodes = read_episodes(tmp_path)
    assert episodes and all(e["end_ms"] - e["start_ms"] >= 45 * 60_000 for e in episodes)
    frame = DataSource(None, fts_input_config(300, columns=["throughput", "filesize_avg"]),
                       lake_root=str(tmp_path)).read("2022-05-10", "2022-05-14")
    assert len(frame) == 2 * 4 * 288 and frame["throughput"].notna().all()
    ts = frame["timestamp"].to_numpy()
    hour = (ts // 3_600_000) % 24
    inside = frame["throughput"] < 0  # all False
    for e in episodes:
        link = (frame["source_se"] == e["source_se"]) & (frame["dest_se"] == e["dest_se"])
        inside |= link & (ts >= e["start_ms"]) & (ts < e["end_ms"])
    calm = frame[~inside].assign(hour=hour[~inside.to_numpy()])
    # Busiest in the European afternoon, quietest at night.
    afternoon = calm[(calm["hour"] >= 12) & (calm["hour"] < 16)]["throughput"].mean()
    night = calm[calm["hour"] < 4]["throughput"].mean()
    assert afternoon > 1.5 * night
    # Episodes are large, long transfers: more bytes/s and much bigger files.
    assert frame[inside]["throughput"].median() > 2 * calm["throughput"].median()
    assert frame[inside]["filesize_avg"].median() > 5 * calm["filesize_avg"].median()


def test_explicit_links_and_bad_arguments(tmp_path):
    s = generate_fts_lake(tmp_path, links=[("A", "B")], days=1, step_seconds=3600)
    assert s.links == [("A", "B")] and s.documents == 24
    with pytest.raises(ConfigError, match="step_seconds=7 must divide a day"):
        generate_fts_lake(tmp_path, days=1, step_seconds=7)
    with pytest.raises(ConfigError, match="links=0 is out of range"):
        generate_fts_lake(tmp_path, links=0)
    with pytest.raises(ConfigError, match="distinct"):
        generate_fts_lake(tmp_path, links=[("A", "B"), ("A", "B")])
    with pytest.raises(ConfigError, match="unknown FTS fields"):
        fts_input_config(columns=["bandwidth"])
