"""The repository layer: every read and write of registry rows, given a session.

The Python API (:mod:`admon.registry.api`), the CLI, the scheduler and the
service all call these functions; none of them writes SQL of its own. Each
function takes an open :class:`~sqlalchemy.orm.Session` and leaves committing
to the caller (``with session_scope() as s: ...``).

>>> import os, tempfile
>>> from admon.registry.db import init_database, session_scope
>>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "r.db")
>>> _ = init_database(url)
>>> with session_scope(url) as s:
...     p = create_project(s, ProjectCreate(title="demo", egroup="admon-dev"))
...     [row.title for row in list_projects(s)]
['demo']
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.orm import Session

from admon.errors import ConfigError, ConflictError, NotFoundError
from admon.registry.models import (
    AnnotationRow,
    ApiTokenRow,
    EntityRow,
    GroupRow,
    LeaseRow,
    MembershipRow,
    OutboxRow,
    ProjectRow,
    ResultRow,
    RunRow,
    UserRow,
)
from admon.registry.schemas import (
    EntityCreate,
    EntityFields,
    EntityUpdate,
    ProjectCreate,
    ProjectUpdate,
)
from admon.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, MS_PER_DAY, now_ms

# --- projects ---------------------------------------------------------------------------------


def create_project(s: Session, data: ProjectCreate) -> ProjectRow:
    """Insert a project; a title already in use is a :class:`ConflictError`."""
    if s.scalar(select(ProjectRow.id).where(ProjectRow.title == data.title)) is not None:
        raise ConflictError(f"a project titled {data.title!r} exists already; choose another title")
    now = now_ms()
    row = ProjectRow(**data.model_dump(), created_ms=now, updated_ms=now)
    s.add(row)
    _flush(s, f"a project titled {data.title!r} exists already; choose another title")
    return row


def get_project(s: Session, ref: int | str) -> ProjectRow:
    """A project by id or title, or :class:`NotFoundError`."""
    row = _by_ref(s, ProjectRow, ref)
    if row is None:
        raise NotFoundError(f"no project {ref!r}; list them with `admon project list`")
    return row


def list_projects(s: Session, visible_to_groups: Iterable[str] | None = None) -> Sequence[ProjectRow]:
    """Projects by id; with ``visible_to_groups``, private projects of other groups are left out."""
    query = select(ProjectRow).order_by(ProjectRow.id)
    if visible_to_groups is not None:
        groups = list(visible_to_groups)
        query = query.where((ProjectRow.is_private.is_(False)) | (ProjectRow.egroup.in_(groups)))
    return s.scalars(query).all()


def update_project(s: Session, ref: int | str, data: ProjectUpdate) -> ProjectRow:
    row = get_project(s, ref)
    changes = data.model_dump(exclude_unset=True)
    if "title" in changes and changes["title"] != row.title:
        if s.scalar(select(ProjectRow.id).where(ProjectRow.title == changes["title"])) is not None:
            raise ConflictError(f"a project titled {changes['title']!r} exists already")
    for key, value in changes.items():
        setattr(row, key, value)
    row.updated_ms = now_ms()
    _flush(s, f"project title {changes.get('title')!r} is taken")
    return row


def delete_project(s: Session, ref: int | str, *, cascade: bool = False) -> None:
    """Delete a project; with entities it needs ``cascade=True`` (which deletes them and their runs)."""
    row = get_project(s, ref)
    entity_ids = s.scalars(select(EntityRow.id).where(EntityRow.project_id == row.id)).all()
    if entity_ids and not cascade:
        raise ConflictError(
            f"project {row.title!r} still has {len(entity_ids)} detection entities; delete them "
            "first or pass cascade=True"
        )
    for entity_id in entity_ids:
        _delete_entity_rows(s, entity_id)
    s.delete(row)
    s.flush()


# --- detection entities -----------------------------------------------------------------------


def create_entity(s: Session, data: EntityCreate) -> EntityRow:
    """Insert a detection entity; its title must be unique within its project."""
    project = get_project(s, data.project_id)
    _check_entity_title(s, project.id, data.title)
    now = now_ms()
    values = data.model_dump(exclude={"input_data_config"})
    row = EntityRow(
        **values,
        input_data_config=data.input_data_config.model_dump(mode="json"),
        config_hash=data.input_data_config.content_hash(),
        created_ms=now,
        updated_ms=now,
    )
    s.add(row)
    _flush(s, f"project {project.title!r} already has an entity titled {data.title!r}")
    return row


def get_entity(s: Session, ref: int | str, project: int | str | None = None) -> EntityRow:
    """An entity by id, or by title (unique per project; give ``project`` if titles clash)."""
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        row = s.get(EntityRow, int(ref))
        if row is not None:
            return row
    query = select(EntityRow).where(EntityRow.title == str(ref))
    if project is not None:
        query = query.where(EntityRow.project_id == get_project(s, project).id)
    rows = s.scalars(query).all()
    if not rows:
        raise NotFoundError(f"no detection entity {ref!r}; list them with `admon entity list`")
    if len(rows) > 1:
        raise ConflictError(
            f"{len(rows)} entities are titled {ref!r} (ids {[r.id for r in rows]}); use the id"
        )
    return rows[0]


def list_entities(
    s: Session, project: int | str | None = None, *, enabled: bool | None = None
) -> Sequence[EntityRow]:
    query = select(EntityRow).order_by(EntityRow.id)
    if project is not None:
        query = query.where(EntityRow.project_id == get_project(s, project).id)
    if enabled is not None:
        query = query.where(EntityRow.enabled.is_(enabled))
    return s.scalars(query).all()


def public_entity_ids(s: Session) -> set[int]:
    """Ids of the entities of public projects: what everyone may see (e.g. on ``/metrics``)."""
    query = (select(EntityRow.id).join(ProjectRow, ProjectRow.id == EntityRow.project_id)
             .where(ProjectRow.is_private.is_(False)))
    return set(s.scalars(query))


def update_entity(s: Session, ref: int | str, data: EntityUpdate) -> EntityRow:
    row = get_entity(s, ref)
    changes = data.model_dump(exclude_unset=True, exclude={"input_data_config"})
    EntityFields.check_intervals(
        changes.get("interval_minutes") or row.interval_minutes,
        changes.get("sliding_interval_minutes") or row.sliding_interval_minutes,
    )
    if changes.get("title") and changes["title"] != row.title:
        _check_entity_title(s, row.project_id, changes["title"])
    model_before = (row.inference_namespace, row.inference_model)
    for key, value in changes.items():
        if value is None and key not in ("schedule_from_ms",):
            continue
        setattr(row, key, value)
    if (row.inference_namespace, row.inference_model) != model_before:
        # another model: the recorded content hash was that of the old one
        row.model_version = row.model_sha256 = None
    if data.input_data_config is not None:
        row.input_data_config = data.input_data_config.model_dump(mode="json")
        row.config_hash = data.input_data_config.content_hash()
    row.updated_ms = now_ms()
    _flush(s, f"entity title {changes.get('title')!r} is taken in this project")
    return row


def record_model(s: Session, namespace: str, model: str, version: str, sha256: str) -> Sequence[EntityRow]:
    """Record ``version`` and its content ``sha256`` on every entity whose model is ``namespace/model``.

    Called when that model is trained and promoted, promoted or rolled back: every entity
    running it runs the new production version from then on, and its runs refuse other content.
    Returns the updated entities.
    """
    rows = s.scalars(
        select(EntityRow)
        .where(EntityRow.inference_namespace == namespace, EntityRow.inference_model == model)
        .order_by(EntityRow.id)
    ).all()
    for row in rows:
        _set_model(row, version, sha256)
    s.flush()
    return rows


def record_entity_model(s: Session, ref: int | str, version: str, sha256: str) -> EntityRow:
    """Record ``version`` and its content ``sha256`` as the model content of one entity."""
    row = get_entity(s, ref)
    _set_model(row, version, sha256)
    s.flush()
    return row


def record_model_if_unset(s: Session, entity_id: int, version: str, sha256: str) -> bool:
    """Record the model content of an entity that has none recorded yet (its first load).

    One conditional statement: if another process recorded one meanwhile, that one stays.
    Returns whether this call recorded it.
    """
    return bool(s.execute(
        update(EntityRow)
        .where(EntityRow.id == entity_id, EntityRow.model_sha256.is_(None))
        .values(model_version=str(version), model_sha256=sha256, updated_ms=now_ms())
    ).rowcount)


def model_users(s: Session, namespace: str, model: str) -> Sequence[Any]:
    """Every entity whose model is ``namespace/model``, with its project, in id order.

    Who may see a stored model, and which content the registry recorded for it
    (``model_version``/``model_sha256``), follow from these (model serving, ``admon model verify``).
    """
    return s.execute(
        select(EntityRow, ProjectRow)
        .join(ProjectRow, ProjectRow.id == EntityRow.project_id)
        .where(EntityRow.inference_namespace == namespace, EntityRow.inference_model == model)
        .order_by(EntityRow.id)
    ).all()


def _set_model(row: EntityRow, version: str, sha256: str) -> None:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ConfigError(f"model content hash {sha256!r} is not a sha256 hex digest (64 characters 0-9a-f)")
    row.model_version = str(version)
    row.model_sha256 = sha256
    row.updated_ms = now_ms()


def set_entity_enabled(s: Session, ref: int | str, enabled: bool) -> EntityRow:
    row = get_entity(s, ref)
    row.enabled = enabled
    row.updated_ms = now_ms()
    s.flush()
    return row


def delete_entity(s: Session, ref: int | str) -> None:
    """Delete an entity with its runs, results and undelivered outbox documents."""
    row = get_entity(s, ref)
    _delete_entity_rows(s, row.id)


def _delete_entity_rows(s: Session, entity_id: int) -> None:
    run_ids = select(RunRow.id).where(RunRow.entity_id == entity_id)
    s.execute(delete(OutboxRow).where(OutboxRow.run_id.in_(run_ids)))
    s.execute(delete(ResultRow).where(ResultRow.entity_id == entity_id))
    s.execute(delete(RunRow).where(RunRow.entity_id == entity_id))
    s.execute(update(AnnotationRow).where(AnnotationRow.entity_id == entity_id).values(entity_id=None))
    s.execute(delete(EntityRow).where(EntityRow.id == entity_id))
    s.flush()


def _check_entity_title(s: Session, project_id: int, title: str) -> None:
    clash = s.scalar(
        select(EntityRow.id).where(EntityRow.project_id == project_id, EntityRow.title == title)
    )
    if clash is not None:
        raise ConflictError(
            f"this project already has a detection entity titled {title!r} (id {clash}); "
            "choose another title or update that entity"
        )


# --- runs and results (read side; the scheduler writes them) -----------------------------------


def get_run(s: Session, run_id: int) -> RunRow:
    row = s.get(RunRow, int(run_id))
    if row is None:
        raise NotFoundError(f"no run {run_id!r}; list runs with `admon runs list ENTITY`")
    return row


def list_runs(
    s: Session, entity_id: int, *, limit: int | None = None, status: str | None = None
) -> Sequence[RunRow]:
    """Runs of an entity, newest window first."""
    query = select(RunRow).where(RunRow.entity_id == entity_id).order_by(RunRow.window_end_ms.desc())
    if status is not None:
        query = query.where(RunRow.status == status)
    if limit is not None:
        query = query.limit(limit)
    return s.scalars(query).all()


def list_results(s: Session, run_id: int) -> Sequence[ResultRow]:
    return s.scalars(select(ResultRow).where(ResultRow.run_id == run_id).order_by(ResultRow.id)).all()


def count_pending_outbox(s: Session, sink: str | None = None) -> int:
    query = select(func.count()).select_from(OutboxRow).where(OutboxRow.delivered.is_(False))
    if sink is not None:
        query = query.where(OutboxRow.sink == sink)
    return int(s.scalar(query) or 0)


# --- named leases ------------------------------------------------------------------------------


def acquire_lease(s: Session, name: str, owner: str, ttl_ms: int, now: int | None = None) -> bool:
    """Take or renew lease ``name`` for ``owner`` unless someone else holds it unexpired.

    Commits (a lease is only useful once others can see it). Works the same on SQLite and
    PostgreSQL: the conditional UPDATE is atomic, and the INSERT of a new lease loses
    cleanly (unique name) when another process inserts it first.
    """
    now = now_ms() if now is None else now
    taken = s.execute(
        update(LeaseRow)
        .where(LeaseRow.name == name, (LeaseRow.owner == owner) | (LeaseRow.expires_ms < now))
        .values(owner=owner, expires_ms=now + ttl_ms)
    ).rowcount
    if taken:
        s.commit()
        return True
    if s.get(LeaseRow, name) is not None:
        s.commit()
        return False
    s.add(LeaseRow(name=name, owner=owner, expires_ms=now + ttl_ms))
    try:
        s.commit()
    except SAIntegrityError:
        s.rollback()
        return False
    return True


def release_lease(s: Session, name: str, owner: str) -> None:
    s.execute(delete(LeaseRow).where(LeaseRow.name == name, LeaseRow.owner == owner))
    s.commit()


# --- people (for the service) -----------------------------------------------------------------


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
    row = _by_ref(s, UserRow, ref, name_column=UserRow.username)
    if row is None:
        raise NotFoundError(f"no user {ref!r}")
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


def verify_api_token(s: Session, secret: str) -> UserRow | None:
    """The active user a token belongs to, or None (unknown, revoked or expired)."""
    row = s.scalar(select(ApiTokenRow).where(ApiTokenRow.token_hash == hash_token(secret)))
    now = now_ms()
    if row is None or row.revoked or (row.expires_ms is not None and row.expires_ms <= now):
        return None
    user = s.get(UserRow, row.user_id)
    if user is None or not user.is_active:
        return None
    row.last_used_ms = now
    return user


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


def add_annotation(
    s: Session,
    *,
    entity_id: int | None,
    start_ms: int,
    end_ms: int,
    label: str,
    group_key: dict[str, Any] | None = None,
    user_id: int | None = None,
    comment: str = "",
    dataset: str | None = None,
    series: str | None = None,
    kind: str = "",
    detection_id: str | None = None,
    author: str | None = None,
) -> AnnotationRow:
    """A new label on ``[start_ms, end_ms)`` of an entity's group (or a verdict on ``detection_id``)."""
    row = AnnotationRow(
        entity_id=entity_id,
        user_id=user_id,
        group_key=group_key or {},
        series=series,
        start_ms=start_ms,
        end_ms=end_ms,
        label=label,
        kind=kind,
        comment=comment,
        dataset=dataset,
        detection_id=detection_id,
        author=author,
        created_ms=now_ms(),
    )
    s.add(row)
    s.flush()
    return row


