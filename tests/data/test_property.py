"""Properties: the engine equals a pure-Python reference on random documents and configs, and
a lenient read counts exactly the bad rows that strict mode finds, whatever the documents hold."""

from __future__ import annotations

import json
import math

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, assume, given, settings

from admon import DataSource, InputDataConfig, SourceConfig
from admon.config import AGG_METHODS
from admon.data.diagnose import skipped_counts
from admon.errors import ConfigError, DataError
from tests.data import reference
from tests.data.lakes import DAY0, write_docs

HOSTS = ["h1", "h2", "h3"]
TOPICS = ["a", "b"]
SPAN = 2 * 3600_000

value = st.one_of(st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: round(x, 3)), st.integers(-100, 100),
                  st.sampled_from([float("nan"), float("inf"), float("-inf"), None, "x", True]))


@st.composite
def documents(draw):
    docs = []
    for _ in range(draw(st.integers(0, 40))):
        ts = DAY0 + draw(st.integers(-600_000, SPAN + 600_000))
        host, topic, v = draw(st.sampled_from(HOSTS)), draw(st.sampled_from(TOPICS)), draw(value)
        if draw(st.booleans()):
            doc = {"metadata": {"host": host, "topic": topic, "timestamp": ts}, "data": {"value": v}}
        else:
            doc = {"timestamp": ts, "host": host, "topic": topic, "value": v}
        docs.append(doc)
        if draw(st.integers(0, 4)) == 0:
            docs.append(doc)  # a duplicate
    return docs


@st.composite
def configs(draw):
    group_by = draw(st.sampled_from([["host"], []]))
    n = draw(st.integers(1, 2))
    topics = draw(st.lists(st.sampled_from([None, *TOPICS]), min_size=n, max_size=n))
    sources = [SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "value", *group_by],
                            filter_expression=None if t is None else f"topic == '{t}'",
                            rename={"value": f"v{i}"}) for i, t in enumerate(topics)]
    config = InputDataConfig(source_configs=sources, agg_interval_seconds=draw(st.sampled_from([60, 300, 1800])),
                             agg_method=draw(st.sampled_from(AGG_METHODS)), group_by=group_by)
    return config, topics


def close(a, b) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return b is not None and not math.isnan(b) and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(docs=documents(), config_topics=configs())
def test_engine_equals_the_reference(tmp_path_factory, docs, config_topics):
    config, topics = config_topics
    # A lake whose only values are text has a text column: that is a config error (tested elsewhere).
    numeric = [v for v in (reference.flatten(d).get("value") for d in docs)
               if isinstance(v, (int, float)) and not isinstance(v, bool)]
    assume(numeric or not docs)
    root = tmp_path_factory.mktemp("lake")
    if docs:
        write_docs(root, docs)
    frame = DataSource(None, config, lake_root=str(root)).read_pandas(DAY0, DAY0 + SPAN)
    expected = reference.run(docs, config, DAY0, DAY0 + SPAN, topics)
    got = {tuple(r[: len(config.group_by) + 1]): dict(zip(config.value_columns(), r[len(config.group_by) + 1:]))
           for r in frame.itertuples(index=False)}
    assert set(got) == set(expected)
    for key, values in expected.items():
        for column in config.value_columns():
            assert close(values.get(column), got[key][column]), (key, column, values.get(column), got[key][column])


# --- one validity rule for lenient and strict reads (issue 12, item 8) -------------------------------
# Odd values of every kind a hostile lake holds, per field (MISSING: the key is absent).
MISSING = object()
odd_timestamp = st.one_of(
    st.integers(DAY0 - 600_000, DAY0 + SPAN + 600_000),
    st.sampled_from([MISSING, None, True, False, "x", "", -5, 0, DAY0 + 0.5, DAY0 + 60_000.0, 1e30, 10**30,
                     str(DAY0 + 5), f"{DAY0 + 7}.0", DAY0 // 1000 + 60, 32503680000000, {"ms": DAY0}, [DAY0],
                     float("nan"), float("inf")]),
)
odd_host = st.one_of(st.sampled_from(HOSTS), st.sampled_from([MISSING, None, 5, 2.5, True, "", {"name": "h1"}, ["h1"]]))
odd_topic = st.one_of(st.sampled_from(TOPICS), st.sampled_from([MISSING, None, 1, {"t": "a"}]))
odd_value = st.one_of(value, st.sampled_from([MISSING, "3.5", " 2", "", "nan", {"a": 1}, [1, 2], False, 1e300,
                                              -0.0, 10**30]))
