"""The resilient data-parallel trainer of the foundation model (torch.distributed; gloo on CPU, NCCL on GPUs).

What it does about the three failures the UNOSAT team met on Kubernetes:

* **Ranks from a stable identity.** A worker's rank is ``ADMON_WORKER_ID``, or the
  ordinal at the end of its StatefulSet pod name (``admon-pretrain-3`` -> 3), never the
  order in which workers join. A worker that restarts comes back with the same rank.
* **A dead worker is detected in bounded time.** Collectives run with a timeout
  (``collective_timeout``); a peer killed mid-step closes its sockets, so the others fail
  at once. Survivors report which generation/step failed, drop the process group and
  wait (at most ``rejoin_timeout``) for the whole set of ranks to rejoin; past that
  deadline they exit with an error naming the missing ranks.
* **Resume from the last checkpoint.** Every worker writes the full training state
  (model, Adam moments, step) every ``checkpoint_every`` steps, atomically (a temporary
  file replaced into place), keeping the last two. On (re)joining, the ranks agree on the
  newest step any of them holds and that rank broadcasts its state to the others, so a
  pod that lost its volume still resumes.
* **Resilient reads.** Corpus shards come through :class:`admon.pretrain.corpus.ResilientReader`
  (read ahead into a buffer, retried with backoff).

Every step's batch is a pure function of ``(seed, step)`` and each rank takes a fixed
slice of it, and gradients are summed (not averaged by a world-size-dependent order), so
a run that was interrupted and resumed ends with the same weights, bit for bit, as one
that was not -- on the same machine with the same number of workers.

Rendezvous: rank 0 hosts a TCPStore for its whole life. Workers meet in a *generation*
(a counter in the store); each joins the current one, and when more workers join a
generation than the world has (a restarted worker meeting a generation whose member
died), the generation is moved on. The process group of generation ``g`` lives under
the store prefix ``gen<g>/pg``.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from admon.errors import ConfigError, DataError, WorkerLostError
from admon.pretrain.corpus import HELD_BACK_EVERY, ResilientReader, read_corpus_meta
from admon.pretrain.model import ModelConfig, build_network, pinball_loss, training_arrays
from admon.pretrain.weights import write_weights

WORKER_ID_ENV = "ADMON_WORKER_ID"
MASTER_ADDR_ENV = "ADMON_MASTER_ADDR"
MASTER_PORT_ENV = "ADMON_MASTER_PORT"
WORLD_SIZE_ENV = "ADMON_WORLD_SIZE"
CHECKPOINTS = "checkpoints"
KEEP_CHECKPOINTS = 2


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines the trained weights (plus how to survive failures, which does not)."""

    seed: int = 0
    steps: int = 200
    batch_size: int = 16
    crop: int = 768
    lr: float = 3e-3
    checkpoint_every: int = 10
    model: ModelConfig = field(default_factory=ModelConfig)
    collective_timeout: float = 60.0
    rejoin_timeout: float = 600.0
    #: pad every step to at least this many seconds (only for tests/demos that act mid-run)
    min_step_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["model"] = self.model.to_json()
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> TrainConfig:
        doc = dict(doc)
        doc["model"] = ModelConfig.from_json(doc["model"])
        return cls(**doc)


# ---------------------------------------------------------------------------- identity
def worker_identity(env: dict[str, str] | None = None, hostname: str | None = None) -> int:
    """The stable rank of this worker: ``ADMON_WORKER_ID``, else the StatefulSet ordinal of the hostname.

    >>> worker_identity({"ADMON_WORKER_ID": "3"})
    3
    >>> worker_identity({}, hostname="admon-pretrain-2")
    2
    >>> worker_identity({}, hostname="laptop")
    Traceback (most recent call last):
    ...
    admon.errors.ConfigError: cannot tell this worker's rank: set ADMON_WORKER_ID=<0..N-1>, or run it in a StatefulSet whose pod names end in -<ordinal> (hostname 'laptop')
    """
    env = dict(os.environ) if env is None else env
    raw = env.get(WORKER_ID_ENV)
    if raw is not None and raw.strip() != "":
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{WORKER_ID_ENV}={raw!r} is not an integer; set it to this worker's rank 0..N-1") from None
        if value < 0:
            raise ConfigError(f"{WORKER_ID_ENV}={raw!r} is negative; set it to this worker's rank 0..N-1")
        return value
    hostname = socket.gethostname() if hostname is None else hostname
    match = re.fullmatch(r".+-(\d+)", hostname.split(".")[0])
    if match is None:
        raise ConfigError(f"cannot tell this worker's rank: set {WORKER_ID_ENV}=<0..N-1>, or run it in a StatefulSet "
                          f"whose pod names end in -<ordinal> (hostname {hostname!r})")
    return int(match.group(1))


