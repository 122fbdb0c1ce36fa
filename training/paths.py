"""Where the shipped data lives. One place, so the CLI, the service and the tests agree.

The defaults point into the project checkout (``pip install -e .``); every one of them can be
overridden by the caller (the service's Settings, the CLI's options, the tests' tmp dirs).
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent

DEFAULT_CODEBOOK = PROJECT_DIR / "codebook" / "codebook.yaml"
DEFAULT_MODELS_DIR = PROJECT_DIR / "models"
DATA_DIR = PACKAGE_DIR / "data"
TRAIN_DIR = DATA_DIR / "train"
EVAL_DIR = DATA_DIR / "eval"
TRANSCRIPTS_DIR = DATA_DIR / "transcripts"  # coded whole transcripts: measure, and set the decision rule
EMBEDDING_CACHE_DIR = DATA_DIR / "embeddings"
DEFAULT_TRAIN_CONFIG = PACKAGE_DIR / "configs" / "default.yaml"
# The REFI-QDA exchange format's XML schemas (MIT), shipped so exports validate offline.
REFI_QDA_SCHEMA_DIR = PACKAGE_DIR / "schemas" / "refi-qda"


def data_dir() -> Path:
    """The data dir (CODEERHULP_DATA_DIR, as the service's Settings reads it): caches derived from
    installed packages live under it (the encoder engine, simplemma's decoded dictionary)."""
    return Path(os.environ.get("CODEERHULP_DATA_DIR", "data"))
