"""Issue 12, items 6, 9 and 10 (filters): configs that used to give silently wrong numbers or crashes.

The hostile tester's probes, as regressions:
- a rename onto one of admon's internal column names (``_rows``, ``_duplicates``, ``_skip_0``, ...)
  no longer changes the counts: internal columns carry a ``#``, which no user name may hold;
- names that collide (case-insensitively: DuckDB and Spark do not tell ``v`` from ``V``) with each
  other, with a group_by column or with ``timestamp``, within a source or across the sources of one
  InputDataConfig, and empty names, are refused at config time, naming the field and the fix;
- a filter that types badly (a bare value, ``host > 5`` on a text group, ``topic == 1`` on a text
  column seen in the lake) is a ConfigError, and a 422 through ``POST /api/entities``; a type
  error the engine still meets at run time is a DataError naming the filter, quoting no data;
- a filter nested 5,000 deep is a clear ConfigError, not a RecursionError.
"""

from __future__ import annotations

import pytest

from admon import DataSource, InputDataConfig, SourceConfig
from admon.data.filters import MAX_FILTER_DEPTH, MAX_FILTER_LENGTH, parse_filter
from admon.errors import ConfigError, DataError
from tests.data.lakes import DAY0, MIN, monit, write_docs
from tests.service.conftest import client, lake_root, world, world_template  # noqa: F401 - service fixtures

WINDOW = (DAY0, DAY0 + 3600_000)
DOCS = [monit(f"h{i % 3}", "cpu", DAY0 + i * MIN, float(i)) for i in range(60)]


def sc(select=("timestamp", "value", "host"), **kw) -> SourceConfig:
    return SourceConfig("collectd", "raw", "monitoring", select=list(select), **kw)


def idc(*sources: SourceConfig, group_by=("host",)) -> InputDataConfig:
    return InputDataConfig(source_configs=list(sources), agg_interval_seconds=300, group_by=list(group_by))


def read(root, config: InputDataConfig, **kw):
    source = DataSource(None, config, lake_root=str(root), **kw)
    return source.read_pandas(*WINDOW), source.last_report


# --- item 6: renames and names -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["_rows", "_duplicates", "_skip_0", "_skip_1", "_n", "_empty", "_reason",
                                  "_buckets", "_line", "_file", "rows", "skip_0"])
