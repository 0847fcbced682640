"""Fixtures of the runs tests: a small generated lake, a registry on SQLite or PostgreSQL,
an entity over the lake, and a real HTTP receiver."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from conftest_servers import db_url, postgres_server, postgres_url  # noqa: E402,F401
from runs_helpers import LAKE_DAY, generate_small_lake  # noqa: E402


@pytest.fixture(scope="session")
def small_lake_template(tmp_path_factory):
    """3 hosts, 2022-05-10 .. 2022-05-12, one point per minute (generated once per session)."""
    root = tmp_path_factory.mktemp("lake-template")
    generate_small_lake(root, days=3)
    return root


@pytest.fixture
def lake(small_lake_template, tmp_path, monkeypatch):
    """A private copy of the small lake, set as ADMON_LAKE_ROOT."""
    root = tmp_path / "lake"
    shutil.copytree(small_lake_template, root)
    monkeypatch.setenv("ADMON_LAKE_ROOT", str(root))
    return root


@pytest.fixture
def receiver():
    """A real HTTP receiver on 127.0.0.1 (not listening until ``.start()``)."""
    from runs_helpers import Receiver

    rec = Receiver()
    yield rec
    rec.stop()


__all__ = ["LAKE_DAY"]
