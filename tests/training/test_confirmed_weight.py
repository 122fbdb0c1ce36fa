"""A confirmed segment counts ``confirmed_weight`` times a corpus segment in training.

A coder's correction of a turn the corpus codes otherwise should win once it weighs enough; at weight
1 the model is exactly the unweighted one, so older configs retrain as they did."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from training.codebook import load_codebook
from training.data import load_corpus
from training.estimator import CodeSuggester
from training.train import CONFIRMED, fit_model, inputs_of, sample_weights


@pytest.fixture(scope="module")
def corrected(small_corpus, codebook_path):
    """The small corpus plus eight of its own segments confirmed under another factor than the corpus gives
    them (a coder's corrections), all to the same factor."""
    codebook = load_codebook(codebook_path)
    corpus = load_corpus(small_corpus["train"], codebook)
    target = "motivatie"
    chosen = [e for e in corpus if len(e.codes) == 1 and target not in e.factors][:8]
    corrections = [dataclasses.replace(e, id=f"confirmed-{e.id}", source=CONFIRMED,
                                       codes=[e.codes[0]._replace(factor=target)]) for e in chosen]
    return codebook, corpus + corrections, corrections, target


def _target_rank(model, examples, target) -> np.ndarray:
    scores = model.predict_all(inputs_of(examples))[0]
    j = model.factor_ids_.index(target)
    return (scores > scores[:, [j]]).sum(axis=1)  # 0: the target is the first suggestion


def test_weighted_corrections_win_over_the_corpus(corrected, lexical_config):
    codebook, train, corrections, target = corrected
    plain = fit_model(train, codebook, dataclasses.replace(lexical_config.model, confirmed_weight=1.0))
    heavy = fit_model(train, codebook, dataclasses.replace(lexical_config.model, confirmed_weight=10.0))
    assert target in plain.factor_ids_
    plain_rank, heavy_rank = _target_rank(plain, corrections, target), _target_rank(heavy, corrections, target)
    # At weight 1 the corpus' own code of the same text mostly stands; at 10 the coder's code comes first.
    assert (heavy_rank == 0).mean() >= 0.75
    assert (heavy_rank == 0).sum() > (plain_rank == 0).sum()
    # The pole heads learn from the same weights: the models differ there too.
    assert not np.array_equal(plain.aard_coef_, heavy.aard_coef_)


def test_weight_one_is_the_unweighted_fit(corrected, lexical_config):
    codebook, train, _, _ = corrected
    config = dataclasses.replace(lexical_config.model, confirmed_weight=1.0)
    assert sample_weights(train, config) is None
    assert sample_weights(train, dataclasses.replace(config, confirmed_weight=3.0)).tolist().count(3.0) == 8
    unweighted = CodeSuggester(config).fit(inputs_of(train), [e.codes for e in train], codebook)
    ones = CodeSuggester(config).fit(inputs_of(train), [e.codes for e in train], codebook,
                                     sample_weight=np.ones(len(train)))
    np.testing.assert_allclose(unweighted.factor_coef_, ones.factor_coef_, atol=1e-6)
    np.testing.assert_allclose(unweighted.platt_, ones.platt_, atol=1e-6)


@pytest.mark.parametrize("weights", ["too_few", "zeros", "negative", "nan"])
def test_bad_weights_are_refused(corrected, lexical_config, weights):
    codebook, train, _, _ = corrected
    n = len(train)
    w = {"too_few": np.ones(2), "zeros": np.zeros(n), "negative": -np.ones(n), "nan": np.full(n, np.nan)}[weights]
    with pytest.raises(ValueError, match="sample_weight"):
        CodeSuggester(lexical_config.model).fit(inputs_of(train), [e.codes for e in train], codebook,
                                                sample_weight=w)


def test_the_weight_does_not_stop_a_retrain_carrying_calibration(lexical_config):
    # Only confirmed segments carry it, and the heads' features are the same: the active version's
    # calibration still fits (training.train.calibration_record).
    heavier = dataclasses.replace(lexical_config.model, confirmed_weight=5.0)
    assert heavier.heads_match(lexical_config.model)
    assert heavier.to_dict()["confirmed_weight"] == 5.0
