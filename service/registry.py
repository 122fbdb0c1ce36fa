"""The model this worker serves, kept in step with the active version recorded in the database.

Every worker process has one registry. The database's newest ``model_activations`` row names the
active version; :meth:`ModelRegistry.sync` (run every ``model_poll_seconds`` by the app, and right
after a promotion in the worker that did it) loads that version when it differs from the one in
memory. A version that fails its checksum or cannot be read is refused with a log line and the
previous model keeps serving.

Suggestions go through the worker's :class:`~service.batching.SuggestBatcher`, which scores the
segments of concurrent requests together.
"""

from __future__ import annotations

import logging
import threading
from functools import partial
from pathlib import Path

import numpy as np

from training.artifacts import ArtifactError, LoadedModel, list_versions, load_model
from training.encoders import CachedEncoder
from training.review_order import most_instructive
from training.segmenting import Segment
from training.suggest import active_or_default

from . import repository
from .batching import MemorySource, SuggestBatcher
from .db import Database
from .memory import MemoryKeeper

log = logging.getLogger(__name__)

VECTOR_CACHE_ITEMS = 200_000  # sentence vectors kept per worker (~300 MB at 384 float32 dimensions)


class NoModelError(RuntimeError):
    """The service cannot start: no model version can be loaded. The message says what to do."""