def test_a_rename_onto_a_former_internal_name_leaves_the_counts_right(tmp_path, name):
    docs = [*DOCS, DOCS[0], monit("h1", "cpu", DAY0 + 30 * MIN + 1, "abc")]  # one duplicate, one bad value
    write_docs(tmp_path, docs)
    frame, report = read(tmp_path, idc(sc(filter_expression="topic == 'cpu'", rename={"value": name})))
    assert report.rows_used == len(DOCS)
    assert dict(report.skipped) == {"duplicate": 1, "invalid_value:value": 1}
    assert frame.columns.tolist() == ["host", "timestamp", name]
    expected = {(f"h{i % 3}", DAY0 + (i // 5) * 5 * MIN): [] for i in range(60)}
    for i in range(60):
        expected[(f"h{i % 3}", DAY0 + (i // 5) * 5 * MIN)].append(float(i))
    got = {(h, t): v for h, t, v in frame.itertuples(index=False)}
    assert got == {k: sum(v) / len(v) for k, v in expected.items()}


@pytest.mark.parametrize("rename, group_by, field, fix", [
    ({"value": "host"}, ["host"], "rename", "another name"),
    ({"value": "HOST"}, ["host"], "rename", "another name"),
    ({"value": "Timestamp"}, ["host"], "rename", "another name"),
    ({"value": "timestamp"}, ["host"], "rename", "another name"),
    ({"value": ""}, ["host"], "rename", "empty"),
    ({"value": " v"}, ["host"], "rename", "spaces"),
    ({"value": "v#1"}, ["host"], "rename", "'#'"),
    ({"value": "#rows"}, ["host"], "rename", "'#'"),
    ({"value": "a\x00b"}, ["host"], "rename", "control"),
    ({"host": "node", "value": "host"}, ["node"], "rename", "another name"),
])
def test_a_colliding_or_unwritable_rename_is_refused_naming_the_field_and_the_fix(rename, group_by, field, fix):
    with pytest.raises(ConfigError) as err:
        idc(sc(rename=rename), group_by=group_by)
    message = str(err.value)
    assert field in message and fix in message
    assert "SourceConfig" in message or "InputDataConfig" in message


def test_value_columns_of_two_sources_that_differ_only_by_case_are_refused():
    with pytest.raises(ConfigError, match=r"'V'.*'v'|'v'.*'V'") as err:
        idc(sc(rename={"value": "v"}), sc(rename={"value": "V"}))
    assert "rename" in str(err.value)


@pytest.mark.parametrize("select", [("timestamp", "value", "Value", "host"), ("timestamp", "value", "host", "HOST"),
                                    ("timestamp", "TIMESTAMP", "host"), ("timestamp", "", "host"),
                                    ("timestamp", "val#ue", "host")])
def test_selected_names_that_collide_or_cannot_be_written_are_refused(select):
    with pytest.raises(ConfigError, match="select"):
        sc(select=select)


@pytest.mark.parametrize("group_by, problem", [(["host", "HOST"], "differ only by case"), (["Timestamp"], "timestamp"),
                                               ([""], "empty"), (["ho#st"], "'#'")])
def test_group_by_names_that_collide_or_cannot_be_written_are_refused(group_by, problem):
    with pytest.raises(ConfigError, match="group_by") as err:
        idc(sc(), group_by=group_by)
    assert problem in str(err.value)


@pytest.mark.parametrize("text", ['"#empty" IS NULL', 'value > 0 and "Topic" == \'cpu\' and topic == \'cpu\''])
def test_a_filter_may_not_read_an_internal_column_or_a_name_that_collides(text):
    with pytest.raises(ConfigError, match="filter_expression"):
        sc(filter_expression=text)


def test_realistic_names_are_still_accepted():
    source = sc(select=("timestamp", "value", "host", "_id", "kafka-offset", "data.bytes", "rate/s"),
                rename={"value": "gled_value", "_id": "doc_id"}, filter_expression="\"rate/s\" >= 0")
    config = idc(source)
    assert config.value_columns() == ["gled_value", "doc_id", "kafka-offset", "data.bytes", "rate/s"]


@pytest.mark.parametrize("rename", [{"value": "HOST"}, {"value": ""}, {"value": "_#"}])
def test_post_entity_with_a_colliding_rename_is_422(world, client, rename):  # noqa: F811 - fixtures
    r = client.post("/api/entities", json=_entity_body(world, rename=rename), headers=world.auth("alice"))
    assert r.status_code == 422, r.text
    assert "rename" in r.json()["detail"]


def test_post_entity_with_value_columns_v_and_V_is_422(world, client):  # noqa: F811 - fixtures
    body = _entity_body(world, rename={"value": "v"})
    second = dict(body["input_data_config"]["source_configs"][0], rename={"value": "V"})
    body["input_data_config"]["source_configs"].append(second)
    r = client.post("/api/entities", json=body, headers=world.auth("alice"))
    assert r.status_code == 422, r.text


# --- item 9: filters that type badly -----------------------------------------------------------
@pytest.mark.parametrize("text", ["value", "value + 1", "lower(topic)", "'x'", "1", "null", "not value",
                                  "value > 1 and topic", "coalesce(value, 1)"])
def test_a_filter_that_is_not_a_condition_is_refused_statically(text):
    with pytest.raises(ConfigError, match="not a condition") as err:
        sc(filter_expression=text)
    assert repr(text) in str(err.value)


@pytest.mark.parametrize("text, column", [
    ("host > 5", "host"), ("host == 1", "host"), ("value == 'x'", "value"), ("value like 'x%'", "value"),
    ("abs(host) > 1", "host"), ("timestamp == 'today'", "timestamp"), ("host + 1 > 2", "host"),
    ("value in ('a', 'b')", "value"), ("lower(value) == 'x'", "value"), ("value between 'a' and 'b'", "value"),
])
def test_a_comparison_across_types_of_known_columns_is_refused(text, column):
    with pytest.raises(ConfigError) as err:
        idc(sc(filter_expression=text))
    message = str(err.value)
    assert repr(text) in message and repr(column) in message and "holds" in message


@pytest.mark.parametrize("text", ["1 == 'a'", "'a' > 2", "lower(5) == 'x'", "abs('x') > 1"])
def test_a_comparison_across_types_of_literals_is_refused(text):
    with pytest.raises(ConfigError, match="filter_expression"):
        sc(filter_expression=text)


@pytest.mark.parametrize("text", ["topic == 'cpu'", "value > 1 and host != 'h1'", "timestamp >= 1652140800000",
                                  "lower(topic) like 'cp%' or value is null", "topic in ('cpu', 'mem')",
                                  "not (value between 1 and 5)", "coalesce(topic, 'x') == 'cpu'",
                                  "length(host) > 1", "starts_with(host, 'h')", "value % 2 == 0 and true"])
def test_well_typed_filters_are_accepted(text):
    idc(sc(filter_expression=text))


def test_a_filter_comparing_a_text_column_of_the_lake_with_a_number_is_a_config_error(tmp_path):
    write_docs(tmp_path, DOCS)
    with pytest.raises(ConfigError) as err:
        read(tmp_path, idc(sc(filter_expression="topic == 1")))
    message = str(err.value)
    assert "'topic == 1'" in message and "'topic'" in message and "text" in message
    assert "cpu" not in message  # no data value is quoted


def test_a_type_error_the_engine_meets_at_run_time_is_a_data_error_naming_the_filter(tmp_path):
    write_docs(tmp_path, DOCS)
    text = "timestamp * timestamp > 0"  # overflows BIGINT on every row, in DuckDB
    with pytest.raises(DataError) as err:
        read(tmp_path, idc(sc(filter_expression=text)))
    message = str(err.value)
    assert repr(text) in message and "filter_expression" in message
    assert str(DAY0) not in message and "Overflow in" not in message


@pytest.mark.parametrize("text", ["host > 5", "value", "topic == 1"])
def test_post_entity_with_a_badly_typed_filter_is_422(world, client, text):  # noqa: F811 - fixtures
    r = client.post("/api/entities", json=_entity_body(world, filter_expression=text), headers=world.auth("alice"))
    assert r.status_code == 422, r.text
    assert "filter_expression" in r.json()["detail"] and "xrootd_raw" not in r.json()["detail"]


def test_patch_entity_with_a_filter_of_the_wrong_kind_for_the_lake_is_422_and_changes_nothing(world, client):  # noqa: F811
    config = _entity_body(world, filter_expression="topic == 1")["input_data_config"]
    before = client.get(f"/api/entities/{world.public_entity}", headers=world.auth("alice")).json()
    r = client.patch(f"/api/entities/{world.public_entity}", json={"input_data_config": config},
                     headers=world.auth("alice"))
    assert r.status_code == 422, r.text
    assert "'topic'" in r.json()["detail"] and "xrootd_raw" not in r.json()["detail"]
    assert client.get(f"/api/entities/{world.public_entity}", headers=world.auth("alice")).json() == before


def test_post_entity_with_a_well_typed_filter_is_still_201(world, client):  # noqa: F811 - fixtures
    body = _entity_body(world, filter_expression="topic == 'xrootd_raw_gled' and value >= 0")
    r = client.post("/api/entities", json=body, headers=world.auth("alice"))
    assert r.status_code == 201, r.text


# --- item 10: filters nested too deep ----------------------------------------------------------
@pytest.mark.parametrize("text", ["(" * 5000 + "value > 1" + ")" * 5000, "not " * 2000 + "value > 1",
                                  "abs(" * 5000 + "value" + ")" * 5000 + " > 1", "[" * 5000 + "1" + "]" * 5000,
                                  "(" * (MAX_FILTER_DEPTH + 1) + "value > 1" + ")" * (MAX_FILTER_DEPTH + 1)])
def test_a_filter_nested_too_deep_is_a_clear_error(text):
    with pytest.raises(ConfigError, match=f"nests deeper than {MAX_FILTER_DEPTH}"):
        parse_filter(text)


def test_a_filter_too_long_is_a_clear_error():
    text = " and ".join(["value > 1"] * 5000)
    with pytest.raises(ConfigError, match=f"longer than {MAX_FILTER_LENGTH}"):
        parse_filter(text)


def test_a_long_flat_chain_within_the_limits_is_refused_by_depth_not_by_a_crash():
    text = " or ".join(f"value == {i}" for i in range(400))
    assert len(text) < MAX_FILTER_LENGTH
    with pytest.raises(ConfigError, match="nests deeper than"):
        parse_filter(text)


def test_parentheses_inside_string_literals_do_not_count_as_nesting():
    parse_filter("topic == '" + "(" * 500 + "'")
    parse_filter("(" * MAX_FILTER_DEPTH + "value > 1" + ")" * MAX_FILTER_DEPTH)


def test_post_entity_with_a_filter_nested_5000_deep_is_422(world, client):  # noqa: F811 - fixtures
    text = "(" * 5000 + "value > 1" + ")" * 5000
    r = client.post("/api/entities", json=_entity_body(world, filter_expression=text), headers=world.auth("alice"))
    assert r.status_code == 422, r.text
    assert "nests deeper than" in r.json()["detail"]


def _entity_body(w, **source) -> dict:
    config = {"producer": "collectd", "type_prefix": "raw", "type": "monitoring",
              "select": ["timestamp", "value", "host"], **source}
    return {"project_id": w.public_project, "title": "typed", "interval_minutes": 60,
            "sliding_interval_minutes": 15, "inference_model": "m", "inference_namespace": "ns",
            "input_data_config": {"source_configs": [config], "agg_interval_seconds": 300, "group_by": ["host"]}}
