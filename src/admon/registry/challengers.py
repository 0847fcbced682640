"""Champion and challenger models of an entity: challengers, their shadow results, promotions.

An entity's champion is the model its row names (``inference_namespace/inference_model``,
the recorded version and content hash); its results are exported and alerted. Up to
:data:`~admon.challengers.MAX_CHALLENGERS` active challengers run in shadow on the same
windows (:mod:`admon.runs.detect`): their scores are ``shadow_results`` rows, never
exported nor alerted.

Promoting a challenger makes its stored model the entity's model (the entity row's model
fields), records a ``promotions`` row (before, after, who or which rule, the evidence) and
can be rolled back (a new row restoring the model the promotion replaced). Every run's
provenance names the champion that scored it (:func:`champion`).

Models are judged on the entity's labelled history (:func:`labelled_outcomes`): a model
scored a labelled span when one of its windows of the span's group overlaps it, and flagged
it when such a window is anomalous with its peak inside the span.

:func:`labelling_queue` lists the unlabelled windows a label would teach most.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from admon.challengers import (
    ACTIVE,
    BY_RULE,
    CHAMPION,
    MAX_CHALLENGERS,
    RETIRED,
    LabelledOutcome,
    PromotionRule,
    check_name,
    standing,
)
from admon.challengers.queue import THRESHOLD_MARGIN, Candidate, rank
from admon.errors import ConfigError, ConflictError, NotFoundError
from admon.registry.annotations import incident_spans
from admon.registry.incidents import list_incidents
from admon.registry.models import (
    AnnotationRow,
    ChallengerRow,
    EntityRow,
    PromotionRow,
    PromotionRuleRow,
    ResultRow,
    RunRow,
    ShadowResultRow,
)
from admon.thresholds import VERDICT_OF_LABEL
from admon.timeutil import now_ms

DAY_MS = 86_400_000


def _entity(s: Session, entity_id: int) -> EntityRow:
    row = s.get(EntityRow, entity_id)
    if row is None:
        raise NotFoundError(f"no detection entity with id {entity_id}; list them with `admon entity list`")
    return row


def list_challengers(s: Session, entity_id: int, *, active_only: bool = False) -> Sequence[ChallengerRow]:
    """The entity's challengers (only the active ones: those scored in shadow), oldest first."""
    query = select(ChallengerRow).where(ChallengerRow.entity_id == entity_id)
    if active_only:
        query = query.where(ChallengerRow.status == ACTIVE)
    return s.scalars(query.order_by(ChallengerRow.id)).all()


def get_challenger(s: Session, entity_id: int, name: str) -> ChallengerRow:
    row = s.scalars(select(ChallengerRow).where(ChallengerRow.entity_id == entity_id,
                                                ChallengerRow.name == name)).first()
    if row is None:
        names = [c.name for c in list_challengers(s, entity_id)]
        raise NotFoundError(f"entity {entity_id} has no challenger {name!r}; its challengers are {names} "
                            "(see `admon model challengers ENTITY`)")
    return row


def add_challenger(s: Session, entity_id: int, *, name: str, detector: str, params: dict[str, Any],
                   model_namespace: str, model_name: str, model_version: str, model_sha256: str,
                   training_window: tuple[int, int] | None, created_by: str) -> ChallengerRow:
    """A new active challenger of the entity (at most :data:`MAX_CHALLENGERS` active)."""
    _entity(s, entity_id)
    check_name(name)
    if s.scalars(select(ChallengerRow.id).where(ChallengerRow.entity_id == entity_id,
                                                ChallengerRow.name == name)).first() is not None:
        raise ConflictError(f"entity {entity_id} already has a challenger {name!r}; choose another name")
    active = list_challengers(s, entity_id, active_only=True)
    if len(active) >= MAX_CHALLENGERS:
        raise ConflictError(f"entity {entity_id} already runs {len(active)} challengers "
                            f"({', '.join(c.name for c in active)}), the most allowed; retire one first "
                            "(`admon model retire-challenger ENTITY NAME`)")
    row = ChallengerRow(entity_id=entity_id, name=name, detector=detector, params=dict(params),
                        model_namespace=model_namespace, model_name=model_name, model_version=model_version,
                        model_sha256=model_sha256, training_window=list(training_window) if training_window else None,
                        status=ACTIVE, created_by=created_by, created_ms=now_ms(), runs_scored=0, runs_skipped=0,
                        seconds_total=0.0)
    s.add(row)
    s.flush()
    return row


