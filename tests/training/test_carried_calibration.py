"""A retrain that carries the active version's calibration: the heads are refitted on the new data, their
Platt maps are the active version's, and the manifest says where they came from; it refits them itself
when the model settings differ or the training set has grown too far."""

from __future__ import annotations

import dataclasses
import random

import numpy as np

from training.artifacts import load_model, read_active
from training.codebook import load_codebook
from training.data import load_corpus
from training.train import CARRY_GROWTH_LIMIT, TrainConfig, calibration_record, inputs_of, train_version


def test_a_retrain_refits_the_heads_and_keeps_the_calibration(tmp_path, trained_models_dir, small_corpus,
                                                              codebook_path, lexical_config):
    active = load_model(trained_models_dir, read_active(trained_models_dir))
    assert active.manifest["calibration"]["out_of_fold"] == lexical_config.model.calibration_cv
    codebook = load_codebook(codebook_path)
    # "Confirmed" segments: a third more data, so the new heads must differ from the active ones.
    extra = random.Random(3).sample(load_corpus(small_corpus["train"], codebook), 500)
    retrained = train_version(models_dir=tmp_path, codebook_path=codebook_path, config=lexical_config,
                              train_dir=small_corpus["train"], eval_dir=small_corpus["eval"], cache_dir=None,
                              transcripts_dir=None, extra_examples=extra, calibration_from=active)
    new, old = retrained.model, active.model
    assert retrained.manifest["calibration"] == {"carried_from": active.version, "via": active.version,
                                                 "fitted_on": active.manifest["training_data"]["n_examples"]}
    shared = [f for f in new.factor_ids_ if f in old.factor_ids_]
    assert len(shared) >= 2
    for f in shared:
        np.testing.assert_array_equal(new.platt_[new.factor_ids_.index(f)], old.platt_[old.factor_ids_.index(f)])
    assert not np.array_equal(new.factor_coef_, old.factor_coef_)
    np.testing.assert_array_equal(new.no_code_platt_, old.no_code_platt_)
    # Its suggestions are those of a working model: on the held-out split most first codes are gold codes.
    held = load_corpus(small_corpus["eval"], codebook)
    scores = new.predict_all(inputs_of(held))[0]
    hits = [new.factor_ids_[int(np.argmax(row))] in e.factors for row, e in zip(scores, held) if e.codes]
    assert np.mean(hits) > 0.5


def test_the_calibration_is_refitted_when_it_no_longer_fits(trained_models_dir, lexical_config):
    active = load_model(trained_models_dir, read_active(trained_models_dir))
    n = active.manifest["training_data"]["n_examples"]
    assert calibration_record(active, lexical_config.model, n + 10) is not None
    assert calibration_record(None, lexical_config.model, n) is None
    # Solver settings alone do not change what the heads are; their features do.
    assert calibration_record(active, dataclasses.replace(lexical_config.model, tol=0.01), n) is not None
    assert calibration_record(active, dataclasses.replace(lexical_config.model, C=1.0), n) is None
    assert calibration_record(active, TrainConfig.load().model, n) is None  # the default config has an encoder
    assert calibration_record(active, lexical_config.model, int(CARRY_GROWTH_LIMIT * n) + 1) is None
