"""Model store, training and KServe v2 serving.

* :mod:`admon.models.store` -- ``ModelStore``: versioned, hashed models (local folder or ``s3://``).
* :mod:`admon.models.training` -- ``train``: read -> transform -> fit -> validate -> store.
* :mod:`admon.models.transforms` -- named transforms applied identically at training and inference.
* :mod:`admon.models.serving` -- ``create_router`` (KServe v2 routes), ``V2Client``, ``RemoteModel``.

Names are loaded on first use, so ``import admon.models`` is cheap:

>>> import admon.models as models
>>> models.ModelStore.__name__, models.train.__name__
('ModelStore', 'train')
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
    "create_router": "admon.models.serving",
    "V2Client": "admon.models.serving",
    "RemoteModel": "admon.models.serving",
    "resolve_model": "admon.models.serving",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'admon.models' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
