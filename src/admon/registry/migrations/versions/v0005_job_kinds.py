"""Job kinds: ``detection_entities.kind`` and ``job_config``; the ``action_episodes`` table.

``kind`` (not null, default ``'detect'``) names the job kind that runs an entity's
windows (:mod:`admon.runs.kinds`); ``job_config`` (JSON, nullable) is its kind-specific
config. Entities that the first cut recognised as forecast jobs by their namespace
(``inference_namespace = 'forecast'``) become kind ``forecast``: this migration is the one
place that reads the namespace for it, once.

Their job config stays where it was (``<model store>/forecast/<inference_model>/job.json``)
until their first run: a migration cannot rely on reaching the model store (S3, a folder on
another host, credentials only the scheduler has), and a migration that failed on it would
block the whole registry. So the forecast kind reads that file when ``job_config`` is NULL,
validates it and writes it into the registry (:mod:`admon.forecast.scheduling`); from then
on the registry's copy is the job's config. An old file's ``state_path`` is dropped.

``action_episodes`` holds the open episodes of entities' action rules, written in the
commit of the run that opens or closes them (it replaces the SQLite file beside the
registry that forecast jobs kept; open episodes there are not carried over: an episode
still predicted is announced once more after the upgrade).

``downgrade`` drops the table and both columns.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("detection_entities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=64), nullable=False, server_default="detect"))
        batch_op.add_column(sa.Column("job_config", sa.JSON(none_as_null=True), nullable=True))
    entities = sa.table("detection_entities", sa.column("kind"), sa.column("inference_namespace"))
    op.execute(entities.update().where(entities.c.inference_namespace == "forecast").values(kind="forecast"))
    op.create_table(
        "action_episodes",
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=500), nullable=False),
        sa.Column("episode_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("opened_ms", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["entity_id"], ["detection_entities.id"],
                                name="fk_action_episodes_entity_id_detection_entities", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("entity_id", "key", name="pk_action_episodes"),
    )


def downgrade() -> None:
    op.drop_table("action_episodes")
    with op.batch_alter_table("detection_entities", schema=None) as batch_op:
        batch_op.drop_column("job_config")
        batch_op.drop_column("kind")
