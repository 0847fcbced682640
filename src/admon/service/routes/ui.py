"""Server-rendered pages: projects -> entities -> entity page (plot, runs, results, labels).

Pages use the same repository calls as the API, so a private project is a 404
page for non-members here too. Charts are drawn in the browser with uPlot, vendored under
``static/vendor/uplot`` (no CDN, works offline): the plot (``static/timeseries.js``) from
``/api/entities/{id}/plot``, the run history (``static/runs_chart.js``) and the overview
heatmap (``static/overview.js``) from JSON embedded in the page.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from admon.errors import AuthenticationError
from admon.registry import thresholds as registry_thresholds
from admon.service import forecast_view, overview, repo, views
from admon.service.access import can_write
from admon.service.deps import TOKEN_COOKIE, IdPath, SessionDep, SettingsDep, TimeQuery, ViewerDep
from admon.timeutil import format_ms

router = APIRouter(include_in_schema=False)

#: Colours of the run stages in the run-history chart, by position.
STAGE_COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#e15759"]
STATUS_COLOURS = {"succeeded": "#2e7d32", "failed": "#c62828", "running": "#1565c0",
                  "retrying": "#ef6c00", "pending": "#757575"}


def _page(request: Request, name: str, viewer, **context) -> HTMLResponse:
    templates = request.app.state.templates
    return templates.TemplateResponse(request, name, {"viewer": viewer, "fmt": format_ms, **context})


def _safe_next(target: str | None) -> str:
    r"""``target`` if it is a path of this site (query included), else ``/``.

    >>> _safe_next("/entities/3?group=host%3Dh3"), _safe_next("https://evil.example"), _safe_next("/\\evil.example")
    ('/entities/3?group=host%3Dh3', '/', '/')
    """
    # Never redirect to another site after login. Browsers read "\" as "/" and drop tabs and
    # newlines, so "/\evil.example" or "/<TAB>/evil.example" would leave the site as "//" does.
    if (not target or not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(ch < " " or ch == "\x7f" for ch in target)):
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc else target


@router.get("/login")
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return _page(request, "login.html", None, next=_safe_next(next), error=None)


@router.post("/login")
def login(request: Request, s: SessionDep, token: Annotated[str, Form()], next: Annotated[str, Form()] = "/"):
    try:
        viewer = repo.viewer_for_token(s, token.strip())
    except AuthenticationError as exc:
        return _page(request, "login.html", None, next=_safe_next(next), error=str(exc))
    if not viewer.is_authenticated:
        return _page(request, "login.html", None, next=_safe_next(next), error="paste an API token")
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(TOKEN_COOKIE, token.strip(), httponly=True, samesite="strict", max_age=7 * 86400)
    return response


@router.post("/logout")
def logout() -> RedirectResponse:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(TOKEN_COOKIE)
    return response


@router.get("/")
def projects_page(request: Request, s: SessionDep, viewer: ViewerDep) -> HTMLResponse:
    projects = repo.list_projects(s, viewer)
    entities = repo.list_entities(s, viewer)
    counts = {p.id: sum(1 for e in entities if e.project_id == p.id) for p in projects}
    return _page(request, "projects.html", viewer, projects=projects, counts=counts)


@router.get("/projects/{project_id}")
def project_page(project_id: IdPath, request: Request, s: SessionDep, viewer: ViewerDep) -> HTMLResponse:
    project = repo.get_project(s, viewer, project_id)
    entities = repo.list_entities(s, viewer, project_id)
    last_runs = {e.id: next(iter(repo.list_runs(s, viewer, e.id, 1)), None) for e in entities}
    return _page(request, "project.html", viewer, project=project, entities=entities, last_runs=last_runs,
                 status_colours=STATUS_COLOURS)


@router.get("/incidents")
def incidents_page(request: Request, s: SessionDep, viewer: ViewerDep,
                   open_only: Annotated[bool, Query(alias="open")] = False) -> HTMLResponse:
    """Incidents of every entity the viewer may see, open ones first, each linked to its plot
    (span selected) and, for members, with verdict buttons for the whole incident."""
    return _page(request, "incidents.html", viewer, incidents=overview.incident_listing(s, viewer, open_only=open_only),
                 open_only=open_only)


@router.get("/projects/{project_id}/overview")
def project_overview_page(project_id: IdPath, request: Request, s: SessionDep, viewer: ViewerDep,
                          start: TimeQuery = None, end: TimeQuery = None) -> HTMLResponse:
    """The heatmap of every entity and group of the project (drawn by ``static/overview.js``)."""
    data = overview.project_overview(s, viewer, project_id, start, end)
    project = repo.get_project(s, viewer, project_id)
    return _page(request, "overview.html", viewer, data=data, project=project, entity=None,
                 api=f"/api/projects/{project_id}/overview")


@router.get("/entities/{entity_id}/overview")
def entity_overview_page(entity_id: IdPath, request: Request, s: SessionDep, viewer: ViewerDep,
                         start: TimeQuery = None, end: TimeQuery = None) -> HTMLResponse:
    """The heatmap of the entity's groups; a cell opens the entity page on its group and time."""
    data = overview.entity_overview(s, viewer, entity_id, start, end)
    entity, project = repo.get_entity(s, viewer, entity_id)
    return _page(request, "overview.html", viewer, data=data, project=project, entity=entity,
                 api=f"/api/entities/{entity_id}/overview")


