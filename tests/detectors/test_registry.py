from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import admon.detectors as detectors
from admon.detectors.base import Detector, DetectorConfig
from admon.errors import ConfigError, DataError


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ConfigError) as exc:
        detectors.create("isolation_frest")
    assert "isolation_frest" in str(exc.value)
    assert "isolation_forest" in str(exc.value) and "robust_zscore" in str(exc.value)


def test_unknown_param_names_it_and_the_valid_ones():
    with pytest.raises(ConfigError) as exc:
        detectors.from_config({"name": "ewma", "alpha": 0.2, "beta": 1})
    assert "'beta'" in str(exc.value) and "alpha" in str(exc.value)


def test_bad_value_is_a_config_error():
    with pytest.raises(ConfigError, match="alpha"):
        detectors.create("ewma", alpha=3.0)


def test_from_config_needs_a_name():
    with pytest.raises(ConfigError, match="name"):
        detectors.from_config({"window": 3})


def test_register_a_custom_detector_and_round_trip(tmp_path):
    class ShiftConfig(DetectorConfig):
        shift: float = 1.0

    @detectors.register("test_shift")
    class Shift(Detector):
        Config = ShiftConfig

        def _fit(self, frame):
            self.mean_ = float(np.nanmean(self._values(frame)))

        def _score(self, frame):
            return np.abs(self._values(frame)[:, 0] - self.mean_) + self.config.shift

    try:
        assert "test_shift" in detectors.available()
        frame = pd.DataFrame({"host": ["a", "b"], "timestamp": [0, 0], "v": [1.0, 3.0]})
        det = detectors.from_config({"name": "test_shift", "shift": 0.5}).fit(frame)
        assert det.score(frame).tolist() == [1.5, 1.5]
        det.save(tmp_path)
        again = Detector.load(tmp_path)
        assert isinstance(again, Shift) and again.mean_ == 2.0
    finally:
        detectors.unregister("test_shift")
    assert "test_shift" not in detectors.available()


def test_register_rejects_non_detectors_and_bad_names():
    with pytest.raises(ConfigError):
        detectors.register("Bad Name")
    with pytest.raises(ConfigError):
        detectors.register("not_a_detector")(int)


def test_import_does_not_load_heavy_libraries():
    code = (
        "import sys, admon.detectors as d; names = d.available(); "
        "heavy = [m for m in ('torch', 'sklearn', 'statsmodels', 'pyod') if m in sys.modules]; "
        "print(len(names), heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("[]"), out


def test_group_and_feature_resolution():
    frame = pd.DataFrame({"host": ["a"], "dc": ["x"], "timestamp": [0], "v": [1.0], "w": [2.0]})
    det = detectors.create("robust_zscore").fit(frame)
    assert det.group_columns_ == ["host", "dc"] and det.feature_columns_ == ["v", "w"]
    det = detectors.create("robust_zscore", features=["w"], group_by=["host"]).fit(frame)
    assert det.group_columns_ == ["host"] and det.feature_columns_ == ["w"]


def test_missing_columns_and_bad_frames_are_data_errors():
    frame = pd.DataFrame({"host": ["a", "a"], "timestamp": [0, 1], "v": [1.0, 2.0]})
    det = detectors.create("robust_zscore").fit(frame)
    with pytest.raises(DataError, match="'v'"):
        det.score(frame.drop(columns="v"))
    with pytest.raises(DataError, match="timestamp"):
        det.score(frame.assign(timestamp=["a", "b"]))
    with pytest.raises(DataError, match="DataFrame"):
        det.score([1, 2])
    with pytest.raises(DataError, match="empty"):
        detectors.create("robust_zscore").fit(frame.iloc[0:0])
    with pytest.raises(DataError, match="missing"):
        detectors.create("robust_zscore").fit(frame.assign(v=np.nan))
    with pytest.raises(DataError, match="nope"):
        detectors.create("robust_zscore", features=["nope"]).fit(frame)


def test_load_refuses_untrusted_skops_types(tmp_path, frame):
    import skops.io as sio

    det = detectors.create("isolation_forest", n_estimators=5).fit(frame)
    det.save(tmp_path)
    # replace the model with an object of a type outside the allow-list
    sio.dump({"x": pd.Timestamp("2020-01-01")}, tmp_path / "model_.skops")
    with pytest.raises(DataError, match="allow-list"):
        Detector.load(tmp_path)


def test_load_refuses_builtins_in_skops_files(tmp_path, frame):
    import skops.io as sio

    detectors.create("isolation_forest", n_estimators=5).fit(frame).save(tmp_path)
    sio.dump({"f": eval}, tmp_path / "model_.skops")
    with pytest.raises(DataError, match="builtins"):
        Detector.load(tmp_path)


def test_load_refuses_state_that_is_not_fitted_attributes(tmp_path, frame):
    import json

    detectors.create("robust_zscore").fit(frame).save(tmp_path)
    doc = json.loads((tmp_path / "detector.json").read_text())
    doc["state"]["_score"] = "x"
    (tmp_path / "detector.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match="_score"):
        Detector.load(tmp_path)
