"""The pretraining corpus: monitoring-like series composed from kernels, with labelled anomalies.

As Chronos's KernelSynth does, each series is a random composition (sum or product)
of a few kernels -- periodic, trend, smooth, noise, constant. KernelSynth draws from a
Gaussian process with the composed kernel, which costs O(n^3) per series; here each
kernel is realised directly by a generator with the same character (a random Fourier
series of the period, a piecewise-linear trend, Gaussian-smoothed random walk, white or
heavy-tailed noise, a level), so a corpus of thousands of series builds in seconds.

Monitoring realism is added on top: daily (288) and weekly (2016) seasonality at a
5-minute step, counts with zeros, quantised values, floors at zero, regime switches,
frequent unlabelled bursts (ordinary spikiness) and gaps (NaN runs). Anomalies of the detector issue's kinds (spike, dip, level shift,
variance burst, drift, flatline, dropout to zero, missing daily peak) are injected
and labelled per point.

Everything is a pure function of ``(seed, index)``: series ``i`` of a corpus is the
same whatever the corpus size, so a worker can build its own shard. Never NAB.

>>> c = generate_corpus(seed=7, n_series=4, length=600)
>>> c.values.shape, c.labels.shape, c.values.dtype
((4, 600), (4, 600), dtype('float32'))
>>> bool((generate_corpus(seed=7, n_series=2, length=600).values[1] == c.values[1])[~np.isnan(c.values[1])].all())
True
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from admon.errors import ConfigError, DataError

DAY = 288  # 5-minute steps
WEEK = 7 * DAY
PERIODS = (DAY, DAY, WEEK, 12, 24, 48, 96, 144, DAY // 2)
#: every ``HELD_BACK_EVERY``-th series (index % n == n - 1) is the held-back evaluation split
HELD_BACK_EVERY = 10
ANOMALY_KINDS = ("spike", "dip", "level_shift", "variance_burst", "drift", "flatline", "dropout", "missing_peak")


@dataclass(frozen=True)
class SynthCorpus:
    """``values`` (series x points, float32, NaN = gap), ``labels`` (bool, anomalous points), ``kinds``."""

    seed: int
    values: np.ndarray
    labels: np.ndarray
    kinds: list[list[str]]

    def split(self, held_back: bool) -> np.ndarray:
        """Indices of the training (False) or held-back (True) series."""
        idx = np.arange(len(self.values))
        mask = idx % HELD_BACK_EVERY == HELD_BACK_EVERY - 1
        return idx[mask] if held_back else idx[~mask]

    def fingerprint(self) -> str:
        """sha256 of the values and labels: two corpora with the same seed and shape agree."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.values).tobytes())
        h.update(np.ascontiguousarray(self.labels).tobytes())
        return h.hexdigest()


