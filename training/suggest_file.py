"""One file's suggestions in a fresh process (``codeerhulp suggest``), with a short start-up.

The order matters: reading and segmenting the file and checking the model's manifest need only
light imports, so the encoder starts loading and encoding in the background (``training.prefetch``)
before the heavy imports (scikit-learn, skops, spaCy) and the model file are read in this thread.
Every stage is timed (``training.timing``; shown with ``codeerhulp -v``). The records are those of
``training.suggest.suggest_segments``, the same as in the service and batch runs.
"""

from __future__ import annotations

import logging
from pathlib import Path

from . import paths, prefetch
from .segmenting import MAX_FILE_BYTES, MAX_SEGMENT_CHARS, read_file
from .timing import mark, stage

log = logging.getLogger(__name__)


def suggest_file(path: str | Path, models_dir: str | Path = paths.DEFAULT_MODELS_DIR, version: str | None = None,
                 min_confidence: float | None = None, max_bytes: int = MAX_FILE_BYTES,
                 max_segment_chars: int = MAX_SEGMENT_CHARS, announce=log.warning) -> list[dict]:
    """Records for every segment of the file at ``path`` (see ``training.suggest``)."""
    mark("command start")
    with stage("segmenting"):
        document = read_file(path, max_bytes=max_bytes, max_segment_chars=max_segment_chars)
    vectors = prefetch.start(models_dir, version, document.segments)
    with stage("imports"):
        from .features import Inputs, lexical_texts
        from .suggest import ensure_model, suggest_segments
    with stage("model load"):
        loaded = ensure_model(models_dir, version, announce=announce)
    if vectors is not None:
        vectors.attach(loaded.model)
    with stage("lexical features"):  # lemmas and character forms; cached for the model's own call
        lexical_texts([Inputs(s.text, s.question) for s in document.segments])
    with stage("scoring"):  # the tf-idf features, the vectors (waited for), every head, the decision rule
        return suggest_segments(loaded, document.segments, min_confidence)
