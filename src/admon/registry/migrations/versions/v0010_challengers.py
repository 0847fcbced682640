"""Champion and challenger models: the ``challengers``, ``shadow_results`` and ``promotions`` tables.

- ``challengers``: the models an entity runs in shadow beside its champion (its
  ``inference_namespace/inference_model``): name, detector and parameters, the stored model
  (namespace, model, version, content sha256), when it was added and by whom, its status
  (``active``, ``champion`` once promoted, ``retired``) and running totals of its shadow
  scoring (runs scored, runs skipped over the time budget, seconds spent).
- ``shadow_results``: one row per challenger, run and group: the challenger's score of the
  window, never exported nor alerted.
- ``promotions``: every change of an entity's champion (promotion of a challenger, or the
  rollback of one): the model before and after, who or what (a rule) decided, the evidence.
- ``promotion_rules``: an entity's automatic promotion rule (F1 gain over the champion, least
  labelled events), who set it, and the newest label it has judged (runs check it again only
  once a label is newer).

Rows go with their entity (ON DELETE CASCADE). ``downgrade`` drops the four tables.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "challengers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("detector", sa.String(length=200), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("model_namespace", sa.String(length=200), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("model_version", sa.String(length=32), nullable=False),
        sa.Column("model_sha256", sa.String(length=64), nullable=False),
        sa.Column("training_window", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("runs_scored", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("runs_skipped", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("seconds_total", sa.Float(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(["entity_id"], ["detection_entities.id"],
                                name="fk_challengers_entity_id_detection_entities", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_challengers"),
        sa.UniqueConstraint("entity_id", "name", name="uq_challengers_entity_id"),
    )
    op.create_index("ix_challengers_entity_id", "challengers", ["entity_id"])
    op.create_table(
        "shadow_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("challenger_id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("window_end_ms", sa.BigInteger(), nullable=False),
        sa.Column("group_key", sa.JSON(), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("anomaly_score", sa.Float(), nullable=True),
        sa.Column("is_anomaly", sa.Boolean(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["challenger_id"], ["challengers.id"],
                                name="fk_shadow_results_challenger_id_challengers", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["entity_id"], ["detection_entities.id"],
                                name="fk_shadow_results_entity_id_detection_entities", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_shadow_results"),
    )
    op.create_index("ix_shadow_results_challenger_run", "shadow_results", ["challenger_id", "run_id"])
    op.create_index("ix_shadow_results_entity_timestamp", "shadow_results", ["entity_id", "timestamp_ms"])
    op.create_table(
        "promotions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("challenger_id", sa.Integer(), nullable=True),
        sa.Column("from_model", sa.JSON(), nullable=False),
        sa.Column("to_model", sa.JSON(), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("decided_ms", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("rolled_back", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["entity_id"], ["detection_entities.id"],
                                name="fk_promotions_entity_id_detection_entities", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_promotions"),
    )
    op.create_index("ix_promotions_entity_id", "promotions", ["entity_id"])
    op.create_table(
        "promotion_rules",
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("min_f1_gain", sa.Float(), nullable=False),
        sa.Column("min_incidents", sa.Integer(), nullable=False),
        sa.Column("set_by", sa.String(length=200), nullable=False),
        sa.Column("set_ms", sa.BigInteger(), nullable=False),
        sa.Column("judged_label_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["entity_id"], ["detection_entities.id"],
                                name="fk_promotion_rules_entity_id_detection_entities", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("entity_id", name="pk_promotion_rules"),
    )


def downgrade() -> None:
    op.drop_table("promotion_rules")
    op.drop_index("ix_promotions_entity_id", table_name="promotions")
    op.drop_table("promotions")
    op.drop_index("ix_shadow_results_entity_timestamp", table_name="shadow_results")
    op.drop_index("ix_shadow_results_challenger_run", table_name="shadow_results")
    op.drop_table("shadow_results")
    op.drop_index("ix_challengers_entity_id", table_name="challengers")
    op.drop_table("challengers")
