"""The confirmation memory this worker blends into its suggestions, kept in step with the database.

Each worker keeps one memory (``training.memory``) built from the confirmed segments (the same
resolution of coders as retraining uses) and rebuilds it when the decisions change or another model
version is served: one small query per suggestion request tells. Vectors are computed once per text
(the registry's encoder cache), so a rebuild after a decision encodes nothing the worker has seen:
the segment was encoded when its document was uploaded.

Blind coding: a new suggestion run of a document that is still coded blind is shown to every coder,
so it is made without that document's own confirmations (``without_document``); otherwise one
coder's codes would reach the others through the suggestions. Other documents learn from it at once.
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
        self._entries: list[tuple[int, Remembered]] = []  # (document id, entry)
        self._memory: ConfirmationMemory | None = None
        # The last memory built without one document's confirmations, with that document's id.
        self._without: tuple[int, ConfirmationMemory] | None = None
        self._lock = threading.Lock()

    def for_model(self, loaded: LoadedModel, without_document: int | None = None) -> ConfirmationMemory:
        marker = (loaded.version, self.db.read(decisions_marker))
        with self._lock:
            if marker != self._built:
                confirmed, _ = self.db.read(lambda s: repository.confirmed_segments(s, self.resolution))
                self._entries = [(c.document_id, Remembered(str(c.segment_id), c.text, tuple(
                    Code(x["factor"], x["richting"], x["aard"]) for x in c.codes))) for c in confirmed]
                self._memory = ConfirmationMemory(loaded.model, [e for _, e in self._entries], self.config)
                self._without = None
                self._built = marker
            if without_document is None or all(doc != without_document for doc, _ in self._entries):
                return self._memory
            if self._without is None or self._without[0] != without_document:
                # Re-suggesting is rare (after a promotion), so one such memory is kept, not one per document.
                kept = [e for doc, e in self._entries if doc != without_document]
                self._without = (without_document, ConfirmationMemory(loaded.model, kept, self.config))
            return self._without[1]
