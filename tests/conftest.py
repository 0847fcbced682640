"""Fixtures shared by the whole suite. Area-specific fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_admon_env(tmp_path_factory, monkeypatch):
    """Every test gets its own lake, registry, model store and no sinks, never the user's."""
    home = tmp_path_factory.mktemp("admon-home")
    (home / "lake").mkdir()  # an empty lake: a missing one is an error (issue 12, item 13)
    monkeypatch.setenv("ADMON_LAKE_ROOT", str(home / "lake"))
    monkeypatch.setenv("ADMON_DATABASE_URL", f"sqlite:///{home / 'admon.db'}")
    monkeypatch.setenv("ADMON_MODEL_STORE", str(home / "models"))
    monkeypatch.setenv("ADMON_SINKS", "")
    yield
