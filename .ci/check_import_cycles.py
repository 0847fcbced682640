"""Fail when admon's modules import each other in a cycle.

Every import statement counts, including those inside functions: a late
import hides a loop from a reader but not from this check. The graph comes
from grimp (the library under import-linter); the cycles are its strongly
connected components, found with SciPy.

Usage: python .ci/check_import_cycles.py [--known FILE] [package]

Exit 1 when a cycle exists that FILE does not list (one cycle per line, its
modules sorted and joined by spaces). The file lists the cycles that were
there when the check was introduced, so that no new one can appear while
the old ones are being removed (issue 13 removes them and the file).
"""

from __future__ import annotations

import sys

import grimp
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components


def import_cycles(package: str) -> list[list[str]]:
    """Each group of modules that import each other, directly or through others."""
    graph = grimp.build_graph(package)
    modules = sorted(graph.modules)
    index = {name: i for i, name in enumerate(modules)}
    edges = [
        (index[importer], index[imported])
        for importer in modules
        for imported in graph.find_modules_directly_imported_by(importer)
        if imported in index and imported != importer
    ]
    rows, cols = zip(*edges) if edges else ((), ())
    adjacency = csr_matrix((np.ones(len(edges)), (rows, cols)), shape=(len(modules),) * 2)
    count, labels = connected_components(adjacency, directed=True, connection="strong")
    groups = [[modules[i] for i in np.flatnonzero(labels == c)] for c in range(count)]
    return sorted(group for group in groups if len(group) > 1)


def _describe(package: str, group: list[str]) -> str:
    graph = grimp.build_graph(package)
    members = set(group)
    lines = [f"cycle among {len(group)} modules:"]
    for importer in group:
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & members):
            details = graph.get_import_details(importer=importer, imported=imported)
            where = ", ".join(str(d["line_number"]) for d in details)
            lines.append(f"  {importer} -> {imported} (line {where})")
    return "\n".join(lines)


def _read_known(path: str | None) -> set[str]:
    if path is None:
        return set()
    with open(path, encoding="utf-8") as lines:
        return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def main(argv: list[str]) -> int:
    args = argv[1:]
    known_path = None
    if args[:1] == ["--known"]:
        known_path, args = args[1], args[2:]
    package = args[0] if args else "admon"
    known = _read_known(known_path)
    cycles = import_cycles(package)
    new = [group for group in cycles if " ".join(group) not in known]
    for group in cycles:
        tag = "NEW " if group in new else "known "
        print(tag + _describe(package, group))
    gone = known - {" ".join(group) for group in cycles}
    for line in sorted(gone):
        print(f"fixed (remove it from {known_path}): {line}")
    print(f"{len(cycles)} import cycle(s) in {package}, {len(new)} new")
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
