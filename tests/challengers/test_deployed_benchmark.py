"""A versioned benchmark of what is deployed (issue 20, part 4): `admon labels export` writes a
dataset with a manifest (entity, labels, admon version, sha256 of its files), and
`admon benchmark DIR --deployed` scores the entity's champion and challengers on it."""

from __future__ import annotations

import json

import pytest

from admon.errors import IntegrityError
from admon.runs.backfill import backfill

from .test_champion_challengers import champion_and_challenger, cli, judge_incidents


def test_the_exported_dataset_is_versioned_and_benchmarks_the_champion_and_its_challengers(db_url, lake, tmp_path):
    de = champion_and_challenger(lake)
    assert backfill(de.id, "2022-05-10T06:00:00Z", "2022-05-10T16:00:00Z").succeeded == 20
    confirmed, _ = judge_incidents(de.id)
    assert confirmed == 3
    code, out = cli("labels", "export", str(de.id), "--out", str(tmp_path / "ds"))
    assert code == 0, out
    manifest = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert manifest["entity_id"] == de.id and manifest["labels"] >= 6 and manifest["sha256"] in out
    assert manifest["group_by"] == ["host"] and len(manifest["files"]) == 3 * len(manifest["series"])
    again = tmp_path / "again"
    assert cli("labels", "export", str(de.id), "--out", str(again))[0] == 0
    assert json.loads((again / "dataset.json").read_text())["sha256"] == manifest["sha256"]  # same content

    code, out = cli("benchmark", str(tmp_path / "ds"), "--deployed", "--out", str(tmp_path / "bench"))
    assert code == 0, out
    board = {r["detector"]: r for r in json.loads((tmp_path / "bench" / "leaderboard.json").read_text())}
    assert set(board) == {"champion:xrootd-model", "challenger:strict"}
    # on the entity's own labels, the challenger that flags only the confirmed spikes scores higher
    assert board["challenger:strict"]["nab"]["standard"] > board["champion:xrootd-model"]["nab"]["standard"]

    # a dataset whose files changed since the export is refused
    data_file = next((tmp_path / "ds" / "data").rglob("*.csv"))
    data_file.write_text(data_file.read_text() + "2022-05-10 23:59:00,1.0\n")
    with pytest.raises(IntegrityError, match="changed since the export"):
        cli("benchmark", str(tmp_path / "ds"), "--deployed", "--out", str(tmp_path / "bench2"))
