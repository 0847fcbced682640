"""Integration fixtures: the real servers of tests/conftest_servers.py (PostgreSQL, Prometheus)."""

from __future__ import annotations

from conftest_servers import postgres_server, postgres_url, prometheus_server  # noqa: F401
