"""What the entity page draws: the joined input series (with the expected band where the model
gives one), scores, threshold, detections, labels.

One function, :func:`entity_plot`, gathers it for one group over one time range,
so the JSON API (``/api/entities/{id}/plot``) and the page show the same thing.

>>> parse_group("host=h1,site=cern")
{'host': 'h1', 'site': 'cern'}
"""

from __future__ import annotations

import math
from typing import Any

from admon.config import InputDataConfig
from admon.errors import ConfigError
from admon.registry.db import Session
from admon.registry.models import EntityRow
from admon.service import repo
from admon.service.access import Viewer
from admon.service.expected import expected_band
from admon.service.schemas import AnnotationPublic
from admon.settings import Settings
from admon.timeutil import MS_PER_DAY, align_down, check_window, now_ms, to_epoch_ms

#: The widest range one request may read (the lake read grows with it).
MAX_RANGE_MS = 93 * MS_PER_DAY


def parse_group(text: str | None) -> dict[str, str]:
    """``"k=v,k2=v2"`` -> ``{"k": "v", "k2": "v2"}`` (the group selector of the API and UI)."""
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"group {text!r} is not of the form key=value[,key=value]; e.g. host=h1")
        out[key.strip()] = value.strip()
    return out


def group_text(key: dict[str, Any]) -> str:
    return ",".join(f"{k}={key[k]}" for k in sorted(key))


def resolve_range(
    s: Session, entity: EntityRow | None, start: int | str | None, end: int | str | None
) -> tuple[int, int]:
    """The ``[start, end)`` to show: as given, or the last day of results (or of the clock).

    ``entity`` is only needed when ``start`` and ``end`` are not both given. The routes pass
    checked epoch ms (their ``TimeQuery`` parameters).
    """
    if start is None and end is None:
        latest = repo.latest_result_ms(s, entity.id)
        step = _step_ms(entity)
        end_ms = (latest + step) if latest is not None else align_down(now_ms(), step) + step
        return end_ms - MS_PER_DAY, end_ms
    if start is None or end is None:
        raise ConfigError("give both start and end (epoch ms or ISO time), or neither for the last day")
    start_ms, end_ms = check_window(to_epoch_ms(start), to_epoch_ms(end))
    if end_ms - start_ms > MAX_RANGE_MS:
        raise ConfigError(
            f"time range of {(end_ms - start_ms) / MS_PER_DAY:.1f} days is too long; "
            f"ask for at most {MAX_RANGE_MS // MS_PER_DAY} days at once"
        )
    return start_ms, end_ms


def _step_ms(entity: EntityRow) -> int:
    return int(entity.input_data_config.get("agg_interval_seconds", 60)) * 1000


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def read_input(settings: Settings, entity: EntityRow, start_ms: int, end_ms: int):
    """The entity's joined input frame over ``[start_ms, end_ms)`` (embedded engine)."""
    from admon.data.source import DataSource

    idc = InputDataConfig._validated(entity.input_data_config)
    return DataSource(None, idc, lake_root=settings.lake_root).read_pandas(start_ms, end_ms), idc


def entity_plot(
    s: Session,
    viewer: Viewer,
    settings: Settings,
    entity_id: int,
    start_ms: int,
    end_ms: int,
    group: dict[str, str] | None = None,
) -> dict[str, Any]:
    entity, _ = repo.get_entity(s, viewer, entity_id)
    frame, idc = read_input(settings, entity, start_ms, end_ms)
    group_by = list(idc.group_by)
    value_columns = idc.value_columns()
    results = repo.list_results(s, viewer, entity_id, start_ms, end_ms)

    groups: dict[str, dict[str, Any]] = {}
    if group_by and len(frame):
        for values in frame[group_by].drop_duplicates().itertuples(index=False):
            key = {k: str(v) for k, v in zip(group_by, values, strict=True)}
            groups[group_text(key)] = key
    for r in results:
        groups.setdefault(group_text(r.group_key), {k: str(v) for k, v in r.group_key.items()})
    ordered = [groups[k] for k in sorted(groups)]
    if group:
        if group_text(group) not in groups and ordered:
            raise ConfigError(
                f"group {group_text(group)!r} has no data in this range; "
                f"choose one of {sorted(groups)[:10]}"
            )
        chosen = group
    else:
        chosen = ordered[0] if ordered else {}

    if chosen and len(frame):
        mask = None
        for k, v in chosen.items():
            m = frame[k].astype(str) == str(v)
            mask = m if mask is None else (mask & m)
        frame = frame[mask]
    series = {"timestamp": [int(t) for t in frame["timestamp"]] if len(frame) else []}
    for col in value_columns:
        series[col] = [_num(v) for v in frame[col]] if len(frame) else []
    expected, no_band = expected_band(settings, entity, frame, value_columns)

    mine = [r for r in results if group_text({k: str(v) for k, v in r.group_key.items()}) == group_text(chosen)]
    scores = {
        "timestamp": [r.timestamp_ms for r in mine],
        "score": [_num(r.anomaly_score) for r in mine],
        "threshold": [_num(r.threshold) for r in mine],
    }
    anomalies = [
        {"id": r.id, "timestamp_ms": r.timestamp_ms, "score": _num(r.anomaly_score),
         "threshold": _num(r.threshold), "window_end_ms": r.window_end_ms}
        for r in mine
        if r.is_anomaly
    ]
    notes = [
        AnnotationPublic.model_validate(a).model_dump()
        for a in repo.list_annotations(s, viewer, entity_id, start_ms, end_ms)
        if not a.group_key or group_text({k: str(v) for k, v in a.group_key.items()}) == group_text(chosen)
    ]
    return {
        "entity_id": entity.id,
        "start_ms": start_ms,
        "end_ms": end_ms,
        "step_ms": _step_ms(entity),
        "group_by": group_by,
        "groups": ordered,
        "group": chosen,
        "value_columns": value_columns,
        "series": series,
        "scores": scores,
        "anomalies": anomalies,
        "annotations": notes,
        # per value column, what the model expected and its band, aligned to series.timestamp
        "expected": expected,
        "expected_note": no_band,
    }
