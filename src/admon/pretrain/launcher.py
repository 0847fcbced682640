"""Start pretraining: write the job (corpus + config) to a folder, run workers on it, restart the ones that die.

A job folder holds everything a worker needs, so that workers on other machines (pods
of a StatefulSet sharing a volume) run the same job::

    <out>/job.json          the TrainConfig, the corpus folder, the world size, the command
    <out>/corpus/           the generated corpus (npz shards), unless job.json points elsewhere
    <out>/checkpoints/      rank-<r>/step-<n>.safetensors + .json
    <out>/foundation.safetensors, <out>/manifest.json   the result (written by rank 0)

``admon pretrain --workers N --out DIR`` writes the job and runs N local workers
(``python -m admon.pretrain worker DIR`` with ``ADMON_WORKER_ID=0..N-1``), restarting
a worker that dies (same id, so same rank) up to ``--max-restarts`` times.
On Kubernetes each pod runs ``admon pretrain worker DIR`` itself (docs/distributed-training.md).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from admon.errors import ConfigError, DataError
from admon.pretrain.corpus import read_corpus_meta, write_corpus
from admon.pretrain.trainer import (
    MASTER_ADDR_ENV,
    MASTER_PORT_ENV,
    WORKER_ID_ENV,
    WORLD_SIZE_ENV,
    TrainConfig,
    TrainResult,
    WorkerLostError,
    train,
    worker_identity,
)

JOB_JSON = "job.json"


@dataclass(frozen=True)
class Job:
    out: Path
    corpus: Path
    workers: int
    config: TrainConfig
    command: list[str]


def prepare_job(out: str | Path, config: TrainConfig, workers: int, corpus_series: int, corpus_length: int,
                command: list[str], corpus: str | Path | None = None) -> Job:
    """Write ``job.json`` and (if absent) the corpus; refuse to mix a different job into an existing folder."""
    out = Path(out)
    if workers < 1:
        raise ConfigError(f"--workers {workers}: need at least 1")
    out.mkdir(parents=True, exist_ok=True)
    corpus_dir = Path(corpus) if corpus is not None else out / "corpus"
    want = {"seed": config.seed, "n_series": corpus_series, "length": corpus_length}
    try:
        meta = read_corpus_meta(corpus_dir)
        if {k: meta[k] for k in want} != want:
            raise ConfigError(f"{corpus_dir} holds a corpus {({k: meta[k] for k in want})}, not {want}; "
                              "use another --out (or --corpus) folder")
    except DataError:
        write_corpus(corpus_dir, config.seed, corpus_series, corpus_length)
    doc = {"config": config.to_json(), "corpus": str(corpus_dir), "workers": workers, "command": command}
    path = out / JOB_JSON
    if path.is_file():
        old = json.loads(path.read_text())
        if old["config"] != doc["config"] or old["workers"] != workers or old["corpus"] != doc["corpus"]:
            raise ConfigError(f"{out} already holds another pretraining job (its {JOB_JSON} differs); "
                              "resume it with the same options or use another --out folder")
    else:
        tmp = out / f".{JOB_JSON}.tmp"
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, path)
    return read_job(out)


def read_job(out: str | Path) -> Job:
    path = Path(out) / JOB_JSON
    if not path.is_file():
        raise DataError(f"{out} holds no pretraining job ({JOB_JSON} is missing); create it with "
                        "`admon pretrain --out DIR --workers N`")
    doc = json.loads(path.read_text())
    return Job(out=Path(out), corpus=Path(doc["corpus"]), workers=int(doc["workers"]),
               config=TrainConfig.from_json(doc["config"]), command=list(doc["command"]))


def run_worker(out: str | Path, env: dict[str, str] | None = None) -> TrainResult:
    """This process's part of the job in ``out``: rank from ADMON_WORKER_ID / the pod ordinal."""
    env = dict(os.environ) if env is None else env
    job = read_job(out)
    rank = worker_identity(env)
    world = int(env.get(WORLD_SIZE_ENV, job.workers))
    if world != job.workers:
        raise ConfigError(f"{WORLD_SIZE_ENV}={world} but the job in {out} was made for {job.workers} workers")
    addr = env.get(MASTER_ADDR_ENV, env.get("MASTER_ADDR", "127.0.0.1"))
    port = int(env.get(MASTER_PORT_ENV, env.get("MASTER_PORT", "29533")))
    return train(job.out, job.corpus, job.config, rank, world, addr, port, job.command)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_command(out: Path) -> list[str]:
    return [sys.executable, "-m", "admon.pretrain", "worker", str(out)]


def worker_env(worker_id: int, workers: int, port: int, addr: str = "127.0.0.1") -> dict[str, str]:
    return {**os.environ, WORKER_ID_ENV: str(worker_id), WORLD_SIZE_ENV: str(workers),
            MASTER_ADDR_ENV: addr, MASTER_PORT_ENV: str(port)}


def launch_local(job: Job, max_restarts: int = 3, port: int | None = None,
                 report=lambda msg: print(msg, file=sys.stderr, flush=True)) -> float:
    """Run the job's workers as local processes until they all finish; return the wall-clock seconds.

    A worker that exits with an error is restarted with the same id (hence the same rank)
    while restarts remain; the others wait for it in the rendezvous and resume together
    from the last checkpoint.
    """
    port = free_port() if port is None else port
    began = time.monotonic()
    procs = {i: subprocess.Popen(worker_command(job.out), env=worker_env(i, job.workers, port))
             for i in range(job.workers)}
    restarts = 0
    try:
        while procs:
            for i, proc in list(procs.items()):
                code = proc.poll()
                if code is None:
                    continue
                if code == 0:
                    del procs[i]
                    continue
                if restarts >= max_restarts:
                    raise WorkerLostError(f"worker {i} failed with exit code {code} and the {max_restarts} "
                                          "restart(s) allowed (--max-restarts) are used up")
                restarts += 1
                report(f"worker {i} exited with code {code}; restarting it as rank {i} "
                       f"({restarts}/{max_restarts} restarts)")
                procs[i] = subprocess.Popen(worker_command(job.out), env=worker_env(i, job.workers, port))
            time.sleep(0.2)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return time.monotonic() - began
