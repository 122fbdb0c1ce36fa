"""The "meest leerzaam" review order: uncertainty leads, and its head is spread over the themes."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from training.review_order import margins, most_instructive


def three_themes(per_theme: int = 8, seed: int = 0):
    """Segments of three well-separated themes; within each, margins from sure to hesitant."""
    rng = np.random.default_rng(seed)
    centres = np.eye(3, 16) * 10
    vectors = np.vstack([centres[t] + rng.normal(0, 0.3, 16) for t in range(3) for _ in range(per_theme)])
    theme = np.repeat(np.arange(3), per_theme)
    factor_p = np.zeros((len(theme), 5))
    # Theme 0 holds the most hesitant segments of all; themes 1 and 2 are surer throughout.
    gap = {0: np.linspace(0.01, 0.30, per_theme), 1: np.linspace(0.20, 0.60, per_theme),
           2: np.linspace(0.25, 0.70, per_theme)}
    for i, t in enumerate(theme):
        g = gap[int(t)][i % per_theme]
        factor_p[i, :2] = (0.5 + g / 2, 0.5 - g / 2)
    return factor_p, vectors, theme


def test_margins_are_the_gap_between_the_two_best_factors():
    p = np.array([[0.9, 0.1, 0.85], [0.2, 0.6, 0.1]])
    assert np.allclose(margins(p), [0.05, 0.4])


def test_the_order_is_uncertainty_led_and_diverse():
    factor_p, vectors, theme = three_themes()
    order = most_instructive(factor_p, vectors, k=3)
    assert sorted(order) == list(range(len(theme)))  # every segment once
    margin = margins(factor_p)
    assert order[0] == int(np.argmin(margin))  # the most hesitant segment of all comes first
    # The first three cover the three themes: uncertainty alone would take three of theme 0.
    assert {int(theme[i]) for i in order[:3]} == {0, 1, 2}
    assert [int(theme[i]) for i in np.argsort(margin, kind="stable")[:3]] == [0, 0, 0]
    # Within a theme, the more hesitant segment always comes earlier.
    for t in range(3):
        in_theme = [i for i in order if theme[i] == t]
        assert list(margin[in_theme]) == sorted(margin[in_theme])
    # Each round goes most hesitant first: the head of each round is the round's smallest margin.
    rounds = [order[r:r + 3] for r in range(0, len(order), 3)]
    assert all(margin[r[0]] == min(margin[r]) for r in rounds)


def test_sparse_lexical_vectors_and_tiny_documents_work():
    factor_p, vectors, theme = three_themes(per_theme=4)
    order = most_instructive(factor_p, sp.csr_matrix(vectors), k=3)
    assert sorted(order) == list(range(len(theme))) and {int(theme[i]) for i in order[:3]} == {0, 1, 2}
    assert most_instructive(factor_p[:1], vectors[:1]) == [0]
    assert most_instructive(np.zeros((0, 5)), np.zeros((0, 16))) == []
