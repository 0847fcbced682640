"""Shipped foundation weights: safetensors + a manifest that pins their sha256.

The manifest beside the weights records their sha256, the command that trained them,
the corpus seed and size, the model shape, the code version and the training time.
Loading recomputes the hash and refuses weights that differ (a tampered or half-copied
file). Nothing is ever downloaded: the weights are package data.

>>> manifest = read_manifest(shipped_weights_dir())
>>> sorted(k for k in ("sha256", "command", "corpus", "code_version", "model") if k in manifest)
['code_version', 'command', 'corpus', 'model', 'sha256']
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shlex
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

from admon.errors import DataError, IntegrityError
from admon.pretrain.model import ModelConfig, build_network, count_parameters

WEIGHTS_NAME = "foundation.safetensors"
MANIFEST_NAME = "manifest.json"
MAX_WEIGHTS_BYTES = 20 * 1024 * 1024


def shipped_weights_dir() -> Path:
    """The folder of the weights that ship inside the package."""
    return Path(__file__).resolve().parent / "weights"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def code_version() -> str:
    """admon's version plus the git commit of the checkout, when there is one."""
    try:
        version = importlib.metadata.version("admon")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree that is not installed
        version = "unknown"
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5, check=False).stdout.strip()
    except OSError:
        rev = ""
    return f"{version}+g{rev}" if rev else version


def write_weights(out: Path, module, config, corpus_meta: dict[str, Any], losses: list[float], world_size: int,
                  command: list[str], seconds: float) -> Path:
    """Write ``foundation.safetensors`` and ``manifest.json`` to ``out`` (each atomically); return the weights path."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{WEIGHTS_NAME}.tmp"
    save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, str(tmp),
              metadata={"format": "admon-foundation-1"})
    os.chmod(tmp, 0o644)  # package data: readable by every user of the install
    os.replace(tmp, out / WEIGHTS_NAME)
    digest = sha256_file(out / WEIGHTS_NAME)
    manifest = {
        "format": "admon-foundation-1",
        "weights": WEIGHTS_NAME,
        "sha256": digest,
        "bytes": (out / WEIGHTS_NAME).stat().st_size,
        "parameters": count_parameters(module),
        "command": shlex.join(command),
        "corpus": {"generator": "admon.pretrain.corpus (kernel synth)", **{k: corpus_meta[k] for k in
                                                                          ("seed", "n_series", "length")}},
        "train": config.to_json(),
        "model": config.model.to_json(),
        "workers": world_size,
        "final_loss": losses[-1] if losses else None,
        "loss_curve": [round(x, 5) for x in losses[:: max(1, len(losses) // 50)]],
        "train_seconds": round(seconds, 1),
        "code_version": code_version(),
    }
    tmp = out / f".{MANIFEST_NAME}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(tmp, out / MANIFEST_NAME)
    return out / WEIGHTS_NAME


def read_manifest(directory: Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST_NAME
    if not path.is_file():
        raise DataError(f"{directory} holds no foundation weights ({MANIFEST_NAME} is missing); "
                        "train some with `admon pretrain --out DIR`")
    return json.loads(path.read_text())


def load_weights(directory: Path | None = None):
    """The foundation network of ``directory`` (default: the shipped one), hash-checked, in eval mode.

    Returns ``(module, manifest)``. IntegrityError if the file's sha256 differs from the manifest's.
    """
    directory = shipped_weights_dir() if directory is None else Path(directory)
    manifest = read_manifest(directory)
    path = directory / manifest["weights"]
    if not path.is_file():
        raise DataError(f"{path} is missing; reinstall admon or retrain with `admon pretrain --out {directory}`")
    if path.stat().st_size > MAX_WEIGHTS_BYTES:
        raise DataError(f"{path} is {path.stat().st_size} bytes, over the {MAX_WEIGHTS_BYTES} byte limit")
    digest = sha256_file(path)
    if digest != manifest["sha256"]:
        raise IntegrityError(f"foundation weights {path} have sha256 {digest}, but {MANIFEST_NAME} records "
                             f"{manifest['sha256']}; refusing to load them (reinstall admon, or retrain)")
    return _load_module(str(path), digest, json.dumps(manifest["model"], sort_keys=True)), manifest


@lru_cache(maxsize=4)
def _load_module(path: str, digest: str, model_json: str):
    """Build and fill the network once per (file, hash): every detector of a process shares it read-only."""
    from safetensors.torch import load_file

    module = build_network(ModelConfig.from_json(json.loads(model_json)))
    module.load_state_dict(load_file(path))
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module
