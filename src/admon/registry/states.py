"""The detector state store: per (entity, group), the state a run leaves for the next one.

:mod:`admon.runs.state` decides what a state holds and when it is valid; this module only
stores rows of ``detector_states`` (one per entity and group: a run replaces its groups'
rows) and prunes them: rows of another model than the entity's current one, and rows of
groups whose state stopped before ``stale_before_ms`` (a group gone quiet).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from admon.registry.models import DetectorStateRow


@dataclass(frozen=True)
class StoredState:
    """One group's stored state: the stream's anchor, the window end it reached, its arrays."""

    group_key: str
    anchor_ms: int
    end_ms: int
    payload: bytes


def load(s: Session, entity_id: int, model_sha256: str, group_keys: Iterable[str] | None = None) -> dict[str, StoredState]:
    """The entity's stored states of model ``model_sha256`` (of ``group_keys`` only, if given), by group key."""
    query = select(DetectorStateRow).where(DetectorStateRow.entity_id == entity_id,
                                          DetectorStateRow.model_sha256 == model_sha256)
    keys = None if group_keys is None else sorted(set(group_keys))
    if keys is not None:
        query = query.where(DetectorStateRow.group_key.in_(keys))
    return {row.group_key: StoredState(row.group_key, int(row.anchor_ms), int(row.end_ms), bytes(row.payload))
            for row in s.scalars(query)}


def save(s: Session, entity_id: int, model_sha256: str, states: Iterable[StoredState], *, now_ms: int,
         stale_before_ms: int | None = None) -> int:
    """Replace the entity's rows of these groups by ``states``; prune its rows of other models and,
    given ``stale_before_ms``, those that stopped before it. Returns the bytes written."""
    states = list(states)
    if states:
        s.execute(delete(DetectorStateRow).where(DetectorStateRow.entity_id == entity_id,
                                                 DetectorStateRow.group_key.in_([st.group_key for st in states])))
    s.execute(delete(DetectorStateRow).where(DetectorStateRow.entity_id == entity_id,
                                             DetectorStateRow.model_sha256 != model_sha256))
    if stale_before_ms is not None:
        s.execute(delete(DetectorStateRow).where(DetectorStateRow.entity_id == entity_id,
                                                 DetectorStateRow.end_ms < stale_before_ms))
    s.add_all(DetectorStateRow(entity_id=entity_id, group_key=st.group_key, model_sha256=model_sha256,
                               anchor_ms=st.anchor_ms, end_ms=st.end_ms, payload=st.payload,
                               bytes=len(st.payload), updated_ms=now_ms) for st in states)
    return sum(len(st.payload) for st in states)


def drop(s: Session, entity_id: int) -> int:
    """Forget every stored state of the entity (its input changed under them); rows deleted."""
    result = s.execute(delete(DetectorStateRow).where(DetectorStateRow.entity_id == entity_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def size(s: Session, entity_id: int | None = None) -> tuple[int, int]:
    """``(rows, bytes)`` of the stored states (of one entity, if given)."""
    query = select(func.count(), func.coalesce(func.sum(DetectorStateRow.bytes), 0))
    if entity_id is not None:
        query = query.where(DetectorStateRow.entity_id == entity_id)
    rows, total = s.execute(query).one()
    return int(rows), int(total)
