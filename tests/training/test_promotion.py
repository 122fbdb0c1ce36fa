"""The promotion gate on confirmed segments: a paired difference with a bootstrap interval."""

from __future__ import annotations

import numpy as np
import pytest

from training.promotion import gate_paired, paired_difference, segment_f1


def test_segment_f1_counts_a_right_no_code_and_partial_sets():
    gold = [set(), {"a"}, {"a", "b"}, {"a"}]
    shown = [set(), {"a"}, {"a"}, set()]
    assert segment_f1(gold, shown) == [1.0, 1.0, pytest.approx(2 / 3), 0.0]


def test_the_interval_covers_the_difference_and_narrows_with_more_segments():
    rng = np.random.default_rng(1)
    old = rng.random(400)
    new = np.clip(old + 0.05 + rng.normal(0, 0.05, 400), 0, 1)
    wide = paired_difference(list(new[:20]), list(old[:20]))
    narrow = paired_difference(list(new), list(old))
    assert wide.low <= wide.difference <= wide.high
    assert narrow.low <= narrow.difference <= narrow.high
    assert narrow.high - narrow.low < wide.high - wide.low
    assert narrow.low > 0  # 400 segments that are all a little better: surely better
    assert narrow.n == 400 and narrow.resamples == 2000


def test_the_gate_promotes_when_not_worse_and_says_how_sure():
    same = paired_difference([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
    decision = gate_paired(same)
    assert decision.promote and "95% interval" in decision.reason and "n = 3" in decision.reason
    worse = paired_difference([0.2, 0.3, 0.4, 0.5], [0.5, 0.6, 0.7, 0.8])
    assert not gate_paired(worse).promote
    assert gate_paired(worse, tolerance=0.5).promote


def test_scores_must_be_paired():
    with pytest.raises(ValueError):
        paired_difference([0.1, 0.2], [0.1])
