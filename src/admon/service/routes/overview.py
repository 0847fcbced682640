"""The overview heatmap's JSON (``/api/entities/{id}/overview``, ``/api/projects/{id}/overview``)
and a forecast entity's plot (``/api/entities/{id}/forecast``).

The pages (``/entities/{id}/overview``, ``/projects/{id}/overview``, in :mod:`.ui`) draw it with
uPlot from these endpoints; :mod:`admon.service.overview` builds it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from admon.service import forecast_view, overview, views
from admon.service.deps import IdPath, SessionDep, SettingsDep, TimeQuery, ViewerDep

router = APIRouter(prefix="/api", tags=["overview"])


@router.get("/entities/{entity_id}/overview")
def entity_overview(entity_id: IdPath, s: SessionDep, viewer: ViewerDep, start: TimeQuery = None,
                    end: TimeQuery = None) -> dict:
    """Worst score per group (rows, worst first) and time bucket (columns) in ``[start, end)``
    (default: the last day of results): ``groups`` (each with its group keys, worst score and
    severity), ``buckets`` (each bucket's start, epoch ms), ``scores`` and ``severities``
    (one row per group, one value per bucket; null: no result, or not anomalous) and the
    ``incidents`` overlapping the range (``row``: the index of their group)."""
    return overview.entity_overview(s, viewer, entity_id, start, end)


@router.get("/projects/{project_id}/overview")
def project_overview(project_id: IdPath, s: SessionDep, viewer: ViewerDep, start: TimeQuery = None,
                     end: TimeQuery = None) -> dict:
    """The entity overview over every entity of the project the caller may see: one row per
    entity and group, worst first."""
    return overview.project_overview(s, viewer, project_id, start, end)


@router.get("/entities/{entity_id}/forecast")
def forecast_plot(entity_id: IdPath, s: SessionDep, viewer: ViewerDep, settings: SettingsDep,
                  start: TimeQuery = None, end: TimeQuery = None,
                  group: Annotated[str | None, Query(max_length=4000, description="link, e.g. "
                                                     "source_se=A,dest_se=B (default: the first)")] = None) -> dict:
    """A forecast entity's link over ``[start, end)``: its ``history``, the ``forecast`` (at each
    time, the newest run's forecast made before it: ``mean``, ``lower``, ``upper``), the newest
    run's forecast (``latest``), the rule's ``threshold`` and the ``episodes`` it predicted
    (``announced``: a notice was sent)."""
    return forecast_view.forecast_plot(s, viewer, settings, entity_id, start, end, views.parse_group(group))
