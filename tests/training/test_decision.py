"""The decision rule chosen across writers: honest (a writer's own codes never choose its rule),
never silent on most codable segments, and the context blend stays within one speaker's turns."""

from __future__ import annotations

import numpy as np
import pytest

from training import paths
from training.artifacts import load_model, read_active
from training.codebook import load_codebook
from training.data import Code
from training.decision import MIN_COVERAGE, across_writers, aard_offsets, choose_rule, score_rule
from training.estimator import DecisionRule
from training.features import Inputs
from training.segmenting import Segment
from training.suggest import follows_previous as segments_follow
from training.train import inputs_of
from training.transcripts import follows_previous, load_transcripts


@pytest.fixture(scope="module")
def model(trained_models_dir):
    return load_model(trained_models_dir, read_active(trained_models_dir)).model


@pytest.fixture(scope="module")
def sample():
    """Three documents of three writers: enough to choose and judge a rule, quick to score."""
    rows = load_transcripts(paths.TRANSCRIPTS_DIR, load_codebook(paths.DEFAULT_CODEBOOK))
    chosen = {}
    for r in rows:
        if r.instrument == "startinterview":
            chosen.setdefault(r.writer, r.document)
    keep = sorted(chosen)[:3]
    return [r for r in rows if r.writer in keep and r.document == chosen[r.writer]]


@pytest.fixture(scope="module")
def predictions(model, sample):
    return model.predictions(inputs_of([r.example for r in sample]))


def test_a_writers_own_codes_never_choose_its_rule(model, sample, predictions):
    examples = [r.example for r in sample]
    writers = [r.writer for r in sample]
    follows = follows_previous(sample)
    rows, _ = across_writers(model, predictions, examples, writers, follows)
    # Rewrite every code of one writer: that writer's suggestions must not change.
    target = writers[0]
    flipped = [e if w != target else type(e)(**{**e.__dict__, "codes": [Code("facilitering", "-", "+")]})
               for e, w in zip(examples, writers)]
    again, _ = across_writers(model, predictions, flipped, writers, follows)
    mine = [i for i, w in enumerate(writers) if w == target]
    assert [[c.to_dict() for c in rows[i]] for i in mine] == [[c.to_dict() for c in again[i]] for i in mine]


def test_the_chosen_rule_codes_at_least_the_minimum_share_of_codable_segments(model, sample, predictions):
    examples = [r.example for r in sample]
    ids = list(model.factor_ids_)
    rule = choose_rule(predictions, examples, ids)
    feasible = score_rule(DecisionRule(1.01, 0.999), predictions, examples, ids).coverage >= MIN_COVERAGE
    if feasible:
        assert score_rule(rule, predictions, examples, ids).coverage >= MIN_COVERAGE
    assert rule.no_code_threshold is not None


def test_aard_offsets_move_a_factor_towards_its_measured_pole(model, sample):
    factor = model.factor_ids_[0]
    richting = "PO" if factor in model.direction_factors_ else "-"
    examples = [r.example for r in sample][:40]
    for pole, sign in (("+", 1), ("-", -1)):
        coded = [type(e)(**{**e.__dict__, "codes": [Code(factor, richting, pole)]}) for e in examples]
        offsets = aard_offsets(model, coded)
        assert sign * offsets[0] > 0 and offsets.shape == (len(model.factor_ids_),)


def test_context_blends_only_the_same_speakers_next_interview_turn(model):
    segs = [Segment("a-1", "x", speaker="L1", kind="interview"), Segment("a-2", "y", speaker="L1", kind="interview"),
            Segment("a-3", "z", speaker="L2", kind="interview"), Segment("b-1", "w", kind="logboek"),
            Segment("b-2", "v", kind="logboek"), Segment("c-1", "u", kind="text"), Segment("c-2", "t", kind="text")]
    follows = segments_follow(segs)
    assert follows == [False, True, False, False, False, False, False]
    pred = model.predictions([Inputs("Ik kreeg geen uren voor de PLG."), Inputs("Ja, dat klopt."), Inputs("Nee."),
                              Inputs("Weinig gedaan."), Inputs("Toetsweek."), Inputs("Koffie?"), Inputs("Thee?")])
    blended = model.in_context(pred, follows, 0.5)
    assert np.allclose(blended.factor_p[1], 0.5 * pred.factor_p[1] + 0.5 * pred.factor_p[0])
    untouched = [0, 2, 3, 4, 5, 6]
    assert np.allclose(blended.factor_p[untouched], pred.factor_p[untouched])
