"""Browser sessions: sign-in starts one, the pages and their API calls look it up, sign-out ends it.

The browser's cookie holds a random session id, never the API token; the database keeps its hash,
the user, a CSRF token and an expiry. Nothing is cached: a session that is ended (sign-out, revoke,
rotate) is refused by every worker on the next request.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .security import hash_token, new_secret
from .tables import BrowserSession, User, as_utc, utcnow


@dataclass(frozen=True)
class SignedIn:
    """A live browser session: who it is, and the CSRF token their forms and requests must carry."""

    user: User
    csrf_token: str
    expires_at: dt.datetime


def start_session(session: Session, user: User, lifetime: dt.timedelta) -> tuple[str, SignedIn]:
    """A new session for the user; returns the id for the cookie (shown only here) and the session."""
    now = utcnow()
    # Expired sessions are cleared here, at the one moment sessions are added, so the table stays small.
    session.execute(delete(BrowserSession).where(BrowserSession.expires_at <= now))
    session_id, csrf_token = new_secret(), new_secret()
    row = BrowserSession(id_hash=hash_token(session_id), user_id=user.id, csrf_token=csrf_token,
                         created_at=now, expires_at=now + lifetime)
    session.add(row)
    session.flush()
    return session_id, SignedIn(user=user, csrf_token=csrf_token, expires_at=row.expires_at)


def find_session(session: Session, session_id: str) -> SignedIn | None:
    """The live session with this id, or None when it is unknown, ended, expired or its user revoked."""
    found = session.execute(
        select(BrowserSession, User).join(User, User.id == BrowserSession.user_id)
        .where(BrowserSession.id_hash == hash_token(session_id), User.active.is_(True))).first()
    if found is None:
        return None
    row, user = found
    expires_at = as_utc(row.expires_at)
    if expires_at <= utcnow():
        return None
    return SignedIn(user=user, csrf_token=row.csrf_token, expires_at=expires_at)


def end_session(session: Session, session_id: str) -> None:
    session.execute(delete(BrowserSession).where(BrowserSession.id_hash == hash_token(session_id)))


def end_user_sessions(session: Session, user_id: int) -> int:
    """End every browser session of a user (revoke, rotate); returns how many there were."""
    return session.execute(delete(BrowserSession).where(BrowserSession.user_id == user_id)).rowcount
