"""PrometheusSource against a real Prometheus loaded with known samples (promtool), and its bad input.

The expected buckets are computed here by hand from the very samples written, with plain
Python: the source must give exactly what the lake gives for the same samples.
"""

from __future__ import annotations

import json
import math
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
from conftest_servers import free_port, loaded_prometheus

from admon import DataSource, InputDataConfig, PrometheusSource, SourceConfig
from admon.errors import ConfigError, DataError, SourceReadError

START = 1_652_140_800_000  # 2022-05-10T00:00:00Z
END = START + 3_600_000
STEP_MS = 30_000
GAP = (START + 20 * 60_000, START + 25 * 60_000)  # h2 has no tx samples in [00:20, 00:25)


def _series() -> dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[int, float]]]:
    """(metric, labels) -> [(ms, value)]: one sample every 30 s, plus one on each side of the window."""
    stamps = list(range(START - STEP_MS, END + STEP_MS, STEP_MS))
    data: dict = {}
    for i, ts in enumerate(stamps):
        data.setdefault(("net_rx", (("instance", "h1"), ("job", "node"))), []).append((ts, 100 + i * 1.5))
        data.setdefault(("net_rx", (("instance", "h2"), ("job", "node"))), []).append((ts, 50 + (i % 7) * 2.0))
        data.setdefault(("net_tx", (("instance", "h1"),)), []).append((ts, 10.0 + i))
        if not GAP[0] <= ts < GAP[1]:
            data.setdefault(("net_tx", (("instance", "h2"),)), []).append((ts, 3.0 * (i % 5)))
    for i, ts in enumerate(stamps[1:11]):  # bad input: no instance label, a NaN sample
        data.setdefault(("bad_rx", (("instance", "h1"),)), []).append((ts, 1.0 + i))
        if i < 5:
            data.setdefault(("bad_rx", (("job", "lost"),)), []).append((ts, 7.0))
        data.setdefault(("bad_rx", (("instance", "h3"),)), []).append((ts, math.nan if i == 3 else 2.0))
    return data


SERIES = _series()


def _openmetrics() -> str:
    lines = []
    for metric in dict.fromkeys(m for m, _ in SERIES):
        lines.append(f"# TYPE {metric} gauge")
        for (name, labels), samples in SERIES.items():
            if name != metric:
                continue
            text = ",".join(f'{k}="{v}"' for k, v in labels)
            lines += [f"{name}{{{text}}} {'NaN' if math.isnan(v) else repr(v)} {ts / 1000:.3f}" for ts, v in samples]
    return "\n".join(lines) + "\n# EOF\n"


def by_hand(metric: str, method: Callable[[list[float]], float], interval_ms: int = 300_000) -> dict:
    """(instance, bucket) -> aggregate of the metric's samples in the window, computed by hand."""
    buckets: dict = defaultdict(list)
    for (name, labels), samples in SERIES.items():
        if name == metric:
            for ts, v in samples:
                if START <= ts < END:
                    buckets[(dict(labels)["instance"], ts - ts % interval_ms)].append(v)
    return {key: method(values) for key, values in buckets.items()}


@pytest.fixture(scope="module")
def prometheus():
    with loaded_prometheus(_openmetrics()) as server:
        yield server


def idc(*sources, method: str = "avg", interval: int = 300, group_by=("instance",)) -> InputDataConfig:
    return InputDataConfig(source_configs=list(sources), agg_interval_seconds=interval, agg_method=method,
                           group_by=list(group_by))


def as_dict(frame: pd.DataFrame, column: str) -> dict:
    return {(r.instance, r.timestamp): getattr(r, column) for r in frame.itertuples(index=False)}


@pytest.mark.parametrize("method,by", [("avg", statistics.fmean), ("max", max)])
def test_buckets_equal_the_hand_computed_ones(prometheus, method, by):
    source = PrometheusSource("net_rx", url=prometheus.url, rename={"value": "rx"})
    reader = DataSource(None, idc(source, method=method))
    frame = reader.read_pandas(START, END)
    expected = by_hand("net_rx", by)
    assert list(frame.columns) == ["instance", "timestamp", "rx"] and len(frame) == 2 * 12
    assert as_dict(frame, "rx") == pytest.approx(expected)
    report = reader.last_report.sources[0]
    assert report.rows_used == 2 * 120 and report.buckets == 24 and not report.skipped
    assert report.source == "prometheus 'net_rx'"


