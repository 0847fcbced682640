"""Run one detection run: lease it, read → score → results → outbox, record the outcome.

A run row is the run's identity (``(entity, window_end)`` is unique) and its
lease: a process owns a run while ``lease_owner`` is its id and
``lease_expires_ms`` lies in the future. Claiming is one atomic statement
(PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED``; SQLite: a conditional
``UPDATE`` under its single-writer lock), so two schedulers never run the same
window, and a window whose scheduler died is taken over once its lease expired.

The lease is short (``ADMON_RUN_LEASE_SECONDS``, 30 s by default) and renewed by a
heartbeat while the run works (:class:`LeaseKeeper`), so a long run keeps its window
and the window of a scheduler that died is taken over within one lease.

The results, the outbox rows and the ``succeeded`` status are written in one
transaction that only commits while the lease is still ours: a window is
exported once, whatever process dies when.

A window whose read found no input at all (no file, or files without a row in the
window) is recorded as ``no_data``: finished, counted, nothing exported. A lake root
that does not exist is not "no input" but an error: the run fails (and is retried).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any

import fsspec
import pandas as pd

from admon.alerts import AlertContext
from admon.alerts.queue import alert_sinks, queue_health_alert, queue_incident_alerts, run_alerts
from admon.data.bucket_cache import BucketCache
from admon.data.fingerprint import buckets_fingerprint, files_fingerprint
from admon.errors import ConfigError, DataError, IntegrityError
from admon.incidents import incident_document, merge_late_window, merge_window, window_results
from admon.models.scoring import Scorer
from admon.notebook import html_table, time_text, ui_link
from admon.registry import episodes
from admon.registry import incidents as registry_incidents
from admon.registry import repository as repo
from admon.registry.db import SessionFactory, session_factory
from admon.registry.models import (
    FAILED,
    NO_DATA,
    RETRYING,
    SUCCEEDED,
    EntityRow,
)
from admon.registry.runs import ClaimedRun
from admon.registry.schemas import EntityRecord
from admon.runs import inference
from admon.runs.kinds import JOB_KINDS, EntitySpec, JobContext, JobKind, JobOutput, Window
from admon.runs.provenance import environment_provenance
from admon.settings import Settings, load_settings
from admon.sinks import outbox
from admon.sinks.base import Sink, parse_sinks
from admon.sinks.documents import DOCUMENT_TYPE
from admon.timeutil import now_ms

log = logging.getLogger(__name__)

EventHook = Callable[..., None]
MODEL_CACHE_SECONDS = 60.0


def lake_root_problem(root: str) -> str | None:
    """Why ``root`` cannot be read as the lake (missing, not a folder, unreachable), or None."""
    try:
        fs, path = fsspec.core.url_to_fs(root)
        if fs.isdir(path):
            return None
        what = "is not a folder" if fs.exists(path) else "does not exist"
    except (OSError, ValueError, ImportError) as exc:
        what = f"cannot be listed ({type(exc).__name__}: {exc})"
    return f"the lake root {root!r} (ADMON_LAKE_ROOT) {what}; create it, or point ADMON_LAKE_ROOT at the lake"


def check_lake_root(settings: Settings) -> None:
    """Start-up check of a scheduler: a local lake root that is missing is a :class:`ConfigError`.

    Remote roots (``s3://``, ``hdfs://``) are not contacted at start-up; every run checks its
    root before reading and fails (retried) while it is missing.
    """
    fs, _ = fsspec.core.url_to_fs(settings.lake_root)
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
    if not {"file", "local"} & set(protocols):
        return
    problem = lake_root_problem(settings.lake_root)
    if problem is not None:
        raise ConfigError(problem)


def new_owner_id() -> str:
    """A lease owner id unique to this process and object: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def entity_spec(row: EntityRow) -> EntitySpec:
    """What a run needs of a stored entity (:class:`~admon.runs.kinds.EntitySpec`)."""
    return EntitySpec.from_record(EntityRecord.values_of(row))


#: A run this process holds the lease of, as the registry hands it out.
Claim = ClaimedRun


@dataclasses.dataclass
class RunOutcome:
    run_id: int
    entity_id: int
    window_end_ms: int
    status: str
    rows: int = 0
    groups: int = 0
    documents: int = 0
    error: str | None = None
    seconds: float = 0.0

    def _repr_html_(self) -> str:
        """The run in a notebook; the entity's page up to its window in the UI when ADMON_PUBLIC_URL is set."""
        return html_table(f"Run {self.run_id} of entity {self.entity_id}", [
            ("window end", time_text(self.window_end_ms)), ("status", self.status), ("rows", self.rows),
            ("groups", self.groups), ("documents", self.documents), ("error", self.error),
            ("seconds", round(self.seconds, 3)),
        ], ui_link(f"/entities/{self.entity_id}", {"end": time_text(self.window_end_ms)}))


class Runner:
    """Claims and executes runs for one process (the scheduler, a backfill, a test)."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        database_url: str | None = None,
        sinks: list[Sink] | None = None,
        owner: str | None = None,
        on_event: EventHook | None = None,
        reader: Callable[[EntitySpec, int, int], tuple[pd.DataFrame, dict]] | None = None,
        alert_to: list[Sink] | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        self.database_url = database_url or self.settings.database_url
        self.factory: SessionFactory = session_factory(self.database_url)
        self.sinks = sinks if sinks is not None else parse_sinks(
            self.settings.sinks, timeout_seconds=self.settings.sink_timeout_seconds,
            chunk_size=self.settings.sink_chunk_size)
        #: Where alerts go (``ADMON_ALERTMANAGER_URL``, ``ADMON_ALERT_WEBHOOK_URL``); empty: no alerts.
        self.alert_sinks = alert_to if alert_to is not None else alert_sinks(self.settings)
        #: Whether this runner's runs alert: None = unless a backfill made the run (history is not
        #: news); a backfill sets it to its ``--alert`` choice while it runs.
        self.alerting: bool | None = None
        self.owner = owner or new_owner_id()
        self.on_event = on_event or (lambda *a, **k: None)
        self.reader = reader or self._read_lake
        #: Closed buckets of this runner's reads, kept across ticks and shared by entities with the
        #: same input data config and by overlapping windows (:mod:`admon.data.bucket_cache`).
        self.bucket_cache = BucketCache(self.settings.bucket_cache_mb * 2**20)
        self._models: dict[tuple[str, str], tuple[float, Scorer]] = {}
        self._entities: dict[int, EntitySpec] = {}
        self._kinds: dict[str, JobKind] = {}
        #: What job kinds get from this runner: settings, the registry, the reader, the model loader.
        self.context = JobContext(settings=self.settings, factory=self.factory,
                                  read=lambda entity, start, end: self.reader(entity, start, end),
                                  load_model=self.model_for)

    # --- reading ---------------------------------------------------------------------------
    @property
    def reads_lake(self) -> bool:
        """Does this runner read the lake (and not a reader given by the caller)?"""
        return self.reader == self._read_lake

    def _read_lake(self, entity: EntitySpec, start_ms: int, end_ms: int) -> tuple[pd.DataFrame, dict]:
        """The frame and read report of ``[start_ms, end_ms)``: its closed buckets come from the
        bucket cache, so entities with the same config and overlapping windows read each once."""
        problem = lake_root_problem(self.settings.lake_root)
        if problem is not None:  # not "no input": a run that read nothing here would look fine
            raise DataError(problem)
        delay_s = (entity.query_delay_seconds if entity.query_delay_seconds is not None
                   else self.settings.late_data_delay_seconds)
        # a bucket later than the delay before the read's end may still receive data: read, not kept
        return self.bucket_cache.read(entity.idc, start_ms, end_ms, lake_root=self.settings.lake_root,
                                      key=entity.config_hash, closed_until_ms=end_ms - delay_s * 1000)

    def forget_reads(self, entity: EntitySpec, start_ms: int, end_ms: int) -> None:
        """Drop the cached buckets of ``entity``'s config in ``[start_ms, end_ms)``: the next read
        takes them from the source (late data, :mod:`admon.runs.late`)."""
        self.bucket_cache.forget(entity.config_hash, start_ms, end_ms)

    def files_fingerprint(self, entity: EntitySpec, start_ms: int, end_ms: int) -> str | None:
        """The lake files a read of ``[start_ms, end_ms)`` lists, summarised
        (:func:`~admon.data.fingerprint.files_fingerprint`); None for a reader given by the caller
        or an input with a query source (then only the buckets tell late data)."""
        if not self.reads_lake:
            return None
        return files_fingerprint(entity.idc, self.settings.lake_root, start_ms, end_ms)

    def clear_caches(self) -> None:
        """Forget cached scores and entities (at the start of each scheduler tick). The bucket cache
        stays: its buckets are closed, and late data drops them (:mod:`admon.data.bucket_cache`)."""
        self._entities.clear()
        for kind in self._kinds.values():
            kind.clear_caches()

    def kind(self, name: str) -> JobKind:
        """This runner's instance of the job kind ``name`` (a ConfigError naming the known kinds)."""
        if name not in self._kinds:
            self._kinds[name] = JOB_KINDS.get(name)()
        return self._kinds[name]

    def model_for(self, entity: EntitySpec) -> Scorer:
        """The entity's model, loaded only if its content is what the registry recorded.

        The production version of ``inference_namespace/inference_model`` is loaded with
        ``expected_sha256`` = the entity's recorded ``model_sha256``; other content (a version
        re-written in the store, or a version promoted without recording it) raises
        :class:`~admon.errors.IntegrityError`, which fails the run. An entity with no record
        (created before migration 0004, or before its model was stored) records the content
        its first run loads (trust on first use); the builtin fallback is never recorded.

        A lookup (found or not) is reused for ``MODEL_CACHE_SECONDS``, so a newly published
        version is picked up within that time. At most ``ADMON_MODEL_CACHE_ENTRIES`` models are
        kept (the least recently used goes first): a scheduler of thousands of entities, each with
        its own model, does not hold every model of a tick in memory.
        """
        key = (entity.inference_namespace, entity.inference_model, entity.model_sha256)
        cached = self._models.pop(key, None)
        if cached is not None and time.monotonic() - cached[0] < MODEL_CACHE_SECONDS:
            self._models[key] = cached  # the most recently used is last
            return cached[1]
        try:
            model = inference.load_model(entity.inference_namespace, entity.inference_model,
                                         store=self.settings.model_store, expected_sha256=entity.model_sha256)
        except IntegrityError as exc:
            if entity.model_sha256 is None:  # the store's own check failed: its message says it all
                raise
            raise IntegrityError(
                f"entity {entity.title!r} (#{entity.id}) has model {entity.inference_namespace}/"
                f"{entity.inference_model} version {entity.model_version} recorded in the registry: {exc}"
            ) from exc
        if entity.model_sha256 is None and not model.fit_on_window and model.content_hash:
            self._record_first_load(entity, model)
        self._models[key] = (time.monotonic(), model)
        while len(self._models) > max(self.settings.model_cache_entries, 1):
            self._models.pop(next(iter(self._models)))
        return model

    def _record_first_load(self, entity: EntitySpec, model: Scorer) -> None:
        version = model.version
        with self.factory() as s:
            recorded = repo.record_model_if_unset(s, entity.id, version, model.content_hash)
            s.commit()
        if recorded:
            log.info("entity %s: recorded model %s (sha256 %s) on its first load", entity.id,
                     model.model_id, model.content_hash)
        self._entities.pop(entity.id, None)  # read the record (ours or another process's) again

    def remember_entities(self, specs: list[EntitySpec]) -> None:
        """Entities already read (by the scheduler's plan): no second query per run."""
        self._entities.update({spec.id: spec for spec in specs})

    def entity(self, entity_id: int) -> EntitySpec:
        if entity_id not in self._entities:
            with self.factory() as s:
                self._entities[entity_id] = entity_spec(repo.get_entity(s, entity_id))
                s.commit()
        return self._entities[entity_id]

    # --- claiming --------------------------------------------------------------------------
    def claim(self, *, entity_id: int | None = None, run_id: int | None = None,
              enabled_only: bool = True) -> Claim | None:
        """Lease the oldest runnable run (optionally of one entity, or one given run)."""
        ttl = int(self.settings.run_lease_seconds * 1000)
        with self.factory() as s:
            claimed = repo.claim_run(s, self.owner, ttl, entity_id=entity_id, run_id=run_id,
                                     enabled_only=enabled_only)
        return claimed

    # --- executing -------------------------------------------------------------------------
    def renew_lease(self, run_id: int) -> bool:
        """Extend this process's lease of ``run_id`` by ``run_lease_seconds``; False once it is
        not ours any more (finished, or taken over after this process stalled past the lease)."""
        ttl = int(self.settings.run_lease_seconds * 1000)
        with self.factory() as s:
            renewed = repo.renew_run_lease(s, run_id, self.owner, ttl)
            s.commit()
        return bool(renewed)

    def execute(self, claim: Claim) -> RunOutcome:
        """Run a claimed window to success, ``no_data`` or a recorded failure; never raises for a
        run error. The lease is renewed in the background while the window runs."""
        with LeaseKeeper(self, claim.run_id):
            return self._execute(claim)

    def _execute(self, claim: Claim) -> RunOutcome:
        """lease (held) -> load -> read -> ``kind.run`` -> one commit -> publish -> metrics."""
        started = time.perf_counter()
        timings: dict[str, float] = {}
        try:
            entity = self.entity(claim.entity_id)
            kind = self.kind(entity.kind)
            self.on_event("run_started", run_id=claim.run_id, entity=entity.title, job_kind=kind.name,
                          window_end_ms=claim.window_end_ms, attempt=claim.attempts)
            window = Window(claim.run_id, claim.entity_id, claim.window_start_ms, claim.window_end_ms)
            t0 = time.perf_counter()
            loaded = kind.load(self.context, entity)
            timings["load_s"] = round(time.perf_counter() - t0, 6)
            t0 = time.perf_counter()
            # the files before the read: a file that lands during the read is late data next time
            files = self.files_fingerprint(entity, claim.window_start_ms, claim.window_end_ms)
            frame, report = self.reader(entity, claim.window_start_ms - loaded.history_ms, claim.window_end_ms)
            timings["read_s"] = round(time.perf_counter() - t0, 6)
            if not _rows_in_window(frame, claim.window_start_ms):
                if report.get("skipped"):
                    # files were there but nothing in the window could be used: a data problem
                    # to retry and then report, not an empty success
                    raise DataError(
                        f"no readable row in the window ending {claim.window_end_ms}; the read skipped "
                        f"{report['skipped']}; check the lake with `admon data preview --strict`")
                return self._record_no_data(claim, entity, report, timings, started)
            t0 = time.perf_counter()
            output = kind.run(self.context, entity, window, loaded, frame, report)
            timings["score_s"] = round(time.perf_counter() - t0, 6)
            for document in output.documents:
                if document.get("type") == DOCUMENT_TYPE:  # same ids on a re-run, the next revision
                    document["revision"] = claim.revision
            fingerprint = {"files": files, "buckets": buckets_fingerprint(frame, claim.window_start_ms)}
            output.provenance = {
                **environment_provenance(),
                "kind": kind.name,
                "window_start_ms": claim.window_start_ms,
                "window_end_ms": claim.window_end_ms,
                "lake_root": self.settings.lake_root,
                "rows": output.rows,
                "groups": output.groups,
                "read_report": _jsonable(report),
                "sinks": [s.url for s in self.sinks],
                **output.provenance,
            }
            if not self._commit_success(claim, entity, output, timings, started, fingerprint):
                self.on_event("run_lost_lease", run_id=claim.run_id)
                return RunOutcome(claim.run_id, claim.entity_id, claim.window_end_ms, "lost_lease")
            self._publish(output.documents)
            seconds = time.perf_counter() - started
            _record_metric(entity.id, SUCCEEDED, seconds)
            self.on_event("run_finished", run_id=claim.run_id, status=SUCCEEDED,
                          window_end_ms=claim.window_end_ms, documents=len(output.documents),
                          notices=len(output.notices))
            return RunOutcome(claim.run_id, claim.entity_id, claim.window_end_ms, SUCCEEDED,
                              rows=output.rows, groups=output.groups, documents=len(output.documents),
                              seconds=seconds)
        except Exception as exc:  # noqa: BLE001 - every run error is recorded, never lost
            return self._record_failure(claim, exc, timings, started)

    def _commit_success(self, claim: Claim, entity: EntitySpec, output: JobOutput, timings: dict,
                        started: float, fingerprint: dict[str, Any] | None = None) -> bool:
        """The run's one transaction: status (only while the lease is ours), results, outbox rows
        (results for every durable sink, notices for their action sink) and the kind's episode
        changes. False, with nothing written, when the lease was lost."""
        t0 = time.perf_counter()
        now = now_ms()
        docs = output.documents
        with self.factory() as s:
            # the lease check and the status change are one statement, in the same transaction
            # as the results and the outbox rows: a window commits once, by its lease holder
            results = [
                {"id": d["id"], "run_id": claim.run_id, "entity_id": entity.id,
                 "window_end_ms": claim.window_end_ms, "group_key": d["group"],
                 "timestamp_ms": d["timestamp"], "anomaly_score": d["anomaly_score"],
                 "is_anomaly": d["is_anomaly"], "threshold": d["threshold"], "document": d}
                for d in docs]
            queued = [(sink.url, d) for sink in self.sinks if sink.durable for d in docs]
            queued += [(n.sink.url, n.document) for n in output.notices]
            owned = repo.finish_run(
                s, claim.run_id, self.owner,
                {"rows": output.rows, "groups": output.groups, "anomalies": output.anomalies,
                 "provenance": output.provenance, "scores_hash": output.digest,
                 "model_sha256": output.model_sha256, "finished_ms": now, "input_fingerprint": fingerprint},
                results, repo.outbox_rows(queued, claim.run_id, claim.window_end_ms, now),
                replaces_earlier=claim.revision > 1)
            if not owned:
                return False
            if output.episodes:
                episodes.apply_episode_changes(s, entity.id, claim.run_id, output.episodes, now)
            self._commit_incidents(s, claim, entity, docs, now)
            self._commit_health(s, claim, entity, SUCCEEDED, now)
            timings["write_s"] = round(time.perf_counter() - t0, 6)
            timings["total_s"] = round(time.perf_counter() - started, 6)
            repo.set_run_values(s, claim.run_id, timings=timings)
            s.commit()
        return True

    def _commit_incidents(self, s: Any, claim: Claim, entity: EntitySpec, docs: list[dict], now: int) -> None:
        """Merge the window's anomalous results into the entity's incidents, in the run's commit,
        and queue each incident whose state changed (opened, updated, resolved) for every durable
        sink: one ``anomaly_incident`` document per state (its own id; ``incident_id`` names the incident)."""
        results = [d for d in docs if d.get("type") == DOCUMENT_TYPE]
        if not results:  # a kind without result documents has no incidents
            return
        if claim.revision > 1:  # late data re-ran a past window: later windows have run since
            previous = registry_incidents.overlapping_incidents(s, entity.id, claim.window_start_ms,
                                                                claim.window_end_ms)
            quiet_until = claim.window_end_ms + self.settings.incident_quiet_windows * entity.slide_ms
            changes = merge_late_window(entity.id, previous, window_results(results),
                                        window_end_ms=claim.window_end_ms,
                                        closed=repo.last_window_ends(s).get(entity.id, 0) >= quiet_until)
        else:
            previous = registry_incidents.open_incidents(s, entity.id)
            changes = merge_window(entity.id, previous,
                                   window_results(results), window_end_ms=claim.window_end_ms,
                                   quiet_windows=self.settings.incident_quiet_windows)
        registry_incidents.apply_incident_changes(s, entity.id, changes, now)
        if self.alert_sinks and run_alerts(s, claim.run_id, self.alerting):
            # open and changed incidents that match a rule: alerts, in this same commit
            queue_incident_alerts(s, self.alert_sinks, self._alert_context(entity), previous=previous,
                                  changes=changes, open_now=registry_incidents.open_incidents(s, entity.id),
                                  results=results, run_id=claim.run_id, window_end_ms=claim.window_end_ms,
                                  now=now)
        incident_docs = [incident_document(c.incident, entity_title=entity.title, project_id=entity.project_id,
                                           producer=entity.monit_producer, updated_ms=now)
                         for c in changes if c.emits]
        registry_incidents.queue_documents(
            s, [(sink.url, d) for sink in self.sinks if sink.durable for d in incident_docs],
            claim.run_id, claim.window_end_ms, now)

    def _alert_context(self, entity: EntitySpec) -> AlertContext:
        return AlertContext(entity_id=entity.id, entity=entity.title, slide_ms=entity.slide_ms,
                            public_url=self.settings.public_url)

    def _commit_health(self, s: Any, claim: Claim, entity: EntitySpec | None, status: str, now: int) -> None:
        """Raise, refresh or resolve the entity's health alert after a run finished with ``status``
        (``health_alert_runs`` no_data/failed runs in a row), in the run's commit."""
        if not self.alert_sinks or not run_alerts(s, claim.run_id, self.alerting):
            return
        if entity is None:
            entity = self.entity(claim.entity_id)
        queue_health_alert(s, self.alert_sinks, self._alert_context(entity), status=status,
                           runs_needed=self.settings.health_alert_runs, run_id=claim.run_id,
                           window_end_ms=claim.window_end_ms, now=now)

    def _commit_health_safely(self, s: Any, claim: Claim, now: int) -> None:
        """:meth:`_commit_health` of a failed run: the failure is recorded even if the alert cannot
        be queued (the entity itself may be what failed to load)."""
        try:
            with s.begin_nested():
                self._commit_health(s, claim, None, FAILED, now)
        except Exception as exc:  # noqa: BLE001 - the run's failure record must not be lost
            log.warning("run %s: could not queue the health alert (%s)", claim.run_id, exc)

    def _record_no_data(self, claim: Claim, entity: EntitySpec, report: dict, timings: dict,
                        started: float) -> RunOutcome:
        """Finish a window without input as ``no_data``: recorded and counted, nothing exported."""
        seconds = time.perf_counter() - started
        timings["total_s"] = round(seconds, 6)
        provenance = {"window_start_ms": claim.window_start_ms, "window_end_ms": claim.window_end_ms,
                      "lake_root": self.settings.lake_root, "read_report": _jsonable(report)}
        with self.factory() as s:
            owned = repo.finish_run_no_data(s, claim.run_id, self.owner, {
                "provenance": provenance, "timings": timings, "finished_ms": now_ms()})
            if owned:
                self._commit_health(s, claim, entity, NO_DATA, now_ms())
            s.commit()
        if not owned:
            self.on_event("run_lost_lease", run_id=claim.run_id)
            return RunOutcome(claim.run_id, claim.entity_id, claim.window_end_ms, "lost_lease")
        log.warning("run %s of entity %s (#%s): no input in the window [%s, %s); recorded as no_data",
                    claim.run_id, entity.title, entity.id, claim.window_start_ms, claim.window_end_ms)
        _record_metric(entity.id, NO_DATA, seconds)
        self.on_event("run_finished", run_id=claim.run_id, status=NO_DATA,
                      window_end_ms=claim.window_end_ms, documents=0)
        return RunOutcome(claim.run_id, claim.entity_id, claim.window_end_ms, NO_DATA, seconds=seconds)

    def _publish(self, docs: list[dict]) -> None:
        for sink in self.sinks:
            if not sink.durable and docs:
                try:
                    sink.send(docs)
                except Exception as exc:  # noqa: BLE001 - a gauge update must not fail a run
                    log.warning("sink %s failed: %s", sink.url, exc)

    def _record_failure(self, claim: Claim, exc: Exception, timings: dict, started: float) -> RunOutcome:
        failures = claim.failures + 1
        final = failures >= self.settings.run_max_attempts
        status = FAILED if final else RETRYING
        wait_ms = int(self.settings.run_retry_backoff_seconds * 1000 * 2 ** (failures - 1))
        message = f"{type(exc).__name__}: {exc}"
        detail = "".join(traceback.format_exception(exc))[-4000:]
        now = now_ms()
        timings["total_s"] = round(time.perf_counter() - started, 6)
        with self.factory() as s:
            owned = repo.record_run_failure(s, claim.run_id, self.owner, {
                "status": status, "failures": failures, "next_attempt_ms": now + wait_ms,
                "error": f"{message}\n\n{detail}", "timings": timings, "finished_ms": now})
            if final and owned:
                self._commit_health_safely(s, claim, now)
            s.commit()
        log.warning("run %s (window end %s) %s after failure %d: %s", claim.run_id, claim.window_end_ms,
                    status, failures, message)
        if final:
            _record_metric(claim.entity_id, FAILED, time.perf_counter() - started)
        self.on_event("run_finished", run_id=claim.run_id, status=status,
                      window_end_ms=claim.window_end_ms, error=message)
        return RunOutcome(claim.run_id, claim.entity_id, claim.window_end_ms, status, error=message,
                          seconds=time.perf_counter() - started)

    # --- delivery --------------------------------------------------------------------------
    def deliver(self, *, max_batches: int | None = None) -> outbox.DeliveryReport:
        """Send queued documents to the durable sinks (see :mod:`admon.sinks.outbox`): those of
        ``ADMON_SINKS`` and the action sinks (webhooks) of the entities' job configs."""
        sinks = [*self.sinks, *self.action_sinks(), *self.alert_sinks]
        if not any(s.durable for s in sinks):
            return outbox.DeliveryReport()
        # A deliverer that died blocks its sink until its lease expires: keep that short (it is
        # renewed after every batch), but longer than one request can take.
        lease = max(2 * self.settings.sink_timeout_seconds, min(self.settings.run_lease_seconds, 120.0))
        report = outbox.deliver(
            self.factory, sinks, owner=self.owner, batch_size=self.settings.sink_batch_size,
            backoff_seconds=self.settings.sink_retry_backoff_seconds, lease_seconds=lease,
            max_batches=max_batches)
        if report.delivered:
            self.on_event("delivered", documents=report.delivered)
        return report


    def action_sinks(self) -> list[Sink]:
        """The action sinks (e.g. webhooks) named by the job configs of the registry's entities,
        each once. Notices queued for a sink no entity names any more stay in the outbox."""
        with self.factory() as s:
            specs = [entity_spec(row) for row in episodes.entities_with_job_config(s)]
            s.commit()
        found: dict[str, Sink] = {}
        for spec in specs:
            try:
                sinks = self.kind(spec.kind).sinks(spec)
            except ConfigError as exc:  # an uninstalled plugin kind must not stop other deliveries
                log.warning("entity %s: no action sinks (%s)", spec.id, exc)
                continue
            for sink in sinks:
                found.setdefault(sink.url, sink)
        configured = {s.url for s in self.sinks}
        return [sink for url, sink in found.items() if url not in configured]


class LeaseKeeper:
    """Renews a run's lease while the run works: a heartbeat thread, for a ``with`` block.

    Every third of ``run_lease_seconds`` it extends ``lease_expires_ms``, so a run may take
    longer than its lease, while the window of a process that died (and beats no more) is
    taken over one lease after its last beat. It stops when the block ends, or when the
    lease is no longer ours (the commit will then find that out too and drop the run).
    """

    def __init__(self, runner: Runner, run_id: int) -> None:
        self.runner = runner
        self.run_id = run_id
        self.interval = runner.settings.run_lease_seconds / 3
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"admon-lease-{run_id}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        # a beat stuck on a busy database may outlive the run: harmless, it renews only a
        # lease that is still ours and still running
        self._thread.join(timeout=max(self.interval, 5.0))

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not self.runner.renew_lease(self.run_id):
                    if not self._stop.is_set():
                        log.warning("run %s: lease lost to another scheduler; its commit will be dropped",
                                    self.run_id)
                    return
            except Exception as exc:  # noqa: BLE001 - a missed beat is retried; the lease has slack
                log.warning("run %s: could not renew the lease (%s); trying again", self.run_id, exc)


def _rows_in_window(frame: pd.DataFrame, window_start_ms: int) -> int:
    """Rows of ``frame`` (the window plus any history read before it) inside the window."""
    if frame.empty or "timestamp" not in frame.columns:
        return int(len(frame))
    return int((frame["timestamp"] >= window_start_ms).sum())


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _record_metric(entity_id: int, status: str, seconds: float) -> None:
    from admon.sinks.prometheus import record_run

    record_run(entity_id, status, seconds)  # by id: /metrics must not name private entities
