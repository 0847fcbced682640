"""Fixtures of the evaluation tests: the vendored NAB slice and the team's dev subset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from admon.testing.nab import FIXTURE_ROOT

NAB_DEV = Path(__file__).resolve().parents[3] / "shared" / "data" / "nab-dev"


@pytest.fixture(scope="session")
def nab_fixture() -> Path:
    return FIXTURE_ROOT


@pytest.fixture(scope="session")
def nab_fixture_reference() -> dict:
    return json.loads((FIXTURE_ROOT / "reference_scores.json").read_text())


@pytest.fixture(scope="session")
def nab_dev() -> Path:
    """The team's 34-file NAB development subset, if this machine has it."""
    if not (NAB_DEV / "results" / "reference_scores.json").is_file():
        pytest.skip(f"{NAB_DEV} is not present on this machine")
    return NAB_DEV
