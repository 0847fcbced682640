"""Fixtures of the incidents tests: a registry on SQLite or PostgreSQL."""

from conftest_servers import db_url, postgres_server, postgres_url  # noqa: F401
