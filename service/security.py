"""Secrets: API tokens, browser session ids and CSRF tokens.

All three are random (32 bytes from ``secrets``). Tokens and session ids are shown once and stored
only as a SHA-256 hash: with 256 random bits there is nothing to brute-force, so no salt or slow
hash is needed, and the database can look a secret up by its hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_PREFIX = "cdh_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_secret() -> str:
    """A session id or CSRF token: random, URL- and cookie-safe."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The stored form of a token or session id."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same_secret(given: str | None, expected: str | None) -> bool:
    """Compare in constant time, so the time of a refusal says nothing about how much was right."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