def retire_challenger(s: Session, entity_id: int, name: str) -> ChallengerRow:
    """Stop scoring an active challenger in shadow (its shadow results stay)."""
    row = get_challenger(s, entity_id, name)
    if row.status != ACTIVE:
        raise ConflictError(f"challenger {name!r} of entity {entity_id} is {row.status}, not active; "
                            "only an active challenger can be retired")
    row.status = RETIRED
    s.flush()
    return row


# --- shadow results -------------------------------------------------------------------------------


def save_shadow(s: Session, challenger_id: int, entity_id: int, run_id: int, window_end_ms: int,
                rows: Sequence[dict[str, Any]], seconds: float) -> None:
    """A challenger's scores of one run (replacing those of an earlier attempt of the run)."""
    earlier = s.scalar(select(ShadowResultRow.id).where(ShadowResultRow.challenger_id == challenger_id,
                                                        ShadowResultRow.run_id == run_id).limit(1))
    s.execute(delete(ShadowResultRow).where(ShadowResultRow.challenger_id == challenger_id,
                                            ShadowResultRow.run_id == run_id))
    s.add_all([ShadowResultRow(challenger_id=challenger_id, entity_id=entity_id, run_id=run_id,
                               window_end_ms=window_end_ms, group_key=r["group"], timestamp_ms=int(r["timestamp_ms"]),
                               anomaly_score=r["anomaly_score"], is_anomaly=bool(r["is_anomaly"]),
                               threshold=r["threshold"]) for r in rows])
    s.execute(update(ChallengerRow).where(ChallengerRow.id == challenger_id)
              .values(runs_scored=ChallengerRow.runs_scored + (0 if earlier is not None else 1),
                      seconds_total=ChallengerRow.seconds_total + float(seconds)))


def count_skipped(s: Session, challenger_ids: Sequence[int]) -> None:
    """Count a run skipped (over the shadow time budget) for each challenger."""
    if challenger_ids:
        s.execute(update(ChallengerRow).where(ChallengerRow.id.in_(list(challenger_ids)))
                  .values(runs_skipped=ChallengerRow.runs_skipped + 1))


def shadow_results(s: Session, challenger_id: int) -> Sequence[ShadowResultRow]:
    return s.scalars(select(ShadowResultRow).where(ShadowResultRow.challenger_id == challenger_id)
                     .order_by(ShadowResultRow.window_end_ms, ShadowResultRow.id)).all()


# --- the champion and promotions ------------------------------------------------------------------


def champion(s: Session, entity_id: int) -> dict[str, Any]:
    """The entity's champion: its model now, and the challenger and promotion it came from (if any)."""
    entity = _entity(s, entity_id)
    promoted = s.scalars(select(ChallengerRow).where(ChallengerRow.entity_id == entity_id,
                                                     ChallengerRow.status == CHAMPION)).first()
    last = s.scalars(select(PromotionRow).where(PromotionRow.entity_id == entity_id)
                     .order_by(PromotionRow.id.desc()).limit(1)).first()
    return {"namespace": entity.inference_namespace, "model": entity.inference_model,
            "version": entity.model_version, "sha256": entity.model_sha256,
            "challenger": None if promoted is None else promoted.name,
            "promotion_id": None if last is None else last.id}


def _model_of(entity: EntityRow, challenger_id: int | None) -> dict[str, Any]:
    return {"namespace": entity.inference_namespace, "model": entity.inference_model,
            "version": entity.model_version, "sha256": entity.model_sha256, "challenger_id": challenger_id}


def promotions(s: Session, entity_id: int) -> Sequence[PromotionRow]:
    """Every change of the entity's champion, oldest first."""
    return s.scalars(select(PromotionRow).where(PromotionRow.entity_id == entity_id)
                     .order_by(PromotionRow.id)).all()


