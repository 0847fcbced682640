"""InfluxSource against a real influxd (1.x) loaded with known points, and its bad input.

The expected buckets are computed here by hand from the very points written, with plain Python.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable

import pandas as pd
import pytest
from conftest_servers import free_port, influx_server  # noqa: F401 - a fixture

from admon import DataSource, InfluxSource, InputDataConfig, PrometheusSource
from admon.errors import ConfigError, DataError, SourceReadError

START = 1_652_140_800_000  # 2022-05-10T00:00:00Z
END = START + 3_600_000
STEP_MS = 30_000
GAP = (START + 20 * 60_000, START + 25 * 60_000)  # h2 has no tx in [00:20, 00:25)
DB = "telegraf"


def _points() -> list[tuple[str, dict, dict, int]]:
    """(measurement, tags, fields, ms): every 30 s, plus one point on each side of the window."""
    points = []
    for i, ts in enumerate(range(START - STEP_MS, END + STEP_MS, STEP_MS)):
        points.append(("net", {"host": "h1"}, {"rx": 100 + i * 1.5}, ts))
        points.append(("net", {"host": "h2"}, {"rx": 50 + (i % 7) * 2.0}, ts))
        points.append(("traffic", {"host": "h1"}, {"tx": 10.0 + i}, ts))
        if not GAP[0] <= ts < GAP[1]:
            points.append(("traffic", {"host": "h2"}, {"tx": 3.0 * (i % 5)}, ts))
    for i in range(10):  # bad input: points without the host tag, text values
        ts = START + i * STEP_MS
        points.append(("bad", {"host": "h1"}, {"v": 1.0 + i}, ts))
        if i < 5:
            points.append(("bad", {}, {"v": 7.0}, ts))
        if i < 3:
            points.append(("status", {"host": "h1"}, {"v": "up"}, ts))
    return points


POINTS = _points()


def _line(measurement: str, tags: dict, fields: dict, ts: int) -> str:
    tag_text = "".join(f",{k}={v}" for k, v in tags.items())
    field_text = ",".join(f'{k}="{v}"' if isinstance(v, str) else f"{k}={v!r}" for k, v in fields.items())
    return f"{measurement}{tag_text} {field_text} {ts}"


@pytest.fixture(scope="module")
def influx(influx_server):  # noqa: F811 - the fixture imported above
    influx_server.write(DB, [_line(*p) for p in POINTS])
    return influx_server


def by_hand(measurement: str, field: str, method: Callable[[list[float]], float], interval_ms: int = 300_000) -> dict:
    """(host, bucket) -> aggregate of the field's values in the window, computed by hand."""
    buckets: dict = defaultdict(list)
    for name, tags, fields, ts in POINTS:
        if name == measurement and field in fields and START <= ts < END:
            buckets[(tags["host"], ts - ts % interval_ms)].append(fields[field])
    return {key: method(values) for key, values in buckets.items()}


def idc(*sources, method: str = "avg", group_by=("host",)) -> InputDataConfig:
    return InputDataConfig(source_configs=list(sources), agg_interval_seconds=300, agg_method=method,
                           group_by=list(group_by))


def as_dict(frame: pd.DataFrame, column: str) -> dict:
    return {(r.host, r.timestamp): getattr(r, column) for r in frame.itertuples(index=False)}


def net(url: str, **kw) -> InfluxSource:
    return InfluxSource('SELECT "rx" FROM "net" WHERE $timeFilter GROUP BY "host"', database=DB, url=url, **kw)


@pytest.mark.parametrize("method,by", [("avg", statistics.fmean), ("max", max)])
def test_buckets_equal_the_hand_computed_ones(influx, method, by):
    reader = DataSource(None, idc(net(influx.url), method=method))
    frame = reader.read_pandas(START, END)
    assert list(frame.columns) == ["host", "timestamp", "rx"] and len(frame) == 24
    assert as_dict(frame, "rx") == pytest.approx(by_hand("net", "rx", by))
    report = reader.last_report.sources[0]
    assert report.rows_used == 240 and report.buckets == 24 and not report.skipped


def test_two_queries_joined_and_a_gap_is_null(influx):
    tx = InfluxSource("SELECT tx AS sent FROM traffic WHERE $timeFilter GROUP BY host", database=DB,
                      url=influx.url, chunk_s=700)
    frame = DataSource(None, idc(net(influx.url), tx)).read_pandas(START, END)
    assert list(frame.columns) == ["host", "timestamp", "rx", "sent"] and len(frame) == 24
    sent = as_dict(frame, "sent")
    assert pd.isna(sent.pop(("h2", GAP[0])))  # rx has the bucket, tx has no point in it: null, not 0
    assert sent == pytest.approx(by_hand("traffic", "tx", statistics.fmean))
    assert as_dict(frame, "rx") == pytest.approx(by_hand("net", "rx", statistics.fmean))


def test_tags_rename_and_round_trip(influx):
    source = net(influx.url, rename={"host": "node", "rx": "received"})
    config = idc(source, group_by=["node"])
    assert InputDataConfig.from_yaml(config.to_yaml()) == config == InputDataConfig.from_json(config.to_json())
    frame = DataSource(None, config).read_pandas(START, END)
    assert list(frame.columns) == ["node", "timestamp", "received"]
    assert {(r.node, r.timestamp): r.received for r in frame.itertuples()} == pytest.approx(
        by_hand("net", "rx", statistics.fmean))


