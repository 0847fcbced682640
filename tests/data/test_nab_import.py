"""Real labelled series (NAB, MIT licence) through the lake and the data path."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from admon import DataSource, InputDataConfig, SourceConfig
from admon.data.nab import import_nab
from admon.errors import ConfigError
from admon.testing.nab import FIXTURE_ROOT


def test_import_nab_roundtrips_every_point_and_keeps_the_labels(tmp_path):
    result = import_nab(FIXTURE_ROOT, tmp_path)
    assert result.series == 3 and sorted(result.categories) == ["realAWSCloudwatch", "realAdExchange"]
    csv = pd.read_csv(FIXTURE_ROOT / "data/realAdExchange/exchange-2_cpm_results.csv")
    config = InputDataConfig(source_configs=[SourceConfig("nab", "raw", "realAdExchange",
                                                          select=["timestamp", "value", "host"])],
                             agg_interval_seconds=60, agg_method="avg", group_by=["host"])
    start = pd.Timestamp(csv["timestamp"].iloc[0], tz="UTC")
    end = pd.Timestamp(csv["timestamp"].iloc[-1], tz="UTC") + pd.Timedelta(minutes=1)
    frame = DataSource(None, config, lake_root=str(tmp_path)).read(start.isoformat(), end.isoformat())
    series = frame[frame["host"] == "exchange-2_cpm_results"]
    # by hand: the CSV's points, floored to the minute and averaged (the file repeats one timestamp)
    csv["bucket"] = (pd.to_datetime(csv["timestamp"], utc=True).dt.floor("min") - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
    expected = csv.groupby("bucket")["value"].mean()
    assert series["timestamp"].tolist() == expected.index.tolist()
    assert series["value"].tolist() == pytest.approx(expected.tolist(), rel=1e-12)
    labels = json.loads((tmp_path / "nab/labels/combined_windows.json").read_text())
    assert "realAdExchange/exchange-2_cpm_results.csv" in labels


def test_import_nab_refuses_a_folder_that_is_not_a_corpus(tmp_path):
    with pytest.raises(ConfigError, match="no data/ folder"):
        import_nab(tmp_path, tmp_path / "lake")
