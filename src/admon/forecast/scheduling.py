"""Forecast entities on the scheduler: a detection entity whose namespace is ``forecast``.

A forecast entity is an ordinary registered entity (project, windows, InputDataConfig, sinks)
with ``inference_namespace="forecast"``; its ``inference_model`` names a job config saved in
the model store at ``<store>/forecast/<name>/job.json`` (:func:`save_forecast_job`). The
window ``[t - interval_minutes, t)`` is the history the forecaster is fitted on, ``t`` is
"now". The scheduler's :class:`~admon.runs.runner.Runner` hands these entities to
:func:`execute_forecast`, which runs :func:`admon.forecast.job.run_forecast_job` with the
runner's reader, run records, result rows and sinks; every other entity runs as before.

Each run exports one document per link (same deterministic id scheme as anomaly results):
``type="forecast_result"``, the forecast steps with their band, ``is_anomaly`` = the rule's
condition holds, ``threshold`` = the rule's X, and whether this run fired the webhook.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import fsspec
import pandas as pd

from admon.errors import NotFoundError
from admon.forecast.actions import predicted_episode
from admon.forecast.job import ForecastJobConfig, ForecastJobResult, run_forecast_job
from admon.registry.models import SUCCEEDED
from admon.runs.runner import Claim, EntitySpec, RunOutcome, Runner
from admon.sinks.documents import build_document

NAMESPACE = "forecast"
DOCUMENT_TYPE = "forecast_result"


def job_path(name: str, store: str) -> str:
    return f"{store.rstrip('/')}/{NAMESPACE}/{name}/job.json"


def save_forecast_job(name: str, config: ForecastJobConfig, store: str | None = None) -> str:
    """Store ``config`` as the forecast job ``name``; returns its path. Entities name it in
    ``inference_model`` with ``inference_namespace="forecast"``."""
    from admon.settings import load_settings

    path = job_path(name, store or load_settings().model_store)
    fs, inner = fsspec.core.url_to_fs(path)
    fs.makedirs(inner.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(inner, "w") as fh:
        fh.write(config.model_dump_json(indent=1))
    return path


def load_forecast_job(name: str, store: str | None = None) -> ForecastJobConfig:
    """The forecast job config saved as ``name``."""
    from admon.settings import load_settings

    path = job_path(name, store or load_settings().model_store)
    fs, inner = fsspec.core.url_to_fs(path)
    if not fs.exists(inner):
        raise NotFoundError(f"no forecast job {name!r} at {path}; save it with save_forecast_job({name!r}, config)")
    with fs.open(inner, "r") as fh:
        return ForecastJobConfig.model_validate_json(fh.read())


def is_forecast_entity(entity: EntitySpec) -> bool:
    return entity.inference_namespace == NAMESPACE


def execute_forecast(runner: Runner, claim: Claim, entity: EntitySpec) -> RunOutcome:
    """Run one claimed window of a forecast entity with ``runner``'s reader, sinks and records.

    ``Runner.execute`` calls it for entities with ``inference_namespace == "forecast"``.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    try:
        runner.on_event("run_started", run_id=claim.run_id, entity=entity.title,
                        window_end_ms=claim.window_end_ms, attempt=claim.attempts)
        job = load_forecast_job(entity.inference_model, runner.settings.model_store)
        t0 = time.perf_counter()
        frame, report = runner.reader(entity, claim.window_start_ms, claim.window_end_ms)
        timings["read_s"] = round(time.perf_counter() - t0, 6)
        t0 = time.perf_counter()
        result = run_forecast_job(job, frame.reset_index(drop=True), claim.window_end_ms)
        timings["forecast_s"] = round(time.perf_counter() - t0, 6)
        docs = forecast_documents(entity, claim, job, result)
        provenance = {
            "kind": "forecast",
            "config_hash": entity.config_hash,
            "forecast_job": job.model_dump(mode="json"),
            "window_start_ms": claim.window_start_ms,
            "window_end_ms": claim.window_end_ms,
            "lake_root": runner.settings.lake_root,
            "rows": int(len(frame)),
            "fired": [a.to_dict() for a in result.fired],
            "link_errors": result.errors,
            "read_report": json.loads(json.dumps(report, default=str)),
        }
        digest = hashlib.sha256(
            json.dumps([d["forecast"] for d in docs], sort_keys=True).encode()
        ).hexdigest()
        per_group = pd.DataFrame(index=range(len(docs)))
        if not runner._commit_success(claim, entity, frame, per_group, docs, provenance, digest,
                                      timings, started):
            runner.on_event("run_lost_lease", run_id=claim.run_id)
            return RunOutcome(claim.run_id, claim.entity_id, claim.window_end_ms, "lost_lease")
        runner._publish(docs)
        outcome = RunOutcome(claim.run_id, claim.entity_id, claim.window_end_ms, SUCCEEDED,
                             rows=len(frame), groups=len(docs), documents=len(docs),
                             seconds=time.perf_counter() - started)
        runner.on_event("run_finished", run_id=claim.run_id, status=SUCCEEDED,
                        window_end_ms=claim.window_end_ms, documents=len(docs))
        return outcome
    except Exception as exc:  # noqa: BLE001 - every run error is recorded, never lost
        return runner._record_failure(claim, exc, timings, started)


def forecast_documents(
    entity: EntitySpec, claim: Claim, job: ForecastJobConfig, result: ForecastJobResult
) -> list[dict[str, Any]]:
    """One result document per link: its forecast steps, band, rule state and notice."""
    group_by = list(job.group_by)
    fired = {tuple(a.link[g] for g in group_by): a for a in result.fired}
    docs = []
    for key, part in result.forecasts.groupby(group_by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        group_key = {g: (k.item() if hasattr(k, "item") else k) for g, k in zip(group_by, key)}
        frame = part.set_index(pd.to_datetime(part["timestamp"], unit="ms"))
        episode = predicted_episode(frame, job.rule) if job.rule is not None else None
        doc = build_document(
            entity_id=entity.id, entity_title=entity.title, project_id=entity.project_id,
            model_id=f"{NAMESPACE}/{entity.inference_model}:{job.forecaster['name']}",
            run_id=claim.run_id, monit_producer=entity.monit_producer, monit_label=entity.monit_label,
            group_key=group_key, window_start_ms=claim.window_start_ms,
            window_end_ms=claim.window_end_ms, anomaly_score=None, is_anomaly=episode is not None,
            threshold=job.rule.threshold if job.rule is not None else None, rows=int(len(part)),
        )
        action = fired.get(tuple(group_key.values()))
        doc.update(
            type=DOCUMENT_TYPE,
            value_column=job.value_column,
            forecast=[
                {"timestamp": int(r.timestamp), "mean": float(r.mean), "lower": float(r.lower),
                 "upper": float(r.upper)}
                for r in part.itertuples()
            ],
            predicted_episode=episode,
            action=None if action is None else {
                "episode_id": action.episode_id, "delivered": action.delivered,
                "status_code": action.status_code, "error": action.error,
            },
        )
        docs.append(doc)
    return docs
