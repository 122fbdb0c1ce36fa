"""A cap on failed sign-ins per client address, kept in this worker process's memory.

Tokens are 256 random bits, so the cap does not protect them from guessing (nothing could); it
keeps a misbehaving script or a person hammering the form from filling logs and CPU. In memory,
not in the database, so a flood of failures costs no writes. With several workers each counts its
own: with ``--workers N`` an address gets up to N times the limit (docs/security.md).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0
# Addresses remembered at most; past this the oldest windows are dropped, so memory stays bounded.
MAX_ADDRESSES = 10_000


class SigninLimiter:
    def __init__(self, failures_per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = failures_per_minute
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()  # sync routes run in a thread pool

    def _recent(self, address: str, now: float) -> deque[float]:
        failures = self._failures.get(address, deque())
        while failures and failures[0] <= now - WINDOW_SECONDS:
            failures.popleft()
        return failures

    def retry_after(self, address: str) -> int | None:
        """Whole seconds until this address may try again, or None when it may try now.

        A correct token is refused too while the address is over the limit: otherwise a caller
        holding one valid token could keep guessing between its own successful sign-ins."""
        with self._lock:
            now = self._clock()
            failures = self._recent(address, now)
            if len(failures) < self.limit:
                return None
            return max(1, int(failures[0] + WINDOW_SECONDS - now + 0.999))

    def failed(self, address: str) -> None:
        with self._lock:
            now = self._clock()
            failures = self._recent(address, now)
            failures.append(now)
            self._failures.pop(address, None)
            self._failures[address] = failures  # re-inserted: the dict's order is oldest activity first
            while len(self._failures) > MAX_ADDRESSES:
                del self._failures[next(iter(self._failures))]
