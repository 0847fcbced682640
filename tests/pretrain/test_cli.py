"""``admon pretrain``: the job folder, one local worker, the manifest; a clear error without --out."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from admon.cli import build_app
from admon.pretrain.weights import load_weights, sha256_file


def test_pretrain_writes_weights_and_a_manifest_naming_the_command(tmp_path):
    app = build_app()
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["pretrain", "--workers", "1", "--out", str(out), "--steps", "3",
                                      "--batch-size", "4", "--crop", "128", "--channels", "4",
                                      "--corpus-series", "20", "--corpus-length", "256"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sha256"] == sha256_file(out / "foundation.safetensors")
    assert manifest["corpus"] == {"generator": "admon.pretrain.corpus (kernel synth)", "seed": 0, "n_series": 20,
                                  "length": 256}
    assert manifest["train"]["steps"] == 3 and manifest["workers"] == 1
    assert (out / "job.json").is_file() and (out / "corpus" / "corpus.json").is_file()
    assert load_weights(out)[1]["sha256"] == manifest["sha256"]


def test_pretrain_without_out_is_a_clear_error():
    result = CliRunner().invoke(build_app(), ["pretrain", "--workers", "2"])
    assert result.exit_code != 0
    assert "needs --out DIR" in str(result.exception)
