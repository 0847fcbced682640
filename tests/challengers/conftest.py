"""Fixtures of the champion/challenger tests: a registry (SQLite, PostgreSQL under -m integration)
and the generated lake with injected spikes of the threshold tests."""

from __future__ import annotations

from conftest_servers import db_url, postgres_server, postgres_url, webhook_receiver  # noqa: F401

from tests.thresholds.conftest import lake  # noqa: F401
