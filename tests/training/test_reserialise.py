"""Model files keep their vocabularies as arrays (fast to save and load), files of the older layout still
load, and the shipped default is the previous release's fitted model re-serialised with identical predictions."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from training.artifacts import MODEL_FILE, list_versions, load_model, read_active, verify_version
from training.encoders import CachedEncoder
from training.reserialise import prediction_differences, reserialise, verification_inputs

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "models"


def schema_of(model_file: Path) -> str:
    with zipfile.ZipFile(model_file) as archive:
        return archive.read("schema.json").decode("utf-8")


def test_a_saved_vocabulary_is_an_array_and_loads_back_whole(trained_models_dir):
    loaded = load_model(trained_models_dir, read_active(trained_models_dir))
    model = loaded.model
    stored = json.loads(schema_of(loaded.path / MODEL_FILE))["content"]
    # One schema node per term made the old files slow; now a vectorizer's node is the same size whatever
    # its vocabulary, and the terms are one array (a .npy file) per vectorizer.
    for key in model.VECTORIZER_KEYS:
        assert len(json.dumps(stored[key])) < 20_000, key
        assert stored["vocabularies"]["content"][key]["__loader__"] == "NdArrayNode"
    for key in model.VECTORIZER_KEYS:
        vocabulary = getattr(model, key).vocabulary_
        assert sorted(vocabulary.values()) == list(range(len(vocabulary)))
        assert all(isinstance(term, str) for term in vocabulary)
    # Saving takes nothing away from the model being saved.
    assert model.state()["vocabularies"]["word_vec_"].shape == (len(model.word_vec_.vocabulary_),)
    assert len(model.word_vec_.vocabulary_) > 100


@pytest.fixture(scope="module")
def shipped_pair():
    """The active shipped version and the older-layout version it re-serialises, sharing one encoder."""
    active = load_model(SHIPPED, read_active(SHIPPED))
    source = active.manifest["provenance"]["reserialised_from"]
    original = load_model(SHIPPED, source)
    # One encoder, each text encoded once (the corpus' vectors from the shipped cache): the comparison is
    # about the model files, not the encoder.
    active.model.encoder_ = original.model.encoder_ = CachedEncoder(active.model.encoder_)
    return active, original


def test_every_shipped_version_matches_its_hashes():
    versions = [m["version"] for m in list_versions(SHIPPED)]
    assert read_active(SHIPPED) in versions and len(versions) >= 3
    for version in versions:
        verify_version(SHIPPED, version)


def test_the_shipped_default_is_the_previous_model_re_serialised(shipped_pair):
    active, original = shipped_pair
    provenance = active.manifest["provenance"]
    assert provenance["identical_predictions"] and provenance["verified_segments"] > 300
    assert provenance["original_model_sha256"] == original.manifest["files"][MODEL_FILE]
    # The training record is the original's: nothing was refitted.
    for key in ("codebook", "training_data", "config", "metrics", "decision_rule", "factors"):
        assert active.manifest[key] == original.manifest[key], key
    # The older file keeps its vocabularies in the vectorizers; the new one as arrays, the same terms.
    assert "vocabularies" not in schema_of(original.path / MODEL_FILE)
    for key in active.model.VECTORIZER_KEYS:
        assert getattr(active.model, key).vocabulary_ == getattr(original.model, key).vocabulary_


def test_both_shipped_versions_suggest_the_same_on_the_example_and_a_corpus_sample(shipped_pair):
    active, original = shipped_pair
    inputs, described = verification_inputs()
    assert "startinterview_L7" in described and len(inputs) > 300
    diff = prediction_differences(active.model, original.model, inputs)
    assert diff["segments_with_other_suggestions"] == 0
    assert diff["max_abs_difference"] == {"factor_p": 0.0, "po_p": 0.0, "aard_p": 0.0, "no_code_p": 0.0}


def test_reserialising_writes_a_new_version_and_never_touches_the_old(trained_models_dir, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(trained_models_dir, models)
    version = read_active(models)
    before = {f.name: f.read_bytes() for f in (models / "codeerhulp" / version).iterdir()}
    inputs = verification_inputs()[0][:40]
    saved = reserialise(models, version, inputs=inputs, described="forty segments")
    assert saved.version != version and read_active(models) == version  # activating is a separate step
    assert {f.name: f.read_bytes() for f in (models / "codeerhulp" / version).iterdir()} == before
    assert saved.manifest["provenance"]["reserialised_from"] == version
    original = load_model(models, version)
    probe = original.model.predictions(inputs).factor_p
    assert np.array_equal(probe, saved.model.predictions(inputs).factor_p)
