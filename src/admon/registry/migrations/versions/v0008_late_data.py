"""Late data: an entity's query delay and rescore horizon; a run's revision, input fingerprint
and the late data found for it.

- ``detection_entities.query_delay_seconds`` (NULL: ``ADMON_LATE_DATA_DELAY_SECONDS``): a window
  ending at t runs at t + delay.
- ``detection_entities.rescore_horizon_minutes`` (0: off): how far back each scheduler tick
  re-checks finished windows for late data.
- ``runs.revision`` (1 for every existing run): 1 + the times late data re-ran the window.
- ``runs.input_fingerprint``: what the window read, summarised (:mod:`admon.data.fingerprint`).
- ``runs.late_data``: each re-run's reason (which sources, which buckets changed).

``downgrade`` drops the columns.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("detection_entities") as batch:
        batch.add_column(sa.Column("query_delay_seconds", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("rescore_horizon_minutes", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("input_fingerprint", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("late_data", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("late_data")
        batch.drop_column("input_fingerprint")
        batch.drop_column("revision")
    with op.batch_alter_table("detection_entities") as batch:
        batch.drop_column("rescore_horizon_minutes")
        batch.drop_column("query_delay_seconds")
