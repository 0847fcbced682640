"""``admon run ENTITY --from … --to …``: run the windows of a time range now, in order.

The same run rows, leases, results and outbox as the scheduler, so a window is
exported once whichever ran it: a second backfill of the same range finds every
run succeeded and exports nothing new, unless late data changed a window's input since
(then that window runs again as its next revision, :mod:`admon.runs.late`). A failed window is retried (with
backoff) up to ``ADMON_RUN_MAX_ATTEMPTS`` times, recorded as failed, and the
next windows still run; backfilling a range again retries its failed windows
and runs its ``no_data`` windows again (their data may have arrived since).

History is not news: the incidents a backfill finds are recorded (and exported as
documents) but not alerted, unless ``alert=True`` (``admon run … --alert``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from admon.registry import repository as repo
from admon.registry.models import FAILED, NO_DATA, RETRYING, SUCCEEDED
from admon.runs.late import LateDataReport, recheck_windows
from admon.runs.runner import Runner, RunOutcome, check_lake_root, entity_spec
from admon.runs.scheduler import insert_runs, run_row
from admon.runs.windows import window_ends
from admon.timeutil import TimeLike, check_window, now_ms


@dataclasses.dataclass
class BackfillReport:
    entity_id: int
    windows: int = 0
    already_done: int = 0
    succeeded: int = 0
    failed: int = 0
    no_data: int = 0
    busy_elsewhere: int = 0
    documents: int = 0
    delivered: int = 0
    outcomes: list[RunOutcome] = dataclasses.field(default_factory=list)
    #: The finished windows of the range re-checked for late data, and those re-run.
    late: LateDataReport = dataclasses.field(default_factory=LateDataReport)


def backfill(
    entity: int | str,
    start: TimeLike,
    end: TimeLike,
    *,
    runner: Runner | None = None,
    progress: Callable[[int, int, RunOutcome | None], None] | None = None,
    alert: bool = False,
) -> BackfillReport:
    """Run every window ``[t - interval, t)`` that lies inside ``[start, end]``, oldest first;
    ``alert``: its incidents (and health) alert like the scheduler's (default: recorded only)."""
    runner = runner or Runner()
    forced, runner.alerting = runner.alerting, alert
    try:
        return _backfill(runner, entity, start, end, progress)
    finally:
        runner.alerting = forced


def _backfill(runner: Runner, entity: int | str, start: TimeLike, end: TimeLike,
              progress: Callable[[int, int, RunOutcome | None], None] | None) -> BackfillReport:
    runner.clear_caches()  # a backfill reads the lake as it is now (late data included)
    start_ms, end_ms = check_window(start, end)
    if runner.reads_lake:
        check_lake_root(runner.settings)
    with runner.factory() as s:
        spec = entity_spec(repo.get_entity(s, entity))
        s.commit()
    ends = window_ends(start_ms, end_ms, interval_ms=spec.interval_ms, slide_ms=spec.slide_ms)
    report = BackfillReport(spec.id, windows=len(ends))
    created = now_ms()
    insert_runs(runner, [run_row(spec, e, "backfill", created) for e in ends])
    with runner.factory() as s:
        # asking for a range again retries its failed windows, and reads its empty ones again
        runs = repo.rerun_windows(s, spec.id, ends)
        s.commit()
    if ends:  # and re-runs the finished ones whose input changed since (late data)
        report.late = recheck_windows(runner, spec, ends[0], ends[-1])
    for index, window_end in enumerate(ends):
        outcome = _run_one(runner, runs[window_end], report)
        if outcome is not None:
            report.outcomes.append(outcome)
            report.documents += outcome.documents
        if progress is not None:
            progress(index + 1, len(ends), outcome)
        report.delivered += runner.deliver().delivered
    report.delivered += runner.deliver().delivered
    return report


def _run_one(runner: Runner, run_id: int, report: BackfillReport) -> RunOutcome | None:
    while True:
        with runner.factory() as s:
            status, next_attempt = repo.run_status(s, run_id)
            s.commit()
        if status == SUCCEEDED:
            report.already_done += 1
            return None
        if status == RETRYING and next_attempt > now_ms():
            time.sleep(min((next_attempt - now_ms()) / 1000, 3600))
        claim = runner.claim(run_id=run_id, enabled_only=False)
        if claim is None:
            report.busy_elsewhere += 1  # leased by a live scheduler: it will finish the window
            return None
        outcome = runner.execute(claim)
        if outcome.status == SUCCEEDED:
            report.succeeded += 1
            return outcome
        if outcome.status == FAILED:
            report.failed += 1
            return outcome
        if outcome.status == NO_DATA:
            report.no_data += 1
            return outcome
        if outcome.status != RETRYING:
            return outcome
