"""Micro-batching of suggestions within one worker process.

Requests of many clients (``POST /api/v1/suggest``, uploads, suggesting a document again) put their
segments in one queue. A single thread takes what is waiting, after at most ``wait_seconds`` for more
to arrive and up to ``max_texts`` texts, scores it in one model call and answers each request with
its own records. One call for 32 texts costs about a third less CPU per text than 32 calls of one
(the lexical features, the heads and the encoder's set-up are paid once per call; BENCHMARKS.md,
service), and no request waits for another to finish as a whole: a large upload is taken a share at
a time, so a one-text request that arrives meanwhile rides along with the next share.

A request's records are exactly those it would get alone: every segment's scores depend only on the
segment (see :func:`training.suggest.predict_segments`), and the decision (context of the previous
turn, thresholds) runs per request over all of its segments once they are scored.

The queue is bounded by ``max_queued_texts``: a request that would pass it is refused at once with
:class:`Overloaded` (the API answers 503 with Retry-After), so a burst never piles up unbounded
memory and waiting time. A request larger than the bound is still taken when the queue is empty.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from training.artifacts import LoadedModel
from training.estimator import Predictions
from training.features import Inputs
from training.segmenting import Segment
from training.suggest import concat_predictions, records_from, segment_inputs, slice_predictions

log = logging.getLogger(__name__)

# A request larger than a batch gets at least this many texts of every batch it shares with others.
MIN_SHARE = 8


# Gives a request's confirmation memory (``training.memory``). Called on the batching thread under the
# model lock, never by the client: bringing the memory up to date encodes the newly confirmed
# segments through the served encoder and its vector cache, which are not thread-safe.
MemorySource = Callable[[], Any]


class Overloaded(RuntimeError):
    """The queue of this worker is full; the client should retry after a moment."""


@dataclass(eq=False)
class _Request:
    loaded: LoadedModel
    segments: list[Segment]
    inputs: list[Inputs]
    min_confidence: float | None
    future: Future
    memory: MemorySource | None = None  # gives the confirmation memory for this model, if the service keeps one
    scheduled: int = 0  # inputs handed to a batch so far
    parts: list[tuple[int, Predictions]] = field(default_factory=list)

    @property
    def waiting(self) -> int:
        return len(self.inputs) - self.scheduled


@dataclass
class BatcherStats:
    """What the batcher did since it started (for tests and the benchmark's explanation)."""

    requests: int = 0
    batches: int = 0
    texts: int = 0
    refused: int = 0
    largest_batch: int = 0


class SuggestBatcher:
    def __init__(self, max_texts: int = 32, wait_seconds: float = 0.005, max_queued_texts: int = 4000) -> None:
        if max_texts < 1 or max_queued_texts < 1 or wait_seconds < 0:
            raise ValueError("max_texts and max_queued_texts must be at least 1, wait_seconds at least 0")
        self.max_texts = max_texts
        self.wait_seconds = wait_seconds
        self.max_queued_texts = max_queued_texts
        self.stats = BatcherStats()
        self._pending: deque[_Request] = deque()
        self._queued = 0  # texts in self._pending not yet handed to a batch
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        # Held around every model call and memory build when set: the registry's prediction lock.
        self.model_lock: threading.Lock | None = None

    # ------------------------------------------------------------------ clients

    def submit(self, loaded: LoadedModel, segments: list[Segment], min_confidence: float | None = None,
               memory: MemorySource | None = None) -> Future:
        """Queue the segments of one request; the future's result is their records."""
        future: Future = Future()
        if not segments:
            future.set_result([])
            return future
        request = _Request(loaded, list(segments), segment_inputs(segments), min_confidence, future, memory)
        with self._cond:
            if self._stopping:
                raise Overloaded("this worker is shutting down; retry")
            if self._queued and self._queued + len(request.inputs) > self.max_queued_texts:
                self.stats.refused += 1
                raise Overloaded(
                    f"this worker has {self._queued} texts waiting to be suggested (limit "
                    f"{self.max_queued_texts}, setting suggest_queue_texts); retry in a moment")
            self._pending.append(request)
            self._queued += len(request.inputs)
            self.stats.requests += 1
            self._cond.notify()
        return future

    def suggest(self, loaded: LoadedModel, segments: list[Segment], min_confidence: float | None = None,
                memory: MemorySource | None = None) -> list[dict]:
        """Blocking: for a worker thread (an upload, suggesting a document again)."""
        return self.submit(loaded, segments, min_confidence, memory).result()

    async def suggest_async(self, loaded: LoadedModel, segments: list[Segment],
                            min_confidence: float | None = None,
                            memory: MemorySource | None = None) -> list[dict]:
        """For the event loop: waits without holding one of the server's worker threads."""
        return await asyncio.wrap_future(self.submit(loaded, segments, min_confidence, memory))

    @property
    def queued_texts(self) -> int:
        return self._queued

    # ------------------------------------------------------------------ the batching thread

    def start(self) -> "SuggestBatcher":
        with self._cond:
            if self._thread is None:
                self._stopping = False
                self._thread = threading.Thread(target=self._loop, name="suggest-batcher", daemon=True)
                self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Answer what is queued, then end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._cond:
            self._thread = None
            for request in self._pending:  # only when the thread did not finish in time
                if not request.future.done():
                    request.future.set_exception(Overloaded("this worker is shutting down; retry"))
            self._pending.clear()
            self._queued = 0

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queued and not self._stopping:
                    self._cond.wait()
                if not self._queued:
                    return  # stopping, nothing left
                # Collect for a few milliseconds: requests of other clients arriving now share the call.
                deadline = time.monotonic() + self.wait_seconds
                while self._queued < self.max_texts and not self._stopping:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                batch = self._take()
            if self.model_lock is None:
                self._run(batch)
            else:
                with self.model_lock:
                    self._run(batch)

    def _take(self) -> list[tuple[_Request, int, int]]:
        """(request, start, stop) slices filling one batch; called with the condition held.

        Requests in arrival order; when more texts wait than fit, each request gets at most an equal
        share (at least MIN_SHARE), so a large upload proceeds in shares and one-text requests are
        never behind all of it."""
        waiting = [r for r in self._pending if r.waiting]
        share = max(MIN_SHARE, self.max_texts // max(1, len(waiting)))
        room = self.max_texts
        taken: dict[_Request, int] = {}
        # First every request its share, then what room is left to the earliest.
        for limit in (share, self.max_texts):
            for request in waiting:
                n = min(request.waiting, limit - taken.get(request, 0), room)
                if n > 0:
                    taken[request] = taken.get(request, 0) + n
                    request.scheduled += n
                    room -= n
        self._queued -= self.max_texts - room
        # A request's slices in one batch are contiguous: it took its share and then possibly more.
        return [(request, request.scheduled - n, request.scheduled) for request, n in taken.items()]

    def _run(self, batch: list[tuple[_Request, int, int]]) -> None:
        # Normally one model; right after a promotion, requests may hold the previous one.
        by_model: dict[int, list[tuple[_Request, int, int]]] = {}
        for item in batch:
            by_model.setdefault(id(item[0].loaded), []).append(item)
        n_texts = sum(stop - start for _, start, stop in batch)
        self.stats.batches += 1
        self.stats.texts += n_texts
        self.stats.largest_batch = max(self.stats.largest_batch, n_texts)
        for items in by_model.values():
            model = items[0][0].loaded.model
            try:
                pred = model.predictions([x for request, start, stop in items for x in request.inputs[start:stop]])
            except BaseException as exc:  # noqa: BLE001 - the thread must survive; the requests get the error
                log.exception("suggesting a batch of %d texts failed", n_texts)
                self._fail([request for request, _, _ in items], exc)
                continue
            offset = 0
            for request, start, stop in items:
                request.parts.append((start, slice_predictions(pred, offset, offset + stop - start)))
                offset += stop - start
                if sum(len(p.factor_p) for _, p in request.parts) == len(request.inputs):
                    self._finish(request)

    def _finish(self, request: _Request) -> None:
        with self._cond:
            self._pending.remove(request)
        try:
            parts = [p for _, p in sorted(request.parts, key=lambda part: part[0])]
            pred = parts[0] if len(parts) == 1 else concat_predictions(parts)
            memory = request.memory() if request.memory is not None else None  # under the model lock: see MemorySource
            records = records_from(request.loaded, request.segments, pred, request.min_confidence, memory)
        except BaseException as exc:  # noqa: BLE001
            log.exception("building the records of a request failed")
            request.future.set_exception(exc)
            return
        request.future.set_result(records)

    def _fail(self, requests: list[_Request], exc: BaseException) -> None:
        with self._cond:
            for request in requests:
                if request in self._pending:
                    self._pending.remove(request)
                    self._queued -= request.waiting  # its unscheduled rest will not be run
                    request.scheduled = len(request.inputs)
        for request in requests:
            if not request.future.done():
                request.future.set_exception(exc)
