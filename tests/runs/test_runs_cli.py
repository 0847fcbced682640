"""The CLI of part 10: project, entity (from YAML), run (backfill), runs list, reproduce, scheduler."""

from __future__ import annotations

import functools

import pytest
import yaml
from runs_helpers import HOSTS, jsonl_docs, xrootd_idc
from typer.testing import CliRunner

from admon.errors import ConfigError, ConflictError


@functools.lru_cache(maxsize=1)
def app():
    from admon.cli import build_app

    return build_app()


def invoke(*args: str):
    return CliRunner().invoke(app(), list(args), catch_exceptions=True)


def write_entity(path, **overrides):
    data = {"project": "XRootD", "title": "xrootd-1h", "interval_minutes": 10,
            "sliding_interval_minutes": 5,
            "input_data_config": yaml.safe_load(xrootd_idc(60, 1).to_yaml()),
            "inference_model": "xrootd-model", "inference_namespace": "admon-dev",
            "monit_producer": "admon", "monit_label": {"admon_entity": "xrootd_with_join"}}
    data.update(overrides)
    path.write_text(yaml.safe_dump(data))
    return path


def test_cli_end_to_end(lake, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # a wide table: no cell is cut short
    monkeypatch.setenv("ADMON_SINKS", f"jsonl://{tmp_path / 'out'}")
    result = invoke("project", "create", "--title", "XRootD", "--egroup", "admon-dev",
                    "--url", "https://example.org/x")
    assert result.exit_code == 0, result.output
    assert "created project XRootD (id 1)" in result.output
    listing = invoke("project", "list")
    assert "XRootD" in listing.output and "admon-dev" in listing.output

    result = invoke("entity", "create", "--from-yaml", str(write_entity(tmp_path / "e.yaml")))
    assert result.exit_code == 0, result.output
    assert "created detection entity xrootd-1h (id 1)" in result.output
    assert "xrootd-1h" in invoke("entity", "list").output
    shown = invoke("entity", "show", "xrootd-1h")
    assert "gled_value" in shown.output and "xrootd_with_join" in shown.output

    result = invoke("run", "xrootd-1h", "--from", "2022-05-10T00:00:00Z", "--to", "2022-05-10T00:30:00Z")
    assert result.exit_code == 0, result.output
    assert "5 windows: 5 ran, 0 already done, 0 failed" in result.output
    assert len(jsonl_docs(tmp_path / "out")) == 5 * HOSTS
    again = invoke("run", "1", "--from", "2022-05-10T00:00:00Z", "--to", "2022-05-10T00:30:00Z")
    assert "5 windows: 0 ran, 5 already done" in again.output
    assert len(jsonl_docs(tmp_path / "out")) == 5 * HOSTS

    table = invoke("runs", "list", "xrootd-1h")
    assert table.exit_code == 0
    assert table.output.count("succeeded") == 5
    assert "attempts" in table.output and "read s" in table.output
    assert "2022-05-10T00:30:00Z" in table.output

    result = invoke("reproduce", "1")
    assert result.exit_code == 0 and "IDENTICAL" in result.output

    result = invoke("entity", "disable", "xrootd-1h")
    assert result.exit_code == 0
    assert "no" in invoke("entity", "list").output.splitlines()[-2]


def test_cli_errors_name_the_problem(tmp_path):
    assert invoke("project", "create", "--title", "XRootD").exit_code == 0
    result = invoke("project", "create", "--title", "XRootD")
    assert isinstance(result.exception, ConflictError)
    result = invoke("entity", "create", "--from-yaml",
                    str(write_entity(tmp_path / "bad.yaml", sliding_interval_minutes=20)))
    assert isinstance(result.exception, ConfigError)
    assert "sliding_interval_minutes 20 is larger than interval_minutes 10" in str(result.exception)
    result = invoke("entity", "create", "--from-yaml",
                    str(write_entity(tmp_path / "typo.yaml", inference_modle="x")))
    assert isinstance(result.exception, ConfigError) and "inference_modle" in str(result.exception)
    result = invoke("entity", "create", "--from-yaml", str(tmp_path / "missing.yaml"))
    assert isinstance(result.exception, ConfigError) and "does not exist" in str(result.exception)


def test_cli_scheduler_until_idle(lake, tmp_path, monkeypatch):
    monkeypatch.setenv("ADMON_SINKS", f"jsonl://{tmp_path / 'out'}")
    monkeypatch.setenv("ADMON_SCHEDULER_POLL_SECONDS", "0.05")
    invoke("project", "create", "--title", "XRootD")
    invoke("entity", "create", "--from-yaml", str(write_entity(tmp_path / "e.yaml")))
    from admon.registry.api import DetectionEntity
    from admon.timeutil import to_epoch_ms

    DetectionEntity.get(1).update(schedule_from_ms=to_epoch_ms("2022-05-10T01:00:00Z"))
    result = invoke("scheduler", "--until-idle", "--now", "2022-05-10T01:20:00Z")
    assert result.exit_code == 0, result.output
    assert result.output.count(": succeeded") == 5
    assert len(jsonl_docs(tmp_path / "out")) == 5 * HOSTS


@pytest.mark.parametrize("args", [["runs", "list", "nope"], ["reproduce", "42"]])
def test_cli_not_found(args):
    from admon.errors import NotFoundError

    assert isinstance(invoke(*args).exception, NotFoundError)


def test_admon_scheduler_process_serves_metrics_and_stops_on_sigterm(lake, tmp_path):
    """The real `admon scheduler` script: runs until SIGTERM, with /metrics while it runs."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import httpx
    from runs_helpers import free_port

    invoke("project", "create", "--title", "XRootD")
    invoke("entity", "create", "--from-yaml", str(write_entity(tmp_path / "e.yaml")))
    from admon.registry.api import DetectionEntity
    from admon.timeutil import to_epoch_ms

    DetectionEntity.get(1).update(schedule_from_ms=to_epoch_ms("2022-05-10T01:00:00Z"))
    port = free_port()
    env = {**os.environ, "ADMON_SINKS": "prometheus", "ADMON_SCHEDULER_POLL_SECONDS": "0.2"}
    admon = os.path.join(os.path.dirname(sys.executable), "admon")
    proc = subprocess.Popen([admon, "scheduler", "--metrics-port", str(port), "--now",
                             "2022-05-10T01:10:00Z"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline, body = time.monotonic() + 90, ""
        while time.monotonic() < deadline:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except httpx.HTTPError:
                body = ""
            if 'admon_runs_total{entity_id="1",status="succeeded"} 3.0' in body:
                break
            time.sleep(0.3)
        assert 'admon_runs_total{entity_id="1",status="succeeded"} 3.0' in body
        assert body.count("admon_anomaly_score{") == HOSTS
        assert proc.poll() is None  # still running: nothing left to do is not a reason to stop
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "scheduler stopped" in out
