"""A model fitted twice on the same corpus with the same config is the same model.

The promotion gate compares a new version with the active one; a refit that moved by itself would be
refused (or promoted) for no reason, and a researcher could not reproduce a version from its manifest."""

from __future__ import annotations

import dataclasses

import numpy as np

from training.codebook import load_codebook
from training.data import load_corpus
from training.estimator import CodeSuggester
from training.train import inputs_of


def test_two_parallel_fits_give_identical_weights(small_corpus, codebook_path, lexical_config):
    # Two workers: the heads are fitted in parallel, which is where liblinear's shared generator used to
    # make two fits differ (by up to 1.4 in a factor weight on the shipped corpus).
    config = dataclasses.replace(lexical_config.model, n_jobs=2)
    codebook = load_codebook(codebook_path)
    train = load_corpus(small_corpus["train"], codebook)
    first, second = (CodeSuggester(config).fit(inputs_of(train), [e.codes for e in train], codebook)
                     for _ in range(2))
    assert len(first.factor_ids_) >= 2
    np.testing.assert_array_equal(first.factor_coef_, second.factor_coef_)
    np.testing.assert_array_equal(first.platt_, second.platt_)
    assert first.threshold_ == second.threshold_
    if first.group_ids_:
        np.testing.assert_array_equal(first.group_coef_, second.group_coef_)
