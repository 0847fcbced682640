"""What the forecast page of a forecast entity draws: the link's history, the forecasts with
their band, the rule's threshold, and the episodes the rule predicted (and announced).

Every run of a forecast entity exports one document per link with its forecast steps
(:func:`admon.forecast.scheduling.forecast_document`). The page shows, for each time, the
forecast of the newest run made before it (so the band runs along the history and past its
end), the newest run's forecast on its own, and each predicted episode once.
"""

from __future__ import annotations

import math
from typing import Any

from admon.errors import ConfigError
from admon.registry import overview as registry_overview
from admon.registry.db import Session
from admon.service import repo, views
from admon.service.access import Viewer
from admon.settings import Settings


def forecast_plot(s: Session, viewer: Viewer, settings: Settings, entity_id: int, start: int | str | None,
                  end: int | str | None, group: dict[str, str] | None = None) -> dict[str, Any]:
    entity, _ = repo.get_entity(s, viewer, entity_id)
    if entity.kind != "forecast":
        raise ConfigError(f"entity {entity_id} is a {entity.kind!r} entity, not a forecast one; "
                          f"its plot is at /entities/{entity_id}")
    start_ms, end_ms = views.resolve_range(s, entity, start, end)
    job = entity.job_config or {}
    column = job.get("value_column", "throughput")
    rule = job.get("rule") or {}
    frame, idc = views.read_input(settings, entity, start_ms, end_ms)
    group_by = list(idc.group_by)
    docs = registry_overview.forecast_documents(s, entity.id, start_ms, end_ms)

    groups: dict[str, dict[str, str]] = {}
    if group_by and len(frame):
        for values in frame[group_by].drop_duplicates().itertuples(index=False):
            key = {k: str(v) for k, v in zip(group_by, values, strict=True)}
            groups[views.group_text(key)] = key
    for _, doc in docs:
        key = {k: str(doc.get(k)) for k in group_by}
        groups.setdefault(views.group_text(key), key)
    ordered = [groups[k] for k in sorted(groups)]
    if group and views.group_text(group) not in groups and ordered:
        raise ConfigError(f"link {views.group_text(group)!r} has no data in this range; "
                          f"choose one of {sorted(groups)[:10]}")
    chosen = group or (ordered[0] if ordered else {})

    if chosen and len(frame):
        mask = None
        for k, v in chosen.items():
            m = frame[k].astype(str) == str(v)
            mask = m if mask is None else (mask & m)
        frame = frame[mask]
    mine = [(w, d) for w, d in docs if all(str(d.get(k)) == v for k, v in chosen.items())]
    steps: dict[int, tuple[float, float, float]] = {}
    episodes: dict[tuple[int, int], dict[str, Any]] = {}
    for window_end, doc in mine:  # oldest run first: a newer forecast of a time replaces an older one
        for step in doc.get("forecast") or []:
            steps[int(step["timestamp"])] = (step["mean"], step["lower"], step["upper"])
        episode = doc.get("predicted_episode")
        if episode:
            span = (int(episode["expected_start_ms"]), int(episode["expected_end_ms"]))
            seen = episodes.setdefault(span, {"start_ms": span[0], "end_ms": span[1], "first_predicted_ms": window_end,
                                              "announced": False,
                                              "peak_throughput": episode.get("predicted_peak_throughput")})
            seen["announced"] = seen["announced"] or doc.get("action") is not None
    times = sorted(steps)
    merged: list[dict[str, Any]] = []
    for episode in sorted(episodes.values(), key=lambda e: e["start_ms"]):
        # runs predict the same episode again as it nears: overlapping predictions are one episode
        if merged and episode["start_ms"] <= merged[-1]["end_ms"]:
            last = merged[-1]
            last["end_ms"] = max(last["end_ms"], episode["end_ms"])
            last["announced"] = last["announced"] or episode["announced"]
            last["peak_throughput"] = max(last["peak_throughput"] or 0.0, episode["peak_throughput"] or 0.0)
        else:
            merged.append(dict(episode))
    latest = mine[-1][1].get("forecast") or [] if mine else []
    return {
        "entity_id": entity.id, "start_ms": start_ms, "end_ms": end_ms, "value_column": column,
        "group_by": group_by, "groups": ordered, "group": chosen,
        "history": {"timestamp": [int(t) for t in frame["timestamp"]] if len(frame) else [],
                    "value": [_num(v) for v in frame[column]] if len(frame) and column in frame else []},
        "forecast": {"timestamp": times, "mean": [steps[t][0] for t in times],
                     "lower": [steps[t][1] for t in times], "upper": [steps[t][2] for t in times]},
        "latest": {"window_end_ms": mine[-1][0] if mine else None,
                   "timestamp": [int(p["timestamp"]) for p in latest], "mean": [p["mean"] for p in latest],
                   "lower": [p["lower"] for p in latest], "upper": [p["upper"] for p in latest]},
        "threshold": rule.get("threshold"), "band": rule.get("band", "mean"),
        "min_duration_minutes": rule.get("min_duration_minutes"),
        "episodes": merged,
        "runs": len({w for w, _ in mine}),
    }


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value
