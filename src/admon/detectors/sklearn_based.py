"""Multivariate detectors from scikit-learn and PyOD: Isolation Forest, LOF, One-Class SVM,
PCA reconstruction, HBOS.

(PyOD's ECOD is left out on purpose: its ``decision_function`` recomputes the empirical
CDFs over the training rows *plus the scored batch*, so a row's score would depend
on which other rows are scored with it.)

Each row (one group at one timestamp) is a point in feature space, e.g.
``(gled_value, alice_value)`` of one host; one model serves every group. The
features are scaled with a :class:`~sklearn.preprocessing.RobustScaler` fitted
on the training rows; missing values are replaced by the training medians.
The fitted pipeline is saved with skops (never pickle).

>>> import numpy as np, pandas as pd
>>> from admon.detectors import create
>>> rng = np.random.default_rng(0)
>>> frame = pd.DataFrame({"host": "h", "timestamp": np.arange(300, dtype="int64") * 300_000,
...                       "gled": rng.normal(size=300), "alice": rng.normal(size=300)})
>>> frame.loc[7, ["gled", "alice"]] = [9.0, -9.0]
>>> int(create("isolation_forest", seed=1).fit(frame).score(frame).idxmax())
7
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from pydantic import Field

from admon.detectors import register
from admon.detectors.base import Detector, DetectorConfig


class _SklearnDetector(Detector):
    """Fits ``RobustScaler -> estimator`` on the training rows; score = the estimator's outlyingness."""

    multivariate = True

    def _make_estimator(self):
        raise NotImplementedError

    def _training_rows(self, x: np.ndarray) -> np.ndarray:
        limit = getattr(self.config, "max_train_rows", None)
        if limit is not None and x.shape[0] > limit:
            rng = np.random.default_rng(self.config.seed)
            x = x[np.sort(rng.choice(x.shape[0], size=limit, replace=False))]
        return x

    def _fit(self, frame: pd.DataFrame) -> None:
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import RobustScaler

        x = self._training_rows(self._filled_values(frame))
        # unit_variance keeps scale comparable to a z-score; a constant column gets scale 1
        self.model_ = make_pipeline(RobustScaler(unit_variance=True), self._make_estimator())
        self.model_.fit(x)

    def _score(self, frame: pd.DataFrame) -> np.ndarray:
        return -self.model_.score_samples(self._filled_values(frame))


class IsolationForestConfig(DetectorConfig):
    n_estimators: int = Field(100, ge=1)
    max_samples: int | float | str = Field("auto", description="Rows per tree, as in scikit-learn.")
    max_train_rows: int | None = Field(200_000, ge=10, description="Subsample the training rows.")
    seed: int = 0


@register("isolation_forest")
class IsolationForest(_SklearnDetector):
    """scikit-learn's :class:`~sklearn.ensemble.IsolationForest` (score = minus ``score_samples``)."""

    Config = IsolationForestConfig

    def _make_estimator(self):
        from sklearn.ensemble import IsolationForest as SkIsolationForest

        c = self.config
        return SkIsolationForest(n_estimators=c.n_estimators, max_samples=c.max_samples, random_state=c.seed)


class LofConfig(DetectorConfig):
    n_neighbors: int = Field(20, ge=1)
    max_train_rows: int | None = Field(20_000, ge=10, description="Subsample the training rows.")
    seed: int = 0


@register("lof")
class LocalOutlierFactor(_SklearnDetector):
    """scikit-learn's :class:`~sklearn.neighbors.LocalOutlierFactor` in novelty mode."""

    Config = LofConfig

    def _make_estimator(self):
        from sklearn.neighbors import LocalOutlierFactor as SkLOF

        return SkLOF(n_neighbors=self.config.n_neighbors, novelty=True)

    def _fit(self, frame: pd.DataFrame) -> None:
        # many duplicate rows (e.g. a constant series) make LOF's reachability distances 0:
        # keep fewer neighbours than distinct training rows
        x = self._training_rows(self._filled_values(frame))
        n_distinct = len(np.unique(x, axis=0))
        from sklearn.neighbors import LocalOutlierFactor as SkLOF
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import RobustScaler

        k = max(1, min(self.config.n_neighbors, len(x) - 1, max(n_distinct - 1, 1)))
        self.model_ = make_pipeline(RobustScaler(unit_variance=True), SkLOF(n_neighbors=k, novelty=True))
        self.model_.fit(x)


