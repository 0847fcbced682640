"""The Source protocol: the lake's raw samples are exactly what the data job aggregates."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pytest

from admon import DataSource, InputDataConfig, SourceConfig
from admon.config import QuerySource
from admon.data.sources import SOURCES, LakeSource, SampleContext, Source, source_for
from admon.errors import ConfigError
from admon.timeutil import to_epoch_ms

sys.path.insert(0, str(Path(__file__).parents[1] / "runs"))
from runs_helpers import generate_small_lake, xrootd_idc  # noqa: E402


def test_a_source_config_is_a_lake_source():
    idc = xrootd_idc()
    source = source_for(idc.source_configs[0])
    assert isinstance(source, LakeSource) and isinstance(source, Source) and source.name == "lake"
    assert SOURCES.get("lake") is LakeSource and SOURCES.group == "admon.sources"
    with pytest.raises(ConfigError, match="no registered source kind takes a dict"):
        source_for({"kind": "lake"})


def test_lake_samples_bucketed_and_averaged_are_the_jobs_frame(tmp_path):
    generate_small_lake(tmp_path, days=1)
    idc = xrootd_idc(agg_interval_seconds=300, sources=2)
    start, end = to_epoch_ms("2022-05-10T01:00:00Z"), to_epoch_ms("2022-05-10T03:00:00Z")
    expected = DataSource(None, idc, lake_root=str(tmp_path)).read_pandas(start, end)
    context = SampleContext(idc, lake_root=str(tmp_path))
    parts = []
    for config in idc.source_configs:
        (samples,) = source_for(config).samples(start, end, context)
        assert samples["timestamp"].between(start, end - 1).all() and len(samples) > 0
        samples = samples.assign(timestamp=samples["timestamp"] // 300_000 * 300_000)
        parts.append(samples.groupby(["host", "timestamp"], as_index=False).mean())
    joined = parts[0].merge(parts[1], on=["host", "timestamp"], how="outer")
    joined = joined.sort_values(["host", "timestamp"]).reset_index(drop=True)[expected.columns]
    pd.testing.assert_frame_equal(joined, expected.reset_index(drop=True), check_dtype=False)
    assert np.isfinite(joined[["gled_value", "alice_value"]].to_numpy()).all()


def test_no_files_no_samples(tmp_path):
    idc = xrootd_idc()
    context = SampleContext(idc, lake_root=str(tmp_path))
    assert list(source_for(idc.source_configs[0]).samples(0, 3_600_000, context)) == []


# --- query sources: the same samples give the same buckets and the same counts as the lake ----------
class ListedSource(QuerySource):
    """A plugin kind, as a package would declare one: samples given in the config itself."""

    kind: Literal["listed"] = "listed"
    rows: tuple[tuple[Any, ...], ...]  # (host, timestamp, v)

    def value_inputs(self) -> list[str]:
        return ["v"]

    def samples(self, start_ms, end_ms, context):
        host, v = self.output_name("host"), self.output_name("v")
        yield pd.DataFrame([dict(zip([host, "timestamp", v], row)) for row in self.rows], dtype=object)


@pytest.fixture
def listed_kind():
    SOURCES.add("listed", ListedSource)
    yield ListedSource
    SOURCES.unregister("listed")


T0 = 1_652_140_800_000
# good samples, and one of each problem: no host, a value that is not a number, NaN, a timestamp
# in seconds, a fraction of a ms, an exact repeat, one outside the window (not counted)
ROWS = ((("h1", T0, 1.0), ("h1", T0 + 60_000, 3.0), ("h1", T0 + 300_000, 5.0), ("h2", T0 + 10, 2.0),
         (None, T0 + 20, 9.0), ("h2", T0 + 30, None), ("h2", T0 + 40, math.nan), ("h2", T0 // 1000 + 50, 4.0),
         ("h1", T0 + 0.5, 4.0), ("h2", T0 + 10, 2.0), ("h1", T0 + 3_600_000, 8.0)))


def test_a_plugin_kind_is_bucketed_and_counted_like_the_lake(engine, listed_kind, tmp_path):
    day = tmp_path / "collectd" / "raw" / "monitoring" / "2022" / "05" / "10"
    day.mkdir(parents=True)
    docs = [{k: val for k, val in (("host", h), ("timestamp", t), ("v", v)) if k != "host" or h is not None}
            for h, t, v in ROWS]
    day.joinpath("part.json").write_text("\n".join(json.dumps(d).replace("NaN", '"NaN"') for d in docs))
    lake = SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "v", "host"], rename={"v": "cpu"})
    listed = ListedSource(rows=ROWS, rename={"v": "cpu"})
    for method in ("avg", "max", "p95"):
        frames, skips = [], []
        for source in (lake, listed):
            config = InputDataConfig(source_configs=[source], agg_interval_seconds=300, agg_method=method,
                                     group_by=["host"])
            reader = DataSource(engine, config, lake_root=str(tmp_path))
            frames.append(reader.read_pandas(T0, T0 + 3_600_000))
            skips.append(reader.last_report.skipped)
        pd.testing.assert_frame_equal(frames[1], frames[0])
        assert frames[0].cpu.tolist() == pytest.approx({"avg": [2.0, 5.0, 2.0], "max": [3.0, 5.0, 2.0],
                                          "p95": [2.9, 5.0, 2.0]}[method])
        # the same counts under the same (the source's own) names: the row is what is skipped
        assert skips[0] == skips[1] == {"missing_group_key:host": 1, "invalid_value:v": 1, "non_finite_value:v": 1,
                                        "timestamp_in_seconds": 1, "timestamp_not_integer_ms": 1, "duplicate": 1}


def test_a_plugin_kind_round_trips_through_json_and_yaml(listed_kind):
    lake = SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "value", "host"])
    config = InputDataConfig(source_configs=[lake, ListedSource(rows=(("h1", 1, 2.0),))],
                             agg_interval_seconds=60, group_by=["host"])
    assert '"kind":"listed"' in config.to_json() and '"kind"' not in lake.to_json()  # lake configs are unchanged
    assert InputDataConfig.from_json(config.to_json()) == config == InputDataConfig.from_yaml(config.to_yaml())
    assert source_for(config.source_configs[1]) is config.source_configs[1]
    with pytest.raises(ConfigError, match="unknown source 'nope'; available sources: .*influx, lake, listed, "
                                          "prometheus"):
        InputDataConfig.from_json(config.to_json().replace('"listed"', '"nope"'))
    with pytest.raises(ConfigError, match="value column 'v' comes from source_configs\\[0\\] and source_configs\\[1\\]"):
        InputDataConfig(source_configs=[ListedSource(rows=()), ListedSource(rows=())], agg_interval_seconds=60)
    with pytest.raises(ConfigError, match="'timestamp' cannot be renamed"):
        ListedSource(rows=(), rename={"v": "timestamp"})


def test_the_query_comes_first_by_position_and_only_once():
    import pytest

    from admon import InfluxSource, PrometheusSource
    from admon.errors import ConfigError

    assert PrometheusSource("up", url="http://p:9090").query == "up"
    assert InfluxSource("SELECT mean(v) FROM m WHERE $timeFilter", database="db").database == "db"
    with pytest.raises(ConfigError, match="PrometheusSource takes one positional argument"):
        PrometheusSource("up", "http://p:9090")
    with pytest.raises(ConfigError, match="InfluxSource got 'query' both by position and by name"):
        InfluxSource("q", query="q", database="db")
