"""Which windows a detection entity runs: ``[t - interval, t)``, ``t`` aligned to the slide.

>>> H, Q = 3_600_000, 900_000
>>> window_ends(0, 2 * H, interval_ms=H, slide_ms=Q)[:3]
[3600000, 4500000, 5400000]
>>> due_window_ends(last_end=None, start_ms=0, now_ms=H + 1, delay_ms=0, slide_ms=Q, max_windows=96)
[0, 900000, 1800000, 2700000, 3600000]
>>> due_window_ends(last_end=0, start_ms=0, now_ms=100 * Q, delay_ms=0, slide_ms=Q, max_windows=3)
[88200000, 89100000, 90000000]
>>> due_window_ends(last_end=3 * Q, start_ms=0, now_ms=4 * Q + 10, delay_ms=60_000, slide_ms=Q,
...                 max_windows=96)
[]
"""

from __future__ import annotations

from admon.timeutil import align_down


def align_up(ts_ms: int, step_ms: int) -> int:
    """The earliest multiple of ``step_ms`` that is ``>= ts_ms``."""
    return -((-ts_ms) // step_ms) * step_ms


def window_ends(start_ms: int, end_ms: int, *, interval_ms: int, slide_ms: int) -> list[int]:
    """Ends ``t`` (aligned to the slide) of the windows ``[t - interval, t)`` inside ``[start, end]``."""
    first = align_up(start_ms + interval_ms, slide_ms)
    last = align_down(end_ms, slide_ms)
    return list(range(first, last + 1, slide_ms)) if last >= first else []


def due_window_ends(*, last_end: int | None, start_ms: int, now_ms: int, delay_ms: int, slide_ms: int,
                    max_windows: int) -> list[int]:
    """Window ends the scheduler owes an entity at ``now_ms``, oldest first.

    After ``last_end`` (the newest window already recorded) or, for a new entity, from
    ``start_ms`` on; up to ``now - delay`` (late data); at most the newest ``max_windows``
    (catch-up after downtime is bounded; older gaps are left to ``admon run``).
    """
    latest = align_down(now_ms - delay_ms, slide_ms)
    first = last_end + slide_ms if last_end is not None else align_up(start_ms, slide_ms)
    if latest < first:
        return []
    first = max(first, latest - (max_windows - 1) * slide_ms)
    return list(range(first, latest + 1, slide_ms))
