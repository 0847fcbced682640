"""Who is asking, and what they may see and change.

A :class:`Viewer` is the caller of one request: a user (with their groups) or
the anonymous viewer. One rule decides visibility everywhere in the service: a
private project -- and everything under it -- exists only for members of its
``egroup`` (and admins); for everybody else it is *not found*, never
*forbidden*, so its existence does not leak. Writes need membership.

Reads apply the rule in SQL: :func:`audience` tells the registry's one visibility
filter (:func:`admon.registry.entities.visible_to`) whom a read answers;
:func:`can_see` is the same rule for a project already at hand (model serving).

>>> p = type("P", (), {"is_private": True, "egroup": "ops", "title": "secret", "id": 1})()
>>> can_see(ANONYMOUS, p), can_see(Viewer(1, "ann", frozenset({"ops"})), p)
(False, True)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from admon.errors import AuthenticationError, NotFoundError, PermissionDeniedError  # noqa: F401 - AuthenticationError re-exported
from admon.registry.entities import EVERYTHING, Audience


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


def audience(viewer: Viewer) -> Audience:
    """What ``viewer`` may read, as the registry's visibility filter takes it: an admin sees
    everything, anyone else public projects and the private ones of their groups."""
    return EVERYTHING if viewer.is_admin else Audience(viewer.groups)


def can_see(viewer: Viewer, project: Any) -> bool:
    """Public projects are visible to all; private ones to their egroup's members and admins."""
    return (not project.is_private) or viewer.is_admin or (
        project.egroup is not None and project.egroup in viewer.groups
    )


def can_see_model(viewer: Viewer, projects: Iterable[Any]) -> bool:
    """Who may use a stored model (model serving), from the ``projects`` of the entities running it.

    A model run by an entity of a private project is that project's (its post-rules hold
    quantiles of the project's data): visible to whoever can see one of those private projects.
    A model run only by public projects' entities is public. A model no entity runs belongs to
    no project, so no group vouches for it: it is visible to authenticated callers, never to
    anonymous ones.

    >>> ops = type("P", (), {"is_private": True, "egroup": "ops"})()
    >>> public = type("P", (), {"is_private": False, "egroup": "ops"})()
    >>> ann, bob = Viewer(1, "ann", frozenset({"ops"})), Viewer(2, "bob", frozenset({"other"}))
    >>> can_see_model(bob, [public, ops]), can_see_model(ann, [public, ops]), can_see_model(ANONYMOUS, [public])
    (False, True, True)
    >>> can_see_model(ANONYMOUS, []), can_see_model(bob, [])
    (False, True)
    """
    projects = list(projects)
    if not projects:
        return viewer.is_authenticated
    private = [p for p in projects if p.is_private]
    return not private or any(can_see(viewer, p) for p in private)


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
