"""API tokens expire unless a token without expiry is asked for explicitly, and `token list`
shows which is which (never the secret)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from admon.registry import repository as registry
from admon.registry.db import session_scope
from admon.registry.models import ApiTokenRow
from admon.timeutil import MS_PER_DAY, now_ms

ADMON = str(Path(sys.executable).with_name("admon"))


def admon(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ADMON, *args], env={**os.environ, "COLUMNS": "250"}, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def alice() -> str:
    with session_scope() as s:
        registry.create_user(s, "alice")
    return "alice"


def _tokens() -> list[tuple[int, int | None]]:
    with session_scope() as s:
        return [(t.created_ms, t.expires_ms) for t in s.query(ApiTokenRow).order_by(ApiTokenRow.id)]


@pytest.mark.parametrize("days", ["0", "-1", "-365"])
def test_zero_or_negative_days_is_an_error_and_creates_no_token(alice, days):
    result = admon("token", "create", "--user", alice, "--days", days)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert f"--days {days}" in result.stderr and "--no-expiry" in result.stderr
    assert "Traceback" not in result.stderr and "admon_" not in result.stdout
    assert _tokens() == []


def test_days_and_no_expiry_together_is_an_error(alice):
    result = admon("token", "create", "--user", alice, "--days", "3", "--no-expiry")
    assert result.returncode == 2 and "not both" in result.stderr
    assert _tokens() == []


def test_a_token_expires_after_its_days_and_by_default(alice):
    before = now_ms()
    for args in (["--days", "7"], []):
        result = admon("token", "create", "--user", alice, *args)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().startswith("admon_") and len(result.stdout.strip().splitlines()) == 1
        assert "expires" in result.stderr
    (_, seven), (_, default) = _tokens()
    assert seven is not None and 7 * MS_PER_DAY <= seven - before <= 7 * MS_PER_DAY + 60_000
    assert default is not None and default > now_ms()  # no expiry is never the default


def _listed(*args: str) -> dict[str, dict[str, str]]:
    """The rows of `admon token list` by token name: column -> cell."""
    result = admon("token", "list", *args)
    assert result.returncode == 0, result.stderr
    rows = [[cell.strip() for cell in line.strip("│┃ ").split("│")] for line in result.stdout.splitlines()
            if "│" in line]
    columns = ["id", "user", "name", "prefix", "created", "expires", "last used", "state"]
    return {row[2]: dict(zip(columns, row, strict=True)) for row in rows if row[0].isdigit()}


def test_no_expiry_must_be_asked_for_and_is_listed_as_never(alice):
    never = admon("token", "create", "--user", alice, "--name", "ci-bot", "--no-expiry")
    assert never.returncode == 0 and "never expires" in never.stderr, never.stderr
    dated = admon("token", "create", "--user", alice, "--name", "laptop", "--days", "2")
    assert [e for _, e in _tokens()][0] is None
    listed = _listed()
    assert listed["ci-bot"]["expires"] == "never" and listed["ci-bot"]["user"] == alice
    assert listed["laptop"]["expires"].startswith("20") and listed["laptop"]["state"] == "active"
    text = admon("token", "list").stdout
    for secret in (never.stdout.strip(), dated.stdout.strip()):
        assert secret[12:] not in text  # the secret is shown once, at creation, never again


def test_token_list_shows_revoked_expired_and_last_use(alice):
    with session_scope() as s:
        used, _ = registry.create_api_token(s, alice, "used", expires_ms=now_ms() + MS_PER_DAY)
        used.last_used_ms = now_ms()
        registry.create_api_token(s, alice, "old", expires_ms=1)
        gone, _ = registry.create_api_token(s, alice, "gone", expires_ms=None)
        registry.revoke_api_token(s, gone.id)
    listed = _listed("--user", alice)
    assert listed["used"]["state"] == "active" and listed["used"]["last used"].startswith("20")
    assert listed["old"]["state"] == "expired" and listed["old"]["last used"] == "never used"
    assert listed["gone"]["state"] == "revoked" and listed["gone"]["expires"] == "never"
    revoke = admon("token", "revoke", str(listed["used"]["id"]))
    assert revoke.returncode == 0 and "revoked" in revoke.stdout
    assert _listed()["used"]["state"] == "revoked"
