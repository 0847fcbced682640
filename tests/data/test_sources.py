"""The Source protocol: the lake's raw samples are exactly what the data job aggregates."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from admon import DataSource
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
