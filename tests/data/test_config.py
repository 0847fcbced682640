"""SourceConfig / InputDataConfig: the design's signatures, validation and round trips."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from admon import InputDataConfig, SourceConfig
from admon.errors import ConfigError
from tests.data.lakes import two_sources


def test_positional_producer_type_prefix_type():
    sc = SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "value", "host"])
    assert (sc.producer, sc.type_prefix, sc.type) == ("collectd", "raw", "monitoring")
    assert sc.lake_path() == "collectd/raw/monitoring"


def test_round_trips_through_json_and_yaml():
    idc = two_sources("p95")
    assert InputDataConfig.from_json(idc.to_json()) == idc
    assert InputDataConfig.from_yaml(idc.to_yaml()) == idc
    assert InputDataConfig.from_yaml(idc.to_yaml()).content_hash() == idc.content_hash()


def test_configs_are_frozen_and_reject_unknown_keys():
    idc = two_sources()
    with pytest.raises(ValidationError, match="frozen"):
        idc.agg_method = "sum"
    with pytest.raises(ConfigError, match="unknown field .colour.; remove it"):
        InputDataConfig.from_json('{"source_configs": [], "agg_interval_seconds": 1, "colour": "red"}')


@pytest.mark.parametrize("kwargs, message", [
    (dict(select=["value", "host"]), "lacks 'timestamp'"),
    (dict(select=["timestamp", "value"], rename={"host": "h"}), "not in select"),
    (dict(select=["timestamp", "value"], filter_expression="topic = 'a'; drop table x"), "not a valid SQL"),
    (dict(select=["timestamp", "value"], filter_expression="(select 1) = 1"), "not allowed"),
    (dict(select=["timestamp", "value"], filter_expression="read_csv('/etc/passwd') is null"), "not allowed"),
])
def test_bad_source_configs_are_clear_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        SourceConfig("collectd", "raw", "monitoring", **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(agg_method="mean"), "'mean' is not supported"),
    (dict(agg_interval_seconds=0), "greater than 0"),
    (dict(group_by=["cluster"]), "does not select the group_by columns \\['cluster'\\]"),
    (dict(group_by=["timestamp"]), "must not contain 'timestamp'"),
])
def test_bad_input_data_configs_are_clear_errors(kwargs, message):
    sc = SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "value", "host"])
    base = dict(source_configs=[sc], agg_interval_seconds=300, agg_method="avg", group_by=["host"])
    with pytest.raises(ConfigError, match=message):
        InputDataConfig(**{**base, **kwargs})


def test_two_sources_with_the_same_value_name_need_a_rename():
    sc = SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "value", "host"])
    with pytest.raises(ConfigError, match="value column 'value' comes from source_configs\\[0\\] and source_configs\\[1\\]"):
        InputDataConfig(source_configs=[sc, sc], agg_interval_seconds=300, group_by=["host"])


def test_admonapi_is_an_alias_of_admon():
    import admon
    import admonapi

    assert admonapi.DataSource is admon.DataSource and admonapi.InputDataConfig is admon.InputDataConfig
