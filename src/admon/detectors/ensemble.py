"""An ensemble of calibrated scores: no single algorithm wins, so combine several.

Each member is any registered detector (``{"name": ..., **params}``). After
fitting, each member's training scores fit a :class:`~admon.detectors.postrules.Calibrator`,
so every member speaks the same 0-100 language; the ensemble score is their
mean (or max).

>>> import numpy as np, pandas as pd
>>> from admon.detectors import create
>>> rng = np.random.default_rng(0)
>>> frame = pd.DataFrame({"host": "h", "timestamp": np.arange(300, dtype="int64") * 300_000,
...                       "cpu": rng.normal(size=300)})
>>> frame.loc[200, "cpu"] = 12.0
>>> ens = create("ensemble", members=[{"name": "robust_zscore"}, {"name": "isolation_forest"}])
>>> int(ens.fit(frame).score(frame).idxmax())
200
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from admon.detectors import from_config, register
from admon.detectors.base import Detector, DetectorConfig
from admon.detectors.postrules import Calibrator, contributions


class EnsembleConfig(DetectorConfig):
    members: tuple[dict[str, Any], ...] = Field(
        ({"name": "robust_zscore"}, {"name": "ewma"}, {"name": "isolation_forest"}),
        description="Member detector configs, each {'name': ..., **params}.",
    )
    combine: Literal["mean", "max"] = "mean"

    @field_validator("members")
    @classmethod
    def _members_are_valid(cls, members: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
        if not members:
            raise ValueError("an ensemble needs at least one member, e.g. [{'name': 'robust_zscore'}]")
        for m in members:
            if m.get("name") == "ensemble":
                raise ValueError("an ensemble cannot contain an ensemble")
            from_config(dict(m))  # raises ConfigError naming a bad name or parameter
        return members


@register("ensemble")
class Ensemble(Detector):
    """Mean (or max) of the members' calibrated 0-100 scores."""

    Config = EnsembleConfig
    multivariate = True

    @property
    def lookback(self) -> int:
        members = getattr(self, "members_", None) or [from_config(dict(m)) for m in self.config.members]
        return max(m.lookback for m in members)

    def _member(self, spec: dict[str, Any]) -> Detector:
        spec = dict(spec)
        spec.setdefault("features", self.feature_columns_)
        spec.setdefault("group_by", self.group_columns_)
        return from_config(spec)

    def _fit(self, frame: pd.DataFrame) -> None:
        self.members_ = [self._member(m).fit(frame) for m in self.config.members]
        self.calibrators_ = [Calibrator().fit(m.score(frame)).to_dict() for m in self.members_]

    def _calibrated(self, frame: pd.DataFrame) -> np.ndarray:
        cols = []
        for member, cal in zip(self.members_, self.calibrators_, strict=True):
            cols.append(Calibrator.from_dict(cal).transform(member.score(frame).to_numpy()))
        return np.column_stack(cols)

    def _score(self, frame: pd.DataFrame) -> np.ndarray:
        c = self._calibrated(frame)
        return c.max(axis=1) if self.config.combine == "max" else c.mean(axis=1)

    def _feature_scores(self, frame: pd.DataFrame) -> np.ndarray | None:
        # average of the members' feature shares, weighted by each member's calibrated score
        c = self._calibrated(frame)
        total = np.zeros((len(frame), len(self.feature_columns_)))
        for j, member in enumerate(self.members_):
            total += contributions(member, frame).to_numpy() * c[:, [j]]
        return total

    def _state(self) -> dict[str, Any]:
        state = super()._state()
        state.pop("members_", None)
        return state

    def _save_extra(self, directory: Path) -> None:
        for i, member in enumerate(self.members_):
            member.save(directory / f"member_{i}")

    def _load_extra(self, directory: Path) -> None:
        self.members_ = [Detector.load(directory / f"member_{i}") for i in range(len(self.config.members))]