def test_an_influx_entity_backfills_with_the_hand_computed_buckets(influx, tmp_path, monkeypatch):
    from admon import DetectionEntity, Project
    from admon.registry import repository as repo
    from admon.registry.db import session_scope
    from admon.runs.backfill import backfill

    monkeypatch.setenv("ADMON_INFLUX_URL", influx.url)  # the source names no url: the setting's
    monkeypatch.setenv("ADMON_SINKS", f"jsonl://{tmp_path / 'out'}")
    config = idc(InfluxSource('SELECT "rx" FROM "net" WHERE $timeFilter GROUP BY "host"', database=DB))
    project = Project.create(title="influx", egroup="admon-dev")
    entity = DetectionEntity.create(project=project, title="net", interval_minutes=60,
                                    sliding_interval_minutes=60, input_data_config=config,
                                    inference_model="net-model", inference_namespace="admon-dev",
                                    monit_producer="admon", monit_label={"admon_entity": "net"})
    stored = DetectionEntity.get(entity.id).input_data_config
    assert stored == config and isinstance(stored.source_configs[0], InfluxSource)
    report = backfill(entity.id, START, END)
    assert (report.windows, report.succeeded, report.failed) == (1, 1, 0)
    with session_scope() as s:
        (run,) = repo.list_runs(s, entity.id)
        assert (run.status, run.rows, run.groups) == ("succeeded", 24, 2)
    assert as_dict(DataSource(None, stored).read_pandas(START, END), "rx") == pytest.approx(
        by_hand("net", "rx", statistics.fmean))


def test_influx_and_prometheus_kinds_mix_in_one_config(influx):
    prom = PrometheusSource("net_rx", url="http://127.0.0.1:9090", rename={"instance": "host", "value": "prx"})
    config = idc(net(influx.url), prom)
    back = InputDataConfig.from_json(config.to_json())
    assert [type(s) for s in back.source_configs] == [InfluxSource, PrometheusSource]
    assert back.value_columns() == ["rx", "prx"]


# --- bad input --------------------------------------------------------------------------------
def test_missing_tag_and_text_values_are_counted(influx):
    reader = DataSource(None, idc(InfluxSource("SELECT v FROM bad WHERE $timeFilter GROUP BY host",
                                               database=DB, url=influx.url)))
    frame = reader.read_pandas(START, END)
    assert frame.host.unique().tolist() == ["h1"]
    assert reader.last_report.skipped == {"missing_group_key:host": 5}
    text = DataSource(None, idc(InfluxSource("SELECT v FROM status WHERE $timeFilter GROUP BY host",
                                             database=DB, url=influx.url)))
    assert text.read_pandas(START, END).empty and text.last_report.skipped == {"invalid_value:v": 3}
    with pytest.raises(DataError, match=r"bad samples \(invalid_value:v=3\)"):
        DataSource(None, idc(InfluxSource("SELECT v FROM status WHERE $timeFilter GROUP BY host",
                                          database=DB, url=influx.url)), strict=True).read(START, END)


def test_no_series_is_counted(influx):
    reader = DataSource(None, idc(InfluxSource("SELECT v FROM nothing WHERE $timeFilter GROUP BY host",
                                               database=DB, url=influx.url)))
    assert reader.read_pandas(START, END).empty and reader.last_report.skipped == {"no_series": 1}


def test_bad_queries_are_clear_errors(influx):
    with pytest.raises(ConfigError, match=r"refused the query .*error parsing query"):
        DataSource(None, idc(InfluxSource("SELECT rx FROM net WHERE $timeFilter GROUP BY host ORDER host",
                                          database=DB, url=influx.url))).read(START, END)
    with pytest.raises(ConfigError, match="database not found: nodb"):
        DataSource(None, idc(net(influx.url).model_copy(update={"database": "nodb"}))).read(START, END)
    with pytest.raises(ConfigError, match=r"lacks \$timeFilter"):
        InfluxSource("SELECT rx FROM net GROUP BY host", database=DB)
    with pytest.raises(ConfigError, match="no '\\*'"):
        InfluxSource("SELECT * FROM net WHERE $timeFilter", database=DB)
    with pytest.raises(ConfigError, match="several statements"):
        InfluxSource("SELECT rx FROM net WHERE $timeFilter; DROP DATABASE telegraf", database=DB)
    with pytest.raises(ConfigError, match="database"):
        InfluxSource("SELECT rx FROM net WHERE $timeFilter")
    with pytest.raises(ConfigError, match=r"gives the value column\(s\) \['RX', 'rx'\] more than once"):
        InfluxSource("SELECT rx, max(tx) AS RX FROM net WHERE $timeFilter", database=DB)


def test_unreachable_server_counted_or_raised(monkeypatch):
    dead = net(f"http://127.0.0.1:{free_port()}", retries=0)
    reader = DataSource(None, idc(dead))
    assert reader.read_pandas(START, END).empty and reader.last_report.skipped == {"source_unreachable": 1}
    with pytest.raises(SourceReadError, match="InfluxDB at .* cannot be reached"):
        DataSource(None, idc(dead), strict=True).read(START, END)
    monkeypatch.delenv("ADMON_INFLUX_URL", raising=False)
    with pytest.raises(ConfigError, match="ADMON_INFLUX_URL"):
        DataSource(None, idc(net(None))).read(START, END)
