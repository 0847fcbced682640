"""Detector state carried between runs: a run scores only its new points.

A detector whose score depends on the points before it (the ``default`` detectors' history
buffers and ranks) used to re-score its whole lookback -- up to ``ADMON_MAX_CONTEXT_BUCKETS``
points per group -- to score the three new buckets of a 15-minute slide. A detector that
``supports_state`` scores each group as streams (:class:`~admon.detectors.streaming.SeriesStream`)
whose state -- plain numpy arrays -- a run saves and the next run continues.

**One definition, two paths, the same bits.** A group's points are scored as one stream
that starts at the window's **anchor**: the latest multiple of the anchor period (a quarter
of the lookback, but at least :data:`MIN_ANCHOR_PERIOD_MS`; staggered per entity) at least
one lookback before the window. So a run reads between one lookback and one lookback plus
a period, and consecutive runs share the anchor (the stream moves on) until it advances,
when every group starts a new stream. The post-rule chain runs over the rows of its own
lookback before the window (``chain_ms``).

- The **context path** reads ``[anchor, window end)``, starts each group's stream at the
  anchor (after the points the model kept of it at training) and scores every row.
- The **state path** loads the group's stored state (the streams after the previous run and
  the per-feature scores of the rows the chain still needs) and scores only the rows after it.

Streams compute a new point with the same operations in the same order whatever the piece
they get (``tests/detectors/test_series_stream.py``), so both paths give identical scores
(``tests/runs/test_runs_state.py``: a day of windows with a gap and a model change). A run
takes the context path for a group when its state is missing (a new group, a lost store),
belongs to another model or anchor, ends before the chain's rows (missed windows), or does
not hold exactly the rows the run read before its end (late data); when late data re-opens a
window the entity's states are dropped (:func:`admon.runs.late.recheck_windows`).

**Storage** (:mod:`admon.registry.states`): one row per (entity, group), replaced by each run,
tied to the model's content hash, anchor and window end; numeric arrays behind a JSON index
(:func:`pack`: nothing is ever unpickled); a state over ``ADMON_STATE_MAX_BYTES`` is not kept
(the next run reads its context); rows of another model, and of groups without a run for an
anchor period, are pruned. ``ADMON_DETECTOR_STATE=false`` turns the state path off.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from admon.detectors.base import SCORE_NAME, TIMESTAMP, Detector, group_key_str, group_positions
from admon.models.scoring import Scorer, finish_scores
from admon.models.store import TrainedModel
from admon.registry.states import StoredState

#: The anchor moves by this fraction of the lookback: a run reads at most 1 + 1/ANCHOR_PARTS lookbacks.
ANCHOR_PARTS = 4
#: ... but by no less than this: a detector of a short lookback (an LSTM of a 12-point window)
#: would otherwise move its anchor every slide and never continue a stream. Its context path
#: reads at most this much more, a few dozen rows.
MIN_ANCHOR_PERIOD_MS = 2 * 3_600_000


def stream_detector(model: Scorer) -> Detector | None:
    """The detector of ``model`` if its runs can carry state: a stored model without transforms
    whose detector ``supports_state`` and whose post-rule chain is stored."""
    if not isinstance(model, TrainedModel) or model.manifest.transforms or model.post_rules is None:
        return None
    return model.detector if model.detector.supports_state else None


def chain_ms(model: Scorer, interval_ms: int) -> int:
    """How long before a window the post-rule chain of a stream-scored model starts (its lookback in buckets)."""
    chain = getattr(model, "post_rules", None)
    return (chain.lookback_rows(interval_ms) if chain is not None else 0) * int(interval_ms)


@dataclass(frozen=True)
class StreamPlan:
    """Where one window's streams start and its chain's rows begin (epoch ms)."""

    anchor_ms: int
    chain_start_ms: int

    @classmethod
    def of(cls, model: Scorer, entity_id: int, window_start_ms: int, context_ms: int,
           interval_ms: int) -> StreamPlan:
        """The plan of a window: the anchor (see the module docstring) and the chain's first row."""
        interval = max(int(interval_ms), 1)
        period = max(context_ms // ANCHOR_PARTS // interval, MIN_ANCHOR_PERIOD_MS // interval, 1) * interval
        offset = (entity_id * 7919) % (period // interval) * interval  # staggered: not every entity at once
        latest = window_start_ms - context_ms
        anchor = (latest - offset) // period * period + offset
        return cls(anchor_ms=int(anchor), chain_start_ms=int(window_start_ms - chain_ms(model, interval)))


@dataclass
class StreamReport:
    """What a window's streams did: groups continued from a state, started at the anchor (and why)."""

    continued: int = 0
    started: int = 0
    reasons: Counter = field(default_factory=Counter)
    kept: int = 0
    kept_bytes: int = 0
    not_kept: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"continued": self.continued, "started": self.started, "why_started": dict(self.reasons),
                "states_kept": self.kept, "state_bytes": self.kept_bytes, "states_not_kept": dict(self.not_kept)}


#: The first bytes of a stored state, and the array types one may hold (numbers only: nothing to unpickle).
MAGIC = b"ADMONST1"
DTYPES = frozenset({"<f8", "<f4", "<i8"})


def pack(arrays: dict[str, np.ndarray]) -> bytes:
    """Arrays as bytes: a JSON index (name, type, shape) and their contents.

    >>> state = unpack(pack({"a": np.arange(3.0), "b": np.zeros((2, 2), dtype=np.float32)}))
    >>> state["a"].tolist(), state["b"].shape
    ([0.0, 1.0, 2.0], (2, 2))
    """
    index, blobs = [], []
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        dtype = array.dtype.newbyteorder("<").str if array.dtype.byteorder == ">" else array.dtype.str
        if dtype not in DTYPES:
            raise TypeError(f"state array {name!r} has type {array.dtype}; states hold {sorted(DTYPES)} only")
        index.append([name, dtype, list(array.shape)])
        blobs.append(array.astype(dtype, copy=False).tobytes())
    header = json.dumps(index, separators=(",", ":")).encode()
    # not compressed: the arrays are mostly noisy float64 (zlib saved ~25 % for ~8 ms per group and run)
    return MAGIC + len(header).to_bytes(4, "little") + header + b"".join(blobs)


def unpack(payload: bytes) -> dict[str, np.ndarray]:
    """The arrays :func:`pack` wrote; a payload that is not one raises ``ValueError``."""
    if not payload.startswith(MAGIC):
        raise ValueError("not a stored detector state (wrong magic bytes)")
    size = int.from_bytes(payload[len(MAGIC): len(MAGIC) + 4], "little")
    start = len(MAGIC) + 4
    try:
        index = json.loads(payload[start: start + size])
    except ValueError as exc:
        raise ValueError(f"a damaged detector state: {exc}") from None
    data = memoryview(payload)[start + size:]
    out, offset = {}, 0
    for name, dtype, shape in index:
        if dtype not in DTYPES:
            raise ValueError(f"a stored state array of type {dtype!r}; states hold {sorted(DTYPES)} only")
        count = int(np.prod(shape, dtype=np.int64))
        width = np.dtype(dtype).itemsize * count
        if offset + width > len(data):
            raise ValueError("a damaged detector state: its arrays are shorter than its index says")
        out[name] = np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape).copy()
        offset += width
    return out


