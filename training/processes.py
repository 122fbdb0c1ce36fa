"""Which process owns something, as "host:pid", and whether that process still runs.

Shared by the model store (who is writing an unfinished version) and the service's job queue
(who is running a job): both must tell a crashed owner from a live one.
"""

from __future__ import annotations

import os
import socket


def process_id(pid: int | None = None) -> str:
    """This process (or the given pid on this host) as "host:pid"."""
    # Computed on call: uvicorn and multiprocessing fork or spawn after import.
    return f"{socket.gethostname()}:{pid or os.getpid()}"


def process_alive(owner: str | None) -> bool | None:
    """True/False when the owner ran on this host, None when it ran elsewhere or is unknown (we cannot tell)."""
    if not owner or ":" not in owner:
        return None
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another user
        return True
    return True
