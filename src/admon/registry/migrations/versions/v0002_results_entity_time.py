"""Index results on (entity_id, timestamp_ms): time-range reads of one entity stay bounded.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 20:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("results", schema=None) as batch_op:
        batch_op.create_index("ix_results_entity_timestamp", ["entity_id", "timestamp_ms"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("results", schema=None) as batch_op:
        batch_op.drop_index("ix_results_entity_timestamp")
