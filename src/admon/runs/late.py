"""Late data: re-run the finished windows whose input changed after they ran.

Monitoring data arrives late (a collector catching up, a file re-delivered). Each
succeeded run stores a fingerprint of its input (:mod:`admon.data.fingerprint`): the lake
files its read listed, and a hash per bucket of what it read. :func:`recheck_windows`
compares a range of finished windows with their input as it is now:

1. the files' fingerprint first (a ``stat`` per file, nothing read): equal, the window is
   unchanged;
2. otherwise (or for a query source, which has no files) the window is read again and its
   buckets hashed: equal, only the new listing is stored (a late file that did not touch
   this window); different, the window is re-opened as the next **revision**, with the
   changed buckets recorded in ``runs.late_data``.

A re-opened window runs like any other (lease, one commit, outbox). Its result documents
keep their ids and carry ``revision`` = previous + 1, so every sink receives them again
(:func:`~admon.sinks.documents.delivery_key`); its incidents are updated
(:func:`~admon.incidents.merge_late_window`). Only the window's own span counts: data that
arrives in the history a detector reads before the window does not re-open it.

Who checks: the scheduler, each tick, the windows of every entity's last
``rescore_horizon_minutes`` (0, the default, is off: a check reads the window again when
files changed); a backfill, every window of its range. Windows that ran before fingerprints
existed are counted as ``unknown`` and left alone.
"""

from __future__ import annotations

import dataclasses
import logging

from admon.data.fingerprint import buckets_fingerprint, changed_buckets
from admon.registry import runs as registry_runs
from admon.registry import states as registry_states
from admon.runs.kinds import EntitySpec
from admon.runs.runner import Runner
from admon.timeutil import now_ms

log = logging.getLogger(__name__)

#: Changed bucket starts kept in a run's ``late_data`` record (their count is always kept).
MAX_BUCKETS_RECORDED = 100


@dataclasses.dataclass
class LateDataReport:
    """What a check found: windows checked, unchanged, without a fingerprint, and re-opened
    (``window end -> changed bucket starts``)."""

    checked: int = 0
    unchanged: int = 0
    unknown: int = 0
    reopened: dict[int, list[int]] = dataclasses.field(default_factory=dict)

    def add(self, other: LateDataReport) -> None:
        self.checked += other.checked
        self.unchanged += other.unchanged
        self.unknown += other.unknown
        self.reopened.update(other.reopened)


def recheck_windows(runner: Runner, entity: EntitySpec, start_ms: int, end_ms: int) -> LateDataReport:
    """Re-open the succeeded windows of ``entity`` ending in ``[start_ms, end_ms]`` whose input
    changed since they ran (see the module docstring)."""
    report = LateDataReport()
    with runner.factory() as s:
        windows = registry_runs.succeeded_windows(s, entity.id, start_ms, end_ms)
        s.commit()
    for window in windows:
        report.checked += 1
        stored = window.input_fingerprint
        if not stored or "buckets" not in stored:
            report.unknown += 1
            continue
        files = runner.files_fingerprint(entity, window.window_start_ms, window.window_end_ms)
        if files is not None and files == stored.get("files"):
            report.unchanged += 1
            continue
        # the window's input as it is now, not as the bucket cache kept it
        runner.forget_reads(entity, window.window_start_ms, window.window_end_ms)
        frame, _ = runner.reader(entity, window.window_start_ms, window.window_end_ms)
        changed = changed_buckets(stored["buckets"], buckets_fingerprint(frame, window.window_start_ms))
        with runner.factory() as s:
            if not changed:
                registry_runs.set_input_fingerprint(s, window.run_id, {**stored, "files": files},
                                                    revision=window.revision)
                report.unchanged += 1
            elif registry_runs.reopen_for_late_data(s, window.run_id, revision=window.revision, found={
                    "found_ms": now_ms(), "changed_buckets": len(changed),
                    "buckets": changed[:MAX_BUCKETS_RECORDED], "files_changed": files is not None}):
                report.reopened[window.window_end_ms] = changed
                registry_states.drop(s, entity.id)  # the streams read the old input: start them again
                log.info("entity %s (#%s): late data in the window ending %s (%d bucket(s) changed); "
                         "re-running it as revision %d", entity.title, entity.id, window.window_end_ms,
                         len(changed), window.revision + 1)
            s.commit()
    return report


def recheck_recent(runner: Runner, entities: list[EntitySpec], now: int) -> LateDataReport:
    """The scheduler's check: each entity's windows ending within its ``rescore_horizon_minutes``."""
    report = LateDataReport()
    for entity in entities:
        if entity.rescore_horizon_minutes > 0:
            report.add(recheck_windows(runner, entity, now - entity.rescore_horizon_minutes * 60_000, now))
    return report
