"""Import a NAB-format corpus into the lake, so real labelled series run through the data path.

``data/<category>/<name>.csv`` (``timestamp,value``) becomes flat documents
``{"timestamp": ms, "host": "<name>", "value": v}`` under
``<root>/nab/raw/<category>/YYYY/MM/DD/<name>.json``; the corpus labels are copied
to ``<root>/nab/labels/``.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from admon.errors import ConfigError, DataError

PRODUCER, TYPE_PREFIX = "nab", "raw"


@dataclass
class NabImport:
    root: str
    series: int = 0
    documents: int = 0
    categories: list[str] = field(default_factory=list)
    skipped_rows: int = 0


def import_nab(corpus_dir: str | Path, root: str | Path) -> NabImport:
    corpus, root = Path(corpus_dir), Path(root)
    data_dir = corpus / "data"
    if not data_dir.is_dir():
        raise ConfigError(f"{corpus} is not a NAB corpus: it has no data/ folder (expected data/<category>/<file>.csv)")
    result = NabImport(str(root))
    for csv in sorted(data_dir.glob("*/*.csv")):
        category, name = csv.parent.name, csv.stem
        try:
            frame = pd.read_csv(csv)
        except (OSError, ValueError) as exc:
            raise DataError(f"{csv}: cannot be read as CSV ({exc}); fix or remove it") from None
        if not {"timestamp", "value"} <= set(frame.columns):
            raise DataError(f"{csv}: needs the columns timestamp,value; it has {list(frame.columns)}")
        ts = pd.to_datetime(frame["timestamp"], utc=True, errors="coerce")
        values = pd.to_numeric(frame["value"], errors="coerce")
        ok = ts.notna() & values.notna()
        result.skipped_rows += int((~ok).sum())
        ms = (ts[ok] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
        by_day: dict[str, list[str]] = defaultdict(list)
        for t, v in zip(ms.tolist(), values[ok].tolist()):
            day = pd.Timestamp(t, unit="ms", tz="UTC").strftime("%Y/%m/%d")
            by_day[day].append(json.dumps({"timestamp": t, "host": name, "value": v}))
        for day, lines in by_day.items():
            folder = root / PRODUCER / TYPE_PREFIX / category / day
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{name}.json").write_text("\n".join(lines) + "\n")
        result.series += 1
        result.documents += int(ok.sum())
        if category not in result.categories:
            result.categories.append(category)
    if not result.series:
        raise ConfigError(f"{corpus}: no CSV files under data/<category>/")
    labels = root / PRODUCER / "labels"
    labels.mkdir(parents=True, exist_ok=True)
    for name in ("combined_windows.json", "combined_labels.json"):
        if (corpus / "labels" / name).exists():
            shutil.copyfile(corpus / "labels" / name, labels / name)
    return result
