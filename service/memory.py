"""The confirmation memory this worker blends into its suggestions, kept in step with the database.

Each worker keeps one memory (``training.memory``) built from the confirmed segments (the same
resolution of coders as retraining uses) and rebuilds it when the decisions change or another model
version is served: one small query per suggestion request tells. Vectors are computed once per text
(the registry's encoder cache), so a rebuild after a decision encodes nothing the worker has seen:
the segment was encoded when its document was uploaded.
"""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from training.artifacts import LoadedModel
from training.data import Code
from training.memory import ConfirmationMemory, MemoryConfig, Remembered

from . import repository
from .db import Database
from .tables import Decision


def decisions_marker(session) -> tuple[int, int]:
    """Changes whenever a decision is added or retired: (number of current decisions, newest id)."""
    count, newest = session.execute(
        select(func.count(Decision.id).filter(Decision.is_current), func.max(Decision.id))).one()
    return int(count or 0), int(newest or 0)


class MemoryKeeper:
    def __init__(self, db: Database, resolution: str, config: MemoryConfig | None = None) -> None:
        self.db = db
        self.resolution = resolution
        self.config = config or MemoryConfig()
        self._built: tuple | None = None
        self._memory: ConfirmationMemory | None = None
        self._lock = threading.Lock()

    def for_model(self, loaded: LoadedModel) -> ConfirmationMemory:
        marker = (loaded.version, self.db.read(decisions_marker))
        with self._lock:
            if marker != self._built:
                confirmed, _ = self.db.read(lambda s: repository.confirmed_segments(s, self.resolution))
                entries = [Remembered(str(c.segment_id), c.text,
                                      tuple(Code(x["factor"], x["richting"], x["aard"]) for x in c.codes))
                           for c in confirmed]
                self._memory = ConfirmationMemory(loaded.model, entries, self.config)
                self._built = marker
            return self._memory