def list_annotations(
    s: Session,
    *,
    entity_id: int | None = None,
    dataset: str | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> Sequence[AnnotationRow]:
    """Annotations by start time; ``start_ms``/``end_ms`` keep those overlapping that range."""
    query = select(AnnotationRow).order_by(AnnotationRow.start_ms, AnnotationRow.id)
    if entity_id is not None:
        query = query.where(AnnotationRow.entity_id == entity_id)
    if dataset is not None:
        query = query.where(AnnotationRow.dataset == dataset)
    if start_ms is not None:
        query = query.where(AnnotationRow.end_ms > start_ms)
    if end_ms is not None:
        query = query.where(AnnotationRow.start_ms < end_ms)
    return s.scalars(query).all()


def update_annotation(
    s: Session, annotation_id: int, changes: dict[str, Any], *, updated_by: str | None
) -> AnnotationRow:
    """Set the non-None ``changes`` on an annotation and record who edited it, and when."""
    row = s.get(AnnotationRow, annotation_id)
    if row is None:
        raise NotFoundError(f"no annotation {annotation_id}")
    for key, value in changes.items():
        if value is not None:
            setattr(row, key, value)
    row.updated_by, row.updated_ms = updated_by, now_ms()
    s.flush()
    return row


def delete_annotation(s: Session, annotation_id: int) -> None:
    row = s.get(AnnotationRow, annotation_id)
    if row is None:
        raise NotFoundError(f"no annotation {annotation_id}")
    s.delete(row)
    s.flush()


# --- helpers ----------------------------------------------------------------------------------


def _by_ref(s: Session, model: type, ref: int | str, name_column: Any = None) -> Any:
    column = name_column if name_column is not None else model.title
    if isinstance(ref, int) and not isinstance(ref, bool):
        return s.get(model, ref)
    row = s.scalar(select(model).where(column == ref))
    if row is None and isinstance(ref, str) and ref.isdigit():
        row = s.get(model, int(ref))
    return row


def _flush(s: Session, conflict_message: str) -> None:
    # A concurrent writer can still win the race between the check and the insert.
    try:
        s.flush()
    except SAIntegrityError:
        s.rollback()
        raise ConflictError(conflict_message) from None
