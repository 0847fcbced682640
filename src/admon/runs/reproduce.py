"""``admon reproduce``: recompute a recorded run with its entity's job kind and compare.

The run's provenance says what produced it (see :mod:`admon.runs.provenance`); the
entity's job kind (:meth:`admon.runs.kinds.JobKind.reproduce`) reads the same window
again, recomputes it and compares the digest, for every kind alike.
"""

from __future__ import annotations

from admon.errors import ConflictError
from admon.registry import repository as repo
from admon.registry.db import session_scope
from admon.registry.models import SUCCEEDED
from admon.runs.kinds import RecordedRun, ReproduceReport, Window
from admon.runs.runner import Runner, entity_spec
from admon.settings import Settings


def reproduce(run_id: int, *, database_url: str | None = None, settings: Settings | None = None) -> ReproduceReport:
    """Recompute run ``run_id`` from its recorded provenance and compare the results."""
    with session_scope(database_url) as s:
        run = repo.get_run(s, run_id)
        if run.status != SUCCEEDED or not run.provenance:
            raise ConflictError(
                f"run {run_id} has status {run.status!r} and no recorded result; only succeeded runs "
                "can be reproduced")
        entity = entity_spec(repo.get_entity(s, run.entity_id))
        recorded = RecordedRun(
            run_id=run.id, window=Window(run.id, run.entity_id, run.window_start_ms, run.window_end_ms),
            provenance=dict(run.provenance), scores_hash=run.scores_hash, rows=run.rows, groups=run.groups,
            model_sha256=run.model_sha256, documents=[r.document for r in repo.list_results(s, run_id)],
        )
    runner = Runner(settings, database_url=database_url, sinks=[])
    kind_name = recorded.provenance.get("kind", entity.kind)
    report = runner.kind(kind_name).reproduce(runner.context, entity, recorded)
    lake_root = recorded.provenance.get("lake_root")
    if lake_root and lake_root != runner.settings.lake_root:
        report.notes.append(f"lake root is now {runner.settings.lake_root!r}, was {lake_root!r}")
    if kind_name != entity.kind:
        report.notes.append(f"the entity's job kind is now {entity.kind!r}; the run's {kind_name!r} is used")
    return report