@router.get("/entities/{entity_id}/forecast")
def forecast_page(entity_id: IdPath, request: Request, s: SessionDep, viewer: ViewerDep, settings: SettingsDep,
                  start: TimeQuery = None, end: TimeQuery = None,
                  group: Annotated[str | None, Query(max_length=4000)] = None) -> HTMLResponse:
    """A forecast entity's link: history, forecast and band, threshold, predicted episodes
    (drawn by ``static/forecast.js``)."""
    data = forecast_view.forecast_plot(s, viewer, settings, entity_id, start, end, views.parse_group(group))
    entity, project = repo.get_entity(s, viewer, entity_id)
    return _page(request, "forecast.html", viewer, data=data, entity=entity, project=project,
                 group=views.group_text(data["group"]))


@router.get("/entities/{entity_id}")
def entity_page(
    entity_id: IdPath,
    request: Request,
    s: SessionDep,
    viewer: ViewerDep,
    start: TimeQuery = None,
    end: TimeQuery = None,
    group: Annotated[str | None, Query(max_length=4000)] = None,
    focus_start: TimeQuery = None,
    focus_end: TimeQuery = None,
) -> HTMLResponse:
    """The entity's plot, labels, detections, runs and results over ``[start, end)``, of ``group``
    (default: the most anomalous group of the range); ``focus_start``/``focus_end`` (a bucket of the
    overview) are selected on the plot."""
    entity, project = repo.get_entity(s, viewer, entity_id)
    if entity.kind == "forecast":  # a forecast entity has its own page
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"/entities/{entity_id}/forecast{query}", status_code=303)
    start_ms, end_ms = views.resolve_range(s, entity, start, end)
    asked = views.parse_group(group)
    # the plot shows the asked group, else the worst of the range; the tables every group unless asked
    chosen = asked or overview.worst_group(s, entity, start_ms, end_ms) or {}
    focus = (focus_start, focus_end) if focus_start is not None and focus_end is not None and focus_start < focus_end \
        else None
    runs = list(repo.list_runs(s, viewer, entity_id, 50))
    results = repo.list_results(s, viewer, entity_id, start_ms, end_ms, group=asked or None)
    anomalies = [r for r in results if r.is_anomaly]
    return _page(
        request, "entity.html", viewer,
        entity=entity, project=project, start_ms=start_ms, end_ms=end_ms, group=views.group_text(chosen),
        runs=runs, run_history=_run_history(runs), focus=focus, anomalies=anomalies, results=results[-200:][::-1],
        n_results=len(results), can_write=can_write(viewer, project) if viewer.is_authenticated else False,
        idc=entity.input_data_config, status_colours=STATUS_COLOURS,
        threshold=registry_thresholds.describe(s, entity.id),
    )


def _run_history(runs) -> dict:
    """What the run-history chart (``static/runs_chart.js``, uPlot) draws, as JSON: per run (oldest
    first) its window end, status and seconds per stage; the stages in order, and their colours."""
    stages: list[str] = []
    rows = []
    for run in sorted(runs, key=lambda r: r.window_end_ms):
        timings = {k: float(v or 0.0) for k, v in (run.timings or {}).items() if not k.startswith("total")}
        for name in timings:
            if name not in stages:
                stages.append(name)
        # the recorded total (or the wall time) also covers what no stage accounts for
        recorded = next((float(v) for k, v in (run.timings or {}).items() if k.startswith("total") and v), None)
        wall = recorded or (((run.finished_ms - run.started_ms) / 1000) if run.finished_ms and run.started_ms
                            else 0.0)
        rows.append({"id": run.id, "window_start_ms": run.window_start_ms, "window_end_ms": run.window_end_ms,
                     "status": run.status, "timings": timings, "total": max(sum(timings.values()), wall)})
    for row in rows:
        timings = row.pop("timings")
        row["stages"] = [timings.get(name, 0.0) for name in stages]
    return {"runs": rows, "stages": stages,
            "colours": [STAGE_COLOURS[i % len(STAGE_COLOURS)] for i in range(len(stages))],
            "status_colours": STATUS_COLOURS}
