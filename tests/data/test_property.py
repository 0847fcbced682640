"""Property: the engine equals a pure-Python reference on random documents and configs."""

from __future__ import annotations

import math

import hypothesis.strategies as st
from hypothesis import HealthCheck, assume, given, settings

from admon import DataSource, InputDataConfig, SourceConfig
from admon.config import AGG_METHODS
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
