"""Small helpers every aggregate module of the registry shares."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Executable, select
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.orm import Session

from admon.errors import ConflictError


def by_ref(s: Session, model: type, ref: int | str, name_column: Any = None) -> Any:
    """A row of ``model`` by id, or by its name column (``title`` unless given); None if absent."""
    column = name_column if name_column is not None else model.title  # type: ignore[attr-defined]
    if isinstance(ref, int) and not isinstance(ref, bool):
        return s.get(model, ref)
    row = s.scalar(select(model).where(column == ref))
    if row is None and isinstance(ref, str) and ref.isdigit():
        row = s.get(model, int(ref))
    return row


def flush_or_conflict(s: Session, conflict_message: str) -> None:
    """Flush; a unique constraint that fails is a :class:`ConflictError` with ``conflict_message``."""
    # A concurrent writer can still win the race between the check and the insert.
    try:
        s.flush()
    except SAIntegrityError:
        s.rollback()
        raise ConflictError(conflict_message) from None


def affected(s: Session, statement: Executable) -> int:
    """Run an UPDATE or DELETE and return how many rows it changed."""
    return cast(CursorResult, s.execute(statement)).rowcount
