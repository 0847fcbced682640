"""``/api/tokens``: the caller's own API tokens, listed and revoked (``admon token list|revoke``
over HTTP). The secret is shown once, at creation; these routes never return it nor its hash."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from admon.errors import AuthenticationError
from admon.registry import auth as registry_auth
from admon.registry.models import ApiTokenRow
from admon.service.access import Viewer
from admon.service.deps import IdPath, SessionDep, ViewerDep
from admon.timeutil import now_ms

router = APIRouter(prefix="/api", tags=["auth"])


class TokenPublic(BaseModel):
    """An API token as its owner sees it."""

    id: int
    name: str
    owner: str
    prefix: str = Field(description="the token's first characters, to tell tokens apart")
    created_ms: int
    expires_ms: int | None = Field(description="epoch ms; null: the token never expires")
    last_used_ms: int | None = Field(description="epoch ms of the last request with it; null: never used")
    state: str = Field(description="active, expired or revoked")

    @classmethod
    def of(cls, row: ApiTokenRow, owner: str, now: int) -> TokenPublic:
        return cls(id=row.id, name=row.name or "", owner=owner, prefix=row.prefix, created_ms=row.created_ms,
                   expires_ms=row.expires_ms, last_used_ms=row.last_used_ms,
                   state=registry_auth.token_state(row, now=now))


def _login(viewer: Viewer) -> int:
    """The caller's user id; the anonymous caller has no tokens to list (401)."""
    if viewer.user_id is None:
        raise AuthenticationError(
            "your tokens are listed for your token only: send 'Authorization: Bearer <token>' "
            "(create one with `admon token create --user NAME`)"
        )
    return viewer.user_id


@router.get("/tokens")
def list_tokens(s: SessionDep, viewer: ViewerDep) -> list[TokenPublic]:
    """The caller's own tokens, oldest first (an admin too sees only their own here; every
    token is listed by `admon token list`)."""
    user_id = _login(viewer)
    now = now_ms()
    return [TokenPublic.of(row, owner, now) for row, owner in registry_auth.list_api_tokens(s, user_id)]


@router.delete("/tokens/{token_id}")
def revoke_token(token_id: IdPath, s: SessionDep, viewer: ViewerDep) -> TokenPublic:
    """Revoke a token of the caller (an admin: any token); requests with it get 401 from now on.
    Another user's token is 404, as a missing one."""
    user_id = _login(viewer)
    row = registry_auth.revoke_own_api_token(s, token_id, user_id=user_id, is_admin=viewer.is_admin)
    owner = registry_auth.get_user(s, row.user_id).username
    return TokenPublic.of(row, owner, now_ms())
