"""Fixtures of the data-path tests.

``engine`` is what a test passes to ``DataSource(engine, config)``; every test that
takes it runs on every engine (the Spark engine adds itself to ENGINES).
"""

from __future__ import annotations

import pytest

ENGINES = ["duckdb"]


@pytest.fixture(params=ENGINES)
def engine(request):
    if request.param == "duckdb":
        return None  # the embedded engine, as users select it
    return request.getfixturevalue(request.param)
