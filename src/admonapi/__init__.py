"""``admonapi``: the original name of admon's API, kept so that existing code runs unchanged.

>>> import admonapi, admon
>>> admonapi.SourceConfig is admon.SourceConfig
True
"""

from __future__ import annotations

from typing import Any

import admon
from admon import __all__, __version__  # noqa: F401


def __getattr__(name: str) -> Any:
    return getattr(admon, name)
