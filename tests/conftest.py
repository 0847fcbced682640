"""Fixtures shared by the whole suite. Area-specific fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def _empty_registry(tmp_path_factory) -> Path:
    """An empty registry at the newest schema, made once: what `admon db init` creates."""
    from admon.registry.db import init_database

    path = tmp_path_factory.mktemp("registry-template") / "admon.db"
    init_database(f"sqlite:///{path}").dispose()  # closing checkpoints the WAL into the file
    return path


@pytest.fixture(autouse=True)
def _isolated_admon_env(tmp_path_factory, monkeypatch, _empty_registry):
    """Every test gets its own lake, registry, model store and no sinks, never the user's.

    The registry exists (a copy of an initialised one): only `admon db init`, `serve` and `demo`
    create a database, so a test of a missing one points ADMON_DATABASE_URL elsewhere.
    """
    home = tmp_path_factory.mktemp("admon-home")
    shutil.copy(_empty_registry, home / "admon.db")
    (home / "lake").mkdir()  # an empty lake: a missing one is an error (issue 12, item 13)
    monkeypatch.setenv("ADMON_LAKE_ROOT", str(home / "lake"))
    monkeypatch.setenv("ADMON_DATABASE_URL", f"sqlite:///{home / 'admon.db'}")
    monkeypatch.setenv("ADMON_MODEL_STORE", str(home / "models"))
    monkeypatch.setenv("ADMON_SINKS", "")
    # pytest-xdist's workers export COLUMNS=80: CLI output in tests is "piped" output either way
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
    yield
