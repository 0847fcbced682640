"""One model reference: parsed in one function, resolved by one loader into one scorer protocol.

The remote reference is scored over real HTTP in test_serving.py; here: the stored model,
the fallback, the parsing and the loader's rules, and the module boundaries (no cycle between
the store and serving, no FastAPI in admon.models).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from admon.detectors import create
from admon.errors import ConfigError, IntegrityError, NotFoundError
from admon.models.reference import (
    FALLBACK_ID,
    FallbackModelRef,
    FallbackScorer,
    RemoteModelRef,
    StoredModelRef,
    load_scorer,
    parse_model_ref,
)
from admon.models.scoring import SCORE_COLUMNS, Scores
from admon.models.store import ModelStore, TrainedModel
from admon.models.training import train
from admon.runs.inference import context_ms

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("model, expected", [
    ("xrootd-model", StoredModelRef("admon-dev", "xrootd-model")),
    ("http://h:8080/v2/models/ns:m", RemoteModelRef("http://h:8080", "ns:m")),
    ("https://h/v2/models/ns:m/", RemoteModelRef("https://h", "ns:m")),
    ("http://h:8080/v2/models/ns:m/versions/4", RemoteModelRef("http://h:8080", "ns:m", "4")),
    ("builtin:robust_zscore", FallbackModelRef("robust_zscore")),
])
def test_an_entitys_model_names_one_typed_reference(model, expected):
    ref = parse_model_ref("admon-dev", model)
    assert ref == expected
    with pytest.raises(AttributeError):  # frozen: a reference is a value
        ref.version = "9"  # type: ignore[misc]


def test_a_version_pins_a_stored_or_remote_model():
    assert parse_model_ref("ns", "m", version="3") == StoredModelRef("ns", "m", "3")
    assert parse_model_ref("ns", "http://h/v2/models/ns:m", version="3").url == "http://h/v2/models/ns:m/versions/3"
    with pytest.raises(ConfigError, match="give the version once"):
        parse_model_ref("ns", "http://h/v2/models/ns:m/versions/2", version="3")


@pytest.mark.parametrize("namespace, model, message", [
    ("ns", "http://h:8080/models/m", "must look like http://host:port/v2/models/<namespace>:<model>"),
    ("ns", "http://h:8080/v2/models/no-namespace", "must look like"),
    ("ns", "http://h:8080/v2/models/ns:m/versions/", "must look like"),
    ("ns", "builtin:pca", "the built-in model is 'builtin:robust_zscore'"),
    ("ns", "grpc://h/m", "inference_model 'grpc://h/m' names no model"),
    ("ns", "../m", "inference_model '../m' names no model"),
    ("../ns", "m", "inference_namespace '../ns' names no model"),
])
def test_a_bad_reference_is_a_config_error_naming_the_value_and_the_forms(namespace, model, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_model_ref(namespace, model)


def _check_scorer(scorer, frame: pd.DataFrame) -> Scores:
    """What every scorer gives: identity, lookback, and scores aligned to the frame."""
    assert isinstance(scorer.model_id, str) and scorer.model_id
    assert isinstance(scorer.content_hash, str) and len(scorer.content_hash) == 64
    assert isinstance(scorer.lookback, int) and scorer.lookback >= 0
    assert isinstance(scorer.fit_on_window, bool) and scorer.config["name"]
    shuffled = frame.sample(frac=1.0, random_state=0)  # any index: results follow it
    scores = scorer.score(shuffled)
    assert list(scores.rows.columns) == list(SCORE_COLUMNS)
    assert scores.rows.index.equals(shuffled.index)
    assert scores.contributions.index.equals(shuffled.index)
    assert list(scores.contributions.columns) == ["gled_value", "alice_value"]
    np.testing.assert_allclose(scores.contributions.sum(axis=1), 1.0)
    assert scores.rows["anomaly_score"].between(0, 100).all()
    return scores


def test_stored_and_fallback_models_are_one_scorer(frame, tmp_path):
    store = ModelStore(tmp_path)
    train(None, int(frame.timestamp.min()), int(frame.timestamp.max()) + 1, "robust_zscore", {"window": 6},
          namespace="ns", model="m", store=store, frame=frame, record=False)
    stored = load_scorer(parse_model_ref("ns", "m"), store=store)
    assert isinstance(stored, TrainedModel)
    assert (stored.model_id, stored.version, stored.fit_on_window) == ("ns/m/1", "1", False)
    _check_scorer(stored, frame)

    for ref in (parse_model_ref("ns", FALLBACK_ID), parse_model_ref("ns", "not-trained")):
        fallback = load_scorer(ref, store=store)
        assert isinstance(fallback, FallbackScorer)
        assert (fallback.model_id, fallback.version, fallback.fit_on_window) == (FALLBACK_ID, None, True)
        _check_scorer(fallback, frame)


def test_the_loader_refuses_content_other_than_the_recorded(frame, tmp_path):
    store = ModelStore(tmp_path)
    fallback_hash = FallbackScorer().content_hash
    # a recorded model that is gone is an error, never the fallback
    with pytest.raises(NotFoundError, match="recorded content sha256 " + "a" * 64):
        load_scorer(parse_model_ref("ns", "gone"), store=store, expected_sha256="a" * 64)
    with pytest.raises(IntegrityError, match=fallback_hash):
        load_scorer(FallbackModelRef(), expected_sha256="b" * 64)
    assert load_scorer(FallbackModelRef(), expected_sha256=fallback_hash).content_hash == fallback_hash
    # an explicit version that does not exist is not "no model": the store says which exist
    store.put("ns", "m", create("robust_zscore").fit(frame))
    with pytest.raises(NotFoundError, match="versions: 1"):
        load_scorer(parse_model_ref("ns", "m", version="7"), store=store)


def test_the_fallback_fits_each_frame_afresh(frame):
    fallback = FallbackScorer()
    first = fallback.score(frame).rows["raw_score"]
    fallback.score(frame.assign(gled_value=frame.gled_value * 1000))  # another window
    np.testing.assert_array_equal(fallback.score(frame).rows["raw_score"], first)


def test_a_stored_model_reads_the_history_of_its_post_rules_too(tmp_path):
    # the default detector asks for 'suppress', which looks at earlier scores: a run must read
    # the detector's lookback plus the rule's, or the window's first rows score differently
    rng = np.random.default_rng(5)
    x = np.sin(np.arange(600) * 2 * np.pi / 96) + 0.1 * rng.standard_normal(600)
    frame = pd.DataFrame({"host": "h", "timestamp": np.arange(600, dtype=np.int64) * 300_000, "v": x})
    train(None, 0, 600 * 300_000, "default", namespace="ns", model="m", frame=frame,
          store=ModelStore(tmp_path), record=False)
    model = load_scorer(parse_model_ref("ns", "m"), store=ModelStore(tmp_path))
    suppress = [rule for rule in model.post_rules if rule.name == "suppress"]
    assert suppress and suppress[0].lookback > 0
    assert model.lookback == model.detector.lookback + sum(rule.lookback for rule in model.post_rules)
    assert sum(rule.lookback for rule in model.post_rules) == suppress[0].lookback + 2  # missing_data: 2 rows
    assert context_ms(model, 300_000, max_buckets=10**6) == model.lookback * 300_000
    assert context_ms(model, 300_000, max_buckets=3) == 3 * 300_000


def _import_cycles():
    spec = importlib.util.spec_from_file_location("check_import_cycles", REPO / ".ci" / "check_import_cycles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.import_cycles("admon")


def test_no_import_cycle_runs_through_admon_models():
    assert [c for c in _import_cycles() if any(m.startswith("admon.models") for m in c)] == []


def test_admon_models_does_not_import_fastapi():
    code = ("import sys, admon.models.store, admon.models.serving, admon.models.oip, admon.models.reference, "
            "admon.models.training; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('fastapi', 'starlette')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