class ModelRegistry:
    def __init__(self, db: Database, models_dir: Path, memory: MemoryKeeper | None = None,
                 batcher: SuggestBatcher | None = None) -> None:
        self.db = db
        self.memory = memory  # the coders' confirmed segments, blended into suggestions (None: off)
        self.models_dir = Path(models_dir)
        self.batcher = batcher or SuggestBatcher()
        self._loaded: LoadedModel | None = None
        self._swap = threading.Lock()     # one load at a time in this process
        # The served encoder and its vector cache are not thread-safe: every use of the model in this
        # worker holds this lock. Retrains run in the job worker's process, so today the batching
        # thread is its only holder; the lock keeps the next caller of the model from racing it.
        self._predict = threading.Lock()
        self.batcher.model_lock = self._predict
        self._refused: set[str] = set()   # versions already refused, so the poll does not log every 2 s
        self.message: str | None = None   # why this worker serves something else than the active version

    @property
    def current(self) -> LoadedModel:
        loaded = self._loaded
        if loaded is None:
            raise NoModelError("no model loaded")
        return loaded

    @property
    def version(self) -> str | None:
        return self._loaded.version if self._loaded else None

    def _try_load(self, version: str) -> LoadedModel | None:
        try:
            loaded = load_model(self.models_dir, version)
        except ArtifactError as exc:
            if version not in self._refused:
                log.error("refusing model %s: %s; keeping %s", version, exc, self.version or "no model")
            self._refused.add(version)
            return None
        if loaded.model.encoder_ is not None:
            # A segment is encoded once in this worker: at upload; the memory and later runs reuse it.
            loaded.model.encoder_ = CachedEncoder(loaded.model.encoder_, max_items=VECTOR_CACHE_ITEMS)
        return loaded

    def start(self) -> LoadedModel:
        """Load the active model at startup; fall back to an earlier one, or fail with a clear error.

        On the very first start the database names no version: the models directory's ACTIVE (or
        newest) version becomes the first active one.
        """
        active = self.db.read(repository.active_version)
        if active is None:
            first = active_or_default(self.models_dir)
            if first is None:
                raise NoModelError(
                    f"no model version in {self.models_dir}; train one with 'codeerhulp train' "
                    "(or point CODEERHULP_MODELS_DIR at a model store) and start again")
            self.db.write(lambda s: repository.activate(s, first, "first start: the model store's active version", None)
                          if repository.active_version(s) is None else None)
            active = self.db.read(repository.active_version)
        assert active is not None
        loaded = self._try_load(active)
        if loaded is None:
            # The earlier active versions, newest first, then anything else in the store.
            history = [a.version for a in self.db.read(repository.activation_history)]
            others = [m["version"] for m in reversed(list_versions(self.models_dir)) if "error" not in m]
            for version in dict.fromkeys(history + others):
                if version == active:
                    continue
                loaded = self._try_load(version)
                if loaded is not None:
                    self.message = (f"the active model {active} cannot be loaded (see the log); "
                                    f"serving {version} instead")
                    log.error("%s", self.message)
                    break
        if loaded is None:
            raise NoModelError(
                f"no loadable model: the active version {active} is missing or damaged and no earlier version "
                f"in {self.models_dir} loads; restore the model store or train a new model with 'codeerhulp train'")
        self._loaded = loaded
        self.batcher.start()
        log.info("serving model %s (codebook %s)", loaded.version, loaded.codebook_version)
        return loaded

    def stop(self) -> None:
        """Answer the suggestions still queued, then stop the batching thread."""
        self.batcher.stop()

    def sync(self) -> bool:
        """Load the database's active version if it is not the one in memory; True when it changed."""
        active = self.db.read(repository.active_version)
        if active is None or active == self.version or active in self._refused:
            return False
        with self._swap:
            if active == self.version:
                return False
            loaded = self._try_load(active)
            if loaded is None:
                self.message = f"the active model {active} cannot be loaded (see the log); serving {self.version}"
                return False
            previous = self.version
            self._loaded = loaded  # one reference assignment: requests in flight keep the model they took
            self.message = None
            log.info("now serving model %s (was %s)", loaded.version, previous)
            return True

    def check_loadable(self, version: str) -> LoadedModel:
        """Load a version to check it before making it active; raises ArtifactError with the reason."""
        return load_model(self.models_dir, version)

    def suggest(self, segments: list[Segment], min_confidence: float | None = None,
                loaded: LoadedModel | None = None, memory_without_document: int | None = None) -> list[dict]:
        """The segments' records, scored together with other requests (blocking; after ``start``).
        ``memory_without_document``: leave that document's confirmations out of the memory (blind coding)."""
        loaded = loaded or self.current
        return self.batcher.suggest(loaded, segments, min_confidence,
                                    self._memory_source(loaded, memory_without_document))

    async def suggest_async(self, segments: list[Segment], min_confidence: float | None = None,
                            loaded: LoadedModel | None = None) -> list[dict]:
        loaded = loaded or self.current
        return await self.batcher.suggest_async(loaded, segments, min_confidence, self._memory_source(loaded))

    def most_instructive_first(self, segments: list[Segment], memory_without_document: int | None = None) -> list[int]:
        """Positions of the segments in the "meest leerzaam" review order (``training.review_order``): the
        served model's score of every factor, as a coder would see it (with the memory, leaving out
        ``memory_without_document`` as ``suggest`` does), and the segments' vectors, which were encoded at
        upload and come from this worker's cache."""
        if not segments:
            return []
        loaded = self.current
        records = self.suggest(segments, min_confidence=0.0, loaded=loaded,  # every factor's score
                               memory_without_document=memory_without_document)
        column = {f: j for j, f in enumerate(loaded.model.factor_ids_)}
        factor_p = np.zeros((len(segments), len(column)))
        for i, record in enumerate(records):
            for code in record["codes"]:
                factor_p[i, column[code["factor"]]] = code["confidence"]
        with self._predict:  # the encoder and its cache are not thread-safe
            vectors = loaded.model.memory_vectors([s.text for s in segments])
        return most_instructive(factor_p, vectors)

    def _memory_source(self, loaded: LoadedModel, without_document: int | None = None) -> MemorySource | None:
        # Not built here: a rebuild encodes through the served encoder's cache, so the batching thread
        # builds it under the prediction lock (as suggest did before batching), and the event loop
        # never waits for the database query that tells whether a rebuild is due.
        if self.memory is None:
            return None
        return partial(self.memory.for_model, loaded, without_document)
