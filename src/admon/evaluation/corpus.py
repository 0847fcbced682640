"""Labelled corpora in NAB's format, and detector results in NAB's results format.

A corpus is a folder::

    CORPUS/data/<category>/<file>.csv          columns timestamp,value
    CORPUS/labels/combined_windows.json        {"<category>/<file>.csv": [[start, end], ...]}

which is what NAB ships, what ``admon lake import-nab`` writes next to a lake,
and what the synthetic lake generator and the annotation tool write as labels.
Window limits are timestamps (``"2014-04-10 07:15:00.000000"``), inclusive.

Results of detector ``NAME`` live in ``OUT/NAME/<category>/NAME_<file>.csv``
with columns ``timestamp,value,anomaly_score,label`` -- the same rows in the
same order as the data file, scores in [0, 1].

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> _ = (root / "data" / "cat").mkdir(parents=True)
>>> _ = (root / "data" / "cat" / "a.csv").write_text(
...     "timestamp,value\\n2020-01-01 00:00:00,1\\n2020-01-01 00:05:00,5\\n2020-01-01 00:10:00,1\\n")
>>> _ = (root / "labels").mkdir()
>>> _ = (root / "labels" / "combined_windows.json").write_text(
...     '{"cat/a.csv": [["2020-01-01 00:05:00.000000", "2020-01-01 00:05:00.000000"]]}')
>>> corpus = load_corpus(root)
>>> [f.key for f in corpus.files], corpus.files[0].window_bounds().tolist()
(['cat/a.csv'], [[1, 1]])
>>> corpus.files[0].labels().tolist()
[0, 1, 0]
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from admon.config import InputDataConfig, SourceConfig
from admon.data.generate import PRODUCER, TYPE, TYPE_PREFIX
from admon.data.source import DataSource
from admon.errors import DataError, NotFoundError

WINDOWS_FILE = Path("labels") / "combined_windows.json"


@dataclass
class CorpusFile:
    """One labelled series: its key (``<category>/<file>.csv``), data and windows."""

    key: str
    # columns timestamp (datetime64), value (float) and timestamp_text (as in the file), file order
    data: pd.DataFrame
    windows: list[tuple[pd.Timestamp, pd.Timestamp]] = field(default_factory=list)

    @property
    def category(self) -> str:
        return self.key.split("/", 1)[0] if "/" in self.key else ""

    @property
    def file_name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    def __len__(self) -> int:
        return len(self.data)

    def timestamp_order(self) -> TimestampOrder:
        """How far the file's timestamps are from increasing (file order is kept regardless)."""
        return timestamp_order(self.timestamps_ns())

    def timestamps_ns(self) -> np.ndarray:
        return self.data["timestamp"].to_numpy(dtype="datetime64[ns]").astype(np.int64)

    def timestamps_ms(self) -> np.ndarray:
        """Epoch milliseconds (the ``timestamp`` of an admon frame)."""
        return self.timestamps_ns() // 1_000_000

    def frame(self) -> pd.DataFrame:
        """The series as an admon frame: ``timestamp`` (int64 epoch ms) and ``value``, in file order.

        A frame is ordered by timestamp and detectors order rows by it, so a file whose
        timestamps go backwards would be reordered; NAB's detectors read files in file
        order. So each timestamp here is the running maximum of the file's timestamps
        up to its row: rows keep file order (ties keep it too), and a repeated hour
        reads as rows at the latest time seen so far (:func:`timestamp_order` counts them).
        """
        return pd.DataFrame({"timestamp": np.maximum.accumulate(self.timestamps_ms()) if len(self) else
                             self.timestamps_ms(), "value": self.data["value"].to_numpy()})

    def window_bounds(self) -> np.ndarray:
        """Windows as inclusive row-index ranges ``[[first, last], ...]``, sorted.

        A window ``[start, end]`` covers, in file order, the rows from the first to
        the last one whose timestamp lies in ``[start, end]`` -- NAB's window is the
        set of rows with ``start <= timestamp <= end``, which is the same range
        whenever those rows are contiguous. Files are taken as they are: when
        timestamps repeat or go backwards (:func:`timestamp_order`), a window over a
        repeated hour spans both copies. A window enclosing no row is dropped.
        """
        ts = self.timestamps_ns()
        out = []
        for start, end in sorted(self.windows):
            rows = np.flatnonzero((ts >= pd.Timestamp(start).value) & (ts <= pd.Timestamp(end).value))
            if len(rows):
                out.append((int(rows[0]), int(rows[-1])))
        out.sort()
        return np.asarray(out, dtype=np.int64).reshape(-1, 2)

    def labels(self) -> np.ndarray:
        """0/1 per row: 1 inside a window."""
        lab = np.zeros(len(self.data), dtype=np.int8)
        for lo, hi in self.window_bounds():
            lab[lo : hi + 1] = 1
        return lab


