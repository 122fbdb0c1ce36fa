"""What routes get injected: the app's services (made by the lifespan), the caller, and their role.

Routes declare these as ``Annotated`` aliases; tests override them through the app factory's
settings, never through globals.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from training.codebook import Codebook

from .. import repository
from ..schemas import MAX_ROW_ID
from ..db import Database
from ..registry import ModelRegistry
from ..security import hash_token
from ..settings import Settings
from ..tables import User


@dataclass
class Services:
    settings: Settings
    db: Database
    registry: ModelRegistry
    codebook: Codebook
    # token hash -> (user, monotonic expiry): saves a database round trip on every request.
    token_cache: dict[str, tuple[User, float]] = field(default_factory=dict)


# The id of a document, segment or job in a path: out of the database's range is a 422 here, not a
# database error later (see schemas.RowId).
RowIdPath = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(auto_error=False, description="an API token from 'codeerhulp users add NAME'")


def get_user(services: ServicesDep,
             credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> User:
    if credentials is None or not credentials.credentials:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "send 'Authorization: Bearer <token>'; "
                            "an admin creates tokens with 'codeerhulp users add NAME'",
                            headers={"WWW-Authenticate": "Bearer"})
    key = hash_token(credentials.credentials)
    cached = services.token_cache.get(key)
    now = time.monotonic()
    if cached is not None and cached[1] > now:
        return cached[0]
    user = services.db.read(lambda s: repository.user_by_token(s, credentials.credentials))
    if user is not None and services.settings.auth_cache_seconds > 0:
        if len(services.token_cache) > 10_000:
            services.token_cache.clear()
        services.token_cache[key] = (user, now + services.settings.auth_cache_seconds)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or revoked token",
                            headers={"WWW-Authenticate": "Bearer"})
    return user


CurrentUser = Annotated[User, Depends(get_user)]


def get_admin(user: CurrentUser) -> User:
    if user.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only admins may do this (retrain, promote, roll back, users)")
    return user


AdminUser = Annotated[User, Depends(get_admin)]
