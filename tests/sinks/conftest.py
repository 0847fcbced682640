"""Sink fixtures: ``db_url`` runs a registry-reading test on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from conftest_servers import db_url, postgres_server, postgres_url  # noqa: F401
