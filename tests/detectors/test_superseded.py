"""A model saved as ``default`` before the name passed to the event detector (issue 14) still
loads: with the old detector, now kept as ``default_v1``, and the same scores."""

from __future__ import annotations

import json

import numpy as np

import admon.detectors as detectors
from admon.detectors.base import STATE_JSON, Detector
from admon.testing.checks import make_frame


def test_a_model_saved_under_default_by_the_old_detector_loads_with_it(tmp_path):
    frame = make_frame(n=120)
    old = detectors.create("default_v1").fit(frame)
    old.save(tmp_path)
    doc = json.loads((tmp_path / STATE_JSON).read_text())
    doc["config"]["name"] = "default"  # as the old detector wrote it when it was `default`
    (tmp_path / STATE_JSON).write_text(json.dumps(doc))
    loaded = Detector.load(tmp_path)
    assert loaded.name == "default_v1"
    np.testing.assert_array_equal(loaded.score(frame).to_numpy(), old.score(frame).to_numpy())


def test_a_model_of_the_new_default_loads_as_the_new_default(tmp_path):
    frame = make_frame(n=120)
    new = detectors.create("default").fit(frame)
    new.save(tmp_path)
    assert type(Detector.load(tmp_path)) is type(new)
