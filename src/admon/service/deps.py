"""Typed dependencies of the routes: ``SettingsDep``, ``SessionDep``, ``ViewerDep``.

A route declares what it needs by type, e.g. ``def read(s: SessionDep, viewer: ViewerDep)``.
The session commits when the route returned and rolls back when it raised, before
the response is sent, so a failed request leaves nothing half-written.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from admon.service import repo
from admon.service.access import AuthenticationError, Viewer
from admon.settings import Settings

#: Name of the cookie the web UI keeps the API token in after login.
TOKEN_COOKIE = "admon_token"


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


def get_viewer(request: Request, s: SessionDep) -> Viewer:
    viewer = repo.viewer_for_token(s, bearer_token(request))
    # Hand the connection back to the pool while the request waits for a worker thread for the
    # route itself: a connection held across that wait starves the pool under load.
    s.commit()
    return viewer


ViewerDep = Annotated[Viewer, Depends(get_viewer)]
