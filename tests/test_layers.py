"""Imports of admon's own modules go at the top of a module (STYLE.md), so a reader (and the
cycle check) sees every dependency. An import inside a function is allowed only where listed
here, each with its reason; a new one fails this test until it moves to the top or is listed."""

from __future__ import annotations

import ast
from pathlib import Path

import admon

SRC = Path(admon.__file__).parent

#: (module file, imported admon module) pairs that stay late for good: the imported module pulls
#: a heavy optional dependency that most processes never need.
HEAVY = {
    ("data/engines/__init__.py", "admon.data.engines.spark"): "pyspark",
    ("detectors/streaming.py", "admon.detectors.kernels"): "numba (0.7 s), needed on the first score only",
    ("detectors/statistical.py", "admon.detectors.kernels"): "numba (0.7 s), needed by ewma's first score only",
    ("detectors/deep.py", "admon.detectors.kernels"): "numba (0.7 s), needed by the deep detectors' first score only",
    ("pretrain/model.py", "admon.pretrain.kernels"): "numba (0.7 s), needed by foundation's first forecast only",
}

#: Files whose functions may import admon modules late, each with the reason.
LATE_FILES = {
    # `admon --help` imports every command module; a command's work modules import pandas,
    # DuckDB, SQLAlchemy and scikit-learn (1-2 s), so each command imports them when it runs:
    # `admon --help` takes 0.18 s instead of about 1.5 s.
    "cli/data.py": "admon --help",
    "cli/models.py": "admon --help",
    "cli/benchmark.py": "admon --help",
    "cli/corpus.py": "admon --help",
    # the package's create_app shortcut: importing admon.service.app from the package's
    # __init__ would make the package and its modules import each other
    "service/__init__.py": "package <-> module cycle",
    # Files other helpers of issue 13 are rewriting now (runs and forecast jobs, the storage
    # layer): their imports move to the top when that work lands. Remove each entry then.
    "runs/runner.py": "being rewritten (issue 13, parts 1-2)",
    "runs/scheduler.py": "being rewritten (issue 13, parts 1-2)",
    "runs/backfill.py": "being rewritten (issue 13, parts 1-2)",
    "runs/provenance.py": "being rewritten (issue 13, parts 1-2)",
    "runs/kinds.py": "being rewritten (issue 13, parts 1-2)",
    "runs/detect.py": "being rewritten (issue 13, parts 1-2)",
    "forecast/scheduling.py": "being rewritten (issue 13, parts 1-2)",
    "forecast/job.py": "being rewritten (issue 13, parts 1-2)",
    "forecast/actions.py": "being rewritten (issue 13, parts 1-2)",
    "cli/runs.py": "being rewritten (issue 13, parts 1-2)",
    "cli/forecast.py": "being rewritten (issue 13, parts 1-2)",
    "registry/api.py": "being rewritten (issue 13, part 3)",
    "registry/db.py": "being rewritten (issue 13, part 3)",
    "service/repo.py": "being rewritten (issue 13, part 3)",
    "service/access.py": "being rewritten (issue 13, part 3)",
    "service/deps.py": "being rewritten (issue 13, part 3)",
    "service/views.py": "being rewritten (issue 13, part 3)",
    "sinks/outbox.py": "being rewritten (issue 13, part 3)",
    "cli/service.py": "being rewritten (issue 13, part 3)",
    "cli/registry.py": "being rewritten (issue 13, part 3)",
    "demo.py": "being rewritten (issue 13, part 3)",
}


def late_admon_imports() -> list[tuple[str, int, str]]:
    """``(file, line, module)`` of every import of an admon module inside a function."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        file = path.relative_to(SRC).as_posix()

        def visit(node: ast.AST, in_function: bool, file: str = file) -> None:
            for child in ast.iter_child_nodes(node):
                if in_function and isinstance(child, ast.Import):
                    found.extend((file, child.lineno, a.name) for a in child.names if a.name.split(".")[0] == "admon")
                elif in_function and isinstance(child, ast.ImportFrom):
                    module = child.module or ""
                    if child.level or module.split(".")[0] == "admon":
                        found.append((file, child.lineno, "." * child.level + module))
                visit(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef))

        visit(ast.parse(path.read_text(), str(path)), False)
    return found


def test_admon_modules_are_imported_at_the_top():
    late = [(f, line, m) for f, line, m in late_admon_imports() if (f, m) not in HEAVY and f not in LATE_FILES]
    assert late == [], ("move these imports to the top of their module (or, for a heavy optional "
                        "dependency, list them in HEAVY with the reason): "
                        + ", ".join(f"{f}:{line} {m}" for f, line, m in late))


def test_the_heavy_exceptions_are_still_late():
    # an entry that is no longer needed goes, so the list stays the truth
    pairs = {(f, m) for f, _, m in late_admon_imports()}
    assert set(HEAVY) <= pairs, set(HEAVY) - pairs
