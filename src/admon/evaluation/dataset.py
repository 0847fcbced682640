"""Versioned labelled datasets: what `admon labels export` wrote, and the models deployed on it.

An export is a NAB-format corpus (``data/<category>/<group>__<series>.csv``,
``labels/combined_windows.json``) plus ``dataset.json``: the entity, its group columns, which
group and series each file holds, the label count, the time range, the export time, the admon
version and the sha256 of every data and label file (:func:`dataset_digest`). The digest is the
dataset's version: two exports with the same content have the same digest, and
:func:`read_manifest` refuses a dataset whose files changed since it was written.

:func:`deployed_scores` scores such a dataset with stored models (an entity's champion and its
challengers, :mod:`admon.models.scoring`): a multivariate model needs every series of a group
at once, so each group's files are joined back into the frame the model was trained on, scored
once, and each file gets its group's alarms at its own timestamps: 1 where the model, with its
own threshold and post-rules, flags the row, else 0.

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> (root / "data").mkdir(); (root / "labels").mkdir()
>>> _ = (root / "data" / "a.csv").write_text("timestamp,value\\n")
>>> _ = (root / "labels" / "combined_windows.json").write_text("{}")
>>> len(dataset_digest(root))
64
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from admon.errors import DataError, IntegrityError
from admon.evaluation.corpus import Corpus

MANIFEST = "dataset.json"
FORMAT = "admon-labels/1"


def dataset_digest(root: str | Path) -> str:
    """sha256 over the relative path and bytes of every file under ``data/`` and ``labels/``, sorted."""
    root = Path(root)
    digest = hashlib.sha256()
    for folder in ("data", "labels"):
        for path in sorted(p for p in (root / folder).rglob("*") if p.is_file()):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def write_manifest(root: str | Path, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``dataset.json`` with ``manifest`` plus the format and the dataset's digest; return it."""
    root = Path(root)
    doc = {"format": FORMAT, **manifest, "sha256": dataset_digest(root)}
    (root / MANIFEST).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return doc


def read_manifest(root: str | Path) -> dict[str, Any]:
    """The manifest of an exported dataset, after checking that its files are those it names."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise DataError(f"{root} has no {MANIFEST}: it is not a dataset written by `admon labels export`; "
                        "export the entity's labels again")
    doc = json.loads(path.read_text())
    if doc.get("format") != FORMAT:
        raise DataError(f"{path}: format {doc.get('format')!r} is not {FORMAT!r}; export the labels again")
    found = dataset_digest(root)
    if found != doc.get("sha256"):
        raise IntegrityError(f"{root}: its files changed since the export (sha256 {found[:12]}…, the manifest "
                             f"says {str(doc.get('sha256'))[:12]}…); export the labels again")
    return doc


def deployed_scores(corpus: Corpus, manifest: Mapping[str, Any], scorer: Any) -> dict[str, np.ndarray]:
    """``file key -> scores in [0, 1]`` of ``scorer`` (a :class:`~admon.models.scoring.Scorer`) on
    the exported dataset ``corpus`` described by ``manifest``."""
    files = manifest["files"]
    group_by = list(manifest["group_by"])
    by_group: dict[str, list[Any]] = {}
    for f in corpus:
        if f.key not in files:
            raise DataError(f"{f.key} is not named in the dataset's manifest; export the labels again")
        by_group.setdefault(json.dumps(files[f.key]["group"], sort_keys=True), []).append(f)
    out: dict[str, np.ndarray] = {}
    for members in by_group.values():
        group = files[members[0].key]["group"]
        frame: pd.DataFrame | None = None
        for f in members:
            part = pd.DataFrame({"timestamp": _epoch_ms(f.data["timestamp"]),
                                 files[f.key]["series"]: f.data["value"].to_numpy(dtype=float)})
            part = part.drop_duplicates("timestamp", keep="last")
            frame = part if frame is None else frame.merge(part, on="timestamp", how="outer")
        assert frame is not None
        frame = frame.sort_values("timestamp", kind="stable").reset_index(drop=True)
        for column in group_by:
            frame.insert(0, column, str(group[column]))
        rows = scorer.score(frame).rows
        # what is deployed includes its threshold: its alarms are what the people on call get, so a
        # flagged row scores 1 and any other 0 (a threshold sweep over calibrated scores would let a
        # model whose threshold is too low look as good as one that raises only the right alarms)
        scored = rows["is_anomaly"].to_numpy(dtype=float)
        by_time = pd.Series(np.clip(np.nan_to_num(scored), 0.0, 1.0), index=frame["timestamp"].to_numpy())
        for f in members:
            out[f.key] = by_time.reindex(_epoch_ms(f.data["timestamp"])).to_numpy(dtype=float)
    return out


def _epoch_ms(times: pd.Series) -> np.ndarray:
    return (pd.to_datetime(times).to_numpy(dtype="datetime64[ms]").astype(np.int64))
