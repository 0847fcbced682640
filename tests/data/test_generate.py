"""The synthetic lake: layout, determinism, labels, and every format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from admon import DataSource
from admon.data.generate import ANOMALY_KINDS, generate_lake
from tests.data.lakes import DAY0, two_sources


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fmt", ["json", "json.gz", "parquet"])
def test_same_seed_same_bytes_and_readable(tmp_path, fmt):
    a = generate_lake(tmp_path / "a", hosts=3, days=2, seed=5, step_seconds=120, fmt=fmt)
    generate_lake(tmp_path / "b", hosts=3, days=2, seed=5, step_seconds=120, fmt=fmt)
    c = generate_lake(tmp_path / "c", hosts=3, days=2, seed=6, step_seconds=120, fmt=fmt)
    assert tree_bytes(tmp_path / "a") == tree_bytes(tmp_path / "b")
    assert tree_bytes(tmp_path / "a") != tree_bytes(tmp_path / "c")
    assert sorted(str(Path(f).relative_to(tmp_path / "a").parent) for f in a.files) == [
        "collectd/raw/monitoring/2022/05/10", "collectd/raw/monitoring/2022/05/11"]
    frame = DataSource(None, two_sources(), lake_root=str(tmp_path / "a")).read(DAY0, DAY0 + 2 * 86_400_000)
    assert frame["host"].nunique() == 3 and len(frame) > 0
    assert c.documents > 0


def test_labels_name_host_and_topic_with_windows_inside_the_lake(tmp_path):
    summary = generate_lake(tmp_path, hosts=10, days=1, seed=2, step_seconds=60)
    labels = json.loads(Path(summary.labels_path).read_text())
    assert summary.anomalies == sum(len(w) for w in labels.values()) > 0
    for key, windows in labels.items():
        host, topic = key.split("/")
        assert host.startswith("monit-xrootd-") and topic
        for start, end in windows:
            assert DAY0 <= start < end <= DAY0 + 86_400_000
    assert len(ANOMALY_KINDS) == 5
