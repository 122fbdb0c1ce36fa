"""The confirmation memory: which codes a close confirmed turn carries over, and when its "no code" does.

A confirmed "no code" speaks for near-duplicates only (the no-code floor); a turn that merely sounds
alike gets the neighbour's codes blended into its factor scores, but its P(no code) stays the model's."""

from __future__ import annotations

import numpy as np
import pytest

from training.artifacts import load_model, read_active
from training.data import Code
from training.features import Inputs
from training.memory import ConfirmationMemory, MemoryConfig, Remembered

# A turn that reads as codable, confirmed as "no code" (say, the interviewer summing up someone else's words).
CONFIRMED = "In de PLG hebben we samen nieuw lesmateriaal voor de bovenbouw gemaakt."
ALIKE = "In de PLG hebben we nieuw lesmateriaal gemaakt."
NEAR_DUPLICATE = "In de PLG hebben we samen lesmateriaal voor de bovenbouw gemaakt."


@pytest.fixture(scope="module")
def model(trained_models_dir):
    return load_model(trained_models_dir, read_active(trained_models_dir)).model


def _similarity(model, a: str, b: str) -> float:
    vectors = model.memory_vectors([a, b])
    return float((vectors[0] @ vectors[1].T).toarray()[0, 0])


def test_a_confirmed_no_code_reaches_near_duplicates_only(model):
    config = MemoryConfig()
    assert model.has_no_code_detector and model.encoder_ is None  # the lexical floors apply
    # The premise: one turn between the two floors, one above the no-code floor.
    assert config.lexical_floor < _similarity(model, CONFIRMED, ALIKE) < config.lexical_no_code_floor
    assert _similarity(model, CONFIRMED, NEAR_DUPLICATE) > config.lexical_no_code_floor

    memory = ConfirmationMemory(model, [Remembered("1", CONFIRMED, ())], config)
    queries = [ALIKE, NEAR_DUPLICATE]
    pred = model.predictions([Inputs(t) for t in queries])
    blended, share = memory.blend(pred, model.memory_vectors(queries))
    assert (share > 0).all()  # both are close enough for the factor scores
    assert (blended.factor_p.sum(axis=1) < pred.factor_p.sum(axis=1)).all()  # pulled toward "no factor"
    assert blended.no_code_p[0] == pytest.approx(pred.no_code_p[0])  # sounds alike: the model decides
    assert pred.no_code_p.max() < 0.5  # the model alone would code both
    assert blended.no_code_p[1] > pred.no_code_p[1] + 0.1  # says the same: the coder's "no code" counts


def test_a_confirmed_code_raises_that_factor_for_a_turn_alike(model):
    factor = model.factor_ids_[0]
    memory = ConfirmationMemory(model, [Remembered("1", CONFIRMED, (Code("x", "-", "+"),))], MemoryConfig())
    assert memory.size == 1  # an unknown factor is simply not learned
    memory = ConfirmationMemory(model, [Remembered("1", CONFIRMED, (Code(factor, "-", "+"),))], MemoryConfig())
    pred = model.predictions([Inputs(ALIKE)])
    blended, _ = memory.blend(pred, model.memory_vectors([ALIKE]))
    j = model.factor_ids_.index(factor)
    assert blended.factor_p[0, j] > pred.factor_p[0, j]
    assert np.delete(blended.factor_p[0], j).max() <= np.delete(pred.factor_p[0], j).max()
