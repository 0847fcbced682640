"""The service's own table: expert annotations with kind, series, detection link and edit history.

The registry's ``annotations`` table (migration 0001) has no column for the
annotation *kind*, the value column it was drawn on, the detection it judges or
who edited it last, all of which the annotation tool needs. Until the registry
grows those columns in a migration, the service keeps its labels here, in a
table of its own (``service_annotations``) created on start-up with
``CREATE TABLE IF NOT EXISTS`` semantics (:func:`ensure_tables`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Engine, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from admon.registry.models import NAMING

#: Labels of a time range drawn on the plot.
RANGE_LABELS = ("anomaly", "normal")
#: Verdicts on a detected anomaly.
VERDICTS = ("confirmed", "expected", "false_alarm")
#: Labels that make a window of the exported benchmark dataset (the data really is anomalous).
ANOMALOUS_LABELS = frozenset({"anomaly", "confirmed", "expected"})


class ServiceBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ServiceAnnotationRow(ServiceBase):
    __tablename__ = "service_annotations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[int] = mapped_column(Integer, index=True)
    group_key: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    series: Mapped[str | None] = mapped_column(String(200))
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)
    label: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(64), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    detection_id: Mapped[str | None] = mapped_column(String(64), index=True)
    author: Mapped[str] = mapped_column(String(200))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_by: Mapped[str | None] = mapped_column(String(200))
    updated_ms: Mapped[int | None] = mapped_column(BigInteger)


def ensure_tables(engine: Engine) -> None:
    """Create the service's tables on ``engine`` if they are missing (idempotent)."""
    ServiceBase.metadata.create_all(engine, checkfirst=True)
