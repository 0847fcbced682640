"""The distributed trainer: stable ranks, kill -9 and rejoin, resume to identical weights, bounded failure."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from admon.errors import ConfigError
from admon.pretrain.launcher import free_port, prepare_job, worker_command, worker_env
from admon.pretrain.model import ModelConfig
from admon.pretrain.trainer import (
    Rendezvous,
    TrainConfig,
    WorkerLostError,
    checkpoint_dir,
    latest_checkpoint,
    worker_identity,
)
from admon.pretrain.weights import load_weights, sha256_file

TINY = TrainConfig(seed=1, steps=24, batch_size=8, crop=256, checkpoint_every=3,
                   model=ModelConfig(channels=8, dilations=(1, 2, 4, 8)),
                   collective_timeout=20, rejoin_timeout=60, min_step_seconds=0.1)


def _job(out: Path):
    return prepare_job(out, TINY, workers=2, corpus_series=40, corpus_length=512, command=["pytest"])


def _start(job, worker_id: int, port: int, log: Path) -> subprocess.Popen:
    with open(log, "ab") as fh:
        return subprocess.Popen(worker_command(job.out), env=worker_env(worker_id, 2, port), stderr=fh)


def _wait_all(procs, timeout=120) -> list[int]:
    return [p.wait(timeout=timeout) for p in procs]


def test_rank_comes_from_the_stable_identity_not_the_join_order():
    assert worker_identity({"ADMON_WORKER_ID": "1"}, hostname="admon-pretrain-0") == 1  # the env wins
    assert worker_identity({}, hostname="admon-pretrain-7.admon-pretrain.ml.svc") == 7
    with pytest.raises(ConfigError, match="ADMON_WORKER_ID='x'"):
        worker_identity({"ADMON_WORKER_ID": "x"})
    with pytest.raises(ConfigError, match="rank 2 is outside 0..1"):
        Rendezvous(2, 2, "127.0.0.1", 1, TINY)


def test_a_missing_worker_is_reported_by_rank_after_the_rejoin_timeout():
    config = TrainConfig(rejoin_timeout=1.0, collective_timeout=5)
    rdzv = Rendezvous(0, 2, "127.0.0.1", free_port(), config)
    with pytest.raises(WorkerLostError, match=r"worker\(s\) \[1\] did not \(re\)join within 1 s \(present: \[0\]\)"):
        rdzv.join()


def test_kill_9_a_worker_mid_run_it_rejoins_with_its_rank_and_the_weights_equal_an_uninterrupted_run(tmp_path):
    # the reference, run alongside: the same job, never interrupted
    ref = _job(tmp_path / "ref")
    ref_port = free_port()
    ref_procs = [_start(ref, i, ref_port, tmp_path / f"ref-{i}.log") for i in range(2)]

    job = _job(tmp_path / "killed")
    port = free_port()
    logs = [tmp_path / f"w{i}.log" for i in range(2)]
    procs = [_start(job, i, port, logs[i]) for i in range(2)]
    deadline = time.monotonic() + 90
    while (found := latest_checkpoint(checkpoint_dir(job.out, 1))) is None or found[0] < 6:
        assert time.monotonic() < deadline and procs[1].poll() is None, logs[1].read_text()
        time.sleep(0.05)
    procs[1].send_signal(signal.SIGKILL)  # mid-run, between checkpoints
    assert procs[1].wait() == -signal.SIGKILL
    # the survivor notices (the dead peer closed its sockets) and says so, instead of hanging
    while "worker lost" not in logs[0].read_text():
        assert time.monotonic() < deadline and procs[0].poll() is None, logs[0].read_text()
        time.sleep(0.05)
    procs[1] = _start(job, 1, port, logs[1])  # same ADMON_WORKER_ID
    assert _wait_all(procs) == [0, 0], logs[0].read_text() + logs[1].read_text()

    assert _wait_all(ref_procs) == [0, 0]
    survivor, restarted = logs[0].read_text(), logs[1].read_text()
    assert "Connection closed by peer" in survivor or "worker lost" in survivor
    resumed = [line for line in restarted.splitlines() if "resuming at step" in line]
    assert resumed[-1].startswith("[") and "rank 1]" in resumed[-1]  # the same rank as before
    assert int(resumed[-1].rsplit(" ", 1)[1]) >= 6  # from a checkpoint, not from scratch
    assert "generation 1" in resumed[-1]
    # bit-identical weights; and a manifest describing them
    assert sha256_file(job.out / "foundation.safetensors") == sha256_file(ref.out / "foundation.safetensors")
    manifest = json.loads((job.out / "manifest.json").read_text())
    assert manifest["sha256"] == sha256_file(job.out / "foundation.safetensors")
    assert manifest["corpus"]["seed"] == 1 and manifest["workers"] == 2
    module, _ = load_weights(job.out)
    assert module.head[-1].out_channels == len(TINY.model.quantiles)


def test_a_folder_of_another_job_is_refused(tmp_path):
    _job(tmp_path)
    with pytest.raises(ConfigError, match="another pretraining job"):
        prepare_job(tmp_path, TrainConfig(**{**TINY.__dict__, "steps": 99}), workers=2, corpus_series=40,
                    corpus_length=512, command=["pytest"])