class OneClassSvmConfig(DetectorConfig):
    nu: float = Field(0.05, gt=0.0, le=1.0)
    kernel: str = "rbf"
    gamma: str | float = "scale"
    max_train_rows: int | None = Field(5_000, ge=10, description="Subsample the training rows (SVM fit is quadratic).")
    seed: int = 0


@register("one_class_svm")
class OneClassSvm(_SklearnDetector):
    """scikit-learn's :class:`~sklearn.svm.OneClassSVM` (score = minus ``score_samples``)."""

    Config = OneClassSvmConfig

    def _make_estimator(self):
        from sklearn.svm import OneClassSVM

        c = self.config
        return OneClassSVM(nu=c.nu, kernel=c.kernel, gamma=c.gamma)


class PcaConfig(DetectorConfig):
    n_components: int | float | None = Field(
        0.95, description="Components kept (an int, or the share of variance as a float < 1)."
    )
    max_train_rows: int | None = Field(200_000, ge=10)
    seed: int = 0


@register("pca")
class PcaReconstruction(_SklearnDetector):
    """Squared reconstruction error of scikit-learn's :class:`~sklearn.decomposition.PCA`.

    Per-feature scores are the squared errors per column, so contributions are native.
    """

    Config = PcaConfig

    def _fit(self, frame: pd.DataFrame) -> None:
        from sklearn.decomposition import PCA
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import RobustScaler

        x = self._training_rows(self._filled_values(frame))
        n_feat = x.shape[1]
        n_comp = self.config.n_components
        if isinstance(n_comp, int):
            n_comp = min(n_comp, n_feat, x.shape[0])
        pca = PCA(n_components=n_comp, random_state=self.config.seed, svd_solver="full")
        self.model_ = make_pipeline(RobustScaler(unit_variance=True), pca)
        with warnings.catch_warnings():  # constant training data: explained-variance ratio is 0/0
            warnings.simplefilter("ignore", RuntimeWarning)
            self.model_.fit(x)
            if n_feat > 1 and pca.n_components_ >= n_feat:
                # every direction kept reconstructs perfectly: keep one less so errors mean something
                self.model_.set_params(pca__n_components=n_feat - 1).fit(x)

    def _feature_scores(self, frame: pd.DataFrame) -> np.ndarray:
        scaler, pca = self.model_[0], self.model_[1]
        z = scaler.transform(self._filled_values(frame))
        if z.shape[1] == 1:  # one feature: the error of the zero-component model, i.e. from the mean
            return (z - pca.mean_) ** 2
        return (z - pca.inverse_transform(pca.transform(z))) ** 2

    def _score(self, frame: pd.DataFrame) -> np.ndarray:
        return self._feature_scores(frame).sum(axis=1)


class _PyodDetector(_SklearnDetector):
    """PyOD estimators: ``decision_function`` is already "higher = more anomalous"."""

    def _score(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model_.decision_function(self._filled_values(frame))


class HbosConfig(DetectorConfig):
    n_bins: int = Field(10, ge=2, description="Histogram bins per feature.")
    alpha: float = Field(0.1, gt=0.0, lt=1.0, description="Regulariser for empty bins.")
    max_train_rows: int | None = Field(200_000, ge=10)
    seed: int = 0


@register("hbos")
class Hbos(_PyodDetector):
    """PyOD's Histogram-Based Outlier Score: per-feature histograms, fast and parameter-light."""

    Config = HbosConfig

    def _make_estimator(self):
        from pyod.models.hbos import HBOS

        return HBOS(n_bins=self.config.n_bins, alpha=self.config.alpha)
