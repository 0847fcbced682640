"""Alert rules: the ``alert_rules`` table.

One row per rule of an entity (:mod:`admon.alerts.rules`): a name unique within the entity,
minimum score and duration, the group filter, label and annotation templates. Rows go with
their entity (ON DELETE CASCADE). ``downgrade`` drops the table.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("min_score", sa.Float(), nullable=False),
        sa.Column("min_duration_minutes", sa.Float(), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("annotations", sa.JSON(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["entity_id"], ["detection_entities.id"],
                                name="fk_alert_rules_entity_id_detection_entities", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_alert_rules"),
        sa.UniqueConstraint("entity_id", "name", name="uq_alert_rules_entity_name"),
    )
    op.create_index("ix_alert_rules_entity_id", "alert_rules", ["entity_id"])


def downgrade() -> None:
    op.drop_index("ix_alert_rules_entity_id", table_name="alert_rules")
    op.drop_table("alert_rules")
