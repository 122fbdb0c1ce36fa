"""Stage timings of a command, logged at DEBUG (``codeerhulp -v``) for the start-up benchmark.

Each stage logs one line ``stage NAME START END CPU``: wall-clock times (``time.time()``), so a
parent process that noted when it started the command can place every stage, including those
that run at the same time in another thread, on one time line (``benchmarks/bench_startup.py``);
and the CPU seconds of the thread that ran it (``time.thread_time()``), which other jobs on the
machine do not stretch as they stretch wall time.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager

log = logging.getLogger("codeerhulp.timing")


@contextmanager
def stage(name: str):
    start, cpu = time.time(), time.thread_time()
    try:
        yield
    finally:
        log.debug("stage %s %.6f %.6f %.3f", name, start, time.time(), time.thread_time() - cpu)


def mark(name: str) -> None:
    """A point in time (a stage of zero length), e.g. when the command's own code starts."""
    now = time.time()
    log.debug("stage %s %.6f %.6f 0", name, now, now)
