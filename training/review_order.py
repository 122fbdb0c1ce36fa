"""The "most instructive first" review order: which segments a coder should decide first so that the
model (its memory at once, its heads at the next retrain) learns most from few decisions.

Two things make a decision instructive. Uncertainty: a segment whose two best factors score almost
alike (a small margin) is where the model is most likely wrong, so its confirmation corrects most.
Diversity: ten uncertain segments that say the same thing teach about as much as one. So the
segments are grouped by meaning (k-means on their sentence vectors), each group sorted by margin,
and the order takes the most uncertain remaining segment of each group in turn, the groups visited
by how uncertain their next segment is. The head of the order is uncertainty-led and spread over
the document; the tail still holds every segment.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans

SEED = 13


def margins(factor_p: np.ndarray) -> np.ndarray:
    """Best minus second-best factor score per segment (small: the model hesitates between two codes)."""
    if factor_p.shape[1] < 2:
        return 1.0 - np.abs(2 * factor_p[:, 0] - 1) if factor_p.shape[1] else np.zeros(len(factor_p))
    top2 = -np.sort(-factor_p, axis=1)[:, :2]
    return top2[:, 0] - top2[:, 1]


def n_groups(n_segments: int) -> int:
    """About one group per four segments, at most 12: a document's themes, not its sentences."""
    return max(1, min(12, math.ceil(n_segments / 4)))


def groups_of(vectors, k: int, seed: int = SEED) -> np.ndarray:
    """Group label per segment: k-means on the L2-normalised vectors (dense or sparse)."""
    n = vectors.shape[0]
    if k <= 1 or n <= 1:
        return np.zeros(n, dtype=int)
    if sp.issparse(vectors):
        norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1))).ravel()
        unit = sp.diags(1.0 / np.maximum(norms, 1e-12)) @ vectors
    else:
        unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    k = min(k, n)
    return KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(unit)


def most_instructive(factor_p: np.ndarray, vectors, k: int | None = None, seed: int = SEED) -> list[int]:
    """Positions of the segments, most instructive first (see the module's docstring); every position once."""
    n = len(factor_p)
    if n == 0:
        return []
    margin = margins(np.asarray(factor_p, dtype=float))
    labels = groups_of(vectors, n_groups(n) if k is None else k, seed)
    queues = {g: sorted(np.flatnonzero(labels == g).tolist(), key=lambda i: (margin[i], i)) for g in set(labels.tolist())}
    order: list[int] = []
    while queues:
        # One round: each group's most uncertain remaining segment, the most uncertain of these first.
        heads = sorted(queues, key=lambda g: (margin[queues[g][0]], queues[g][0]))
        for g in heads:
            order.append(queues[g].pop(0))
            if not queues[g]:
                del queues[g]
    return order
