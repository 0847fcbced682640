"""The ``forecast`` job kind: forecast every link of the window and announce predicted episodes.

A forecast entity is an ordinary registered entity (project, windows, InputDataConfig, sinks)
of kind ``forecast`` whose ``job_config`` is a :class:`~admon.forecast.job.ForecastJobConfig`
(validated when the entity is created or changed). The window ``[t - interval_minutes, t)``
is the history the forecaster is fitted on, ``t`` is "now". The runner
(:class:`~admon.runs.runner.Runner`) runs it like every kind: lease, read, :meth:`ForecastKind.run`,
one commit, publish, metrics; a window without input is ``no_data``.

Each run exports one document per link (same deterministic id scheme as anomaly results):
``type="forecast_result"``, the forecast steps with their band, ``is_anomaly`` = the rule's
condition holds, ``threshold`` = the rule's X, and ``action``: the episode announced by this
run, if any. The announcement itself is a ``forecast_notice`` document for the rule's
webhook sink (:mod:`admon.sinks.webhook`), queued in the run's commit together with the
episode it opens (table ``action_episodes``), and POSTed by the outbox after that commit.

**Job configs of the first cut.** Entities registered before migration 0005 kept their job
config in the model store (``<store>/forecast/<inference_model>/job.json``). Their first run
reads that file (when ``job_config`` is NULL), validates it and writes it into the registry;
from then on the registry's copy is the config (see the migration's docstring for why).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from typing import Any

import fsspec
import pandas as pd
from pydantic import BaseModel

from admon.config import InputDataConfig
from admon.errors import ConfigError, NotFoundError
from admon.forecast.actions import evaluate_rule, link_key
from admon.forecast.job import ForecastJobConfig, ForecastJobResult, run_forecast_job
from admon.registry import episodes
from admon.runs.kinds import (
    EntitySpec,
    EpisodeChange,
    JobContext,
    JobKind,
    JobOutput,
    Loaded,
    Notice,
    RecordedRun,
    ReproduceReport,
    Window,
    register_job_kind,
)
from admon.runs.provenance import environment_notes, plain
from admon.sinks.base import Sink
from admon.sinks.documents import build_document, document_id
from admon.sinks.webhook import WebhookSink

log = logging.getLogger(__name__)

DOCUMENT_TYPE = "forecast_result"
NOTICE_TYPE = "forecast_notice"
#: The model store folder of the first cut's job configs (read once per entity, see above).
LEGACY_STORE_FOLDER = "forecast"


@dataclasses.dataclass
class ForecastState:
    """What a forecast run loads: its job config and the open episode id of each link."""

    job: ForecastJobConfig
    open_episodes: dict[str, str]


@register_job_kind("forecast")
class ForecastKind(JobKind):
    """Forecast each link's throughput; a rule announces predicted episodes through a webhook."""

    @classmethod
    def validate_config(cls, job_config: Any) -> dict[str, Any]:
        if job_config is None:
            raise ConfigError(
                "a forecast entity needs a job_config (the fields of ForecastJobConfig, e.g. "
                "{'forecaster': {'name': 'gbm'}, 'interval_seconds': 300, 'horizon': 12}); "
                "`admon forecast job-config` writes one")
        if isinstance(job_config, BaseModel):
            job_config = job_config.model_dump(mode="json")
        if not isinstance(job_config, dict):
            raise ConfigError(f"job_config of a forecast entity must be a mapping, got {job_config!r}")
        return ForecastJobConfig(**job_config).model_dump(mode="json")

    def load(self, ctx: JobContext, entity: EntitySpec) -> Loaded:
        job = job_config_of(ctx, entity)
        with ctx.factory() as s:
            opened = episodes.open_episodes(s, entity.id)
            s.commit()
        return Loaded(history_ms=0, value=ForecastState(job, {k: v["episode_id"] for k, v in opened.items()}))

    def run(self, ctx: JobContext, entity: EntitySpec, window: Window, loaded: Loaded,
            frame: pd.DataFrame, report: dict[str, Any]) -> JobOutput:
        state: ForecastState = loaded.value
        job = state.job
        result = run_forecast_job(job, frame.reset_index(drop=True), window.end_ms)
        docs, fired, notices, changes = [], [], [], []
        sinks = webhook_sinks(job)
        for group_key, part in links(job, result):
            doc = forecast_document(entity, window, job, group_key, part)
            if job.rule is not None:
                decision = evaluate_rule(job.rule, state.open_episodes.get(_link(job, group_key)),
                                         list(job.group_by), list(group_key.values()), _indexed(part),
                                         window.end_ms, extra={"forecaster": job.forecaster["name"]})
                doc["predicted_episode"] = decision.episode
                doc["is_anomaly"] = decision.episode is not None
                if decision.notice is not None:
                    notice = notice_document(entity, window, decision.link, decision.notice)
                    fired.append(notice)
                    notices += [Notice(sink, notice) for sink in sinks]
                    changes.append(EpisodeChange(decision.link, None, notice["episode_id"], notice))
                    doc["action"] = {"episode_id": notice["episode_id"], "notice_id": notice["id"]}
                elif decision.close:
                    changes.append(EpisodeChange(decision.link, state.open_episodes[decision.link], None))
            docs.append(doc)
        provenance = {
            "config_hash": entity.config_hash,
            "input_data_config": entity.idc.model_dump(mode="json"),
            "forecast_job": job.model_dump(mode="json"),
            "model_id": model_id(entity, job),
            "fired": fired,
            "link_errors": result.errors,
        }
        return JobOutput(documents=docs, provenance=provenance, digest=forecast_digest(result),
                         rows=int(len(frame)), groups=len(docs),
                         anomalies=sum(1 for d in docs if d["is_anomaly"]), notices=notices,
                         episodes=changes)

    def reproduce(self, ctx: JobContext, entity: EntitySpec, run: RecordedRun) -> ReproduceReport:
        """Read the recorded window again and forecast it with the recorded job config.

        The digest covers every link's forecast steps and band; notices and episodes are
        not sent or changed again.
        """
        prov = run.provenance
        notes: list[str] = []
        job = ForecastJobConfig(**prov["forecast_job"])
        if "input_data_config" in prov:
            idc = InputDataConfig._validated(prov["input_data_config"])
        else:  # a run recorded before the job kinds: its provenance had no input config
            idc = entity.idc
            notes.append("the run recorded no input_data_config; the entity's current one is used")
        config_ok = idc.content_hash() == prov.get("config_hash")
        if entity.config_hash != prov.get("config_hash"):
            notes.append("the entity's input_data_config changed since; the recorded one is used")
        if entity.job_config is not None and entity.job_config != prov["forecast_job"]:
            notes.append("the entity's job_config changed since; the recorded one is used")
        entity = dataclasses.replace(entity, idc=idc, config_hash=idc.content_hash())
        notes += environment_notes(prov)
        frame, _ = ctx.read(entity, run.window.start_ms, run.window.end_ms)
        result = run_forecast_job(job, frame.reset_index(drop=True), run.window.end_ms)
        digest = forecast_digest(result)
        identical = digest == run.scores_hash and len(frame) == run.rows
        name = model_id(entity, job)
        return ReproduceReport(run.run_id, identical, run.scores_hash, digest, run.rows, int(len(frame)),
                               name, name == prov.get("model_id", name), config_ok, None, notes,
                               kind=self.name)

    def sinks(self, entity: EntitySpec) -> list[Sink]:
        """The rule's webhook, if the entity's job has a rule."""
        if entity.job_config is None:
            return []
        return webhook_sinks(ForecastJobConfig(**entity.job_config))


