"""Model store, training, one model reference, and the Open Inference Protocol (KServe v2).

* :mod:`admon.models.store` -- ``ModelStore``: versioned, hashed models (local folder or ``s3://``).
* :mod:`admon.models.training` -- ``train``: read -> transform -> fit -> validate -> store.
* :mod:`admon.models.transforms` -- named transforms applied identically at training and inference.
* :mod:`admon.models.reference` -- ``parse_model_ref`` and ``load_scorer``: the model an entity
  names (stored, remote v2, or the built-in fallback) as one ``Scorer``
  (:mod:`admon.models.scoring`).
* :mod:`admon.models.oip` -- the v2 tensors, ``V2Client`` and ``RemoteScorer``.
* :mod:`admon.models.serving` -- what the v2 routes (:mod:`admon.service.routes.v2`) answer.

Names are loaded on first use, so ``import admon.models`` is cheap:

>>> import admon.models as models
>>> models.ModelStore.__name__, models.train.__name__, models.load_scorer.__name__
('ModelStore', 'train', 'load_scorer')
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ModelStore": "admon.models.store",
    "ModelManifest": "admon.models.store",
    "TrainedModel": "admon.models.store",
    "load": "admon.models.store",
    "train": "admon.models.training",
    "TrainingResult": "admon.models.training",
    "register_transform": "admon.models.transforms",
    "apply_transforms": "admon.models.transforms",
    "Scorer": "admon.models.scoring",
    "Scores": "admon.models.scoring",
    "ModelRef": "admon.models.reference",
    "StoredModelRef": "admon.models.reference",
    "RemoteModelRef": "admon.models.reference",
    "FallbackModelRef": "admon.models.reference",
    "parse_model_ref": "admon.models.reference",
    "load_scorer": "admon.models.reference",
    "V2Client": "admon.models.oip",
    "RemoteScorer": "admon.models.oip",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'admon.models' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
