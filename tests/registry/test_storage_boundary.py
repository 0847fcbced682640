"""Only ``admon.registry`` talks to the database (issue 13, part 3).

Every module of ``src/admon`` is parsed; every import statement counts, also those
inside functions. Outside ``admon/registry/`` a module may neither import SQLAlchemy
(``import sqlalchemy``, ``from sqlalchemy.orm import …``) nor run statements on a
session (``s.execute(…)``, ``session.scalars(…)``, ``s.get(Row, …)``): it calls
:mod:`admon.registry.repository` with the session instead. Sessions are typed with
``admon.registry.db.Session``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import admon

SRC = Path(admon.__file__).parent
REGISTRY = SRC / "registry"

#: Modules outside the registry that still write SQL, each with why. Empty: keep it so.
ALLOWED: dict[str, str] = {}

#: Session methods that run or stage statements (commit/rollback/close are transaction control).
STATEMENT_METHODS = {"execute", "scalar", "scalars", "query", "get", "add", "add_all", "delete", "merge",
                     "refresh", "flush", "connection", "get_bind"}
SESSION_NAMES = {"s", "session", "db_session"}  # what admon calls a registry session
#: SQLAlchemy methods that run SQL whatever the object is called.
SQL_METHODS = {"exec_driver_sql"}


def _modules() -> list[tuple[str, ast.Module]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        if REGISTRY in path.parents:
            continue
        rel = path.relative_to(SRC.parent).as_posix()
        out.append((rel, ast.parse(path.read_text(), filename=rel)))
    return out


def sqlalchemy_imports(tree: ast.Module) -> list[int]:
    """Line numbers of every import of sqlalchemy (or a submodule) anywhere in ``tree``."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(n == "sqlalchemy" or n.startswith("sqlalchemy.") for n in names):
            lines.append(node.lineno)
    return lines


def session_statements(tree: ast.Module) -> list[int]:
    """Line numbers of statement calls on a session-like name (``s.execute(...)``, ...)."""
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and (node.func.attr in SQL_METHODS
                 or (node.func.attr in STATEMENT_METHODS
                     and isinstance(node.func.value, ast.Name) and node.func.value.id in SESSION_NAMES))]


def test_only_the_registry_imports_sqlalchemy():
    offenders = {rel: lines for rel, tree in _modules() if rel not in ALLOWED
                 if (lines := sqlalchemy_imports(tree))}
    assert not offenders, (
        f"SQLAlchemy imported outside admon/registry (file: lines): {offenders}; move the statements "
        "into a registry module and call it through admon.registry.repository"
    )


def test_only_the_registry_runs_statements_on_a_session():
    offenders = {rel: lines for rel, tree in _modules() if rel not in ALLOWED
                 if (lines := session_statements(tree))}
    assert not offenders, (
        f"statements run on a session outside admon/registry (file: lines): {offenders}; "
        "add a function to the registry module of that aggregate and call it"
    )


def test_the_checks_see_imports_inside_functions():
    tree = ast.parse("def f():\n    from sqlalchemy.orm import Session\n    import sqlalchemy as sa\n"
                     "    conn.exec_driver_sql('select 2')\n    return s.execute(sa.text('select 1'))\n")
    assert sqlalchemy_imports(tree) == [2, 3]
    assert sorted(session_statements(tree)) == [4, 5]


def test_the_allow_list_names_existing_modules():
    known = {rel for rel, _ in _modules()}
    assert set(ALLOWED) <= known
