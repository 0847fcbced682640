"""The synthetic corpus: deterministic per seed and split, windows inside the data, every kind present."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from admon.errors import ConfigError
from admon.evaluation.corpus import load_corpus
from admon.evaluation.nab import probationary_length
from admon.evaluation.synth import CATEGORIES, KINDS, synth_corpus


@pytest.fixture(scope="module")
def dev(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "dev"
    synth_corpus(out, seed=0, split="dev")
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_and_split_give_the_same_bytes(tmp_path):
    synth_corpus(tmp_path / "a", seed=3, split="dev", series_per_category=3)
    synth_corpus(tmp_path / "b", seed=3, split="dev", series_per_category=3)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


def test_other_seed_or_the_heldout_split_give_other_series(tmp_path):
    synth_corpus(tmp_path / "dev", seed=3, split="dev", series_per_category=3)
    synth_corpus(tmp_path / "seed4", seed=4, split="dev", series_per_category=3)
    synth_corpus(tmp_path / "held", seed=3, split="heldout", series_per_category=3)
    dev = _files(tmp_path / "dev")
    for other in ["seed4", "held"]:
        data = {k: v for k, v in _files(tmp_path / other).items() if k.startswith("data/")}
        assert set(data) == {k for k in dev if k.startswith("data/")}
        assert all(data[k] != dev[k] for k in data)  # no series is shared


def test_at_least_200_series_in_every_category(dev):
    corpus = load_corpus(dev)
    assert len(corpus) >= 200
    assert {f.category for f in corpus} == set(CATEGORIES)


def test_windows_lie_inside_the_data_after_probation_and_map_to_their_rows(dev):
    corpus = load_corpus(dev)
    doc = json.loads((dev / "labels" / "incidents.json").read_text())["series"]
    labelled = 0
    for f in corpus:
        bounds = f.window_bounds()
        assert len(bounds) == len(f.windows)  # no window is empty
        assert bounds.tolist() == doc[f.key]["window_rows"]
        for lo, hi in bounds:
            assert probationary_length(len(f)) <= lo <= hi < len(f)
        for inc in doc[f.key]["incidents"]:  # every labelled anomaly lies in a window
            assert any(lo <= inc["row"] <= hi for lo, hi in bounds)
        labelled += len(bounds) > 0
    assert 0 < len(corpus) - labelled < len(corpus) // 5  # some series have no incident


def test_every_incident_kind_and_realism_feature_is_present(dev):
    doc = json.loads((dev / "labels" / "incidents.json").read_text())["series"]
    kinds = {inc["kind"] for s in doc.values() for inc in s["incidents"]}
    assert kinds == set(KINDS)
    gappy = [k for k, s in doc.items() if s["flags"]["gaps"] >= 200 and s["incidents"]]
    assert len(gappy) >= 20
    glitches = {s["flags"]["glitch"] for s in doc.values()}
    assert {"repeat_hour", "swap", "duplicate"} <= glitches
    corpus = load_corpus(dev)
    assert len(corpus.order_warnings()) == sum(1 for s in doc.values() if s["flags"]["glitch"])
    counts = next(f for f in corpus if f.category == "errors").data["value"].to_numpy()
    assert (counts == 0).mean() > 0.5 and np.array_equal(counts, np.round(counts))  # counts, mostly zeros
    cpu = next(f for f in corpus if f.category == "cpu").data["value"].to_numpy()
    assert np.array_equal(cpu * 10, np.round(cpu * 10))  # quantised


def test_unknown_split_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="use one of"):
        synth_corpus(tmp_path, split="test")


def test_cli_corpus_synth(tmp_path):
    from admon.cli import app, build_app

    build_app()
    res = CliRunner().invoke(app, ["corpus", "synth", "--out", str(tmp_path / "c"), "--seed", "1",
                                   "--split", "heldout", "--series-per-category", "2"])
    assert res.exit_code == 0, res.output
    assert "wrote 14 series" in res.output and "split heldout, seed 1" in res.output
    assert len(load_corpus(tmp_path / "c")) == 14