def score_streams(model: TrainedModel, frame: pd.DataFrame, window_start_ms: int, window_end_ms: int,
                  plan: StreamPlan, states: dict[str, StoredState],
                  read_before: Callable[[], pd.DataFrame], *, max_state_bytes: int,
                  ) -> tuple[pd.DataFrame, pd.DataFrame, list[StoredState], StreamReport]:
    """Score the window's rows as streams (see the module docstring).

    ``frame`` holds the rows of ``[plan.chain_start_ms, window_end_ms)``; ``read_before()`` gives
    those of ``[plan.anchor_ms, plan.chain_start_ms)``, read only if a group starts its stream.
    Returns the window's rows and their scores (as :func:`admon.runs.inference.score_with_context`),
    the states to store for the next run, and what was done.
    """
    detector = model.detector
    frame = frame.reset_index(drop=True)
    detector.feature_scores(frame.iloc[:0])  # the frame's columns are the model's, or a clear error
    features = list(detector.feature_columns_)
    values = frame[features].to_numpy(dtype=float, na_value=np.nan)
    ts = frame[TIMESTAMP].to_numpy(dtype=np.int64)
    per_feature = np.zeros((len(frame), len(features)))
    report = StreamReport()
    streams_of: dict[tuple, list] = {}
    groups = list(group_positions(frame, list(detector.group_columns_)))
    starting: list[tuple[tuple, np.ndarray]] = []
    for key, pos in groups:
        stored = states.get(group_key_str(key))
        reason = _why_not_continued(stored, plan, window_end_ms)
        if reason is None:
            assert stored is not None
            arrays = unpack(stored.payload)
            old = pos[ts[pos] < stored.end_ms]
            held = _held_scores(arrays, ts[old], plan.chain_start_ms, len(features))
            if held is None:
                reason = "rows changed"
            else:
                streams = detector.stream_states(arrays, len(features))  # type: ignore[attr-defined]
                new = pos[ts[pos] >= stored.end_ms]
                per_feature[old] = held
                per_feature[new] = detector.advance_streams(streams, values[new], key)  # type: ignore[attr-defined]
                streams_of[key] = streams
                report.continued += 1
        if reason is not None:
            report.reasons[reason] += 1
            starting.append((key, pos))
    if starting:
        before = read_before().reset_index(drop=True)
        before_values = before[features].to_numpy(dtype=float, na_value=np.nan) if len(before) else None
        before_ts = before[TIMESTAMP].to_numpy(dtype=np.int64) if len(before) else None
        earlier = dict(group_positions(before, list(detector.group_columns_))) if len(before) else {}
        for key, pos in starting:
            bpos = earlier.get(key, np.zeros(0, dtype=np.int64))
            first = int(before_ts[bpos[0]]) if len(bpos) and before_ts is not None else int(ts[pos[0]])
            streams = detector.start_streams(key, first)  # type: ignore[attr-defined]
            if len(bpos) and before_values is not None:
                detector.advance_streams(streams, before_values[bpos], key)  # type: ignore[attr-defined]
            per_feature[pos] = detector.advance_streams(streams, values[pos], key)  # type: ignore[attr-defined]
            streams_of[key] = streams
            report.started += 1
    kept = []
    for key, pos in groups:
        streams = streams_of[key]
        if not all(stream.continuable for stream in streams):
            report.not_kept["no value yet"] += 1
            continue
        arrays = {f"f{j}.{name}": array for j, stream in enumerate(streams) for name, array in stream.arrays().items()}
        arrays |= {"held.ts": ts[pos], "held.scores": per_feature[pos]}
        payload = pack(arrays)
        if len(payload) > max_state_bytes:
            report.not_kept["over ADMON_STATE_MAX_BYTES"] += 1
            continue
        kept.append(StoredState(group_key_str(key), plan.anchor_ms, window_end_ms, payload))
        report.kept += 1
        report.kept_bytes += len(payload)
    combined = detector.combine_features(per_feature) if len(frame) else np.zeros(0)  # type: ignore[attr-defined]
    raw = pd.Series(np.nan_to_num(combined, nan=0.0, posinf=1e12,
                                  neginf=-1e12), index=frame.index, dtype="float64", name=SCORE_NAME)
    parts = pd.DataFrame(per_feature, index=frame.index, columns=features)
    scores = finish_scores(detector, model.post_rules, frame, frame, raw, parts=parts)
    keep = ts >= window_start_ms
    return (frame[keep].reset_index(drop=True), scores.rows[keep].reset_index(drop=True), kept, report)


def _why_not_continued(stored: StoredState | None, plan: StreamPlan, window_end_ms: int) -> str | None:
    """Why a group's stored state cannot continue into this window (None: it can)."""
    if stored is None:
        return "no state"
    if stored.end_ms < plan.chain_start_ms:
        return "missed windows"
    if stored.anchor_ms != plan.anchor_ms:
        return "new anchor"
    if stored.end_ms > window_end_ms:
        return "state ahead of the window"
    return None


def _held_scores(arrays: dict[str, np.ndarray], old_ts: np.ndarray, chain_start_ms: int,
                 width: int) -> np.ndarray | None:
    """The stored per-feature scores of the rows at ``old_ts`` (the run's rows before the state's
    end), or None unless the state holds exactly those rows from the chain's start on."""
    held_ts = arrays["held.ts"]
    held = arrays["held.scores"].reshape(len(held_ts), width)
    needed = held_ts >= chain_start_ms
    if not np.array_equal(held_ts[needed], old_ts):
        return None
    return held[needed]
