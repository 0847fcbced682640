"""Record which model content an entity runs, and which content each run used.

``detection_entities`` gains ``model_version`` and ``model_sha256``: the model store
version and its manifest ``content_sha256`` recorded when a model was trained,
promoted or rolled back for the entity (``admon train``, ``admon model
promote|rollback``, :meth:`admon.registry.api.DetectionEntity.record_model`).
Scheduled runs and ``admon reproduce`` load the model only if its content hash
equals this record. ``runs`` gains ``model_sha256``: the content hash of the model
that scored the window.

All three columns are nullable, so existing rows stay valid: an entity without a
record (created before this migration, or before any model was stored) gets the
hash of the model its first run loads (trust on first use, see
:mod:`admon.runs.runner`). ``downgrade`` drops the columns.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("detection_entities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model_version", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("model_sha256", sa.String(length=64), nullable=True))
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("model_sha256")
    with op.batch_alter_table("detection_entities", schema=None) as batch_op:
        batch_op.drop_column("model_sha256")
        batch_op.drop_column("model_version")
