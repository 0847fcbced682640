"""Shadow scoring: an entity's active challengers score the frame its run already read.

Each challenger scores the champion's frame (the window and the champion's lookback), with
the rows of its own longer lookback read before it when it needs them (a champion that
carries its detector's state reads only its chain's rows: :mod:`admon.runs.state`). The challengers share a time budget
(``ADMON_SHADOW_BUDGET_SECONDS``, 30 s): one not started within it is skipped, counted on the challenger and
in the provenance. A challenger that fails (its model missing or changed) is reported, never
fails the run. Shadow results are stored by :mod:`admon.registry.challengers`, never exported
nor alerted. After scoring, the entity's own promotion rule (if set) judges any new labels; a
promotion it makes scores the next run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from admon.errors import AdmonError
from admon.models.scoring import Scorer
from admon.registry import challengers as registry_challengers
from admon.runs import inference
from admon.runs.kinds import EntitySpec, JobContext, Window
from admon.runs.provenance import plain

log = logging.getLogger(__name__)

Policy = Callable[[JobContext, EntitySpec, Window, pd.DataFrame], "tuple[pd.DataFrame, dict[str, Any]]"]


class ShadowScorer:
    """Scores an entity's challengers on a run's frame; keeps their loaded models."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, str, str, str], Scorer] = {}
        self._context: dict[tuple[int, int], pd.DataFrame] = {}  # (run, lookback ms) -> frame with it

    def clear(self) -> None:
        self._models.clear()
        self._context.clear()

    def _model(self, ctx: JobContext, namespace: str, name: str, version: str, sha256: str) -> Scorer:
        key = (namespace, name, version, sha256)
        if key not in self._models:
            self._models[key] = inference.load_model(namespace, name, store=ctx.settings.model_store,
                                                     version=version, expected_sha256=sha256)
        return self._models[key]

    def run(self, ctx: JobContext, entity: EntitySpec, window: Window, frame: pd.DataFrame, history_ms: int,
            policy: Policy) -> dict[str, Any]:
        """Score, store and summarise (for the run's provenance) the entity's active challengers."""
        if ctx.factory is None:
            return {}
        with ctx.factory() as s:
            active = [(c.id, c.name, c.model_namespace, c.model_name, c.model_version, c.model_sha256)
                      for c in registry_challengers.list_challengers(s, entity.id, active_only=True)]
        if not active:
            return {}
        budget = ctx.settings.shadow_budget_seconds
        group_by = list(entity.idc.group_by)
        started = time.perf_counter()
        summary: dict[str, Any] = {"budget_seconds": budget, "scored": {}, "skipped": [], "failed": {}}
        for challenger_id, name, namespace, model_name, version, sha256 in active:
            if time.perf_counter() - started >= budget:
                summary["skipped"].append(name)
                continue
            t0 = time.perf_counter()
            try:
                model = self._model(ctx, namespace, model_name, version, sha256)
                rows, scored = inference.score_with_context(
                    model, self._with_context(ctx, entity, window, frame, history_ms, model), window.start_ms)
                per_group, _ = policy(ctx, entity, window, inference.summarize(rows, scored, group_by))
            except (AdmonError, ValueError, KeyError) as exc:
                log.warning("entity %s: challenger %s failed to score run %s: %s", entity.id, name, window.run_id, exc)
                summary["failed"][name] = f"{type(exc).__name__}: {exc}"
                continue
            seconds = time.perf_counter() - t0
            results: list[dict[str, Any]] = [{"group": {g: plain(r[g]) for g in group_by},
                        "timestamp_ms": window.end_ms if pd.isna(r["peak_timestamp"]) else int(r["peak_timestamp"]),
                        "anomaly_score": registry_challengers.finite(r["anomaly_score"]),
                        "is_anomaly": bool(r["is_anomaly"]), "threshold": registry_challengers.finite(r["threshold"])}
                       for r in per_group.to_dict("records")]
            with ctx.factory() as s:
                registry_challengers.save_shadow(s, challenger_id, entity.id, window.run_id, window.end_ms, results,
                                                 seconds)
                s.commit()
            summary["scored"][name] = {"model_id": model.model_id, "groups": len(results),
                                       "anomalies": sum(bool(r["is_anomaly"]) for r in results),
                                       "seconds": round(seconds, 6)}
        if summary["skipped"]:
            skipped = [cid for cid, name, *_ in active if name in summary["skipped"]]
            with ctx.factory() as s:
                registry_challengers.count_skipped(s, skipped)
                s.commit()
        if summary["scored"]:
            # the entity's own promotion rule, on new labels: the next run is scored by the winner
            with ctx.factory() as s:
                promoted = registry_challengers.apply_entity_rule(s, entity.id)
                s.commit()
                if promoted is not None:
                    summary["promotion"] = {"id": promoted.id, "to": promoted.to_model, "reason": promoted.reason}
        return summary


    def _with_context(self, ctx: JobContext, entity: EntitySpec, window: Window, frame: pd.DataFrame,
                      history_ms: int, model: Scorer) -> pd.DataFrame:
        """``frame`` (the champion's read: ``history_ms`` before the window) with the rows of the
        challenger's own lookback before it, read once per run and length (a champion that carries
        its detector's state reads only its chain's rows)."""
        needed = inference.context_ms(model, entity.idc.agg_interval_ms, ctx.settings.max_context_buckets)
        if needed <= history_ms:
            return frame
        key = (window.run_id, needed)
        if key not in self._context:
            self._context.clear()
            earlier, _ = ctx.read(entity, window.start_ms - needed, window.start_ms - history_ms)
            self._context[key] = pd.concat([earlier, frame], ignore_index=True) if len(earlier) else frame
        return self._context[key]


def champion_provenance(ctx: JobContext, entity: EntitySpec, seconds: float) -> dict[str, Any]:
    """Which champion scored the run (the entity's model, and the challenger it was promoted from)."""
    if ctx.factory is None:
        return {}
    with ctx.factory() as s:
        return {**registry_challengers.champion(s, entity.id), "seconds": round(seconds, 6)}