def webhook_sinks(job: ForecastJobConfig) -> list[Sink]:
    """The webhook sink of the job's rule (none without a rule)."""
    rule = job.rule
    if rule is None:
        return []
    return [WebhookSink(rule.webhook_url, headers=rule.webhook_headers, timeout_seconds=rule.timeout_seconds)]


def job_config_of(ctx: JobContext, entity: EntitySpec) -> ForecastJobConfig:
    """The entity's job config; one of the first cut, still in the model store, is moved into the
    registry on the way (once)."""
    if entity.job_config is not None:
        return ForecastJobConfig(**entity.job_config)
    job = load_legacy_job(entity.inference_model, ctx.settings.model_store)
    with ctx.factory() as s:
        moved = episodes.record_job_config_if_unset(s, entity.id, job.model_dump(mode="json"))
        s.commit()
    if moved:
        log.info("entity %s: forecast job config %r moved from the model store into the registry",
                 entity.id, entity.inference_model)
    return job


def legacy_job_path(name: str, store: str) -> str:
    return f"{store.rstrip('/')}/{LEGACY_STORE_FOLDER}/{name}/job.json"


def load_legacy_job(name: str, store: str) -> ForecastJobConfig:
    """The job config the first cut saved in the model store as ``name`` (its ``state_path`` dropped)."""
    path = legacy_job_path(name, store)
    fs, inner = fsspec.core.url_to_fs(path)
    if not fs.exists(inner):
        raise NotFoundError(
            f"no forecast job {name!r}: the entity has no job_config and the model store has no {path}; "
            "set one with `admon forecast set-job <entity> ...`")
    with fs.open(inner, "r") as fh:
        values = json.loads(fh.read())
    values.pop("state_path", None)  # the episodes live in the registry now
    return ForecastJobConfig(**values)


