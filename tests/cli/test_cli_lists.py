"""Every list command takes ``--json``, and at 80 columns no table cell is cut to "20…"/"su…":
a table whose columns do not fit is printed one block of ``column  value`` lines per row."""

from __future__ import annotations

import json

import pytest

from admon.timeutil import format_ms
from tests.service.conftest import DAY0, STEP

#: Every list command of the CLI: (arguments, what --json gives at least).
LIST_COMMANDS = [
    (["project", "list"], {"id", "title", "egroup", "is_private", "entities"}),
    (["entity", "list"], {"id", "project_id", "title", "input_data_config", "enabled"}),
    (["runs", "list", "1"], {"id", "entity_id", "window_start_ms", "window_end_ms", "status", "timings"}),
    (["token", "list"], {"id", "owner", "name", "created_ms", "expires_ms", "state"}),
    (["user", "list"], {"username", "groups", "is_admin"}),
    (["detectors"], {"name", "parameters"}),
    (["forecast", "list"], {"name", "handles_gaps", "defaults"}),
    (["incidents", "list", "1"], set()),
]


@pytest.mark.parametrize(("args", "fields"), LIST_COMMANDS, ids=lambda a: " ".join(a) if isinstance(a, list) else "")
def test_every_list_command_takes_json(trained_world, run_cli, args, fields):
    code, out, err = run_cli(*args, "--json")
    assert code == 0, err
    items = json.loads(out)
    assert isinstance(items, list)
    if fields:
        assert items and all(fields <= set(item) for item in items), items[:1]


def test_model_list_json_names_the_trained_version(trained_world, run_cli):
    code, out, _ = run_cli("model", "list", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [(r["namespace"], r["model"], r["production"]) for r in rows] == [
        ("admon-dev", "public-model", True)]


def test_token_list_json_has_no_secret(trained_world, run_cli):
    _, out, _ = run_cli("token", "list", "--json")
    assert {t["owner"] for t in json.loads(out)} == {"alice", "bob", "root"}
    for secret in trained_world.tokens.values():
        assert secret not in out and secret[12:] not in out


def _cut_cells(text: str) -> list[str]:
    return [line for line in text.splitlines() if "…" in line]


@pytest.mark.parametrize("args", [["runs", "list", "1"], ["model", "list"], ["project", "list"],
                                  ["entity", "list"], ["token", "list"], ["detectors"]])
def test_at_80_columns_no_cell_is_cut(trained_world, run_cli, args):
    code, out, err = run_cli(*args, columns=80)
    assert code == 0, err
    assert _cut_cells(out) == []
    assert max(len(line) for line in out.splitlines()) <= 80


def test_runs_list_at_80_columns_shows_whole_utc_times_and_statuses(trained_world, run_cli):
    _, out, _ = run_cli("runs", "list", "1", columns=80)
    first_window_end = format_ms(DAY0 + 144 * STEP)
    assert first_window_end in out and "2022-05-10T00:00:00Z" in out
    assert out.count("succeeded") == 2
    wide = run_cli("runs", "list", "1", columns=200)[1]
    assert "┃ run" in wide and "attempts" in wide.splitlines()[2]  # wide enough: still one table


def test_model_list_at_80_columns_shows_the_whole_training_window(trained_world, run_cli):
    _, out, _ = run_cli("model", "list", columns=80)
    assert "2022-05-10T00:00:00Z .. 2022-05-10T12:00:00Z" in out
    assert "public-model" in out and "robust_zscore" in out


def test_unknown_status_is_an_error_naming_it_and_the_valid_ones(trained_world, run_cli):
    code, _, err = run_cli("runs", "list", "1", "--status", "bogus")
    assert code == 2 and "'bogus'" in err and "no_data" in err


def test_train_shows_its_stages_whole_with_utc_times(world_env, run_cli):
    code, out, err = run_cli("train", str(world_env.public_entity), "--from", "2022-05-10T00:00:00Z",
                             "--to", "2022-05-10T12:00:00Z", "--no-progress", columns=80)
    assert code == 0, err
    assert '"split_timestamp": "2022-05-10T' in out and _cut_cells(out) == []
    assert max(len(line) for line in out.splitlines()) <= 80
