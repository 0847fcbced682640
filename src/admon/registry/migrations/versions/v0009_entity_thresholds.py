"""Thresholds learnt from verdicts: the ``entity_thresholds`` and ``suppressions`` tables.

- ``entity_thresholds``: every change of an entity's alert threshold (:mod:`admon.registry.thresholds`),
  oldest first: the new value (NULL: back to the model's own threshold), the one before, who or
  what changed it (``verdicts`` or a user), when, the evidence (labels counted, F1 before and
  after, candidates) and, for a revert, the change it reverted. The newest row is the entity's
  current override; no row: the model's own threshold.
- ``suppressions``: windows in which an entity's results (of one group, or all) are not
  anomalous (expected events such as maintenance), with the reason.

Rows go with their entity (ON DELETE CASCADE). ``downgrade`` drops both tables.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "entity_thresholds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("previous", sa.Float(), nullable=True),
        sa.Column("changed_by", sa.String(length=200), nullable=False),
        sa.Column("changed_ms", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("reverted_from", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["entity_id"], ["detection_entities.id"],
                                name="fk_entity_thresholds_entity_id_detection_entities", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_entity_thresholds"),
    )
    op.create_index("ix_entity_thresholds_entity_id", "entity_thresholds", ["entity_id"])
    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("group_key", sa.JSON(), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["entity_id"], ["detection_entities.id"],
                                name="fk_suppressions_entity_id_detection_entities", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_suppressions"),
    )
    op.create_index("ix_suppressions_entity_id", "suppressions", ["entity_id"])


def downgrade() -> None:
    op.drop_index("ix_suppressions_entity_id", table_name="suppressions")
    op.drop_table("suppressions")
    op.drop_index("ix_entity_thresholds_entity_id", table_name="entity_thresholds")
    op.drop_table("entity_thresholds")
