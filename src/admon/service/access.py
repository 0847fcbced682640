"""Who is asking, and what they may see and change.

A :class:`Viewer` is the caller of one request: a user (with their groups) or
the anonymous viewer. One rule decides visibility everywhere in the service: a
private project -- and everything under it -- exists only for members of its
``egroup`` (and admins); for everybody else it is *not found*, never
*forbidden*, so its existence does not leak. Writes need membership.

>>> p = type("P", (), {"is_private": True, "egroup": "ops", "title": "secret", "id": 1})()
>>> can_see(ANONYMOUS, p), can_see(Viewer(1, "ann", frozenset({"ops"})), p)
(False, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from admon.errors import NotFoundError, PermissionDeniedError


class AuthenticationError(PermissionDeniedError):
    """No valid credentials were given for something that needs them (HTTP 401)."""

    http_status = 401


@dataclass(frozen=True)
class Viewer:
    """The caller of a request."""

    user_id: int | None
    username: str | None
    groups: frozenset[str] = field(default_factory=frozenset)
    is_admin: bool = False

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None


ANONYMOUS = Viewer(None, None)


def can_see(viewer: Viewer, project: Any) -> bool:
    """Public projects are visible to all; private ones to their egroup's members and admins."""
    return (not project.is_private) or viewer.is_admin or (
        project.egroup is not None and project.egroup in viewer.groups
    )


def can_write(viewer: Viewer, project: Any) -> bool:
    """Only members of the owning egroup (and admins) change a project and what is under it."""
    return viewer.is_admin or (project.egroup is not None and project.egroup in viewer.groups)


def check_visible(viewer: Viewer, project: Any, what: str) -> None:
    """Raise the same :class:`NotFoundError` for a hidden thing as for a missing one."""
    if not can_see(viewer, project):
        raise NotFoundError(f"no {what}")


def check_writable(viewer: Viewer, project: Any) -> None:
    """Raise 401 for the anonymous caller, 403 for a non-member (the project itself is visible)."""
    if not viewer.is_authenticated:
        raise AuthenticationError(
            "this change needs an API token: send 'Authorization: Bearer <token>' "
            "(create one with `admon token create --user NAME`)"
        )
    if not can_write(viewer, project):
        raise PermissionDeniedError(
            f"user {viewer.username!r} is not a member of group {project.egroup!r}, which owns "
            f"project {project.title!r}; ask an owner to run `admon user add {viewer.username} "
            f"--group {project.egroup}`"
        )
