"""Detector state carried between runs: the ``detector_states`` table.

One row per (entity, group): the state of the entity's detector for that group after its
newest run (:mod:`admon.runs.state`), as compressed numpy arrays (``np.savez``, read back
without pickle), with what it is valid for: the model's content hash, the context anchor
the stream started at and the window end it reached. A run replaces the row; rows of
another model or of groups gone quiet are pruned. Rows go with their entity.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "detector_states",
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("group_key", sa.String(length=1000), nullable=False),
        sa.Column("model_sha256", sa.String(length=64), nullable=False),
        sa.Column("anchor_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["entity_id"], ["detection_entities.id"],
                                name="fk_detector_states_entity_id_detection_entities", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("entity_id", "group_key", name="pk_detector_states"),
    )


def downgrade() -> None:
    op.drop_table("detector_states")
