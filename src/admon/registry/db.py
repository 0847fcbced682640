"""Engines, sessions and migrations of the registry database.

Nothing happens at import time. The first :func:`get_engine` for a URL creates
the engine, brings the schema to the newest Alembic revision, and caches the
engine for this process. ``url=None`` means ``ADMON_DATABASE_URL`` (default
``sqlite:///.admon/admon.db``).

Only :func:`init_database` (``admon db init``, and the first ``admon serve`` or
``admon demo``) creates a SQLite database file (and its folder): every other use
of a URL whose file does not exist is a :class:`~admon.errors.ConfigError`
saying so, instead of a silently created empty registry. A file the user may not
write is an error naming it, too. (A PostgreSQL database is created by its
server's administrator; admon creates or migrates the schema inside it.)

>>> import tempfile, os
>>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "sub", "reg.db")
>>> with session_scope(url) as s:  # doctest: +ELLIPSIS
...     pass
Traceback (most recent call last):
...
admon.errors.ConfigError: the registry database ... does not exist ...; create it with `admon db init`...
>>> _ = init_database(url)
>>> with session_scope(url) as s:
...     s.execute(text("select count(*) from projects")).scalar()
0
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from admon.errors import ConfigError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_lock = threading.Lock()
_engines: dict[tuple[int, str], Engine] = {}
_factories: dict[tuple[int, str], sessionmaker[Session]] = {}

#: What callers outside the registry hold: a session to pass to :mod:`admon.registry.repository`,
#: and what makes them (their type hints name these; only the registry imports SQLAlchemy).
SessionFactory = sessionmaker[Session]

__all__ = ["Session", "SessionFactory", "get_engine", "init_database", "session_factory", "session_scope",
           "upgrade", "dispose_all", "text"]


def database_url(url: str | None = None) -> str:
    """The URL to use: ``url`` or the ``ADMON_DATABASE_URL`` setting."""
    if url:
        return url
    from admon.settings import load_settings

    return load_settings().database_url


def _create_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except Exception:
        raise ConfigError(
            f"ADMON_DATABASE_URL {url!r} is not a database URL; use e.g. sqlite:///.admon/admon.db "
            "or postgresql+psycopg://user@host:5432/admon"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": 60})
        _tune_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        return create_engine(parsed, pool_pre_ping=True)
    except NoSuchModuleError:
        raise ConfigError(
            f"ADMON_DATABASE_URL {url!r} names the database kind {parsed.get_backend_name()!r}, which "
            "admon does not support; use sqlite:///path or postgresql+psycopg://user@host:5432/db"
        ) from None


def _tune_sqlite(engine: Engine) -> None:
    # Several scheduler processes share one file: WAL lets readers run beside the writer, and
    # BEGIN IMMEDIATE takes the write lock up front, so a transaction waits (busy_timeout)
    # instead of failing when two processes upgrade a read lock at the same moment.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - trivial
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA cache_size=-65536")  # 64 MB: results/outbox indexes stay in memory
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # pragma: no cover - trivial
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def head_revisions() -> set[str]:
    """Head revision ids of the shipped migrations, read from the files (no Alembic import)."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        text = path.read_text()
        rev = re.search(r"^revision\s*=\s*['\"]([^'\"]+)['\"]", text, re.M)
        if rev:
            revisions.add(rev.group(1))
            down = re.search(r"^down_revision\s*=\s*(.+)$", text, re.M)
            parents.update(re.findall(r"['\"]([^'\"]+)['\"]", down.group(1) if down else ""))
    return revisions - parents


def schema_revision(url: str | None = None) -> str | None:
    """The migration revision the registry of ``url`` is at (None: no schema yet)."""
    try:
        with get_engine(url).connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except OperationalError:
        return None


def shown_url(url: str | None = None) -> str:
    """Where the registry of ``url`` is, for a message: its SQLite file, else the URL without password."""
    resolved = database_url(url)
    path = sqlite_file(resolved)
    return str(path) if path is not None else make_url(resolved).render_as_string(hide_password=True)


