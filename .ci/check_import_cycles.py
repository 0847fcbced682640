"""Fail when admon's modules import each other in a cycle.

Every import statement counts, including those inside functions: a late
import hides a loop from a reader but not from this check. The graph comes
from grimp (the library under import-linter); the cycles are its strongly
connected components, found with SciPy.

Usage: python .ci/check_import_cycles.py [package]   (exit 1 when a cycle exists)
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


def main(argv: list[str]) -> int:
    package = argv[1] if len(argv) > 1 else "admon"
    cycles = import_cycles(package)
    for group in cycles:
        print(_describe(package, group))
    print(f"{len(cycles)} import cycle(s) in {package}")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
