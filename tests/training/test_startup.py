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