def test_two_queries_joined_and_a_gap_is_null(prometheus):
    rx = PrometheusSource("net_rx", url=prometheus.url, rename={"value": "rx"})
    tx = PrometheusSource('net_tx{instance=~"h.*"}', url=prometheus.url, rename={"value": "tx"})
    frame = DataSource(None, idc(rx, tx)).read_pandas(START, END)
    assert list(frame.columns) == ["instance", "timestamp", "rx", "tx"] and len(frame) == 24
    assert as_dict(frame, "rx") == pytest.approx(by_hand("net_rx", statistics.fmean))
    tx_values = as_dict(frame, "tx")
    gap = ("h2", GAP[0])
    assert math.isnan(tx_values.pop(gap))  # the bucket exists (rx has it); tx has no sample: null, not 0
    assert tx_values == pytest.approx(by_hand("net_tx", statistics.fmean))
    assert gap not in by_hand("net_tx", statistics.fmean)


def test_chunks_and_query_range_read_the_same_samples(prometheus):
    whole = DataSource(None, idc(PrometheusSource("net_rx", url=prometheus.url))).read_pandas(START, END)
    chunked = DataSource(None, idc(PrometheusSource("net_rx", url=prometheus.url, chunk_s=420)))
    pd.testing.assert_frame_equal(chunked.read_pandas(START, END), whole)
    assert chunked.last_report.sources[0].rows_used == 240 and not chunked.last_report.skipped
    # an expression evaluated every 30 s (query_range) at the samples' own times gives them back
    stepped = DataSource(None, idc(PrometheusSource("max by (instance) (net_rx)", url=prometheus.url, step_s=30)))
    pd.testing.assert_frame_equal(stepped.read_pandas(START, END), whole)


def test_labels_rename_and_mix_with_the_lake(prometheus, tmp_path):
    day = tmp_path / "collectd" / "raw" / "monitoring" / "2022" / "05" / "10"
    day.mkdir(parents=True)
    day.joinpath("part.json").write_text("\n".join(
        json.dumps({"timestamp": START + k * 60_000, "host": "h1", "value": float(k)}) for k in range(10)))
    prom = PrometheusSource("net_rx", url=prometheus.url, rename={"instance": "host", "value": "rx"})
    lake = SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "value", "host"],
                        rename={"value": "cpu"})
    config = idc(prom, lake, group_by=["host"])
    assert InputDataConfig.from_json(config.to_json()) == config == InputDataConfig.from_yaml(config.to_yaml())
    frame = DataSource(None, config, lake_root=str(tmp_path)).read_pandas(START, END)
    assert list(frame.columns) == ["host", "timestamp", "rx", "cpu"]
    h1 = frame[frame.host == "h1"].set_index("timestamp")
    assert h1.loc[START, "cpu"] == 2.0 and h1.loc[START + 300_000, "cpu"] == 7.0
    assert h1["cpu"].iloc[2:].isna().all()
    assert dict(zip(h1.index, h1.rx)) == pytest.approx({ts: v for (i, ts), v in
                                                        by_hand("net_rx", statistics.fmean).items() if i == "h1"})


def test_a_prometheus_entity_backfills_with_the_hand_computed_buckets(prometheus, tmp_path, monkeypatch):
    from admon import DetectionEntity, Project
    from admon.runs.backfill import backfill

    monkeypatch.setenv("ADMON_PROMETHEUS_URL", prometheus.url)  # the source names no url: the setting's
    monkeypatch.setenv("ADMON_SINKS", f"jsonl://{tmp_path / 'out'}")
    config = idc(PrometheusSource("net_rx", rename={"value": "rx"}),
                 PrometheusSource("net_tx", rename={"value": "tx"}), interval=300)
    project = Project.create(title="prom", egroup="admon-dev")
    entity = DetectionEntity.create(project=project, title="net", interval_minutes=60,
                                    sliding_interval_minutes=60, input_data_config=config,
                                    inference_model="net-model", inference_namespace="admon-dev",
                                    monit_producer="admon", monit_label={"admon_entity": "net"})
    stored = DetectionEntity.get(entity.id).input_data_config
    assert stored == config and isinstance(stored.source_configs[0], PrometheusSource)
    report = backfill(entity.id, START, END)
    assert (report.windows, report.succeeded, report.failed) == (1, 1, 0)
    from admon.registry import repository as repo
    from admon.registry.db import session_scope

    with session_scope() as s:
        (run,) = repo.list_runs(s, entity.id)
        assert (run.status, run.rows, run.groups) == ("succeeded", 24, 2)
    # what the run read is what the hand computes
    frame = DataSource(None, stored).read_pandas(START, END)
    assert as_dict(frame, "rx") == pytest.approx(by_hand("net_rx", statistics.fmean))
    assert frame.tx.isna().sum() == 1


