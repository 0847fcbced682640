"""Export an entity's annotations as a NAB-format benchmark dataset.

Layout (what :func:`admon.evaluation.corpus.load_corpus` and ``admon benchmark`` read)::

    OUT/data/<category>/<group>__<series>.csv   timestamp,value
    OUT/labels/combined_windows.json            {"<category>/<group>__<series>.csv": [[start, end], ...]}
    OUT/labels/annotations.json                 every annotation as stored (author, time, kind, ...)

``<category>`` names the entity; there is one CSV per group and value column (``series``),
whose ``value`` is that column, so that a benchmark scores every series of a group (give
``series`` to export one column only). A window is every range labelled ``anomaly`` and
every detection or incident judged ``confirmed`` or ``expected``; ``normal`` ranges and
``false_alarm`` verdicts add none. A verdict on an incident spans the incident as it is at
export time, from its start to its end (an open one: to its last anomalous window), on every
series of its group; a range label drawn on one series marks that series' file only.
Windows of one file that overlap are merged; limits are inclusive, as in NAB.

>>> slug("XRootD Anomaly Detection / 1h")
'xrootd-anomaly-detection-1h'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from admon import __version__
from admon.errors import ConfigError, DataError
from admon.evaluation.dataset import write_manifest
from admon.registry import annotations as registry_annotations
from admon.registry.db import Session
from admon.service import repo
from admon.service.access import Viewer
from admon.service.schemas import ANOMALOUS_LABELS, AnnotationPublic
from admon.service.views import group_text, read_input
from admon.settings import Settings
from admon.timeutil import MS_PER_DAY, align_down, check_window, now_ms, to_epoch_ms

NAB_TIME = "%Y-%m-%d %H:%M:%S"
NAB_WINDOW_TIME = "%Y-%m-%d %H:%M:%S.%f"


def slug(text: str) -> str:
    """A file-name-safe lower-case form of ``text``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


@dataclass
class ExportSummary:
    out: Path
    category: str
    files: dict[str, int]  # corpus key -> rows
    windows: dict[str, list[list[str]]]
    annotations: int
    start_ms: int
    end_ms: int
    #: The dataset's version: sha256 of its data and label files (``dataset.json``).
    sha256: str = ""


def _ms_text(ms: int, fmt: str) -> str:
    return pd.Timestamp(ms, unit="ms").strftime(fmt)


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def export_labels(
    s: Session,
    viewer: Viewer,
    settings: Settings,
    entity_id: int,
    out: str | Path,
    *,
    start: Any = None,
    end: Any = None,
    series: str | None = None,
) -> ExportSummary:
    """Write the dataset of ``entity_id`` to ``out``; what the viewer may not see is not found."""
    entity, _ = repo.get_entity(s, viewer, entity_id)
    notes = list(repo.list_annotations(s, viewer, entity_id))
    incidents = registry_annotations.incident_spans(s, entity.id)
    # a verdict on an incident covers the incident as it is now (an open one has grown since)
    spans_now = [incidents.get(a.detection_id or "", (a.start_ms, a.end_ms)) for a in notes]
    if start is None or end is None:
        spans = list(spans_now)
        latest = repo.latest_result_ms(s, entity.id)
        if latest is not None:
            first = repo.list_results(s, viewer, entity.id, 0, latest + 1, limit=1)
            step = int(entity.input_data_config.get("agg_interval_seconds", 60)) * 1000
            spans.append((first[0].timestamp_ms, latest + step))
        if not spans:
            raise DataError(
                f"entity {entity.id} has no results and no annotations; give --start and --end "
                "to export its data, or annotate it first"
            )
        start_ms = align_down(min(a for a, _ in spans), MS_PER_DAY)
        end_ms = align_down(max(b for _, b in spans) - 1, MS_PER_DAY) + MS_PER_DAY
    else:
        start_ms, end_ms = check_window(to_epoch_ms(start), to_epoch_ms(end))

    frame, idc = read_input(settings, entity, start_ms, end_ms)
    value_columns = idc.value_columns()
    if series is not None and series not in value_columns:
        raise ConfigError(f"series {series!r} is not a value column of entity {entity.id}; use one of {value_columns}")
    exported = [series] if series is not None else value_columns
    group_by = list(idc.group_by)
    category = slug(f"entity-{entity.id}-{entity.title}")
    out = Path(out)
    (out / "data" / category).mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)

    files: dict[str, int] = {}
    keys: dict[str, tuple[dict[str, str], str]] = {}  # corpus key -> (group, series)
    grouped = frame.groupby(group_by, sort=True, dropna=False) if group_by else [((), frame)]
    for values, part in grouped:
        values = values if isinstance(values, tuple) else (values,)
        key = {k: str(v) for k, v in zip(group_by, values, strict=True)}
        name = slug("_".join(f"{k}-{v}" for k, v in key.items())) if key else "all"
        for column in exported:
            corpus_key = f"{category}/{name}__{slug(column)}.csv"
            rows = part[part[column].notna()]
            if rows.empty:
                continue
            pd.DataFrame({"timestamp": [_ms_text(int(t), NAB_TIME) for t in rows["timestamp"]],
                          "value": rows[column].to_numpy()}).to_csv(out / "data" / corpus_key, index=False)
            files[corpus_key] = len(rows)
            keys[corpus_key] = (key, column)
    if not files:
        raise DataError(
            f"entity {entity.id} has no input data between {_ms_text(start_ms, NAB_TIME)} and "
            f"{_ms_text(end_ms, NAB_TIME)} in the lake {settings.lake_root}; check ADMON_LAKE_ROOT"
        )

    windows: dict[str, list[list[str]]] = {}
    for corpus_key, (key, column) in keys.items():
        ranges = [
            (a_start, a_end - 1)  # half-open [start, end) -> NAB's inclusive limits
            for a, (a_start, a_end) in zip(notes, spans_now, strict=True)
            if a.label in ANOMALOUS_LABELS
            and (not a.group_key or group_text({k: str(v) for k, v in a.group_key.items()}) == group_text(key))
            and (a.series is None or a.series == column)
        ]
        windows[corpus_key] = [
            [_ms_text(a, NAB_WINDOW_TIME), _ms_text(b, NAB_WINDOW_TIME)] for a, b in _merge(ranges)
        ]
    (out / "labels" / "combined_windows.json").write_text(json.dumps(windows, indent=4, sort_keys=True) + "\n")
    (out / "labels" / "annotations.json").write_text(
        json.dumps([AnnotationPublic.model_validate(a).model_dump() for a in notes], indent=2) + "\n"
    )
    # the dataset's version: what it holds, and the sha256 of its files (admon.evaluation.dataset)
    manifest = write_manifest(out, {
        "entity_id": entity.id, "entity": entity.title, "group_by": group_by, "series": exported,
        "files": {k: {"group": key, "series": column, "rows": files[k]} for k, (key, column) in keys.items()},
        "labels": len(notes), "windows": sum(len(w) for w in windows.values()),
        "start_ms": start_ms, "end_ms": end_ms, "exported_ms": now_ms(), "admon_version": __version__})
    return ExportSummary(out, category, files, windows, len(notes), start_ms, end_ms, manifest["sha256"])
