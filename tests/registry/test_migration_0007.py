"""Migration 0007 (alert rules): the table arrives with the data of 0006 kept, its rules go with their
entity, a name is unique per entity, and it leaves on downgrade with the entities kept."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from admon.alerts import AlertRuleCreate
from admon.errors import ConflictError
from admon.registry import alert_rules as registry_alert_rules
from admon.registry import db
from admon.registry.models import AlertRuleRow, EntityRow

from .test_migration_0005 import _downgrade
from .test_migration_0006 import _seed_0005
from .test_migrations import _at_revision


def test_0007_adds_alert_rules_keeps_the_entities_and_rules_go_with_their_entity(empty_db_url):
    engine = _at_revision(empty_db_url, "0006")
    _seed_0005(engine)
    engine.dispose()

    db.get_engine(empty_db_url)  # migrates to head on first use
    with db.session_scope(empty_db_url) as s:
        entity = s.get(EntityRow, 3)
        assert entity.title == "e"
        registry_alert_rules.create_rule(s, entity, AlertRuleCreate(name="r", min_score=80), now=5)
    with db.session_scope(empty_db_url) as s:
        (rule,) = registry_alert_rules.list_rules(s, 3)
        assert (rule.name, rule.min_score, rule.groups, rule.created_ms) == ("r", 80.0, {}, 5)
        with pytest.raises(ConflictError, match="has an alert rule named 'r' already"):
            registry_alert_rules.create_rule(s, s.get(EntityRow, 3), AlertRuleCreate(name="r"), now=6)
    with db.session_scope(empty_db_url) as s:
        s.delete(s.get(EntityRow, 3))  # its rules go with it (ON DELETE CASCADE)
    with db.session_scope(empty_db_url) as s:
        assert s.scalars(sa.select(AlertRuleRow)).all() == []


def test_0007_downgrade_drops_the_table_and_keeps_the_entities(empty_db_url):
    engine = _at_revision(empty_db_url, "0007")
    _seed_0005(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(AlertRuleRow.__table__).values(
            entity_id=3, name="r", min_score=0.0, min_duration_minutes=0.0, groups={}, labels={},
            annotations={}, created_ms=1))
    _downgrade(engine, "0006")
    assert "alert_rules" not in sa.inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT title FROM detection_entities")).scalars().all() == ["e"]
    engine.dispose()
