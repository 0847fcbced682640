"""Incidents: the ``incidents`` table.

One row per incident (:mod:`admon.incidents`): anomalous windows of one entity and group
merged, written in the commit of the run that changed it. ``end_ms`` is NULL while the
incident is open; ``(entity_id, status)`` is indexed for the listings of open incidents, and
``(entity_id, group_id)`` is unique among the incidents not resolved: one open incident per
entity and group, also when two runs of the entity commit at once.
Rows go with their entity (ON DELETE CASCADE). ``downgrade`` drops the table.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("group_key", sa.JSON(), nullable=False),
        sa.Column("group_id", sa.String(length=500), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_window_end_ms", sa.BigInteger(), nullable=False),
        sa.Column("peak_score", sa.Float(), nullable=False),
        sa.Column("peak_timestamp_ms", sa.BigInteger(), nullable=True),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("run_ids", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("quiet_windows", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["entity_id"], ["detection_entities.id"],
                                name="fk_incidents_entity_id_detection_entities", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
    )
    op.create_index("ix_incidents_entity_status", "incidents", ["entity_id", "status"])
    op.create_index("uq_incidents_open_group", "incidents", ["entity_id", "group_id"], unique=True,
                    sqlite_where=sa.text("status != 'resolved'"), postgresql_where=sa.text("status != 'resolved'"))


def downgrade() -> None:
    op.drop_index("uq_incidents_open_group", table_name="incidents")
    op.drop_index("ix_incidents_entity_status", table_name="incidents")
    op.drop_table("incidents")
