"""Time and window arithmetic, in one place for the data path, the scheduler and the UI.

All instants are epoch milliseconds (UTC) as ``int``.

>>> to_epoch_ms("2022-05-10T08:00:00Z")
1652169600000
>>> bucket_start(1652169659999, 60_000)
1652169600000
>>> [d.isoformat() for d in days_overlapping(1652169600000, 1652169600000 + 57_600_001)]
['2022-05-10', '2022-05-11']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from admon.errors import ConfigError

MS_PER_DAY = 86_400_000
# The documented range of instants admon accepts, in epoch ms: [1970-01-01, 2200-01-01).
# A lake row outside it is skipped and counted (timestamp_out_of_range); windows and
# request parameters are checked against it too.
MIN_TIMESTAMP_MS = 0
MAX_TIMESTAMP_MS = 7_258_118_400_000
TimeLike = int | float | str | dt.datetime | dt.date


def to_epoch_ms(value: TimeLike) -> int:
    """Epoch milliseconds from an int (already ms), a datetime (naive = UTC) or an ISO string."""
    if isinstance(value, bool):
        raise ConfigError(f"time value {value!r} is a boolean; give epoch ms, a datetime or ISO text")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"time value {value!r} is not finite; give epoch ms")
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        try:
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(
                f"time value {value!r} is not an ISO date/time; use e.g. '2022-05-10T08:00:00Z'"
            ) from None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return int(round(value.timestamp() * 1000))
    if isinstance(value, dt.date):
        return to_epoch_ms(dt.datetime(value.year, value.month, value.day))
    raise ConfigError(
        f"time value {value!r} of type {type(value).__name__} is not understood; "
        "give epoch ms, a datetime or ISO text"
    )


def check_window(start: TimeLike, end: TimeLike) -> tuple[int, int]:
    """``(start_ms, end_ms)`` of a half-open window, or a clear error if it is empty or reversed."""
    start_ms, end_ms = to_epoch_ms(start), to_epoch_ms(end)
    if end_ms <= start_ms:
        raise ConfigError(
            f"window end {format_ms(end_ms)} is not after start {format_ms(start_ms)}; swap them"
        )
    return start_ms, end_ms


def bucket_start(ts_ms: int, interval_ms: int) -> int:
    """Start of the bucket holding ``ts_ms``: ``floor(ts / interval) * interval``."""
    return (ts_ms // interval_ms) * interval_ms


def align_down(ts_ms: int, step_ms: int) -> int:
    """The latest multiple of ``step_ms`` that is ``<= ts_ms`` (same as :func:`bucket_start`)."""
    return bucket_start(ts_ms, step_ms)


def days_overlapping(start_ms: int, end_ms: int) -> Iterator[dt.date]:
    """UTC calendar days that overlap the half-open window ``[start_ms, end_ms)``."""
    day = dt.datetime.fromtimestamp(start_ms / 1000, dt.UTC).date()
    last = dt.datetime.fromtimestamp((end_ms - 1) / 1000, dt.UTC).date()
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


def format_ms(ts_ms: int) -> str:
    """ISO text of an epoch-ms instant, for messages and reports."""
    return dt.datetime.fromtimestamp(ts_ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z")


def now_ms() -> int:
    """The current time in epoch ms."""
    return int(dt.datetime.now(dt.UTC).timestamp() * 1000)
