"""The ``detect`` job kind: score the window with the entity's model, one result per group.

The entity's ``inference_model``/``inference_namespace`` name the model (loaded by the
runner, refused if its content is not what the registry recorded); a run reads the
model's lookback before the window too, so it scores its window as a run over the
whole series would (:func:`admon.runs.inference.context_ms`). A model whose detector
carries state (:mod:`admon.runs.state`) reads only its chain's rows before the window and
continues each group's stream from the state the previous run stored.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pandas as pd

from admon.config import InputDataConfig
from admon.models.scoring import Scorer
from admon.registry import states as registry_states
from admon.registry import thresholds as registry_thresholds
from admon.runs import inference
from admon.runs.kinds import (
    EntitySpec,
    JobContext,
    JobKind,
    JobOutput,
    Loaded,
    RecordedRun,
    ReproduceReport,
    Window,
    register_job_kind,
)
from admon.runs.provenance import environment_notes, plain
from admon.runs.shadow import ShadowScorer, champion_provenance
from admon.runs.state import StreamPlan, chain_ms, score_streams, stream_detector
from admon.sinks.documents import build_document
from admon.thresholds.policy import apply_policy
from admon.timeutil import now_ms

#: Score results kept per tick: entities reading the same data with the same model share them.
SCORE_CACHE_SIZE = 64


@register_job_kind("detect")
class DetectKind(JobKind):
    """A detector (a stored, remote or fallback model) and its post-rules score each window."""

    def __init__(self) -> None:
        # (config hash, window, context, model id, model hash) -> (window rows, per group, digest)
        self._scores: dict[tuple, tuple[pd.DataFrame, pd.DataFrame, str]] = {}
        # the entity's challengers score the same frame in shadow (stored, never exported)
        self.shadow = ShadowScorer()

    def clear_caches(self) -> None:
        self._scores.clear()
        self.shadow.clear()

    def load(self, ctx: JobContext, entity: EntitySpec) -> Loaded:
        model = ctx.load_model(entity)
        if stream_detector(model) is not None:  # the chain's rows; the streams bring the rest
            return Loaded(history_ms=chain_ms(model, entity.idc.agg_interval_ms), value=model)
        return Loaded(history_ms=inference.context_ms(model, entity.idc.agg_interval_ms,
                                                      ctx.settings.max_context_buckets), value=model)

    def run(self, ctx: JobContext, entity: EntitySpec, window: Window, loaded: Loaded,
            frame: pd.DataFrame, report: dict[str, Any]) -> JobOutput:
        model: Scorer = loaded.value
        started = time.perf_counter()
        streams: dict[str, Any] = {}
        if stream_detector(model) is not None:
            rows, scored, digest, streams = self._score_streams(ctx, entity, window, model, frame)
            per_group = inference.summarize(rows, scored, list(entity.idc.group_by))
        else:
            rows, per_group, digest = self._score(entity, window, model, frame, loaded.history_ms)
        per_group, policy = entity_policy(ctx, entity, window, per_group)
        champion = champion_provenance(ctx, entity, time.perf_counter() - started)
        shadow = self.shadow.run(ctx, entity, window, frame, loaded.history_ms, entity_policy)
        docs = documents(entity, window, model, per_group)
        provenance = {
            "config_hash": entity.config_hash,
            "input_data_config": entity.idc.model_dump(mode="json"),
            "model_id": model.model_id,
            "model_hash": model.content_hash,
            "model_config": model.config,
            "model_fit_on_window": model.fit_on_window,
            "context_ms": loaded.history_ms,
            "rows_in": report.get("rows_used", report.get("rows_in")),
            **({"streams": streams} if streams else {}),
            **policy,
            **({"champion": champion} if champion else {}),
            **({"shadow": shadow} if shadow else {}),
        }
        return JobOutput(documents=docs, provenance=provenance, digest=digest, rows=int(len(rows)),
                         groups=int(len(per_group)), anomalies=sum(1 for d in docs if d["is_anomaly"]),
                         model_sha256=model.content_hash)

    def _score(self, entity: EntitySpec, window: Window, model: Scorer, frame: pd.DataFrame,
               context: int) -> tuple[pd.DataFrame, pd.DataFrame, str]:
        key = (entity.config_hash, window.start_ms, window.end_ms, context, model.model_id,
               model.content_hash)
        cached = self._scores.get(key)
        if cached is not None:
            return cached
        group_by = list(entity.idc.group_by)
        rows, scored = inference.score_with_context(model, frame, window.start_ms)
        result = (rows, inference.summarize(rows, scored, group_by),
                  inference.scores_hash(rows, group_by, scored["raw_score"].astype(float)))
        if len(self._scores) >= SCORE_CACHE_SIZE:
            self._scores.pop(next(iter(self._scores)))
        self._scores[key] = result
        return result

    def _score_streams(self, ctx: JobContext, entity: EntitySpec, window: Window, model: Any,
                       frame: pd.DataFrame, *, use_store: bool = True,
                       plan: StreamPlan | None = None) -> tuple[pd.DataFrame, pd.DataFrame, str, dict]:
        """Score the window as streams, continued from the stored states (:mod:`admon.runs.state`);
        store the states for the next run. ``use_store=False``: the context path for every group.
        Returns the window's rows, their scores, the scores' digest and what the streams did."""
        if plan is None:
            interval = entity.idc.agg_interval_ms
            context = inference.context_ms(model, interval, ctx.settings.max_context_buckets)
            plan = StreamPlan.of(model, entity.id, window.start_ms, context, interval)
        frame = frame[frame["timestamp"] >= plan.chain_start_ms] if len(frame) else frame
        use_store = use_store and ctx.settings.detector_state and ctx.factory is not None
        states = {}
        if use_store:
            with ctx.factory() as s:
                states = registry_states.load(s, entity.id, model.content_hash)

        def read_before() -> pd.DataFrame:
            if plan.anchor_ms >= plan.chain_start_ms:
                return frame.iloc[:0]
            return ctx.read(entity, plan.anchor_ms, plan.chain_start_ms)[0]

        rows, scored, kept, report = score_streams(model, frame, window.start_ms, window.end_ms, plan, states,
                                                   read_before, max_state_bytes=ctx.settings.state_max_bytes)
        if use_store:
            with ctx.factory() as s:
                registry_states.save(s, entity.id, model.content_hash, kept, now_ms=now_ms(),
                                     stale_before_ms=plan.anchor_ms)
                s.commit()
        group_by = list(entity.idc.group_by)
        digest = inference.scores_hash(rows, group_by, scored["raw_score"].astype(float))
        info = {"anchor_ms": plan.anchor_ms, "chain_start_ms": plan.chain_start_ms, **report.as_dict()}
        return rows, scored, digest, info

    def reproduce(self, ctx: JobContext, entity: EntitySpec, run: RecordedRun) -> ReproduceReport:
        """Read the recorded window (and context) again, score it with the entity's model
        (refused, like a scheduled run, if its content is not what the registry recorded). A run
        that scored streams is scored again from its recorded anchor, with no stored state; a run
        recorded before streams (no ``streams`` in its provenance), from its recorded context."""
        prov = run.provenance
        notes: list[str] = []
        idc = InputDataConfig._validated(prov["input_data_config"])
        config_ok = idc.content_hash() == prov.get("config_hash")
        if entity.config_hash != prov.get("config_hash"):
            notes.append("the entity's input_data_config changed since; the recorded one is used")
        entity = dataclasses.replace(entity, idc=idc, config_hash=idc.content_hash())
        context = int(prov.get("context_ms") or 0)
        frame, _ = ctx.read(entity, run.window.start_ms - context, run.window.end_ms)
        model = ctx.load_model(entity)
        recorded_model_hash = run.model_sha256 or prov.get("model_hash")
        model_ok = model.model_id == prov.get("model_id") and model.content_hash == recorded_model_hash
        if not model_ok:
            notes.append(f"model is now {model.model_id} ({model.content_hash[:12]}), was "
                         f"{prov.get('model_id')} ({str(recorded_model_hash)[:12]})")
        notes += environment_notes(prov)
        group_by = list(idc.group_by)
        recorded_plan = prov.get("streams")
        if recorded_plan and stream_detector(model) is not None:  # the context path of every group
            plan = StreamPlan(int(recorded_plan["anchor_ms"]), int(recorded_plan["chain_start_ms"]))
            rows, scored, digest, _ = self._score_streams(ctx, entity, run.window, model, frame, use_store=False,
                                                          plan=plan)
        else:
            rows, scored = inference.score_with_context(model, frame, run.window.start_ms)
            digest = inference.scores_hash(rows, group_by, scored["raw_score"].astype(float))
        recorded = {tuple(sorted(d["group"].items())): d.get("anomaly_score") for d in run.documents}
        max_diff = None
        if len(rows):
            diffs = []
            for record in inference.summarize(rows, scored, group_by).to_dict("records"):
                key = tuple(sorted((g, plain(record[g])) for g in group_by))
                old, new = recorded.get(key), record["anomaly_score"]
                if old is not None and new is not None:
                    diffs.append(abs(float(old) - float(new)))
            max_diff = max(diffs) if diffs else None
        identical = digest == run.scores_hash and len(rows) == run.rows
        return ReproduceReport(run.run_id, identical, run.scores_hash, digest, run.rows, len(rows),
                               model.model_id, model_ok, config_ok, max_diff, notes, model.content_hash,
                               recorded_model_hash, kind=self.name)


def entity_policy(ctx: JobContext, entity: EntitySpec, window: Window,
                  per_group: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``per_group`` flagged with the entity's threshold override (learnt from verdicts, or set
    by a user) in place of its model's, and silenced in its suppression windows
    (:mod:`admon.registry.thresholds`); what was applied, for the provenance."""
    if ctx.factory is None:
        return per_group, {}
    with ctx.factory() as s:
        policy = registry_thresholds.run_policy(s, entity.id, window.start_ms, window.end_ms)
    if policy.empty:
        return per_group, {}
    flagged, silenced = apply_policy(per_group, policy, list(entity.idc.group_by), window_end_ms=window.end_ms)
    return flagged, {"threshold_override": policy.threshold,
                     "suppressions": [rule.id for rule in policy.suppressions], "suppressed_results": silenced}


def documents(entity: EntitySpec, window: Window, model: Scorer, per_group: pd.DataFrame) -> list[dict]:
    """One result document per group of the window."""
    group_by = list(entity.idc.group_by)
    docs = []
    for record in per_group.to_dict("records"):
        group_key = {g: plain(record[g]) for g in group_by}
        docs.append(build_document(
            entity_id=entity.id, entity_title=entity.title, project_id=entity.project_id,
            model_id=model.model_id, run_id=window.run_id, monit_producer=entity.monit_producer,
            monit_label=entity.monit_label, group_key=group_key,
            window_start_ms=window.start_ms, window_end_ms=window.end_ms,
            anomaly_score=record["anomaly_score"], is_anomaly=bool(record["is_anomaly"]),
            threshold=record["threshold"], severity=record["severity"],
            top_features=record["top_features"], peak_timestamp_ms=record["peak_timestamp"],
            rows=record["rows"],
        ))
    return docs