def model_id(entity: EntitySpec, job: ForecastJobConfig) -> str:
    return f"forecast/{entity.inference_model}:{job.forecaster['name']}"


def links(job: ForecastJobConfig, result: ForecastJobResult):
    """``(group key, forecast steps)`` of each link, in the order they were forecast."""
    group_by = list(job.group_by)
    for key, part in result.forecasts.groupby(group_by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        yield {g: plain(k) for g, k in zip(group_by, key)}, part


def _link(job: ForecastJobConfig, group_key: dict[str, Any]) -> str:
    return link_key(list(job.group_by), list(group_key.values()))


def _indexed(part: pd.DataFrame) -> pd.DataFrame:
    return part.set_index(pd.to_datetime(part["timestamp"], unit="ms"))


def forecast_digest(result: ForecastJobResult) -> str:
    """sha256 of every link's forecast steps and band (12 significant digits): what reproduce compares."""
    rows = [[str(v) for v in row[:-3]] + [float(f"{x:.12g}") for x in row[-3:]]
            for row in result.forecasts.itertuples(index=False)]
    rows.sort(key=lambda r: [str(x) for x in r[:-3]])
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def forecast_document(entity: EntitySpec, window: Window, job: ForecastJobConfig, group_key: dict[str, Any],
                      part: pd.DataFrame) -> dict[str, Any]:
    """The result document of one link: its forecast steps and band (rule fields filled by the run)."""
    doc = build_document(
        entity_id=entity.id, entity_title=entity.title, project_id=entity.project_id,
        model_id=model_id(entity, job), run_id=window.run_id, monit_producer=entity.monit_producer,
        monit_label=entity.monit_label, group_key=group_key, window_start_ms=window.start_ms,
        window_end_ms=window.end_ms, anomaly_score=None, is_anomaly=False,
        threshold=job.rule.threshold if job.rule is not None else None, rows=int(len(part)),
    )
    doc.update(
        type=DOCUMENT_TYPE,
        value_column=job.value_column,
        forecast=[{"timestamp": int(r.timestamp), "mean": float(r.mean), "lower": float(r.lower),
                   "upper": float(r.upper)} for r in part.itertuples()],
        predicted_episode=None,
        action=None,
    )
    return doc


def notice_document(entity: EntitySpec, window: Window, link: str, notice: dict[str, Any]) -> dict[str, Any]:
    """The notice of a new episode as a document: a deterministic id (entity, window, link), so a
    re-run of the window queues the same notice and a receiver can drop a repeat."""
    return {
        "id": document_id(entity.id, window.end_ms, {"notice": link}),
        "type": NOTICE_TYPE,
        "producer": entity.monit_producer,
        "entity_id": entity.id,
        "entity": entity.title,
        "timestamp": window.end_ms,
        **notice,
    }
