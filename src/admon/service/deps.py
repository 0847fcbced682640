"""Typed dependencies of the routes: ``SettingsDep``, ``SessionDep``, ``ViewerDep``, the
access decision of the model-serving routes (:func:`get_model_grant`), and the checked
parameter types ``IdPath``, ``IdQuery`` and ``TimeQuery``.

A route declares what it needs by type, e.g. ``def read(s: SessionDep, viewer: ViewerDep)``.
The session commits when the route returned and rolls back when it raised, before
the response is sent, so a failed request leaves nothing half-written.

Every id a route takes is ``IdPath``/``IdQuery`` (1 .. 2**63-1) and every time ``TimeQuery``
(epoch ms or ISO text, 1970-01-01 .. 2200-01-01, see :func:`admon.service.schemas.parse_time`),
so a value out of range is a 422 naming the parameter, never a 500 further down.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator

from admon.models.serving import NAME_SEPARATOR, ModelGrant
from admon.registry import repository as registry
from admon.registry.db import Session
from admon.service import repo
from admon.service.access import AuthenticationError, Viewer, can_see_model
from admon.service.schemas import MAX_ID, TIME_RANGE_TEXT, parse_time
from admon.settings import Settings

#: Name of the cookie the web UI keeps the API token in after login.
TOKEN_COOKIE = "admon_token"

#: An id in a path (a project, an entity, an annotation).
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="an id (1 .. 2**63-1)")]
#: An optional id in the query string.
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID, description="an id (1 .. 2**63-1)")]
#: A time in the query string; the route receives checked epoch ms (or None).
TimeQuery = Annotated[str | None, Query(
    description=f"epoch ms or ISO time (e.g. 2022-05-10T00:00:00Z), {TIME_RANGE_TEXT}",
    max_length=64), AfterValidator(parse_time)]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    session = request.app.state.session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def bearer_token(request: Request) -> str | None:
    """The token of ``Authorization: Bearer <token>``, else of the UI's login cookie."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError(
                "the Authorization header must read 'Bearer <token>'; "
                "create a token with `admon token create --user NAME`"
            )
        return token.strip()
    return request.cookies.get(TOKEN_COOKIE) or None


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


#: Declares the bearer scheme in the OpenAPI document (so /docs has an Authorize button). It
#: decides nothing: :func:`bearer_token` reads the header (or the UI's cookie) and explains a bad
#: one, and a route without a token still answers the anonymous viewer.
bearer_scheme = HTTPBearer(auto_error=False, scheme_name="bearer",
                           description="an API token from `admon token create --user NAME`")
BearerDeclared = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


def get_viewer(request: Request, s: SessionDep, _declared: BearerDeclared) -> Viewer:
    viewer = repo.viewer_for_token(s, bearer_token(request))
    # Hand the connection back to the pool while the request waits for a worker thread for the
    # route itself: a connection held across that wait starves the pool under load.
    s.commit()
    return viewer


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


def get_model_grant(name: str, viewer: ViewerDep, s: SessionDep) -> ModelGrant:
    """Whether the caller may use the v2 model ``name`` (``<namespace>:<model>``), and the content
    hashes the registry recorded for it: the rule of :func:`admon.service.access.can_see_model`.

    The v2 routes of :mod:`admon.models.serving` depend on it (mounted by ``create_app``); they
    answer an invisible model exactly as a missing one.
    """
    namespace, sep, model = name.partition(NAME_SEPARATOR)
    if not sep or not namespace or not model:
        return ModelGrant(visible=False)
    users = registry.model_users(s, namespace, model)
    visible = can_see_model(viewer, [project for _, project in users])
    recorded = tuple((e.model_version, e.model_sha256) for e, _ in users if e.model_sha256)
    s.commit()  # release the connection before the (possibly long) load and inference
    return ModelGrant(True, recorded) if visible else ModelGrant(visible=False)