def promote(s: Session, entity_id: int, name: str, *, decided_by: str, reason: str = "",
            evidence: dict[str, Any] | None = None) -> PromotionRow:
    """Make challenger ``name`` the entity's champion; the former champion, if it was a promoted
    challenger, is retired. Recorded (before, after, who, why, evidence)."""
    entity = _entity(s, entity_id)
    row = get_challenger(s, entity_id, name)
    if row.status != ACTIVE:
        raise ConflictError(f"challenger {name!r} of entity {entity_id} is {row.status}; only an active "
                            "challenger can be promoted")
    former = s.scalars(select(ChallengerRow).where(ChallengerRow.entity_id == entity_id,
                                                   ChallengerRow.status == CHAMPION)).first()
    before = _model_of(entity, None if former is None else former.id)
    if former is not None:
        former.status = RETIRED
    entity.inference_namespace, entity.inference_model = row.model_namespace, row.model_name
    entity.model_version, entity.model_sha256 = row.model_version, row.model_sha256
    entity.updated_ms = now_ms()
    row.status = CHAMPION
    record = PromotionRow(entity_id=entity_id, challenger_id=row.id, from_model=before,
                          to_model=_model_of(entity, row.id), decided_by=decided_by, decided_ms=entity.updated_ms,
                          reason=reason or f"challenger {name!r} promoted by {decided_by}",
                          evidence=dict(evidence or {}), rolled_back=None)
    s.add(record)
    s.flush()
    return record


def rollback(s: Session, entity_id: int, *, decided_by: str) -> PromotionRow:
    """Undo the entity's last promotion: its former champion back, the promoted challenger back
    in shadow. Recorded as a promotion row whose ``rolled_back`` names the undone one."""
    entity = _entity(s, entity_id)
    rolled = {p.rolled_back for p in promotions(s, entity_id) if p.rolled_back is not None}
    candidates = [p for p in promotions(s, entity_id) if p.rolled_back is None and p.id not in rolled]
    if not candidates:
        raise NotFoundError(f"entity {entity_id} has no promotion to roll back "
                            "(see `admon model challengers ENTITY --history`)")
    last = candidates[-1]
    if last.to_model.get("sha256") != entity.model_sha256:
        raise ConflictError(f"entity {entity_id}'s model changed since promotion {last.id} "
                            f"({entity.inference_model} version {entity.model_version}); roll it back by hand")
    promoted = s.get(ChallengerRow, last.challenger_id) if last.challenger_id is not None else None
    before = _model_of(entity, None if promoted is None else promoted.id)
    restore = last.from_model
    entity.inference_namespace, entity.inference_model = restore["namespace"], restore["model"]
    entity.model_version, entity.model_sha256 = restore["version"], restore["sha256"]
    entity.updated_ms = now_ms()
    if promoted is not None:
        promoted.status = ACTIVE
    if restore.get("challenger_id") is not None:
        former = s.get(ChallengerRow, restore["challenger_id"])
        if former is not None:
            former.status = CHAMPION
    record = PromotionRow(entity_id=entity_id, challenger_id=last.challenger_id, from_model=before,
                          to_model=dict(restore), decided_by=decided_by, decided_ms=entity.updated_ms,
                          reason=f"rollback of promotion {last.id}", evidence={"rolled_back": last.id},
                          rolled_back=last.id)
    s.add(record)
    s.flush()
    return record


def promotion_json(row: PromotionRow) -> dict[str, Any]:
    return {"id": row.id, "challenger_id": row.challenger_id, "from": row.from_model, "to": row.to_model,
            "decided_by": row.decided_by, "decided_ms": row.decided_ms, "reason": row.reason,
            "evidence": row.evidence, "rolled_back": row.rolled_back}


# --- judging on the labelled history --------------------------------------------------------------


@dataclass(frozen=True)
class LabelledSpan:
    verdict: str
    group: dict[str, Any]
    start_ms: int
    end_ms: int
    label: str


@dataclass(frozen=True)
class ScoredWindow:
    """One model's result of one group and window (``peak_ms``: the window's peak, else its end)."""

    group: dict[str, Any]
    window_end_ms: int
    peak_ms: int
    score: float | None
    is_anomaly: bool
    threshold: float | None


