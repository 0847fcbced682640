"""One conformance suite over every detector in ``admon.detectors.available()``.

The checks live in :mod:`admon.testing.checks`, so a plugin author runs the same
suite on their own detector. It parametrises over the registry at collection time,
so detectors registered by other modules (e.g. the streaming default) are covered
without editing this file.
"""

from __future__ import annotations

import admon.detectors as detectors
from admon.testing.checks import parametrize_with_checks
from tests.detectors.conftest import FAST_PARAMS

NAMES = detectors.available()


def test_builtins_are_registered():
    expected = {"robust_zscore", "ewma", "seasonal_stl", "isolation_forest", "lof", "one_class_svm",
                "pca", "autoencoder", "lstm_forecaster", "ensemble", "hbos", "default"}
    assert expected <= set(NAMES)


@parametrize_with_checks([detectors.create(name, **FAST_PARAMS.get(name, {})) for name in NAMES])
def test_detector_conforms(obj, check):
    check(obj)
