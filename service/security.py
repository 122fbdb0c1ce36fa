"""API tokens: random, shown once, stored only as a SHA-256 hash.

A token is 32 random bytes, so a plain SHA-256 is enough (no salt or slow hash needed: there is
nothing to brute-force), and it lets the database look a token up by its hash.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "cdh_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