@dataclass
class Corpus:
    """A labelled corpus: files in key order."""

    root: Path
    files: list[CorpusFile]

    def __iter__(self):
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    @property
    def n_windows(self) -> int:
        return sum(len(f.windows) for f in self.files)

    def order_warnings(self) -> list[str]:
        """One line per file whose timestamps repeat or go backwards (processed in file order)."""
        out = []
        for f in self.files:
            order = f.timestamp_order()
            if order.backward_steps or order.repeated:
                out.append(f"{f.key}: {order.backward_steps} backward step(s), {order.repeated} repeated "
                           "timestamp(s); processed in file order")
        return out


@dataclass(frozen=True)
class TimestampOrder:
    """Counts of a file's out-of-order timestamps."""

    backward_steps: int  # rows whose timestamp is earlier than the previous row's
    repeated: int  # rows whose timestamp already occurred earlier in the file


def timestamp_order(ts: np.ndarray) -> TimestampOrder:
    """Count backward steps and repeated timestamps of an integer time array, in file order.

    >>> timestamp_order(np.array([0, 5, 10, 5, 10, 15, 15]))
    TimestampOrder(backward_steps=1, repeated=3)
    """
    ts = np.asarray(ts)
    if len(ts) < 2:
        return TimestampOrder(0, 0)
    return TimestampOrder(int((np.diff(ts) < 0).sum()), int(len(ts) - len(np.unique(ts))))


def read_series_csv(path: Path) -> pd.DataFrame:
    """A NAB data file as ``timestamp`` (datetime64) and ``value`` (float64), file order kept.

    Rows are neither sorted nor deduplicated: see :func:`timestamp_order`.
    """
    try:
        frame = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    missing = {"timestamp", "value"} - set(frame.columns)
    if missing:
        raise DataError(f"{path} lacks column(s) {sorted(missing)}; NAB files have timestamp,value")
    out = pd.DataFrame(
        {
            "timestamp": _parse_times(frame["timestamp"]),
            "value": pd.to_numeric(frame["value"], errors="coerce").astype("float64"),
            "timestamp_text": frame["timestamp"].astype(str),
        }
    )
    # Timestamps that repeat or go backwards (NAB's machine_temperature file repeats an
    # hour) are kept in file order, as every NAB detector reads them; Corpus.order_warnings
    # counts them.
    return out


def _parse_times(values: pd.Series) -> pd.Series:
    """NAB timestamp text, or integers as epoch milliseconds (lake labels), as naive UTC datetimes."""
    if pd.api.types.is_numeric_dtype(values):
        return pd.to_datetime(values.astype("int64"), unit="ms")
    try:  # NAB's own format, parsed about ten times faster than by guessing
        return pd.to_datetime(values, format="%Y-%m-%d %H:%M:%S")
    except (ValueError, TypeError):
        return pd.to_datetime(values, format="mixed")


def _to_timestamp(value) -> pd.Timestamp:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return pd.Timestamp(int(value), unit="ms")
    return pd.Timestamp(value)


def load_windows(root: Path) -> dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]]:
    path = Path(root) / WINDOWS_FILE
    if not path.is_file():
        raise NotFoundError(
            f"{path} not found; a NAB-format corpus has labels/combined_windows.json next to data/"
        )
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON: {exc}") from None
    out = {}
    for key, wins in raw.items():
        pairs = []
        for win in wins:
            if len(win) != 2:
                raise DataError(f"{path}: window {win!r} of {key} is not a [start, end] pair")
            start, end = _to_timestamp(win[0]), _to_timestamp(win[1])
            if end < start:
                raise DataError(f"{path}: window {win!r} of {key} ends before it starts")
            pairs.append((start, end))
        out[key.replace("\\", "/")] = pairs
    return out


def load_corpus(root: str | Path, only: list[str] | None = None) -> Corpus:
    """Read a NAB-format corpus: every data file that has an entry in the windows file.

    ``only`` restricts it to the given keys or categories.
    """
    root = Path(root)
    windows = load_windows(root)
    files = []
    for key in sorted(windows):
        if only and key not in only and key.split("/", 1)[0] not in only:
            continue
        path = root / "data" / key
        if not path.is_file():
            raise NotFoundError(f"{path} is listed in {WINDOWS_FILE} but does not exist")
        files.append(CorpusFile(key=key, data=read_series_csv(path), windows=windows[key]))
    if not files:
        raise DataError(f"no data files to evaluate under {root / 'data'} (filter: {only})")
    return Corpus(root=root, files=files)


def results_path(out_dir: Path, detector: str, key: str) -> Path:
    """``OUT/<detector>/<category>/<detector>_<file>.csv`` for corpus key ``<category>/<file>``."""
    category, _, name = key.rpartition("/")
    return Path(out_dir) / detector / category / f"{detector}_{name}"


def read_results(out_dir: str | Path, detector: str, corpus: Corpus) -> dict[str, np.ndarray]:
    """Anomaly scores of ``detector`` per corpus key, read from NAB results files."""
    scores = {}
    for f in corpus:
        path = results_path(Path(out_dir), detector, f.key)
        if not path.is_file():
            raise NotFoundError(f"results file {path} for {f.key} is missing")
        frame = pd.read_csv(path, usecols=["anomaly_score"])
        values = frame["anomaly_score"].to_numpy(dtype=float)
        if len(values) != len(f):
            raise DataError(f"{path} has {len(values)} rows, the data file {f.key} has {len(f)}")
        scores[f.key] = values
    return scores