odd_line = st.sampled_from(["not json", "[1, 2]", "5", "{}", '{"data": 5, "metadata": [1]}', "null",
                            json.dumps({"metadata": {"host": "h1", "topic": "a", "timestamp": DAY0 + 1000},
                                        "data": {"value": "DEEP"}}).replace('"DEEP"', "[" * 3000 + "]" * 3000),
                            "[" * 3000 + "]" * 3000])


@st.composite
def hostile_documents(draw):
    lines = []
    for _ in range(draw(st.integers(1, 30))):
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(odd_line))
            continue
        fields = {"timestamp": draw(odd_timestamp), "host": draw(odd_host), "topic": draw(odd_topic),
                  "value": draw(odd_value)}
        fields = {k: v for k, v in fields.items() if v is not MISSING}
        if draw(st.booleans()):
            doc = {"metadata": {k: v for k, v in fields.items() if k != "value"},
                   "data": {k: v for k, v in fields.items() if k == "value"}}
        else:
            doc = fields
        lines.append(json.dumps(doc))
        if draw(st.integers(0, 4)) == 0:
            lines.append(lines[-1])  # a duplicate
    # one good row, so that the sample sees a number in 'value' (a text-only column is a config error)
    return [json.dumps({"timestamp": DAY0 + 1, "host": "h1", "topic": "a", "value": 1.0}), *lines]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=hostile_documents(), config_topics=configs())
def test_lenient_counts_equal_the_strict_reasons(tmp_path_factory, lines, config_topics):
    """Whatever a lake holds, a lenient read counts exactly the rows strict mode finds bad, by reason."""
    config, _ = config_topics
    root = str(tmp_path_factory.mktemp("lake"))
    write_docs(root, lines)
    source = DataSource(None, config, lake_root=root)
    try:
        source.read_pandas(DAY0, DAY0 + SPAN)
    except ConfigError:  # e.g. every topic a number: both modes refuse the config alike
        with pytest.raises(ConfigError):
            skipped_counts(config, root, DAY0, DAY0 + SPAN)
        return
    counted = source.last_report.skipped
    assert skipped_counts(config, root, DAY0, DAY0 + SPAN) == counted
    strict = DataSource(None, config, lake_root=root, strict=True)
    if counted:
        with pytest.raises(DataError) as err:
            strict.read_pandas(DAY0, DAY0 + SPAN)
        named = str(err.value).split(": ", 2)[1].split(" ")[0]  # "<path>, line N: <reason> (...)"
        assert named in {r.split(":")[0] for r in counted} | {"duplicate"}, str(err.value)
    else:
        strict.read_pandas(DAY0, DAY0 + SPAN)


def test_a_rows_reason_does_not_depend_on_the_other_sources_of_its_path(tmp_path):
    """Regression (a falsifying example): sources of one lake path share one scan of the files, and
    the scan holds the union of their fields; a row with none of source 0's fields was
    unreadable_document when read alone but missing_timestamp when source 1 (filter on 'topic')
    shared the scan, since 'topic' made the row look readable."""
    lines = [json.dumps({"timestamp": DAY0 + 1, "host": "h1", "topic": "a", "value": 1.0}),
             *[json.dumps({"host": "h1", "topic": "a", "value": None})] * 2, *["not json"] * 17]
    write_docs(tmp_path, lines)
    sources = [SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "value"],
                            filter_expression=f, rename={"value": f"v{i}"})
               for i, f in enumerate([None, "topic == 'a'"])]
    both = InputDataConfig(source_configs=sources, agg_interval_seconds=60, agg_method="avg", group_by=[])
    alone = InputDataConfig(source_configs=sources[:1], agg_interval_seconds=60, agg_method="avg", group_by=[])
    shared = DataSource(None, both, lake_root=str(tmp_path))
    shared.read_pandas(DAY0, DAY0 + SPAN)
    single = DataSource(None, alone, lake_root=str(tmp_path))
    single.read_pandas(DAY0, DAY0 + SPAN)
    assert shared.last_report.sources[0].skipped == single.last_report.sources[0].skipped
    assert shared.last_report.skipped == skipped_counts(both, str(tmp_path), DAY0, DAY0 + SPAN)
    assert shared.last_report.skipped == {"unreadable_document": 36, "missing_timestamp": 2}