def _at_head(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            current = {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}
            conn.rollback()
    except Exception:  # no table yet: a new database
        return False
    return bool(current) and current == head_revisions()


def upgrade(engine: Engine) -> None:
    """Bring the schema of ``engine``'s database to the newest migration (safe to run concurrently).

    A database already at the head costs one query: Alembic (slow to import) is not loaded.
    """
    if _at_head(engine):
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with _migration_lock(engine):
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # Transaction-scoped: released at commit, even if this process dies.
                conn.execute(text("SELECT pg_advisory_xact_lock(784512093)"))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """A file lock next to a SQLite database; PostgreSQL uses an advisory lock instead."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:":
        yield
        return
    with open(f"{path}.migrate-lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (absolute), or None (another database, memory, a URI)."""
    try:
        parsed = make_url(url)
    except Exception:
        return None  # _create_engine names the bad URL
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name).expanduser().absolute()


def _check_sqlite_file(url: str, *, create: bool) -> None:
    """A missing file is an error unless ``create``; a file or folder admon may not write is one."""
    path = sqlite_file(url)
    if path is None:
        return
    if path.exists():
        if not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
            raise _read_only(path)
        return
    if not create:
        raise ConfigError(
            f"the registry database {path} does not exist (database URL {url}); create it with "
            "`admon db init`, or set ADMON_DATABASE_URL to an existing registry"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the registry database {path} ({exc.strerror}); choose a folder you may "
            "write in ADMON_DATABASE_URL"
        ) from None
    if not os.access(path.parent, os.W_OK):
        raise ConfigError(
            f"cannot create the registry database {path}: its folder is read-only for this user; "
            "choose a folder you may write in ADMON_DATABASE_URL"
        )


def _read_only(path: Path) -> ConfigError:
    # SQLite writes the file, and its -wal, -shm and migrate-lock files beside it.
    return ConfigError(
        f"the registry database {path} is read-only for this user; admon writes to it and to its "
        f"folder: make both writable (chmod u+w {path} {path.parent}) or run admon as their owner"
    )


def _unusable(url: str, exc: BaseException) -> ConfigError:
    """One line for a database that cannot be opened or migrated, instead of a traceback."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    reason = lines[0] if lines else type(exc).__name__
    path = sqlite_file(url)
    if path is not None:
        if "readonly" in reason or isinstance(exc, PermissionError):
            return _read_only(path)
        return ConfigError(
            f"cannot open the registry database {path} ({reason}); check that it is an admon "
            "registry and that you may read and write it and its folder"
        )
    shown = make_url(url).render_as_string(hide_password=True)
    return ConfigError(
        f"cannot open the registry database {shown} ({reason}); check ADMON_DATABASE_URL, that the "
        "server runs and that the database exists"
    )


def get_engine(url: str | None = None, *, create: bool = False) -> Engine:
    """The migrated engine of ``url`` (default: the ``ADMON_DATABASE_URL`` setting), cached.

    A SQLite file that does not exist is an error unless ``create`` (see :func:`init_database`).
    """
    resolved = database_url(url)
    key = (os.getpid(), resolved)  # a forked child must not share its parent's connections
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            _check_sqlite_file(resolved, create=create)
            engine = _create_engine(resolved)
            try:
                upgrade(engine)
            except (OperationalError, PermissionError) as exc:
                engine.dispose()
                raise _unusable(resolved, exc) from None
            _engines[key] = engine
            _factories[key] = sessionmaker(engine, expire_on_commit=False)
        return engine


def init_database(url: str | None = None) -> Engine:
    """Create the registry of ``url`` if it does not exist (SQLite: the file and its folder) and
    bring its schema to the newest migration; what ``admon db init`` does. Safe to repeat."""
    return get_engine(url, create=True)


def session_factory(url: str | None = None) -> sessionmaker[Session]:
    """A ``sessionmaker`` bound to the migrated engine of ``url``."""
    get_engine(url)
    return _factories[(os.getpid(), database_url(url))]


@contextlib.contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits when the block ends and rolls back on an error."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _forget_parent_engines() -> None:
    # In a forked child the parent's pooled connections must be dropped without closing them
    # (closing would end the parent's PostgreSQL sessions); the child opens its own.
    for (pid, _), engine in list(_engines.items()):
        if pid != os.getpid():
            engine.dispose(close=False)
    _engines.clear()
    _factories.clear()


os.register_at_fork(after_in_child=_forget_parent_engines)


def dispose_all() -> None:
    """Close every cached engine of this process (tests, forks)."""
    with _lock:
        for (pid, _), engine in list(_engines.items()):
            if pid == os.getpid():
                engine.dispose()
        _engines.clear()
        _factories.clear()
