"""Registry fixtures: ``db_url`` runs a test on SQLite and on a real PostgreSQL server;
``empty_db_url`` does too, on a database that has no schema yet (migration tests)."""

from __future__ import annotations

import pytest
from conftest_servers import db_url, postgres_server, postgres_url  # noqa: F401


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def empty_db_url(request, tmp_path, monkeypatch):
    """A database without any table (a new SQLite file, a fresh PostgreSQL database), also set
    as ADMON_DATABASE_URL."""
    from admon.registry import db

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    monkeypatch.setenv("ADMON_DATABASE_URL", url)
    yield url
    db.dispose_all()