def test_a_prometheus_entity_runs_on_the_scheduler(prometheus, tmp_path, monkeypatch):
    from admon import DetectionEntity, Project
    from admon.registry import repository as repo
    from admon.registry.db import session_scope
    from admon.runs.runner import Runner
    from admon.runs.scheduler import Scheduler
    from admon.settings import load_settings

    monkeypatch.setenv("ADMON_PROMETHEUS_URL", prometheus.url)
    monkeypatch.setenv("ADMON_SINKS", f"jsonl://{tmp_path / 'out'}")
    config = idc(PrometheusSource("net_rx", rename={"value": "rx"}), PrometheusSource("net_tx", rename={"value": "tx"}))
    entity = DetectionEntity.create(project=Project.create(title="prom", egroup="admon-dev"), title="net",
                                    interval_minutes=30, sliding_interval_minutes=30, input_data_config=config,
                                    inference_model="net-model", inference_namespace="admon-dev",
                                    monit_producer="admon", monit_label={"admon_entity": "net"},
                                    schedule_from_ms=START + 1_800_000)
    report = Scheduler(Runner(load_settings()), clock=lambda: END).tick()
    assert report.executed == 2  # the windows [00:00, 00:30) and [00:30, 01:00)
    with session_scope() as s:
        runs = sorted(repo.list_runs(s, entity.id), key=lambda r: r.window_end_ms)
        assert [(r.status, r.rows, r.groups) for r in runs] == [("succeeded", 12, 2)] * 2
    # each window's buckets are the hand-computed ones
    for first in (START, START + 1_800_000):
        frame = DataSource(None, config).read_pandas(first, first + 1_800_000)
        expected = {k: v for k, v in by_hand("net_rx", statistics.fmean).items() if first <= k[1] < first + 1_800_000}
        assert as_dict(frame, "rx") == pytest.approx(expected)


# --- bad input --------------------------------------------------------------------------------
def test_missing_label_and_nan_are_counted_not_bucketed(prometheus):
    reader = DataSource(None, idc(PrometheusSource("bad_rx", url=prometheus.url)))
    frame = reader.read_pandas(START, END)
    assert sorted(frame.instance.unique()) == ["h1", "h3"]
    assert reader.last_report.skipped == {"missing_group_key:instance": 5, "non_finite_value:value": 1}
    assert frame[frame.instance == "h3"].value.tolist() == [2.0]  # 9 samples of 2.0, the NaN skipped
    with pytest.raises(DataError, match=r"prometheus 'bad_rx': bad samples \(missing_group_key:instance=5, "
                                        r"non_finite_value:value=1\)"):
        DataSource(None, idc(PrometheusSource("bad_rx", url=prometheus.url)), strict=True).read_pandas(START, END)


def test_no_series_is_counted_and_strict_raises(prometheus):
    rx = PrometheusSource("net_rx", url=prometheus.url, rename={"value": "rx"})
    none = PrometheusSource('net_rx{instance="nowhere"}', url=prometheus.url)
    reader = DataSource(None, idc(rx, none))
    frame = reader.read_pandas(START, END)
    assert len(frame) == 24 and frame.value.isna().all()
    assert reader.last_report.sources[1].skipped == {"no_series": 1}
    with pytest.raises(DataError, match="returned no series"):
        DataSource(None, idc(rx, none), strict=True).read_pandas(START, END)


def test_a_bad_query_is_a_clear_error_with_prometheus_message(prometheus):
    with pytest.raises(ConfigError, match=r"refused the query 'rate\(net_rx\[5m\]' \(bad_data\): .*parse error"):
        DataSource(None, idc(PrometheusSource("rate(net_rx[5m]", url=prometheus.url, step_s=60))).read(START, END)
    with pytest.raises(ConfigError, match="is not a series selector.*set step_s"):
        DataSource(None, idc(PrometheusSource("sum(net_rx)", url=prometheus.url))).read(START, END)


def test_unreachable_server_counted_or_raised():
    dead = PrometheusSource("net_rx", url=f"http://127.0.0.1:{free_port()}", retries=1)
    reader = DataSource(None, idc(dead))
    frame = reader.read_pandas(START, END)
    assert frame.empty and reader.last_report.skipped == {"source_unreachable": 1}
    with pytest.raises(SourceReadError, match="cannot be reached"):
        DataSource(None, idc(dead), strict=True).read(START, END)


def test_no_url_names_the_setting(monkeypatch):
    monkeypatch.delenv("ADMON_PROMETHEUS_URL", raising=False)
    with pytest.raises(ConfigError, match="ADMON_PROMETHEUS_URL"):
        DataSource(None, idc(PrometheusSource("net_rx"))).read(START, END)


