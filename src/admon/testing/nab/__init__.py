"""A small NAB-format corpus with stored detector outputs and NAB's reference scores (MIT).

>>> from admon.testing.nab import FIXTURE_ROOT
>>> sorted(p.name for p in (FIXTURE_ROOT / "data").iterdir())
['realAWSCloudwatch', 'realAdExchange']
"""

from __future__ import annotations

from pathlib import Path

FIXTURE_ROOT = Path(__file__).resolve().parent

