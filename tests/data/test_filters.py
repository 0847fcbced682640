"""admon.data.filters: a filter is parsed once per text, and every caller gets a tree of its own."""

from __future__ import annotations

import pytest
from sqlglot import exp

from admon.data.filters import parse_filter
from admon.errors import ConfigError


def test_a_caller_that_changes_its_tree_does_not_change_the_next_parse():
    tree = parse_filter("topic == 'cpu' and value > 0")
    tree.find(exp.Literal).replace(exp.Literal.string("disk"))
    assert parse_filter("topic == 'cpu' and value > 0").sql("duckdb") == "topic = 'cpu' AND value > 0"


def test_a_bad_filter_raises_every_time_it_is_parsed():
    for _ in range(2):  # an error is not cached as a result
        with pytest.raises(ConfigError, match="not allowed"):
            parse_filter("topic IN (SELECT 1)")