def _matches(group: dict[str, Any], selector: dict[str, Any]) -> bool:
    return all(k in group and str(group[k]) == str(v) for k, v in selector.items())


def labelled_spans(s: Session, entity_id: int) -> list[LabelledSpan]:
    """The entity's verdicts and labelled windows, as spans of a group (oldest label first)."""
    notes = s.scalars(select(AnnotationRow).where(AnnotationRow.entity_id == entity_id)
                      .order_by(AnnotationRow.id)).all()
    notes = [a for a in notes if a.label in VERDICT_OF_LABEL]
    spans = incident_spans(s, entity_id) if notes else {}
    out = []
    for a in notes:
        start, end = spans.get(a.detection_id or "", (a.start_ms, a.end_ms))
        out.append(LabelledSpan(VERDICT_OF_LABEL[a.label], dict(a.group_key or {}), int(start), int(end),
                                a.detection_id or f"annotation {a.id}"))
    return out


def champion_windows(s: Session, entity_id: int, sha256: str | None) -> list[ScoredWindow]:
    """The results the entity's champion (content ``sha256``; None: any) scored."""
    query = (select(ResultRow.group_key, ResultRow.window_end_ms, ResultRow.timestamp_ms, ResultRow.anomaly_score,
                    ResultRow.is_anomaly, ResultRow.threshold, ResultRow.document)
             .join(RunRow, RunRow.id == ResultRow.run_id).where(ResultRow.entity_id == entity_id))
    if sha256 is not None:
        query = query.where(RunRow.model_sha256 == sha256)
    out = []
    for group, end, ts, score, flagged, threshold, document in s.execute(query):
        peak = (document or {}).get("peak_timestamp")
        out.append(ScoredWindow(group or {}, int(end), int(ts if peak is None else peak), score, bool(flagged),
                                threshold))
    return out


def challenger_windows(s: Session, challenger_id: int) -> list[ScoredWindow]:
    return [ScoredWindow(r.group_key or {}, r.window_end_ms, r.timestamp_ms, r.anomaly_score, r.is_anomaly,
                         r.threshold) for r in shadow_results(s, challenger_id)]


def outcomes(spans: Sequence[LabelledSpan], windows: Sequence[ScoredWindow], interval_ms: int) -> list[LabelledOutcome]:
    """Whether a model (its ``windows``) scored and flagged each labelled span."""
    out = []
    for span in spans:
        mine = [w for w in windows if _matches(w.group, span.group)
                and w.window_end_ms > span.start_ms and w.window_end_ms - interval_ms < span.end_ms]
        flagged = None if not mine else any(w.is_anomaly and span.start_ms <= w.peak_ms < span.end_ms for w in mine)
        out.append(LabelledOutcome(span.verdict, flagged, span.label))
    return out


def alarms_per_day(windows: Sequence[ScoredWindow], interval_ms: int) -> float | None:
    """Anomalous results per day over the time the model scored (None: it scored nothing)."""
    if not windows:
        return None
    ends = [w.window_end_ms for w in windows]
    days = (max(ends) - min(ends) + interval_ms) / DAY_MS
    return round(sum(w.is_anomaly for w in windows) / days, 3)


def _champion_seconds(s: Session, entity_id: int, sha256: str | None) -> float | None:
    query = select(RunRow.provenance).where(RunRow.entity_id == entity_id, RunRow.provenance.is_not(None))
    if sha256 is not None:
        query = query.where(RunRow.model_sha256 == sha256)
    seconds = [float(p["champion"]["seconds"]) for p in s.scalars(query.order_by(RunRow.id.desc()).limit(500))
               if isinstance((p or {}).get("champion"), dict) and p["champion"].get("seconds") is not None]
    return round(sum(seconds) / len(seconds), 6) if seconds else None


