"""Registry fixtures: ``db_url`` runs a test on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import pytest
from conftest_servers import postgres_server, postgres_url  # noqa: F401

from admon.registry import db


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db_url(request, monkeypatch):
    """The registry database of this test, also set as ADMON_DATABASE_URL."""
    import os

    if request.param == "sqlite":
        url = os.environ["ADMON_DATABASE_URL"]
    else:
        url = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("ADMON_DATABASE_URL", url)
    yield url
    db.dispose_all()
