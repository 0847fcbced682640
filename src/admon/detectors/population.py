"""Peer analysis: each group scored against the other groups in the same bucket.

Elastic calls it a population job. Hosts behind one service usually move together: the
same daily shape, the same load. A host that drifts away from its peers is anomalous
even while it stays inside its own past range (a host half a day out of phase still
shows values it has shown before, just at the wrong time), which no per-group detector
can see.

**Score.** At each timestamp the peers are the groups with a value in that bucket. Per
feature, the score of group ``g`` is how far it sits from the peers' median, in units of
the peers' spread, after removing ``g``'s usual offset::

    z = |(x_g - median_peers) / spread - usual_offset_g|
    spread = max(1.4826 * MAD_peers (this bucket), usual_spread)

``usual_spread`` (per feature) and ``usual_offset_g`` (per group and feature) are what
:meth:`PopulationDetector.fit` learns: the median over the training buckets of the peers'
spread, and each group's median standardised offset (a bigger host that is always twice
as loaded is not an anomaly). The spread of the current bucket is a floor, so a bucket
where every host scatters (a rollout) does not make each of them anomalous. The median
includes ``g``, so one deviant among ``min_peers`` others moves it little. A bucket with
fewer than ``min_peers`` other groups is not scored (0): peers are too few to compare.

Causal per bucket: a score depends only on that bucket's values and the fitted state
(``lookback`` 0). It is **cross-group** (:attr:`~admon.detectors.base.Detector.cross_group`):
a group's score depends on the other groups, so it is computed over a whole entity at
once, never group by group (the Spark adapter runs it in one task per frame).
:meth:`PopulationDetector.explain` shows, per row, how many peers it was compared with and
their median and spread.

>>> import numpy as np, pandas as pd
>>> rows = [{"host": f"h{i}", "timestamp": t * 300_000, "load": 10.0 + np.sin(t / 3) + 0.01 * i}
...         for i in range(6) for t in range(48)]
>>> frame = pd.DataFrame(rows)
>>> det = PopulationDetector().fit(frame)
>>> late = frame.copy()
>>> late.loc[late["host"] == "h5", "load"] = 10.0 + np.sin((late["timestamp"] / 300_000 - 9) / 3)
>>> scores = det.score(late).groupby(late["host"]).max()
>>> bool(scores["h5"] > 5 * scores.drop("h5").max())
True
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from admon.detectors import register
from admon.detectors.base import TIMESTAMP, Detector, DetectorConfig

MAD_TO_SIGMA = 1.4826


class PopulationConfig(DetectorConfig):
    min_peers: int = Field(3, ge=1, description="Other groups a bucket needs before a group in it is scored.")
    aggregate: Literal["max", "mean"] = Field("max", description="How per-feature scores combine.")


@register("population")
class PopulationDetector(Detector):
    """Each group against its peers in the same bucket (see the module docstring)."""

    Config = PopulationConfig
    cross_group: ClassVar[bool] = True

    def _fit(self, frame: pd.DataFrame) -> None:
        values, keys, median, scale, _ = self._peer_stats(frame)
        with np.errstate(all="ignore"):
            usual = np.nanmedian(np.where(np.isfinite(scale), scale, np.nan), axis=0)
            level = np.nanmedian(np.abs(values), axis=0)
        # a floor for series whose peers agree exactly (constant, or quantised to one value)
        floor = np.maximum(1e-6 * np.nan_to_num(level, nan=0.0), 1e-12)
        self.usual_spread_ = np.where(np.isfinite(usual), np.maximum(usual, floor), floor).tolist()
        standardised = (values - median) / np.asarray(self.usual_spread_)[None, :]
        offsets = pd.DataFrame(standardised).groupby(keys).median()
        self.usual_offsets_ = {str(k): [float(v) if np.isfinite(v) else 0.0 for v in row]
                               for k, row in zip(offsets.index, offsets.to_numpy(), strict=True)}

    def _feature_scores(self, frame: pd.DataFrame) -> np.ndarray:
        values, keys, median, scale, peers = self._peer_stats(frame)
        spread = np.fmax(scale, np.asarray(self.usual_spread_)[None, :])
        zero = [0.0] * len(self.feature_columns_)
        offset = np.asarray([self.usual_offsets_.get(k, zero) for k in keys], dtype=float).reshape(values.shape)
        with np.errstate(all="ignore"):
            z = np.abs((values - median) / spread - offset)
        enough = (peers >= self.config.min_peers)[:, None]
        return np.where(enough & np.isfinite(z), z, 0.0)

    def _score(self, frame: pd.DataFrame) -> np.ndarray:
        per_feature = self._feature_scores(frame)
        return per_feature.max(axis=1) if self.config.aggregate == "max" else per_feature.mean(axis=1)

    def explain(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per row of ``frame``: ``peers`` (other groups in its bucket), and per feature the peers'
        ``median_<feature>`` and the ``spread_<feature>`` its distance was measured in."""
        self._check_scorable(frame)
        _, _, median, scale, peers = self._peer_stats(frame)
        spread = np.fmax(scale, np.asarray(self.usual_spread_)[None, :])
        out: dict[str, Any] = {"peers": peers}
        for j, feature in enumerate(self.feature_columns_):
            out[f"median_{feature}"] = median[:, j]
            out[f"spread_{feature}"] = spread[:, j]
        return pd.DataFrame(out, index=frame.index)

    def _peer_stats(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray, np.ndarray]:
        """Per row: its values, its group key, and its bucket's peer median, peer spread
        (1.4826 MAD) and number of other groups with a value (per row: any feature)."""
        values = frame[self.feature_columns_].to_numpy(dtype=float, na_value=np.nan)
        values = np.where(np.isfinite(values), values, np.nan)
        keys = self._group_keys(frame)
        bucket = frame[TIMESTAMP].to_numpy()
        table = pd.DataFrame(values, columns=range(values.shape[1]))
        by_bucket = table.groupby(bucket)
        median = by_bucket.transform("median").to_numpy(dtype=float)
        deviation = (table - median).abs()
        scale = deviation.groupby(bucket).transform("median").to_numpy(dtype=float) * MAD_TO_SIGMA
        present = pd.Series(np.isfinite(values).any(axis=1), index=frame.index)
        peers = present.groupby(bucket).transform("sum").to_numpy(dtype=int) - present.to_numpy(dtype=int)
        return values, keys, median, scale, peers

    def _group_keys(self, frame: pd.DataFrame) -> list[str]:
        if not self.group_columns_:
            return [""] * len(frame)
        first, *rest = (frame[c].astype(str) for c in self.group_columns_)
        return (first.str.cat(list(rest), sep="\x1f") if rest else first).tolist()