def write_results(out_dir: str | Path, detector: str, f: CorpusFile, scores: np.ndarray) -> Path:
    """Write one NAB results file; return its path."""
    path = results_path(Path(out_dir), detector, f.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        {
            "timestamp": f.data["timestamp_text"]
            if "timestamp_text" in f.data
            else f.data["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S"),
            "value": f.data["value"],
            "anomaly_score": np.asarray(scores, dtype=float),
            "label": f.labels(),
        }
    )
    frame.to_csv(path, index=False)
    return path


# ---------------------------------------------------------------------------- lakes with labels
def _lake_days(folder: Path) -> list[str]:
    days = sorted(p for p in folder.glob("[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]") if p.is_dir())
    return ["-".join(p.parts[-3:]) for p in days]


def _read_lake(root: Path, producer: str, type_prefix: str, type_: str, groups: list[str], select: list[str]):
    """Every document of one lake path at full resolution (1-second buckets, avg), via DataSource."""
    days = _lake_days(root / producer / type_prefix / type_)
    if not days:
        return None
    start = pd.Timestamp(days[0], tz="UTC")
    end = pd.Timestamp(days[-1], tz="UTC") + pd.Timedelta(days=1)
    sc = SourceConfig(producer, type_prefix, type_, select=select)
    idc = InputDataConfig(source_configs=[sc], agg_interval_seconds=1, agg_method="avg", group_by=groups)
    return DataSource(None, idc, lake_root=str(root)).read_pandas(int(start.value // 1_000_000),
                                                                int(end.value // 1_000_000))


def _write_series(out: Path, key: str, ts_ms: np.ndarray, values: np.ndarray) -> None:
    path = out / "data" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    text = pd.to_datetime(ts_ms, unit="ms").strftime("%Y-%m-%d %H:%M:%S")
    pd.DataFrame({"timestamp": text, "value": values}).to_csv(path, index=False)


def export_lake_corpus(root: str | Path, out: str | Path) -> Path:
    """Write a NAB-format corpus from a labelled lake; return ``out``.

    Two kinds of lake are understood: one made by ``admon lake generate``
    (``<root>/labels.json``: ``{"<host>/<topic>": [[start_ms, end_ms], ...]}``),
    whose series become ``data/<topic>/<host>.csv``; and one filled by ``admon lake
    import-nab`` (``<root>/nab/labels/combined_windows.json``), whose series become
    ``data/<category>/<name>.csv`` again. Series are read through
    :class:`admon.DataSource` at full resolution.
    """
    root, out = Path(root), Path(out)
    windows: dict[str, list] = {}
    if (root / "labels.json").is_file():
        labels = json.loads((root / "labels.json").read_text())
        frame = _read_lake(root, PRODUCER, TYPE_PREFIX, TYPE, ["host", "topic"], ["timestamp", "value", "host", "topic"])
        if frame is None or frame.empty:
            raise DataError(f"{root} has labels.json but no documents under {PRODUCER}/{TYPE_PREFIX}/{TYPE}")
        for (host, topic), part in frame.groupby(["host", "topic"], sort=True):
            key = f"{topic}/{host}.csv"
            _write_series(out, key, part["timestamp"].to_numpy(), part["value"].to_numpy())
            windows[key] = labels.get(f"{host}/{topic}", [])
    elif (root / "nab" / "labels" / "combined_windows.json").is_file():
        labels = json.loads((root / "nab" / "labels" / "combined_windows.json").read_text())
        for category in sorted(p.name for p in (root / "nab" / "raw").iterdir() if p.is_dir()):
            frame = _read_lake(root, "nab", "raw", category, ["host"], ["timestamp", "value", "host"])
            if frame is None:
                continue
            for host, part in frame.groupby("host", sort=True):
                key = f"{category}/{host}.csv"
                if key in labels:
                    _write_series(out, key, part["timestamp"].to_numpy(), part["value"].to_numpy())
                    windows[key] = labels[key]
    else:
        raise NotFoundError(
            f"{root} is neither a NAB-format corpus (data/ + {WINDOWS_FILE}) nor a labelled lake "
            "(labels.json from `admon lake generate`, or nab/labels/ from `admon lake import-nab`)"
        )
    if not windows:
        raise DataError(f"no labelled series found in the lake {root}")
    (out / "labels").mkdir(parents=True, exist_ok=True)
    (out / WINDOWS_FILE).write_text(json.dumps(windows, indent=1, sort_keys=True))
    return out


def open_corpus(root: str | Path, only: list[str] | None = None, work_dir: str | Path | None = None) -> Corpus:
    """A NAB-format corpus, or a labelled lake exported to one under ``work_dir``."""
    root = Path(root)
    if (root / WINDOWS_FILE).is_file():
        return load_corpus(root, only=only)
    if work_dir is None:
        work_dir = tempfile.mkdtemp(prefix="admon-corpus-")
    return load_corpus(export_lake_corpus(root, work_dir), only=only)
