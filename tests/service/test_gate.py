"""The retrain's gate on the team's own data: the most recent confirmed segments, a paired difference."""

from __future__ import annotations

from service.repository import Confirmed
from service.retrain import outcome_message, split_recent
from training.promotion import paired_difference


def confirmed(segment_id: int, decision_id: int) -> Confirmed:
    return Confirmed(segment_id, f"tekst {segment_id}", None, [], 1, decision_id)


def test_the_most_recently_confirmed_segments_are_held_out():
    rows = [confirmed(s, d) for s, d in ((1, 50), (2, 10), (3, 40), (4, 20), (5, 30))]
    train, held = split_recent(rows, 0.4)
    assert [c.segment_id for c in held] == [3, 1]  # decisions 40 and 50: the newest two
    assert sorted(c.segment_id for c in train + held) == [1, 2, 3, 4, 5]
    assert split_recent(rows, 0.0)[1] == []


def test_the_lead_reads_the_paired_difference_and_its_interval_in_dutch():
    paired = paired_difference([0.5, 1.0, 1.0, 0.0], [0.5, 0.5, 1.0, 0.0]).to_dict()
    gate = {"new_value": 0.6, "active_value": 0.55, "n": 40, "paired": paired}
    promoted = outcome_message("v2", gate, promoted=True, passed=True, previous="v1")
    assert "4 laatst bevestigde fragmenten" in promoted and "95%-interval" in promoted
    assert "0,625 tegen 0,500" in promoted and "verschil +0,125" in promoted
    kept = outcome_message("v2", gate, promoted=False, passed=False, previous="v1")
    assert "niet geactiveerd" in kept and "v1" in kept
    without = outcome_message("v2", {**gate, "paired": None}, promoted=True, passed=True, previous="v1")
    assert "macro-F1 0,600 tegen 0,550" in without