def leaderboard(s: Session, entity_id: int, rule: PromotionRule | None = None) -> dict[str, Any]:
    """The champion and every challenger on the entity's labelled windows: event F1, NAB score,
    alarms per day, scoring seconds per run; with ``rule``, what it says of each active challenger."""
    entity = _entity(s, entity_id)
    interval = entity.interval_minutes * 60_000
    spans = labelled_spans(s, entity_id)
    champ = champion(s, entity_id)
    champ_windows = champion_windows(s, entity_id, entity.model_sha256)
    champ_outcomes = outcomes(spans, champ_windows, interval)
    rows = [{"name": "champion" if champ["challenger"] is None else champ["challenger"], "role": "champion",
             "model": f"{entity.inference_namespace}/{entity.inference_model}/{entity.model_version}",
             **standing(champ_outcomes).as_json(), "alarms_per_day": alarms_per_day(champ_windows, interval),
             "seconds_per_run": _champion_seconds(s, entity_id, entity.model_sha256),
             "runs_scored": len({w.window_end_ms for w in champ_windows}), "runs_skipped": 0}]
    for c in list_challengers(s, entity_id):
        if c.status == CHAMPION:
            continue
        windows = challenger_windows(s, c.id)
        mine = outcomes(spans, windows, interval)
        row = {"name": c.name, "role": "challenger" if c.status == ACTIVE else c.status,
               "model": f"{c.model_namespace}/{c.model_name}/{c.model_version}", "detector": c.detector,
               **standing(mine).as_json(), "alarms_per_day": alarms_per_day(windows, interval),
               "seconds_per_run": round(c.seconds_total / c.runs_scored, 6) if c.runs_scored else None,
               "runs_scored": c.runs_scored, "runs_skipped": c.runs_skipped}
        if rule is not None and c.status == ACTIVE:
            judgement = rule.judge(champ_outcomes, mine)
            row["rule"] = {"promote": judgement.promote, "reason": judgement.reason}
        rows.append(row)
    return {"entity_id": entity_id, "champion": champ, "labelled": len(spans), "models": rows,
            "promotions": [promotion_json(p) for p in promotions(s, entity_id)]}


def apply_rule(s: Session, entity_id: int, rule: PromotionRule) -> tuple[PromotionRow | None, list[dict[str, Any]]]:
    """Promote the active challenger the rule favours most (the largest F1 gain among those it
    promotes), recorded as decided by the rule with its evidence; what it said of each."""
    entity = _entity(s, entity_id)
    interval = entity.interval_minutes * 60_000
    spans = labelled_spans(s, entity_id)
    champ_outcomes = outcomes(spans, champion_windows(s, entity_id, entity.model_sha256), interval)
    said, best = [], None
    for c in list_challengers(s, entity_id, active_only=True):
        judgement = rule.judge(champ_outcomes, outcomes(spans, challenger_windows(s, c.id), interval))
        said.append({"name": c.name, "promote": judgement.promote, "reason": judgement.reason,
                     "evidence": judgement.evidence})
        gain = judgement.evidence["f1_gain"]
        if judgement.promote and (best is None or gain > best[1]):
            best = (c, gain, judgement)
    if best is None:
        return None, said
    challenger, _, judgement = best
    row = promote(s, entity_id, challenger.name, decided_by=BY_RULE, reason=judgement.reason,
                  evidence={**judgement.evidence, "judged": [{k: v for k, v in j.items() if k != "evidence"}
                                                             for j in said]})
    return row, said


