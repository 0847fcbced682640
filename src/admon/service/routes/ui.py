"""Server-rendered pages: projects -> entities -> entity page (plot, runs, results, labels).

Pages use the same repository calls as the API, so a private project is a 404
page for non-members here too. The plot itself is drawn in the browser by
``static/plot.js`` from ``/api/entities/{id}/plot`` (no CDN, works offline).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from admon.errors import AuthenticationError
from admon.service import repo, views
from admon.service.access import can_write
from admon.service.deps import TOKEN_COOKIE, IdPath, SessionDep, TimeQuery, ViewerDep
from admon.timeutil import format_ms

router = APIRouter(include_in_schema=False)

#: Colours of the run stages in the Gantt view, by position.
STAGE_COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#e15759"]
STATUS_COLOURS = {"succeeded": "#2e7d32", "failed": "#c62828", "running": "#1565c0",
                  "retrying": "#ef6c00", "pending": "#757575"}


def _page(request: Request, name: str, viewer, **context) -> HTMLResponse:
    templates = request.app.state.templates
    return templates.TemplateResponse(request, name, {"viewer": viewer, "fmt": format_ms, **context})


def _safe_next(target: str | None) -> str:
    """``target`` if it is a path of this site (query included), else ``/``.

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


@router.get("/entities/{entity_id}")
def entity_page(
    entity_id: IdPath,
    request: Request,
    s: SessionDep,
    viewer: ViewerDep,
    start: TimeQuery = None,
    end: TimeQuery = None,
    group: Annotated[str | None, Query(max_length=4000)] = None,
) -> HTMLResponse:
    entity, project = repo.get_entity(s, viewer, entity_id)
    start_ms, end_ms = views.resolve_range(s, entity, start, end)
    chosen = views.parse_group(group)
    runs = list(repo.list_runs(s, viewer, entity_id, 50))
    results = repo.list_results(s, viewer, entity_id, start_ms, end_ms, group=chosen or None)
    anomalies = [r for r in results if r.is_anomaly]
    return _page(
        request, "entity.html", viewer,
        entity=entity, project=project, start_ms=start_ms, end_ms=end_ms, group=views.group_text(chosen),
        runs=runs, gantt=_gantt(runs), anomalies=anomalies, results=results[-200:][::-1],
        n_results=len(results), can_write=can_write(viewer, project) if viewer.is_authenticated else False,
        idc=entity.input_data_config, status_colours=STATUS_COLOURS,
    )


def _gantt(runs) -> dict:
    """Rows of stage bars (offset and width in seconds) for the run-history view."""
    stages: list[str] = []
    rows = []
    for run in runs:
        timings = {k: v for k, v in (run.timings or {}).items() if not k.startswith("total")}
        for name in timings:
            if name not in stages:
                stages.append(name)
        offset, bars = 0.0, []
        for name, seconds in timings.items():
            seconds = float(seconds or 0.0)
            bars.append({"stage": name, "offset": offset, "width": seconds})
            offset += seconds
        # the recorded total (or the wall time) also covers what no stage accounts for
        recorded = next((float(v) for k, v in (run.timings or {}).items() if k.startswith("total") and v), None)
        wall = recorded or (((run.finished_ms - run.started_ms) / 1000) if run.finished_ms and run.started_ms
                            else offset)
        rows.append({"run": run, "bars": bars, "total": max(offset, wall)})
    longest = max((r["total"] for r in rows), default=0.0) or 1.0
    colours = {name: STAGE_COLOURS[i % len(STAGE_COLOURS)] for i, name in enumerate(stages)}
    return {"rows": rows, "longest": longest, "stages": stages, "colours": colours}