class Scripted:
    """A real HTTP server on 127.0.0.1 that answers every GET with ``answer(handler)``: what a
    proxy or a broken server in front of Prometheus may send, which a real Prometheus cannot."""

    def __init__(self, answer) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                outer.requests.append(self.path)
                answer(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _reply(handler, status: int, body: dict | str, headers: dict | None = None) -> None:
    data = (body if isinstance(body, str) else json.dumps(body)).encode()
    handler.send_response(status)
    for k, v in (headers or {}).items():
        handler.send_header(k, v)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


@pytest.fixture
def scripted():
    servers: list[Scripted] = []

    def start(answer) -> Scripted:
        servers.append(Scripted(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_a_non_numeric_sample_is_counted(scripted):
    answer = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"instance": "h1"}, "values": [[START / 1000, "1.5"], [START / 1000 + 30, "n/a"],
                                                  [START / 1000 + 60, "2.5"]]}]}}
    server = scripted(lambda h: _reply(h, 200, answer))
    reader = DataSource(None, idc(PrometheusSource("x", url=server.url)))
    frame = reader.read_pandas(START, START + 300_000)
    assert frame.value.tolist() == [2.0] and reader.last_report.skipped == {"invalid_value:value": 1}


def test_a_timeout_is_retried_then_counted(scripted):
    def slow(handler):
        time.sleep(1.0)
        _reply(handler, 200, {"status": "success", "data": {"resultType": "matrix", "result": []}})

    server = scripted(slow)
    reader = DataSource(None, idc(PrometheusSource("x", url=server.url, timeout_s=0.2, retries=1)))
    assert reader.read_pandas(START, START + 300_000).empty
    assert reader.last_report.skipped == {"source_timeout": 1} and len(server.requests) == 2


def test_server_errors_are_retried_and_a_failed_chunk_drops_the_whole_source(scripted):
    calls = []

    def flaky(handler):  # the first chunk answers, every later request fails
        calls.append(handler.path)
        if len(calls) == 1:
            _reply(handler, 200, {"status": "success", "data": {"resultType": "matrix", "result": [
                {"metric": {"instance": "h1"}, "values": [[START / 1000, "1"]]}]}})
        else:
            _reply(handler, 502, "bad gateway: internal page")

    server = scripted(flaky)
    reader = DataSource(None, idc(PrometheusSource("x", url=server.url, chunk_s=300, retries=2)))
    frame = reader.read_pandas(START, START + 600_000)
    # never a partly read window: the first chunk's sample is not used either
    assert frame.empty and reader.last_report.skipped == {"source_server_error": 1} and len(calls) == 4
    with pytest.raises(SourceReadError, match=r"failed on prometheus 'x' \(HTTP 502\)") as caught:
        DataSource(None, idc(PrometheusSource("x", url=server.url, retries=0)), strict=True).read(START, END)
    assert "internal page" not in str(caught.value)  # another service's answer is never quoted


def test_a_redirect_is_not_followed(scripted):
    server = scripted(lambda h: _reply(h, 302, "", {"Location": "http://evil.example/api/v1/query"}))
    token_source = PrometheusSource("x", url=server.url)
    with pytest.raises(ConfigError, match="redirect to 'http://evil.example/api/v1/query', which admon does not"):
        DataSource(None, idc(token_source)).read(START, END)
    assert len(server.requests) == 1


def test_bearer_token_and_tls_options(scripted, monkeypatch, tmp_path):
    seen = []

    def record(handler):
        seen.append(handler.headers.get("Authorization"))
        _reply(handler, 200, {"status": "success", "data": {"resultType": "matrix", "result": []}})

    server = scripted(record)
    monkeypatch.setenv("PROM_TOKEN", "s3cret-token")
    source = PrometheusSource("x", url=server.url, bearer_token_env="PROM_TOKEN")
    DataSource(None, idc(source)).read(START, START + 300_000)
    assert seen == ["Bearer s3cret-token"] and "s3cret" not in source.to_json()
    monkeypatch.delenv("PROM_TOKEN")
    with pytest.raises(ConfigError, match="bearer_token_env names 'PROM_TOKEN', which is not set"):
        DataSource(None, idc(source)).read(START, START + 300_000)
    with pytest.raises(ConfigError, match="ca_file .* is not a file"):
        DataSource(None, idc(PrometheusSource("x", url=server.url, ca_file=str(tmp_path / "no.pem")))).read(
            START, START + 300_000)
    with pytest.raises(ConfigError, match="not an http"):
        PrometheusSource("x", url="file:///etc/passwd")
    with pytest.raises(ConfigError, match="credentials"):
        PrometheusSource("x", url="http://user:pw@prom:9090")