def finite(value: Any) -> float | None:
    """``value`` as a float, None when missing or not finite (a shadow score as stored)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def check_rule_text(text: str | None) -> PromotionRule:
    """The rule ``text`` names (None: the default rule)."""
    if text is None:
        return PromotionRule()
    if not text.strip():
        raise ConfigError("an empty promotion rule; write e.g. 'gain=0.1,incidents=5' or leave --rule out")
    return PromotionRule.parse(text)


# --- the labelling queue --------------------------------------------------------------------------

#: How many of the entity's newest results the queue considers.
QUEUE_WINDOWS = 5000


def _key(group: dict[str, Any]) -> str:
    return json.dumps(group or {}, sort_keys=True, default=str)


def labelling_queue(s: Session, entity_id: int, *, limit: int = 20, margin: float = THRESHOLD_MARGIN,
                    windows: int = QUEUE_WINDOWS) -> dict[str, Any]:
    """The entity's unlabelled windows a label would teach most (:func:`admon.challengers.queue.rank`):
    where its champion and active challengers disagree, then scores around a threshold; of its
    newest ``windows`` results. Each item names its group, window, incident (if the champion's
    window is part of one), each model's score and why it is queued."""
    if limit < 1:
        raise ConfigError(f"limit {limit} must be >= 1, e.g. --limit 20")
    entity = _entity(s, entity_id)
    interval = entity.interval_minutes * 60_000
    results = s.execute(select(ResultRow.group_key, ResultRow.window_end_ms, ResultRow.anomaly_score,
                               ResultRow.is_anomaly, ResultRow.threshold)
                        .where(ResultRow.entity_id == entity_id)
                        .order_by(ResultRow.window_end_ms.desc()).limit(windows)).all()
    if not results:
        return {"entity_id": entity_id, "considered": 0, "labelled": 0, "queued": 0, "models": [], "items": []}
    oldest = min(end for _, end, *_ in results)
    active = list_challengers(s, entity_id, active_only=True)
    names = {c.id: c.name for c in active}
    shadow: dict[tuple[str, int], dict[str, ShadowResultRow]] = {}
    if active:
        for row in s.scalars(select(ShadowResultRow).where(ShadowResultRow.challenger_id.in_(list(names)),
                                                          ShadowResultRow.window_end_ms >= oldest)):
            shadow.setdefault((_key(row.group_key), row.window_end_ms), {})[names[row.challenger_id]] = row
    spans = labelled_spans(s, entity_id)
    incidents = list_incidents(s, [entity_id])
    candidates, labelled = [], 0
    for group, end, score, flagged, threshold in results:
        group = group or {}
        start = end - interval
        if any(_matches(group, span.group) and start < span.end_ms and span.start_ms < end for span in spans):
            labelled += 1
            continue
        scores: dict[str, float | None] = {"champion": finite(score)}
        flags, thresholds = {"champion": bool(flagged)}, {"champion": finite(threshold)}
        for name, row in shadow.get((_key(group), end), {}).items():
            scores[name], flags[name], thresholds[name] = finite(row.anomaly_score), row.is_anomaly, finite(row.threshold)
        incident = next((i.id for i in incidents if i.group == group and i.start_ms < end
                         and (i.end_ms is None or start < i.end_ms)), None)
        candidates.append(Candidate(group, start, end, scores, flags, thresholds, incident))
    items = rank(candidates, margin=margin)
    return {"entity_id": entity_id, "considered": len(results), "labelled": labelled, "queued": len(items),
            "models": ["champion", *names.values()], "items": [item.as_json() for item in items[:limit]]}


# --- the entity's automatic promotion rule --------------------------------------------------------


def set_rule(s: Session, entity_id: int, rule: PromotionRule | None, *, set_by: str) -> PromotionRuleRow | None:
    """Set (None: remove) the entity's automatic promotion rule."""
    _entity(s, entity_id)
    row = s.get(PromotionRuleRow, entity_id)
    if rule is None:
        if row is not None:
            s.delete(row)
            s.flush()
        return None
    if row is None:
        row = PromotionRuleRow(entity_id=entity_id)
        s.add(row)
    row.min_f1_gain, row.min_incidents = rule.min_f1_gain, rule.min_incidents
    row.set_by, row.set_ms, row.judged_label_ms = set_by, now_ms(), None
    s.flush()
    return row


def entity_rule(s: Session, entity_id: int) -> PromotionRule | None:
    """The entity's automatic promotion rule (None: promotion only by hand)."""
    row = s.get(PromotionRuleRow, entity_id)
    return None if row is None else PromotionRule(row.min_f1_gain, row.min_incidents)


def apply_entity_rule(s: Session, entity_id: int) -> PromotionRow | None:
    """Apply the entity's own rule if it has one and a label is newer than those it judged
    (one query when none is: cheap enough for every run)."""
    row = s.get(PromotionRuleRow, entity_id)
    if row is None:
        return None
    newest = s.scalar(select(func.max(func.coalesce(AnnotationRow.updated_ms, AnnotationRow.created_ms)))
                      .where(AnnotationRow.entity_id == entity_id))
    if newest is None or (row.judged_label_ms is not None and newest <= row.judged_label_ms):
        return None
    row.judged_label_ms = int(newest)
    promoted, _ = apply_rule(s, entity_id, PromotionRule(row.min_f1_gain, row.min_incidents))
    return promoted
