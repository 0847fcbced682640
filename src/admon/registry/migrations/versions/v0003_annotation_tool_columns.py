"""Annotations get the columns of the annotation tool; the service's own table is folded in.

``annotations`` gains ``series``, ``kind``, ``detection_id`` (indexed), ``author``,
``updated_by`` and ``updated_ms``; all are nullable except ``kind`` (server default
``''``), so existing rows stay valid. Until now the web service kept its labels in a
table of its own, ``service_annotations``, created at start-up; if that table exists,
every row of it is copied here and the table is dropped:

- ids are kept (shifted past the largest existing id if ``annotations`` already has rows),
  so links to an annotation stay valid; PostgreSQL's id sequence is moved past them;
- ``entity_id`` becomes NULL when the entity no longer exists (``annotations`` has a
  foreign key; the registry already does the same when an entity is deleted);
- ``user_id`` is the id of the user named by ``author``, if there is one.

``downgrade`` drops the new columns and index only: it does not re-create
``service_annotations``. The copied rows stay in ``annotations``, without their
series, kind, detection, author and edit columns.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OLD_TABLE = "service_annotations"


def upgrade() -> None:
    with op.batch_alter_table("annotations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("series", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("kind", sa.String(length=64), server_default="", nullable=False))
        batch_op.add_column(sa.Column("detection_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("author", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("updated_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("updated_ms", sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f("ix_annotations_detection_id"), ["detection_id"], unique=False)

    bind = op.get_bind()
    if OLD_TABLE in sa.inspect(bind).get_table_names():
        _copy_service_annotations(bind)
        op.drop_table(OLD_TABLE)


def _copy_service_annotations(bind: sa.engine.Connection) -> None:
    offset = bind.execute(sa.text("SELECT COALESCE(MAX(id), 0) FROM annotations")).scalar()
    copied = bind.execute(sa.text(
        "INSERT INTO annotations (id, entity_id, user_id, group_key, series, start_ms, end_ms, label, "
        "kind, comment, dataset, detection_id, author, created_ms, updated_by, updated_ms) "
        "SELECT o.id + :offset, "
        "(SELECT e.id FROM detection_entities e WHERE e.id = o.entity_id), "
        "(SELECT u.id FROM users u WHERE u.username = o.author), "
        "o.group_key, o.series, o.start_ms, o.end_ms, o.label, COALESCE(o.kind, ''), "
        "COALESCE(o.comment, ''), NULL, o.detection_id, o.author, o.created_ms, o.updated_by, o.updated_ms "
        f"FROM {OLD_TABLE} o ORDER BY o.id"
    ), {"offset": offset}).rowcount
    if copied and bind.dialect.name == "postgresql":
        # Explicit ids do not advance the serial sequence; the next insert would collide.
        bind.execute(sa.text(
            "SELECT setval(pg_get_serial_sequence('annotations', 'id'), (SELECT MAX(id) FROM annotations))"
        ))


def downgrade() -> None:
    with op.batch_alter_table("annotations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_annotations_detection_id"))
        batch_op.drop_column("updated_ms")
        batch_op.drop_column("updated_by")
        batch_op.drop_column("author")
        batch_op.drop_column("detection_id")
        batch_op.drop_column("kind")
        batch_op.drop_column("series")
