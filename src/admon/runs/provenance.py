"""Provenance of a run (REANA-style): what produced these results, and can they be reproduced?

Each run records its job kind, the config hash, admon's version and git commit, the data
window and row counts, and what its kind adds (a detect run: the model's id and content hash,
also the run's ``model_sha256`` column; a forecast run: its job config), plus a digest of
what it computed (a detect run: every (group, timestamp, raw score)). ``admon reproduce``
(:func:`admon.runs.reproduce.reproduce`) has the entity's job kind recompute the window
from this record and compare.

>>> sorted(environment_provenance())
['admon_version', 'git_commit', 'python']
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import admon


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """The git commit admon runs from (``ADMON_GIT_COMMIT`` wins), or ``"unknown"``."""
    if os.environ.get("ADMON_GIT_COMMIT"):
        return os.environ["ADMON_GIT_COMMIT"]
    try:
        out = subprocess.run(["git", "-C", str(Path(__file__).resolve().parent), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def environment_provenance() -> dict[str, str]:
    """admon's version and commit, and the Python version: recorded with every run."""
    return {"admon_version": admon.__version__, "git_commit": git_commit(),
            "python": platform.python_version()}


def environment_notes(prov: dict[str, Any]) -> list[str]:
    """What differs between a run's recorded environment and this one (admon's commit)."""
    now = environment_provenance()["git_commit"]
    if prov.get("git_commit") != now:
        return [f"admon commit is now {now[:12]}, was {str(prov.get('git_commit'))[:12]}"]
    return []


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value (JSON-ready); anything else unchanged."""
    return value.item() if hasattr(value, "item") else value
