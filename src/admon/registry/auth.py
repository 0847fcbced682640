"""Users, groups, memberships and API tokens, and the one token check (:func:`authenticate_token`).

A token is stored as its sha256 only (:func:`hash_token`); the secret is shown once.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import Select, bindparam, delete, select, update
from sqlalchemy.orm import Session

from admon.errors import ConfigError, ConflictError, NotFoundError
from admon.registry.models import ApiTokenRow, GroupRow, MembershipRow, UserRow
from admon.registry.rows import by_ref
from admon.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, MS_PER_DAY, now_ms


def create_user(
    s: Session,
    username: str,
    *,
    email: str | None = None,
    full_name: str | None = None,
    password_hash: str | None = None,
    is_admin: bool = False,
) -> UserRow:
    if s.scalar(select(UserRow.id).where(UserRow.username == username)) is not None:
        raise ConflictError(f"user {username!r} exists already")
    row = UserRow(
        username=username,
        email=email,
        full_name=full_name,
        password_hash=password_hash,
        is_admin=is_admin,
        is_active=True,
        created_ms=now_ms(),
    )
    s.add(row)
    s.flush()
    return row


def get_user(s: Session, ref: int | str) -> UserRow:
    row = by_ref(s, UserRow, ref, name_column=UserRow.username)
    if row is None:
        raise NotFoundError(f"no user {ref!r}")
    return row


def list_users(s: Session) -> Sequence[UserRow]:
    """Every user, by name."""
    return s.scalars(select(UserRow).order_by(UserRow.username)).all()


def set_admin(s: Session, user: int | str, is_admin: bool = True) -> UserRow:
    """Make ``user`` an admin (or not)."""
    row = get_user(s, user)
    row.is_admin = is_admin
    s.flush()
    return row


def get_or_create_group(s: Session, name: str, description: str = "") -> GroupRow:
    row = s.scalar(select(GroupRow).where(GroupRow.name == name))
    if row is None:
        row = GroupRow(name=name, description=description, created_ms=now_ms())
        s.add(row)
        s.flush()
    return row


def add_member(s: Session, user: int | str, group: str, role: str = "member") -> MembershipRow:
    user_row = get_user(s, user)
    group_row = get_or_create_group(s, group)
    row = s.scalar(
        select(MembershipRow).where(
            MembershipRow.user_id == user_row.id, MembershipRow.group_id == group_row.id
        )
    )
    if row is None:
        row = MembershipRow(user_id=user_row.id, group_id=group_row.id, role=role)
        s.add(row)
    else:
        row.role = role
    s.flush()
    return row


def remove_member(s: Session, user: int | str, group: str) -> None:
    user_row = get_user(s, user)
    group_id = s.scalar(select(GroupRow.id).where(GroupRow.name == group))
    if group_id is not None:
        s.execute(
            delete(MembershipRow).where(
                MembershipRow.user_id == user_row.id, MembershipRow.group_id == group_id
            )
        )
        s.flush()


def user_groups(s: Session, user: int | str) -> list[str]:
    """Names of the groups a user belongs to."""
    user_row = get_user(s, user)
    query = (
        select(GroupRow.name)
        .join(MembershipRow, MembershipRow.group_id == GroupRow.id)
        .where(MembershipRow.user_id == user_row.id)
        .order_by(GroupRow.name)
    )
    return list(s.scalars(query).all())


def hash_token(secret: str) -> str:
    """sha256 of an API token: what the database stores instead of the token."""
    return hashlib.sha256(secret.encode()).hexdigest()


#: Lifetime of a token created without saying how long it lives.
DEFAULT_TOKEN_DAYS = 90
#: Longest lifetime given in days; a token that never expires is asked for explicitly instead.
MAX_TOKEN_DAYS = 3650


def token_expiry_ms(days: int | None = None, *, no_expiry: bool = False, now: int | None = None) -> int | None:
    """When a token created ``now`` expires: after ``days`` (default :data:`DEFAULT_TOKEN_DAYS`),
    or never (``None``) only when ``no_expiry`` asks for it.

    >>> token_expiry_ms(2, now=0), token_expiry_ms(no_expiry=True, now=0)
    (172800000, None)
    >>> token_expiry_ms(0)
    Traceback (most recent call last):
    ...
    admon.errors.ConfigError: --days 0 is not a positive number of days; give --days 1 or more, or --no-expiry for a token that never expires
    """
    if no_expiry:
        if days is not None:
            raise ConfigError(f"give --days {days} or --no-expiry, not both")
        return None
    days = DEFAULT_TOKEN_DAYS if days is None else days
    if isinstance(days, bool) or not isinstance(days, int) or days <= 0:
        raise ConfigError(
            f"--days {days} is not a positive number of days; give --days 1 or more, "
            "or --no-expiry for a token that never expires"
        )
    if days > MAX_TOKEN_DAYS:
        raise ConfigError(
            f"--days {days} is more than {MAX_TOKEN_DAYS} days; give fewer, "
            "or --no-expiry for a token that never expires"
        )
    return (now_ms() if now is None else now) + days * MS_PER_DAY


def create_api_token(
    s: Session, user: int | str, name: str = "", *, expires_ms: int | None = None
) -> tuple[ApiTokenRow, str]:
    """A new token for ``user``: the row and the secret (shown once, never stored).

    ``expires_ms=None`` is a token that never expires: callers decide that explicitly (the CLI
    only with ``--no-expiry``, see :func:`token_expiry_ms`).
    """
    if expires_ms is not None and not MIN_TIMESTAMP_MS <= expires_ms <= MAX_TIMESTAMP_MS:
        raise ConfigError(
            f"token expiry {expires_ms} is outside {MIN_TIMESTAMP_MS}..{MAX_TIMESTAMP_MS} "
            "(epoch ms, 1970-01-01..2200-01-01); give a time in that range"
        )
    user_row = get_user(s, user)
    secret = "admon_" + secrets.token_urlsafe(32)
    row = ApiTokenRow(
        user_id=user_row.id,
        name=name,
        token_hash=hash_token(secret),
        prefix=secret[:12],
        created_ms=now_ms(),
        expires_ms=expires_ms,
        revoked=False,
    )
    s.add(row)
    s.flush()
    return row, secret


class TokenUser(NamedTuple):
    """The active user an API token belongs to, with the names of their groups."""

    user_id: int
    username: str
    groups: frozenset[str]
    is_admin: bool


#: ``last_used_ms`` of a token is refreshed at most this often (a read should not write each time).
TOKEN_TOUCH_MS = 60_000


def authenticate_token(s: Session, secret: str, *, now: int | None = None) -> TokenUser | None:
    """The one token check: the active user ``secret`` belongs to, or None (unknown, revoked,
    expired, or its user inactive). Records the use (``last_used_ms``) at most once a
    :data:`TOKEN_TOUCH_MS`.

    Every API request pays for this, so it is two Core queries (the token joined with its user,
    then the user's groups), built once, instead of loading ORM rows.
    """
    conn = s.connection()
    found = conn.execute(_token_query(), {"token_hash": hash_token(secret)}).first()
    now = now_ms() if now is None else now
    if found is None:
        return None
    token_id, revoked, expires_ms, last_used_ms, user_id, username, is_active, is_admin = found
    if revoked or (expires_ms is not None and expires_ms <= now) or not is_active:
        return None
    if last_used_ms is None or now - last_used_ms > TOKEN_TOUCH_MS:
        conn.execute(update(ApiTokenRow).where(ApiTokenRow.id == token_id).values(last_used_ms=now))
    groups = conn.execute(_groups_query(), {"user_id": user_id}).scalars()
    return TokenUser(user_id, username, frozenset(groups), bool(is_admin))


# Built once (building a statement costs more than running it on SQLite); values are bound.


@functools.cache
def _token_query() -> Select:
    return (
        select(ApiTokenRow.id, ApiTokenRow.revoked, ApiTokenRow.expires_ms, ApiTokenRow.last_used_ms,
               UserRow.id, UserRow.username, UserRow.is_active, UserRow.is_admin)
        .join(UserRow, UserRow.id == ApiTokenRow.user_id)
        .where(ApiTokenRow.token_hash == bindparam("token_hash"))
    )


@functools.cache
def _groups_query() -> Select:
    return (
        select(GroupRow.name).join(MembershipRow, MembershipRow.group_id == GroupRow.id)
        .where(MembershipRow.user_id == bindparam("user_id"))
    )


def list_api_tokens(s: Session, user: int | str | None = None) -> list[tuple[ApiTokenRow, str]]:
    """Tokens (of ``user``, or everyone's) with their owner's name, oldest first."""
    query = select(ApiTokenRow, UserRow.username).join(UserRow, UserRow.id == ApiTokenRow.user_id)
    if user is not None:
        query = query.where(ApiTokenRow.user_id == get_user(s, user).id)
    return [(row, username) for row, username in s.execute(query.order_by(ApiTokenRow.id))]


def revoke_api_token(s: Session, token_id: int) -> None:
    row = s.get(ApiTokenRow, token_id)
    if row is None:
        raise NotFoundError(f"no API token {token_id}; see `admon token list`")
    row.revoked = True
    s.flush()


def token_state(row: ApiTokenRow, *, now: int | None = None) -> str:
    """``revoked``, ``expired`` or ``active``: what :func:`authenticate_token` would decide for
    the token itself (its user's state aside)."""
    now = now_ms() if now is None else now
    if row.revoked:
        return "revoked"
    return "expired" if row.expires_ms is not None and row.expires_ms <= now else "active"


def revoke_own_api_token(s: Session, token_id: int, *, user_id: int, is_admin: bool = False) -> ApiTokenRow:
    """Revoke token ``token_id`` for its owner ``user_id`` (or an admin). Someone else's token is
    not found, exactly as a missing one, so that token ids do not leak."""
    row = s.get(ApiTokenRow, token_id)
    if row is None or (row.user_id != user_id and not is_admin):
        raise NotFoundError(f"no API token {token_id} of yours; list yours with GET /api/tokens")
    row.revoked = True
    s.flush()
    return row
