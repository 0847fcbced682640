"""Provenance of a run (REANA-style): what produced these scores, and can they be reproduced?

Each run records the config hash, admon's version and git commit, the model's id
and content hash (also the run's ``model_sha256`` column), the data window and row counts (see
:meth:`admon.runs.runner.Runner.execute`), plus the hash of every (group,
timestamp, raw score). :func:`reproduce` reads the same window again, scores it
with the entity's model (refused, like a scheduled run, if its content is not what the
registry recorded) and compares.

>>> sorted(environment_provenance())
['admon_version', 'git_commit', 'python']
"""

from __future__ import annotations

import dataclasses
import functools
import os
import platform
import subprocess
from pathlib import Path


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
    import admon

    return {"admon_version": admon.__version__, "git_commit": git_commit(),
            "python": platform.python_version()}


@dataclasses.dataclass
class ReproduceReport:
    run_id: int
    identical: bool
    recorded_hash: str | None
    recomputed_hash: str
    rows_recorded: int | None
    rows_now: int
    model_id: str
    model_hash_matches: bool
    config_hash_matches: bool
    max_abs_score_diff: float | None
    notes: list[str]
    #: Content sha256 of the model that scored now, and of the one the run recorded.
    model_hash: str = ""
    recorded_model_hash: str | None = None

    def summary(self) -> str:
        verdict = "IDENTICAL" if self.identical else "DIFFERENT"
        return (f"run {self.run_id}: scores {verdict} (rows recorded {self.rows_recorded}, now "
                f"{self.rows_now}; model {self.model_id} sha256 {self.model_hash[:12]}; hash "
                f"{self.recomputed_hash[:12]} vs {(self.recorded_hash or '-')[:12]})"
                + "".join(f"\n  - {n}" for n in self.notes))


def reproduce(run_id: int, *, database_url: str | None = None, settings=None) -> ReproduceReport:
    """Recompute run ``run_id`` from its recorded provenance and compare the scores."""
    from admon.config import InputDataConfig
    from admon.errors import ConflictError
    from admon.registry import repository as repo
    from admon.registry.db import session_scope
    from admon.runs import inference
    from admon.runs.runner import EntitySpec, Runner

    with session_scope(database_url) as s:
        run = repo.get_run(s, run_id)
        if run.status != "succeeded" or not run.provenance:
            raise ConflictError(
                f"run {run_id} has status {run.status!r} and no recorded scores; only succeeded runs "
                "can be reproduced")
        prov = dict(run.provenance)
        recorded_hash, recorded_rows = run.scores_hash, run.rows
        recorded_model_hash = run.model_sha256 or prov.get("model_hash")
        entity = EntitySpec.from_row(repo.get_entity(s, run.entity_id))
    notes: list[str] = []
    idc = InputDataConfig._validated(prov["input_data_config"])
    config_ok = idc.content_hash() == prov.get("config_hash")
    if entity.config_hash != prov.get("config_hash"):
        notes.append("the entity's input_data_config changed since; the recorded one is used")
    entity = dataclasses.replace(entity, idc=idc, config_hash=idc.content_hash())
    runner = Runner(settings, database_url=database_url, sinks=[])
    if prov.get("lake_root") and prov["lake_root"] != runner.settings.lake_root:
        notes.append(f"lake root is now {runner.settings.lake_root!r}, was {prov['lake_root']!r}")
    window_start = int(prov["window_start_ms"])
    context = int(prov.get("context_ms") or 0)
    frame, _ = runner.reader(entity, window_start - context, int(prov["window_end_ms"]))
    # loaded only if its content is what the registry records for the entity (IntegrityError if not)
    model = runner.model_for(entity)
    model_ok = model.model_id == prov.get("model_id") and model.content_hash == recorded_model_hash
    if not model_ok:
        notes.append(f"model is now {model.model_id} ({model.content_hash[:12]}), was "
                     f"{prov.get('model_id')} ({str(recorded_model_hash)[:12]})")
    if prov.get("git_commit") != environment_provenance()["git_commit"]:
        notes.append(f"admon commit is now {environment_provenance()['git_commit'][:12]}, was "
                     f"{str(prov.get('git_commit'))[:12]}")
    group_by = list(idc.group_by)
    frame, scored = inference.score_with_context(model, frame, window_start)
    digest = inference.scores_hash(frame, group_by, scored["raw_score"].astype(float))
    max_diff = None
    with session_scope(database_url) as s:
        recorded = {tuple(sorted(r.group_key.items())): r.anomaly_score for r in repo.list_results(s, run_id)}
    if len(frame):
        per_group = inference.summarize(frame, scored, group_by)
        diffs = []
        for record in per_group.to_dict("records"):
            key = tuple(sorted((g, _plain(record[g])) for g in group_by))
            old, new = recorded.get(key), record["anomaly_score"]
            if old is not None and new is not None:
                diffs.append(abs(float(old) - float(new)))
        max_diff = max(diffs) if diffs else None
    identical = digest == recorded_hash and len(frame) == recorded_rows
    return ReproduceReport(run_id, identical, recorded_hash, digest, recorded_rows, len(frame),
                           model.model_id, model_ok, config_ok, max_diff, notes, model.content_hash,
                           recorded_model_hash)


def _plain(value):
    return value.item() if hasattr(value, "item") else value
