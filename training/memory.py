"""What the coders confirmed, used at once: the nearest confirmed segments blended into the scores.

A retrain teaches the model the team's transcripts, but it waits for an admin. Between retrains the
memory holds every confirmed segment (a corrected or accepted code set, or "no code") as a vector;
a new segment's scores are blended with the codes of its closest confirmed neighbours. Only close
neighbours count: the weight of a neighbour is ((similarity - floor) / (1 - floor))^2 above the
floor and 0 below it, and the blend's share is total weight / (total weight + ``strength``), so it
grows with the number and the closeness of the confirmations and stays 0 for unrelated text.

Why a floor and no softer kernel: on the transcript split (coders confirm two interviews of a
writer, the writer's other documents are scored) a softer kernel that lets ordinary neighbours vote
lowered hit@1 from 0.61 to 0.46-0.53; e5 similarities of unrelated turns sit around 0.85 and carry
no code information. With the floor at 0.90 the memory is neutral to slightly positive there
(`benchmarks/bench_loop.py`) and decisive for a turn that says nearly the same as a confirmed one,
which is what a coder notices: the same correction need not be made twice.

Whether there is anything to code at all is learned from near-duplicates only (a floor of 0.97):
with the factors' floor, the "no code" of neighbours that merely sound alike lowered the no-code
recall on the transcript split from 0.49 to 0.44 and primary kappa from 0.472 to 0.468 (two confirmed
interviews; close turns of an interview are mostly coded, and a short answer is codable or not by
its question). From near-duplicates only, primary kappa is 0.478 with the same hit@1 (0.614).

The representation is the model's own: its sentence vectors, or (a model without an encoder) its
lemma tf-idf, both L2-normalised. The memory's ``state`` names its content, and every suggestion
it touched records it beside the model version.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .data import Code
from .estimator import Predictions


@dataclass(frozen=True)
class MemoryConfig:
    # Cosine floors below which a confirmed segment says nothing (see the module docstring): e5
    # vectors of unrelated turns are ~0.85 apart; lemma tf-idf vectors of unrelated turns ~0.05.
    dense_floor: float = 0.90
    lexical_floor: float = 0.50
    # The floors for "nothing to code here" (see the module docstring): near-duplicates only.
    dense_no_code_floor: float = 0.97
    lexical_no_code_floor: float = 0.80
    strength: float = 1.0  # pseudo-weight of the model's own scores in the blend
    # The same for a factor's pole and direction once a close neighbour has that factor: the coder
    # said which pole this is, so one close confirmation outweighs the model's pole head.
    pole_strength: float = 0.25
    neighbours: int = 10


@dataclass(frozen=True)
class Remembered:
    """A confirmed segment: its text and the code set the coders settled on (empty: no code)."""

    key: str
    text: str
    codes: tuple[Code, ...]


class ConfirmationMemory:
    def __init__(self, model, entries: list[Remembered], config: MemoryConfig | None = None) -> None:
        self.config = config or MemoryConfig()
        self.factor_ids = list(model.factor_ids_)
        self.size = len(entries)
        index = {f: j for j, f in enumerate(self.factor_ids)}
        k = len(self.factor_ids)
        self._has = np.zeros((self.size, k))      # the factor is among the confirmed codes
        self._plus = np.zeros((self.size, k))     # ... with aard +
        self._po = np.zeros((self.size, k))       # ... with richting PO
        for i, entry in enumerate(entries):
            for code in entry.codes:
                j = index.get(code.factor)
                if j is not None:
                    self._has[i, j] = 1
                    self._plus[i, j] = code.aard == "+"
                    self._po[i, j] = code.richting == "PO"
        self._none = (self._has.sum(axis=1) == 0).astype(float)
        dense = model.encoder_ is not None
        self._floor = self.config.dense_floor if dense else self.config.lexical_floor
        self._no_code_floor = self.config.dense_no_code_floor if dense else self.config.lexical_no_code_floor
        self._vectors = model.memory_vectors([e.text for e in entries]) if entries else None
        digest = hashlib.sha256()
        for entry in sorted(entries, key=lambda e: e.key):
            digest.update(f"{entry.key}|{sorted(entry.codes)}\n".encode())
        self.state = f"{self.size}:{digest.hexdigest()[:12]}" if entries else None

    def _similarities(self, vectors) -> np.ndarray:
        """(n queries x memory) cosine similarities; -inf outside each query's closest neighbours."""
        sims = vectors @ self._vectors.T
        sims = np.asarray(sims.todense() if sp.issparse(sims) else sims, dtype=np.float64)
        if self.size > self.config.neighbours:
            cut = np.partition(sims, -self.config.neighbours, axis=1)[:, -self.config.neighbours][:, None]
            sims[sims < cut] = -np.inf
        return sims

    @staticmethod
    def _kernel(sims: np.ndarray, floor: float) -> np.ndarray:
        """Kernel weights: 0 below the floor (and for a non-neighbour), rising to 1 for the same text."""
        return np.clip((sims - floor) / (1 - floor), 0, 1) ** 2

    def _mix(self, model_p: np.ndarray, w: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(queries x labels) scores blended with the neighbours' labels, and per query the memory's share:
        total weight / (total weight + strength)."""
        total = w.sum(axis=1)
        share = total / (total + self.config.strength)
        own = (w @ labels) / np.maximum(total, 1e-12)[:, None]
        return (1 - share[:, None]) * model_p + share[:, None] * own, share

    def blend(self, pred: Predictions, vectors) -> tuple[Predictions, np.ndarray]:
        """Scores blended with the confirmed neighbours' codes, and per segment the memory's share
        (0 where no confirmed segment is close enough)."""
        n = len(pred.factor_p)
        if not self.size or n == 0:
            return pred, np.zeros(n)
        sims = self._similarities(vectors)
        w = self._kernel(sims, self._floor)
        factor_p, share = self._mix(pred.factor_p, w, self._has)

        def per_factor(model_p: np.ndarray, hits: np.ndarray) -> np.ndarray:
            # Pole and direction of a factor from the neighbours that have that factor, weighted by
            # how close those neighbours are.
            seen = w @ self._has
            own = seen / (seen + self.config.pole_strength)
            return (1 - own) * model_p + own * np.where(seen > 0, (w @ hits) / np.maximum(seen, 1e-12), 0.5)

        aard_p = per_factor(pred.aard_p, self._plus)
        po_p = per_factor(pred.po_p, self._po)
        no_code_p = pred.no_code_p
        if no_code_p is not None:
            mixed, _ = self._mix(no_code_p[:, None], self._kernel(sims, self._no_code_floor), self._none[:, None])
            no_code_p = mixed[:, 0]
        return Predictions(factor_p, po_p, aard_p, no_code_p), share
