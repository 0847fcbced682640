"""The scheduler: every enabled entity, every sliding interval, unattended.

Each tick: (1) *plan* - insert the run rows an entity is owed (windows aligned to
its slide, up to ``now`` minus the entity's ``query_delay_seconds`` or else
``ADMON_LATE_DATA_DELAY_SECONDS``, catch-up bounded by ``ADMON_MAX_CATCH_UP_WINDOWS``;
the unique ``(entity, window_end)`` makes this idempotent across processes); (1b)
*re-check* the finished windows of each entity's ``rescore_horizon_minutes`` for late
data and re-open those whose input changed (:mod:`admon.runs.late`); (2) *run* - claim runnable runs oldest window
first and execute them (failed ones come back after a backoff; later windows do
not wait for them); (3) *deliver* the outbox to the durable sinks.

Any number of schedulers may run against one database: leases keep them off
each other's windows.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable

from admon.registry import repository as repo
from admon.registry.models import PENDING
from admon.runs.kinds import EntitySpec
from admon.runs.late import LateDataReport, recheck_recent
from admon.runs.runner import Runner, RunOutcome, check_lake_root, entity_spec
from admon.runs.windows import due_window_ends
from admon.timeutil import now_ms

log = logging.getLogger(__name__)


@dataclasses.dataclass
class TickReport:
    planned: int = 0
    outcomes: list[RunOutcome] = dataclasses.field(default_factory=list)
    delivered: int = 0
    seconds: float = 0.0
    late: LateDataReport = dataclasses.field(default_factory=LateDataReport)

    @property
    def executed(self) -> int:
        return len(self.outcomes)


def insert_runs(runner: Runner, rows: list[dict]) -> int:
    """Insert run rows, skipping those whose ``(entity, window_end)`` exists; returns how many were new."""
    if not rows:
        return 0
    with runner.factory() as s:
        inserted = repo.insert_runs(s, rows)
        s.commit()
    return inserted


def run_row(entity: EntitySpec, window_end: int, trigger: str, now: int) -> dict:
    return {"entity_id": entity.id, "window_start_ms": window_end - entity.interval_ms,
            "window_end_ms": window_end, "status": PENDING, "attempts": 0, "failures": 0,
            "next_attempt_ms": 0, "trigger": trigger, "created_ms": now}


class Scheduler:
    """Plans, runs and delivers. ``clock`` says which windows are due (default: the real time).

    Refuses to start (:class:`~admon.errors.ConfigError`) when its runner reads a local lake
    whose root does not exist: every window would otherwise look empty.
    """

    def __init__(self, runner: Runner | None = None, *, clock: Callable[[], int] | None = None) -> None:
        self.runner = runner or Runner()
        self.clock = clock or now_ms
        self.settings = self.runner.settings
        #: The enabled entities the last :meth:`plan` read.
        self.entities: list[EntitySpec] = []
        if self.runner.reads_lake:
            check_lake_root(self.settings)

    def plan(self, now: int | None = None) -> int:
        """Insert the due run rows of every enabled entity; returns how many were new."""
        now = self.clock() if now is None else now
        with self.runner.factory() as s:
            entities = [entity_spec(r) for r in repo.list_entities(s, enabled=True)]
            last = repo.last_window_ends(s)
            s.commit()
        self.runner.remember_entities(entities)
        self.entities = entities
        rows = []
        created = now_ms()
        for entity in entities:
            delay_s = (entity.query_delay_seconds if entity.query_delay_seconds is not None
                       else self.settings.late_data_delay_seconds)
            ends = due_window_ends(
                last_end=last.get(entity.id),
                start_ms=entity.schedule_from_ms if entity.schedule_from_ms is not None else entity.created_ms,
                now_ms=now, delay_ms=int(delay_s * 1000),
                slide_ms=entity.slide_ms, max_windows=self.settings.max_catch_up_windows)
            rows.extend(run_row(entity, end, "scheduler", created) for end in ends)
        return insert_runs(self.runner, rows)

    def recheck(self, now: int | None = None) -> LateDataReport:
        """Re-open the recent windows whose input changed (each entity's ``rescore_horizon_minutes``;
        :mod:`admon.runs.late`); they run in this tick like any pending window."""
        now = self.clock() if now is None else now
        try:
            return recheck_recent(self.runner, self.entities, now)
        except Exception as exc:  # noqa: BLE001 - a failed check must not stop the tick's runs
            log.warning("late-data check failed (%s: %s); trying again next tick", type(exc).__name__, exc)
            return LateDataReport()

    def tick(self, *, max_runs: int | None = None) -> TickReport:
        """One round: plan, run everything runnable (oldest window first), deliver."""
        started = time.perf_counter()
        self.runner.clear_caches()
        report = TickReport(planned=self.plan())
        report.late = self.recheck()
        last_delivery = time.monotonic()
        while max_runs is None or report.executed < max_runs:
            claim = self.runner.claim()
            if claim is None:
                break
            report.outcomes.append(self.runner.execute(claim))
            # deliver as results come in, but not after every run of a long catch-up
            if time.monotonic() - last_delivery >= 1.0:
                report.delivered += self.runner.deliver().delivered
                last_delivery = time.monotonic()
        report.delivered += self.runner.deliver().delivered
        report.seconds = time.perf_counter() - started
        return report

    def busy(self) -> bool:
        """Is anything left to do: a run not finished, or a document not delivered?"""
        with self.runner.factory() as s:
            open_runs = repo.count_open_runs(s)
            sinks = [x.url for x in self.runner.sinks if x.durable]
            undelivered = repo.count_pending_outbox(s, sinks) if sinks else 0
            s.commit()
        return bool(open_runs or undelivered)

    def run_forever(self, stop: threading.Event | None = None, *, until_idle: bool = False,
                    on_tick: Callable[[TickReport], None] | None = None) -> None:
        """Tick every ``ADMON_SCHEDULER_POLL_SECONDS`` until ``stop`` is set (or, with
        ``until_idle``, until nothing is left to run or deliver)."""
        stop = stop or threading.Event()
        while not stop.is_set():
            try:
                report = self.tick()
            except Exception:  # noqa: BLE001 - a database hiccup must not end the scheduler
                log.exception("scheduler tick failed; trying again after the poll interval")
                report = None
            if on_tick is not None and report is not None:
                on_tick(report)
            if until_idle and report is not None and not report.executed and not self.busy():
                return
            idle = report is None or (not report.executed and not report.delivered)
            stop.wait(min(self.settings.scheduler_poll_seconds, 0.5) if not idle
                      else self.settings.scheduler_poll_seconds if not until_idle
                      else min(self.settings.scheduler_poll_seconds, 0.2))


def run_in_child(database_url: str, settings_overrides: dict, clock_ms: int | None,
                 event_path: str | None = None) -> None:
    """Entry point of a scheduler in a child process (``multiprocessing``): run until idle.

    Settings come from ``settings_overrides`` (a child does not see its parent's later
    environment changes); each started run appends a line to ``event_path``.
    """
    from admon.settings import load_settings

    settings = load_settings(**{**settings_overrides, "database_url": database_url})
    events = open(event_path, "a", buffering=1) if event_path else None

    def on_event(kind: str, **info) -> None:
        if events is not None and kind in ("run_started", "run_finished"):
            events.write(f"{kind} {info.get('run_id')} {info.get('window_end_ms')}\n")

    runner = Runner(settings, on_event=on_event)
    clock = (lambda: clock_ms) if clock_ms is not None else None
    Scheduler(runner, clock=clock).run_forever(until_idle=True)