# ---------------------------------------------------------------------------- logging
def _log(rank: int, message: str) -> None:
    stamp = datetime.datetime.now(datetime.UTC).strftime("%H:%M:%S")
    print(f"[{stamp} rank {rank}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- rendezvous
class Rendezvous:
    """Meeting of the ``world_size`` ranks through rank 0's TCPStore, generation by generation."""

    def __init__(self, rank: int, world_size: int, addr: str, port: int, config: TrainConfig) -> None:
        if not 0 <= rank < world_size:
            raise ConfigError(f"worker rank {rank} is outside 0..{world_size - 1}; "
                              f"set {WORKER_ID_ENV} (or the StatefulSet replicas) to match --workers {world_size}")
        self.rank, self.world_size, self.addr, self.port, self.config = rank, world_size, addr, port, config
        self._master: Any = None  # rank 0's store server, kept for the life of the process
        self.generation = -1

    def _store(self, deadline: float):
        import torch.distributed as dist

        timeout = datetime.timedelta(seconds=max(5.0, self.config.collective_timeout))
        if self.rank == 0:
            if self._master is None:
                self._master = dist.TCPStore(self.addr, self.port, None, True, timeout, wait_for_workers=False)
            return self._master
        while True:
            try:
                return dist.TCPStore(self.addr, self.port, None, False, datetime.timedelta(seconds=5))
            except (RuntimeError, OSError) as exc:  # rank 0 not up (yet, or again)
                if time.monotonic() > deadline:
                    raise WorkerLostError(
                        f"rank {self.rank}: cannot reach rank 0's store at {self.addr}:{self.port} within "
                        f"{self.config.rejoin_timeout:.0f} s ({exc}); is worker 0 running?") from None
                time.sleep(0.5)

    def join(self):
        """Join the next complete generation and init the process group; returns the store."""
        import torch
        import torch.distributed as dist

        deadline = time.monotonic() + self.config.rejoin_timeout
        last_report = 0.0
        while True:
            try:
                store = self._store(deadline)
                gen = int(store.add("generation", 0))
                joined = int(store.add(f"gen{gen}/joined", 1))
                mine = int(store.add(f"gen{gen}/rank{self.rank}", 1))
                if joined > self.world_size or mine > 1:
                    # a member of this generation died after joining: move everyone on
                    store.compare_set("generation", str(gen), str(gen + 1))
                    continue
                while True:
                    count = int(store.add(f"gen{gen}/joined", 0))
                    if int(store.add("generation", 0)) != gen:
                        break  # someone moved the generation on; join the new one
                    if count == self.world_size:
                        # with GPUs, CUDA tensors go through NCCL and the few CPU ones (steps) through gloo
                        backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
                        dist.init_process_group(
                            backend, store=dist.PrefixStore(f"gen{gen}/pg", store), rank=self.rank,
                            world_size=self.world_size,
                            timeout=datetime.timedelta(seconds=self.config.collective_timeout))
                        self.generation = gen
                        return store
                    now = time.monotonic()
                    if now > deadline:
                        present = [r for r in range(self.world_size)
                                   if int(store.add(f"gen{gen}/rank{r}", 0)) > 0]
                        missing = sorted(set(range(self.world_size)) - set(present))
                        raise WorkerLostError(
                            f"rank {self.rank}: worker(s) {missing} did not (re)join within "
                            f"{self.config.rejoin_timeout:.0f} s (present: {present}); restart them with the same "
                            f"{WORKER_ID_ENV}, or check that no two workers share an id")
                    if now - last_report > 10:
                        _log(self.rank, f"waiting for workers: {count}/{self.world_size} in generation {gen}")
                        last_report = now
                    time.sleep(0.2)
            except WorkerLostError:
                raise
            except (RuntimeError, OSError) as exc:  # the store went away (rank 0 restarting)
                if time.monotonic() > deadline:
                    raise WorkerLostError(f"rank {self.rank}: rendezvous failed: {exc}") from None
                _log(self.rank, f"rendezvous interrupted ({exc}); retrying")
                time.sleep(0.5)

    def leave_failed(self, store) -> None:
        """After a failed collective: drop the process group and move the generation on."""
        import torch.distributed as dist

        if dist.is_initialized():
            try:
                dist.destroy_process_group()
            except Exception as exc:  # a broken group may fail to shut down cleanly; the next one is new
                _log(self.rank, f"ignoring error while dropping the failed process group: {exc}")
        try:
            store.compare_set("generation", str(self.generation), str(self.generation + 1))
        except (RuntimeError, OSError):
            pass  # rank 0's store is gone: the next join reconnects

    def close(self) -> None:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


# ---------------------------------------------------------------------------- checkpoints
def _state_tensors(module, opt) -> dict[str, Any]:
    """Every tensor of the training state, by a stable name; the tensors are the live ones (in-place broadcast)."""
    import torch

    out = {f"model.{k}": v for k, v in module.state_dict(keep_vars=False).items()}
    for i, p in enumerate(module.parameters()):
        st = opt.state[p]
        if not st:  # Adam creates its moments on the first step: make them now, zeroed, as Adam would
            st["step"] = torch.tensor(0.0)
            st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        for name in ("step", "exp_avg", "exp_avg_sq"):
            out[f"opt.{i}.{name}"] = st[name]
    return out


def checkpoint_dir(out: Path, rank: int) -> Path:
    return Path(out) / CHECKPOINTS / f"rank-{rank}"


def save_checkpoint(directory: Path, step: int, module, opt, losses: list[float]) -> Path:
    """Write ``step-<n>.safetensors`` then its ``.json`` (the JSON marks it complete), atomically; prune old ones."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().clone().contiguous() for k, v in _state_tensors(module, opt).items()}
    stem = f"step-{step:07d}"
    tmp = directory / f".{stem}.safetensors.tmp"
    save_file(tensors, str(tmp))
    os.replace(tmp, directory / f"{stem}.safetensors")
    tmp = directory / f".{stem}.json.tmp"
    tmp.write_text(json.dumps({"step": step, "losses": losses}))
    os.replace(tmp, directory / f"{stem}.json")
    for old in sorted(directory.glob("step-*.json"))[:-KEEP_CHECKPOINTS]:
        old.unlink(missing_ok=True)
        old.with_suffix(".safetensors").unlink(missing_ok=True)
    return directory / f"{stem}.safetensors"


def latest_checkpoint(directory: Path) -> tuple[int, Path] | None:
    """The newest complete checkpoint (its JSON exists) of ``directory``: ``(step, tensors path)``."""
    for meta in sorted(directory.glob("step-*.json"), reverse=True):
        tensors = meta.with_suffix(".safetensors")
        if tensors.is_file():
            return int(json.loads(meta.read_text())["step"]), tensors
    return None


# ---------------------------------------------------------------------------- data
class TrainingData:
    """The training split of the corpus, normalised once; ``batch(step)`` is a pure function of (seed, step)."""

    def __init__(self, corpus_dir: Path, config: TrainConfig, reader_buffer: int = 2) -> None:
        meta = read_corpus_meta(corpus_dir)
        if meta["length"] < config.crop:
            raise ConfigError(f"crop {config.crop} is longer than the corpus series ({meta['length']} points); "
                              "lower --crop or write a corpus with longer series")
        values, labels = [], []
        self.reader = ResilientReader([Path(corpus_dir) / s for s in meta["shards"]], buffer=reader_buffer)
        for v, lab in self.reader:
            values.append(v)
            labels.append(lab)
        all_values, all_labels = np.concatenate(values), np.concatenate(labels)
        train = np.arange(len(all_values)) % HELD_BACK_EVERY != HELD_BACK_EVERY - 1
        self.inputs, self.targets, self.weights = training_arrays(all_values[train], all_labels[train],
                                                                  config.model.context)
        self.config = config
        self.corpus_meta = meta

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, 1, step])
        rows = rng.integers(0, len(self.inputs), size=cfg.batch_size)
        starts = rng.integers(0, self.inputs.shape[-1] - cfg.crop + 1, size=cfg.batch_size)
        sl = [slice(s, s + cfg.crop) for s in starts]
        x = np.stack([self.inputs[r][:, s] for r, s in zip(rows, sl, strict=True)])
        y = np.stack([self.targets[r][s] for r, s in zip(rows, sl, strict=True)])
        w = np.stack([self.weights[r][s] for r, s in zip(rows, sl, strict=True)])
        return x, y, w


# ---------------------------------------------------------------------------- training
@dataclass
class TrainResult:
    steps: int
    losses: list[float]
    generations: int
    retried_reads: int
    seconds: float
    weights: Path | None


def _sync_state(module, opt, out: Path, rank: int, world_size: int) -> tuple[int, list[float]]:
    """Agree on the newest checkpoint any rank holds and broadcast it from that rank; return (step, losses)."""
    import torch
    import torch.distributed as dist
    from safetensors.torch import load_file

    found = latest_checkpoint(checkpoint_dir(out, rank))
    steps = torch.zeros(world_size, dtype=torch.int64)
    steps[rank] = found[0] if found else 0
    dist.all_reduce(steps)  # each rank filled only its own slot
    best = int(steps.max())
    src = int(torch.nonzero(steps == best)[0])
    live = _state_tensors(module, opt)
    losses: list[float] = []
    if best == 0:
        return 0, losses
    if rank == src and found is not None:
        # the checkpoint may sit on shared storage: retried like the corpus reads
        saved = ResilientReader([], reader=lambda path: load_file(str(path))).read(found[1])
        with torch.no_grad():
            for name, tensor in live.items():
                tensor.copy_(saved[name])
        losses = json.loads(found[1].with_suffix(".json").read_text())["losses"]
    with torch.no_grad():
        for name in sorted(live):
            dist.broadcast(live[name], src=src)
    n_losses = torch.tensor([len(losses)], dtype=torch.int64)
    dist.broadcast(n_losses, src=src)
    buf = torch.zeros(int(n_losses), dtype=torch.float64)
    if rank == src:
        buf[:] = torch.tensor(losses, dtype=torch.float64)
    dist.broadcast(buf, src=src)
    return best, buf.tolist()


def train(out: str | Path, corpus_dir: str | Path, config: TrainConfig, rank: int, world_size: int,
          addr: str = "127.0.0.1", port: int = 29533, command: list[str] | None = None,
          on_step: Callable[[int, float], None] | None = None) -> TrainResult:
    """Run this worker's part of the training until ``config.steps``; rank 0 writes the weights + manifest."""
    import torch
    import torch.distributed as dist

    out = Path(out)
    began = time.monotonic()
    torch.set_num_threads(1)  # determinism, and one core per worker on shared machines
    data = TrainingData(Path(corpus_dir), config)
    if config.batch_size % world_size:
        raise ConfigError(f"batch size {config.batch_size} does not split over {world_size} workers; "
                          "make it a multiple of --workers")
    torch.manual_seed(config.seed)
    module = build_network(config.model)
    if torch.cuda.is_available():
        module.to(torch.device("cuda", rank % torch.cuda.device_count()))
    opt = torch.optim.Adam(module.parameters(), lr=config.lr)
    rdzv = Rendezvous(rank, world_size, addr, port, config)
    generations = 0
    losses: list[float] = []
    step = 0
    while True:
        store = rdzv.join()
        generations += 1
        try:
            step, losses = _sync_state(module, opt, out, rank, world_size)
            _log(rank, f"generation {rdzv.generation}: {world_size} workers, resuming at step {step}")
            while step < config.steps:
                t0 = time.monotonic()
                loss = _train_step(module, opt, data, step, rank, world_size)
                step += 1
                losses.append(loss)
                if step % config.checkpoint_every == 0 or step == config.steps:
                    save_checkpoint(checkpoint_dir(out, rank), step, module, opt, losses)
                if on_step is not None:
                    on_step(step, loss)
                if step % 25 == 0 or step == config.steps:
                    _log(rank, f"step {step}/{config.steps} loss {loss:.4f}")
                pad = config.min_step_seconds - (time.monotonic() - t0)
                if pad > 0:
                    time.sleep(pad)
            dist.barrier()
            break
        except (RuntimeError, dist.DistError) as exc:
            _log(rank, f"worker lost in generation {rdzv.generation} at step {step}: {str(exc).splitlines()[0]}; "
                       f"waiting up to {config.rejoin_timeout:.0f} s for all {world_size} workers to rejoin")
            rdzv.leave_failed(store)
    rdzv.close()
    weights = None
    if rank == 0:
        weights = write_weights(out, module, config, data.corpus_meta, losses, world_size,
                                command or sys.argv, time.monotonic() - began)
    return TrainResult(steps=step, losses=losses, generations=generations, retried_reads=data.reader.retried,
                       seconds=time.monotonic() - began, weights=weights)


def _train_step(module, opt, data: TrainingData, step: int, rank: int, world_size: int) -> float:
    """One synchronous step: this rank's slice of the batch, gradients summed over ranks in one flat buffer."""
    import torch
    import torch.distributed as dist

    x, y, w = data.batch(step)
    total_weight = float(w.sum())
    per = len(x) // world_size
    part = slice(rank * per, (rank + 1) * per)
    device = next(module.parameters()).device
    xb, yb, wb = (torch.from_numpy(np.ascontiguousarray(a[part])).to(device) for a in (x, y, w))
    opt.zero_grad(set_to_none=False)
    module.train()
    pred = module(xb)
    # this rank's share of the batch mean: summing the shares over ranks gives the mean
    loss = pinball_loss(pred, yb, wb, data.config.model.quantiles) * (wb.sum().clamp_min(1.0) / max(total_weight, 1.0))
    loss.backward()
    params = [p for p in module.parameters()]
    flat = torch.cat([p.grad.reshape(-1) for p in params] + [loss.detach().reshape(1)])
    dist.all_reduce(flat)
    offset = 0
    for p in params:
        n = p.numel()
        p.grad.copy_(flat[offset:offset + n].view_as(p))
        offset += n
    opt.step()
    value = float(flat[-1])
    if not math.isfinite(value):
        raise DataError(f"training loss became {value} at step {step}; lower --lr")
    return value
