"""Shared fixtures: a small corpus cut from the shipped one, and a lexical model trained on it.

Tests run offline and fast: the lexical configuration needs no sentence encoder, and the small
corpus trains in seconds. Slow tests (the full corpus, the e5 encoder, spaCy's textcat) carry the
``slow`` marker; database tests run on SQLite always and on PostgreSQL when
CODEERHULP_TEST_POSTGRES_URL is set (CI sets it).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from training import paths
from training.artifacts import set_active
from training.codebook import load_codebook
from training.train import TrainConfig, train_version

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get("CODEERHULP_TEST_POSTGRES_URL")
# Generous waits: on a loaded CI machine a server subprocess or the database can take minutes to answer.
SERVER_START_TIMEOUT = float(os.environ.get("CODEERHULP_TEST_SERVER_TIMEOUT", "300"))
POSTGRES_READY_TIMEOUT = float(os.environ.get("CODEERHULP_TEST_POSTGRES_TIMEOUT", "180"))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: needs the full corpus or a neural encoder (minutes)")
    config.addinivalue_line("markers", "postgres: runs against the PostgreSQL server in CODEERHULP_TEST_POSTGRES_URL")
    config.addinivalue_line("markers", "browser: drives headless Chromium")


def _sample_rows(directory: Path, per_file: int, seed: int) -> list[str]:
    rows = []
    rng = random.Random(seed)
    for path in sorted(directory.glob("*.jsonl")):
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        rng.shuffle(lines)
        rows.extend(lines[:per_file])
    return rows


@pytest.fixture(scope="session")
def codebook_path() -> Path:
    return paths.DEFAULT_CODEBOOK


@pytest.fixture(scope="session")
def codebook(codebook_path):
    """The shipped codebook, loaded once (tests read it, never change it)."""
    return load_codebook(codebook_path)


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory) -> dict[str, Path]:
    """A train and an eval directory holding a deterministic sample of the shipped corpus."""
    base = tmp_path_factory.mktemp("corpus")
    out = {}
    for name, source, per_file in (("train", paths.TRAIN_DIR, 120), ("eval", paths.EVAL_DIR, 40)):
        target = base / name
        target.mkdir()
        (target / "sample.jsonl").write_text("\n".join(_sample_rows(source, per_file, seed=7)) + "\n", encoding="utf-8")
        out[name] = target
    return out


@pytest.fixture(scope="session")
def small_transcripts(tmp_path_factory) -> Path:
    """Three start interviews of three writers from the transcript split (about 320 segments):
    enough to choose a decision rule, a tenth of the split's time."""
    base = tmp_path_factory.mktemp("transcripts")
    for writer in ("w1", "w4", "w7"):
        source = paths.TRANSCRIPTS_DIR / writer
        document = sorted(source.glob("startinterview_*.txt"))[0]
        (base / writer).mkdir()
        for path in (document, document.with_suffix(".codes.jsonl")):
            (base / writer / path.name).write_bytes(path.read_bytes())
    return base


@pytest.fixture(scope="session")
def lexical_config() -> TrainConfig:
    return TrainConfig.load(paths.PACKAGE_DIR / "configs" / "lexical.yaml")


@pytest.fixture(scope="session")
def trained_models_dir(tmp_path_factory, small_corpus, small_transcripts, lexical_config, codebook_path) -> Path:
    """A models directory with one active lexical model trained on the small corpus."""
    models_dir = tmp_path_factory.mktemp("models")
    loaded = train_version(models_dir=models_dir, codebook_path=codebook_path, config=lexical_config,
                           train_dir=small_corpus["train"], eval_dir=small_corpus["eval"], cache_dir=None,
                           transcripts_dir=small_transcripts)
    set_active(models_dir, loaded.version)
    return models_dir


@pytest.fixture
def read_jsonl():
    def read(path: Path) -> list[dict]:
        return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]

    return read
