"""What routes get injected: the app's services (made by the lifespan), the caller, and their role.

Routes declare these as ``Annotated`` aliases; tests override them through the app factory's
settings, never through globals.

A caller is known by one of two credentials: an API token (``Authorization: Bearer``, scripts and
other tools) or the browser's session cookie (the coders' pages). A request from the browser that
changes something must also carry the session's CSRF token in ``X-CSRF-Token``; a Bearer request
needs none, since no other site can make a browser send that header.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from training.codebook import Codebook

from .. import repository, sessions
from ..schemas import MAX_ROW_ID
from ..db import Database
from ..registry import ModelRegistry
from ..security import hash_token, same_secret
from ..sessions import SignedIn
from ..settings import Settings
from ..signin_limit import SigninLimiter
from ..tables import User

SESSION_COOKIE = "codeerhulp_session"
CSRF_HEADER = "X-CSRF-Token"
# Answers that refuse a request for its CSRF token say so here, so the pages can tell "reload" from "forbidden".
CSRF_REFUSED_HEADER = "X-CSRF-Refused"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class Services:
    settings: Settings
    db: Database
    registry: ModelRegistry
    codebook: Codebook
    signin_limiter: SigninLimiter
    # token hash -> (user, monotonic expiry): saves a database round trip on every request.
    token_cache: dict[str, tuple[User, float]] = field(default_factory=dict)

    def forget_user(self, user_id: int) -> None:
        """Drop a user's cached tokens in this worker (after revoke or rotate); other workers
        drop theirs when the entries expire, within ``auth_cache_seconds``."""
        for key in [k for k, (user, _) in list(self.token_cache.items()) if user.id == user_id]:
            self.token_cache.pop(key, None)


# The id of a document, segment or job in a path: out of the database's range is a 422 here, not a
# database error later (see schemas.RowId).
RowIdPath = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(auto_error=False, description="an API token from 'codeerhulp users add NAME'")


def user_by_token(services: Services, token: str) -> User | None:
    """The active user with this API token, trusting a recent check for ``auth_cache_seconds``."""
    key = hash_token(token)
    cached = services.token_cache.get(key)
    now = time.monotonic()
    if cached is not None and cached[1] > now:
        return cached[0]
    user = services.db.read(lambda s: repository.user_by_token(s, token))
    if user is not None and services.settings.auth_cache_seconds > 0:
        if len(services.token_cache) > 10_000:
            services.token_cache.clear()
        services.token_cache[key] = (user, now + services.settings.auth_cache_seconds)
    return user


def browser_session(services: Services, request: Request) -> SignedIn | None:
    """The live session named by the request's cookie, or None."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None
    return services.db.read(lambda s: sessions.find_session(s, session_id))


def csrf_refused() -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN,
                         f"refused: a request from the browser session must carry the page's CSRF token in "
                         f"{CSRF_HEADER}; reload the page", headers={CSRF_REFUSED_HEADER: "1"})


def get_user(request: Request, services: ServicesDep,
             credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> User:
    if credentials is not None and credentials.credentials:
        user = user_by_token(services, credentials.credentials)
        if user is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or revoked token",
                                headers={"WWW-Authenticate": "Bearer"})
        return user
    signed_in = browser_session(services, request)
    if signed_in is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "send 'Authorization: Bearer <token>' (an admin creates "
                            "tokens with 'codeerhulp users add NAME'), or sign in at /aanmelden",
                            headers={"WWW-Authenticate": "Bearer"})
    if request.method not in SAFE_METHODS and not same_secret(request.headers.get(CSRF_HEADER), signed_in.csrf_token):
        raise csrf_refused()
    return signed_in.user


CurrentUser = Annotated[User, Depends(get_user)]


def get_admin(user: CurrentUser) -> User:
    if user.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only admins may do this (retrain, promote, roll back, users)")
    return user


AdminUser = Annotated[User, Depends(get_admin)]
