"""Registry faults through the real ``admon`` command: a missing or read-only database is one
clear line naming the file and the fix, never a silently created empty registry or a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ADMON = str(Path(sys.executable).with_name("admon"))


#: Root without the capabilities that let it ignore file modes, so a read-only file is
#: read-only to it too (it stays root: the checkout may sit in a folder only root can enter).
WITHOUT_DAC_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
                        "--inh-caps=-dac_override,-dac_read_search"]


def admon(*args: str, url: str, obey_file_modes: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "ADMON_DATABASE_URL": url, "COLUMNS": "200"}
    command = [ADMON, *args]
    if obey_file_modes and os.geteuid() == 0:
        command = [*WITHOUT_DAC_OVERRIDE, *command]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, cwd="/")


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("args", [
    ["scheduler", "--once"],
    ["project", "list"],
    ["entity", "list"],
    ["user", "list"],
    ["token", "create", "--user", "alice", "--days", "1"],
    ["runs", "list", "1"],
])
def test_a_missing_database_is_not_created_by_other_commands(tmp_path, args):
    db_file = tmp_path / "missing-dir" / "admon.db"
    url = f"sqlite:///{db_file}"
    line = one_line_error(admon(*args, url=url))
    assert "does not exist" in line and str(db_file) in line and "admon db init" in line
    assert not db_file.exists() and not db_file.parent.exists()


def test_db_init_creates_the_database_and_then_commands_work(tmp_path):
    db_file = tmp_path / "new-dir" / "admon.db"
    url = f"sqlite:///{db_file}"
    init = admon("db", "init", url=url)
    assert init.returncode == 0, init.stderr
    assert db_file.is_file() and str(db_file) in init.stdout
    again = admon("db", "init", url=url)  # idempotent: an existing database is kept (and migrated)
    assert again.returncode == 0, again.stderr
    listed = admon("project", "list", url=url)
    assert listed.returncode == 0, listed.stderr
    tick = admon("scheduler", "--once", url=url)
    assert tick.returncode == 0 and "planned 0" in tick.stdout, tick.stderr


def test_the_python_api_says_the_database_does_not_exist(tmp_path):
    from admon.errors import ConfigError
    from admon.registry.api import Project

    url = f"sqlite:///{tmp_path / 'nowhere' / 'admon.db'}"
    with pytest.raises(ConfigError, match=r"does not exist.*admon db init"):
        Project.list(database_url=url)
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.skipif(shutil.which("setpriv") is None and os.geteuid() == 0,
                    reason="needs setpriv to run admon as root without CAP_DAC_OVERRIDE")
@pytest.mark.parametrize("args", [["project", "list"], ["project", "create", "--title", "p"],
                                  ["scheduler", "--once"]])
def test_a_read_only_database_is_one_line_naming_the_file_and_the_fix(tmp_path, args):
    url = f"sqlite:///{tmp_path / 'admon.db'}"
    assert admon("db", "init", url=url).returncode == 0
    folder = tmp_path / "read-only"
    folder.mkdir()
    target = folder / "admon.db"
    shutil.copy(tmp_path / "admon.db", target)
    target.chmod(0o444)
    folder.chmod(0o555)
    try:
        line = one_line_error(admon(*args, url=f"sqlite:///{target}", obey_file_modes=True))
        assert str(target) in line and "read-only" in line and "chmod" in line, line
    finally:
        folder.chmod(0o755)
