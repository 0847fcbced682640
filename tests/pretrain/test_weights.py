"""Shipped weights: hash-pinned by their manifest, refused when they differ, small, never downloaded."""

from __future__ import annotations

import shutil

import pytest

from admon.detectors import create
from admon.detectors.base import Detector
from admon.errors import IntegrityError
from admon.pretrain.weights import (
    MAX_WEIGHTS_BYTES,
    load_weights,
    read_manifest,
    sha256_file,
    shipped_weights_dir,
)
from admon.testing.checks import make_frame


def test_shipped_weights_match_their_manifest_and_are_small():
    d = shipped_weights_dir()
    manifest = read_manifest(d)
    assert sha256_file(d / manifest["weights"]) == manifest["sha256"]
    assert (d / manifest["weights"]).stat().st_size <= MAX_WEIGHTS_BYTES
    assert manifest["parameters"] <= 1_000_000
    assert manifest["command"].startswith("admon pretrain") and "--workers" in manifest["command"]
    assert {"seed", "n_series", "length"} <= set(manifest["corpus"]) and manifest["code_version"]
    module, _ = load_weights()
    assert sum(p.numel() for p in module.parameters()) == manifest["parameters"]


def test_weights_whose_hash_differs_are_refused(tmp_path):
    shutil.copytree(shipped_weights_dir(), tmp_path / "w")
    path = tmp_path / "w" / read_manifest(tmp_path / "w")["weights"]
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0xFF  # one flipped bit in the last float
    path.write_bytes(bytes(blob))
    with pytest.raises(IntegrityError, match="refusing to load"):
        load_weights(tmp_path / "w")
    with pytest.raises(IntegrityError, match="sha256"):
        create("foundation", weights=str(tmp_path / "w")).fit(make_frame())


def test_a_saved_model_refuses_other_weights_than_it_was_fitted_with(tmp_path):
    det = create("foundation", weights=str(shutil.copytree(shipped_weights_dir(), tmp_path / "w"))).fit(make_frame())
    det.save(tmp_path / "m")
    doc = (tmp_path / "m" / "detector.json").read_text()
    (tmp_path / "m" / "detector.json").write_text(doc.replace(det.weights_sha256_, "0" * 64))
    with pytest.raises(IntegrityError, match="refit the model"):
        Detector.load(tmp_path / "m")