# ---------------------------------------------------------------------------- kernels
def _periodic(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    period = float(rng.choice(PERIODS)) * (1.0 if rng.random() < 0.8 else rng.uniform(0.7, 1.3))
    harmonics = int(rng.integers(1, 5))
    out = np.zeros(len(t))
    for k in range(1, harmonics + 1):
        amp = rng.normal() / k ** rng.uniform(0.5, 1.5)
        out += amp * np.sin(2 * np.pi * k * t / period + rng.uniform(0, 2 * np.pi))
    if rng.random() < 0.3:  # peaky business-hours shape
        out = np.exp(out) - 1.0
    return out


def _trend(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    n = len(t)
    knots = np.sort(rng.integers(0, n, size=int(rng.integers(0, 3))))
    slope = rng.normal(0, 1.0 / n)
    out = slope * t
    for k in knots:
        out += np.where(t >= k, rng.normal(0, 1.0 / n) * (t - k), 0.0)
    return out


def _smooth(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    width = float(rng.choice([4, 16, 64, 256]))
    walk = np.cumsum(rng.normal(size=len(t) + int(6 * width)))
    kernel = np.exp(-0.5 * (np.arange(-3 * width, 3 * width + 1) / width) ** 2)
    smooth = np.convolve(walk, kernel / kernel.sum(), mode="valid")[: len(t)]
    return (smooth - smooth.mean()) / (smooth.std() + 1e-9)


def _noise(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    if rng.random() < 0.3:
        return rng.standard_t(3, size=len(t)) * 0.3
    return rng.normal(size=len(t)) * rng.uniform(0.05, 0.6)


def _constant(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    return np.full(len(t), rng.normal())


KERNELS: dict[str, Callable[[np.random.Generator, np.ndarray], np.ndarray]] = {
    "periodic": _periodic, "trend": _trend, "smooth": _smooth, "noise": _noise, "constant": _constant,
}


def _compose(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """A random sum/product of 1-4 kernels, periodic ones twice as likely (monitoring data is seasonal)."""
    names = list(KERNELS)
    weights = np.array([2.0, 1.0, 1.0, 1.0, 0.5])
    out = KERNELS[names[rng.choice(len(names), p=weights / weights.sum())]](rng, t)
    for _ in range(int(rng.integers(0, 4))):
        part = KERNELS[names[rng.choice(len(names), p=weights / weights.sum())]](rng, t)
        out = out + part if rng.random() < 0.65 else out * (1.0 + 0.5 * part)
    if rng.random() < 0.8:  # noise almost always present
        out = out + _noise(rng, t)
    if rng.random() < 0.35:  # spiky but normal load (cron jobs, GC, bursts): not anomalies
        out = out + _bursts(rng, t, float(np.std(out)) + 1e-3)
    return out


def _bursts(rng: np.random.Generator, t: np.ndarray, unit: float) -> np.ndarray:
    """Frequent short bursts of heavy-tailed size: a series' ordinary spikiness, which the
    model must learn to expect from its history instead of calling each one an anomaly."""
    out = np.zeros(len(t))
    rate = rng.uniform(1, 20) / 288  # 1-20 bursts a day
    for start in np.flatnonzero(rng.random(len(t)) < rate):
        width = int(rng.integers(1, 6))
        out[start:start + width] += np.abs(rng.standard_t(3)) * unit * rng.uniform(0.5, 3.0)
    return out * (1 if rng.random() < 0.8 else -1)


# ---------------------------------------------------------------------------- realism
def _monitoring(rng: np.random.Generator, x: np.ndarray, t: np.ndarray) -> np.ndarray:
    n = len(x)
    if rng.random() < 0.6:  # daily / weekly seasonality of human-driven load
        x = x + rng.uniform(0.3, 2.0) * np.sin(2 * np.pi * t / DAY + rng.uniform(0, 6.3))
        if rng.random() < 0.4:
            x = x + rng.uniform(0.2, 1.0) * (((t // DAY) % 7) >= 5) * -1.0
    if rng.random() < 0.25:  # regime switch: scale and level change at one point
        k = int(rng.integers(n // 4, 3 * n // 4))
        x = x.copy()
        x[k:] = x[k:] * rng.uniform(0.5, 2.0) + rng.normal(0, 0.5)
    level, scale = rng.normal(0, 3) * rng.choice([0.0, 1.0]), 10 ** rng.uniform(-2, 4)
    x = (x + level) * scale
    mode = rng.random()
    if mode < 0.2:  # counts with zeros
        rate = np.exp(np.clip((x - np.median(x)) / (np.std(x) + 1e-9), -5, 4)) * 10 ** rng.uniform(-0.5, 2)
        x = rng.poisson(rate).astype(float)
    elif mode < 0.35:  # quantised
        x = np.round(x / (np.std(x) / rng.uniform(2, 30) + 1e-12)) * (np.std(x) / 10)
    elif mode < 0.55:  # a non-negative quantity
        x = np.maximum(x - np.quantile(x, rng.uniform(0.0, 0.2)), 0.0)
    return x


def _inject(rng: np.random.Generator, x: np.ndarray, labels: np.ndarray, kinds: list[str]) -> np.ndarray:
    n = len(x)
    spread = np.nanstd(np.diff(x)) + 0.2 * np.nanstd(x) + 1e-9
    for _ in range(int(rng.choice([0, 1, 1, 2, 3]))):
        kind = str(rng.choice(ANOMALY_KINDS))
        start = int(rng.integers(n // 4, n - 8))  # after a context of normal history
        length = {"spike": 1, "dip": 1}.get(kind, int(rng.integers(6, 60)))
        end = min(n, start + length)
        mag = rng.uniform(4, 12) * spread
        if kind == "spike":
            x[start] += mag
        elif kind == "dip":
            x[start] -= mag
        elif kind == "level_shift":
            x[start:end] += mag * rng.choice([-1, 1]) * 0.6
        elif kind == "variance_burst":
            x[start:end] += rng.normal(0, mag / 2, end - start)
        elif kind == "drift":
            x[start:end] += np.linspace(0, mag, end - start) * rng.choice([-1, 1])
        elif kind == "flatline":
            if np.nanstd(x[max(0, start - 50):start]) < 1e-9:
                continue  # a flatline in a flat series is no anomaly
            x[start:end] = x[start - 1]
        elif kind == "dropout":
            if np.nanmedian(np.abs(x[max(0, start - 50):start])) < spread:
                continue
            x[start:end] = 0.0
        elif kind == "missing_peak":
            hi = x[start:end] > np.nanmedian(x)
            if not hi.any():
                continue
            x[start:end] = np.where(hi, np.nanmedian(x), x[start:end])
        labels[start:end] = True
        kinds.append(kind)
    return x


def _gaps(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    if rng.random() < 0.3:
        for _ in range(int(rng.integers(1, 4))):
            start = int(rng.integers(0, len(x) - 1))
            x[start:start + int(rng.integers(1, 30))] = np.nan
    return x


def generate_series(seed: int, index: int, length: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Series ``index`` of the corpus of ``seed``: (values float32 with NaN gaps, labels, anomaly kinds)."""
    rng = np.random.default_rng([seed, index])
    t = np.arange(length, dtype=float)
    x = _monitoring(rng, _compose(rng, t), t)
    labels = np.zeros(length, dtype=bool)
    kinds: list[str] = []
    x = _inject(rng, x, labels, kinds)
    x = _gaps(rng, x)
    return x.astype(np.float32), labels, kinds


def generate_corpus(seed: int, n_series: int, length: int = 2048, start: int = 0) -> SynthCorpus:
    """Series ``start .. start + n_series - 1`` of the corpus of ``seed``."""
    if n_series < 1 or length < 64:
        raise ConfigError(f"a corpus needs n_series >= 1 and length >= 64; got n_series={n_series}, length={length}")
    rows = [generate_series(seed, start + i, length) for i in range(n_series)]
    return SynthCorpus(seed=seed, values=np.stack([r[0] for r in rows]), labels=np.stack([r[1] for r in rows]),
                       kinds=[r[2] for r in rows])


# ---------------------------------------------------------------------------- shards on storage
SHARD_SIZE = 256
CORPUS_JSON = "corpus.json"


def write_corpus(directory: str | Path, seed: int, n_series: int, length: int) -> Path:
    """Write the corpus as ``.npz`` shards of ``SHARD_SIZE`` series (each replaced atomically) + corpus.json.

    Deterministic: any worker may (re)write it; identical bytes land under the same names.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    shards = []
    for first in range(0, n_series, SHARD_SIZE):
        part = generate_corpus(seed, min(SHARD_SIZE, n_series - first), length, start=first)
        name = f"shard-{first // SHARD_SIZE:05d}.npz"
        tmp = directory / f".{name}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            np.savez(fh, values=part.values, labels=part.labels)
        os.replace(tmp, directory / name)
        shards.append(name)
    meta = {"seed": seed, "n_series": n_series, "length": length, "shards": shards}
    tmp = directory / f".{CORPUS_JSON}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, directory / CORPUS_JSON)
    return directory


def read_corpus_meta(directory: str | Path) -> dict:
    path = Path(directory) / CORPUS_JSON
    if not path.is_file():
        raise DataError(f"{directory} holds no pretraining corpus ({CORPUS_JSON} is missing); "
                        "write one with `admon pretrain corpus --out DIR`")
    return json.loads(path.read_text())


def read_shard(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return npz["values"], npz["labels"]


class ResilientReader:
    """Reads shards from shared storage ahead of use, retrying failed reads, through a bounded buffer.

    A background thread keeps up to ``buffer`` shards read in advance, so training goes on
    from the buffer while storage is briefly unreachable; each read is retried with
    exponential backoff (``retries`` times, from ``backoff`` seconds) before it fails, and
    the failure names the file and the last error.

    >>> import tempfile
    >>> d = write_corpus(tempfile.mkdtemp(), seed=1, n_series=3, length=64)
    >>> [v.shape for v, _ in ResilientReader([d / "shard-00000.npz"] * 2, buffer=1)]
    [(3, 64), (3, 64)]
    """

    def __init__(self, paths: list[Path], buffer: int = 2, retries: int = 6, backoff: float = 0.2,
                 reader: Callable[[Path], Any] = read_shard) -> None:
        self.paths, self.buffer, self.retries, self.backoff, self.reader = list(paths), buffer, retries, backoff, reader
        #: how many reads failed and were retried (reported by the trainer)
        self.retried = 0

    def read(self, path: Path) -> Any:
        """``reader(path)``, retried with backoff on OSError (also used alone, e.g. for checkpoints)."""
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                return self.reader(path)
            except OSError as exc:
                if attempt == self.retries:
                    raise DataError(f"cannot read {path} after {self.retries + 1} attempts: {exc}; "
                                    "check that the shared storage is mounted") from exc
                self.retried += 1
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
        raise AssertionError("unreachable")

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        q: queue.Queue = queue.Queue(maxsize=max(1, self.buffer))
        stop = threading.Event()

        def fill() -> None:
            for path in self.paths:
                if stop.is_set():
                    return
                try:
                    item: object = self.read(path)
                except Exception as exc:  # handed to the consumer, which raises it
                    item = exc
                q.put(item)
                if isinstance(item, Exception):
                    return

        thread = threading.Thread(target=fill, name="admon-corpus-reader", daemon=True)
        thread.start()
        try:
            for _ in self.paths:
                item = q.get()
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            stop.set()
