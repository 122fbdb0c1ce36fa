"""Features for the code-suggestion model: lexical (lemmas, character n-grams, the interviewer's
question), dense sentence vectors, and what the codebook knows (similarity to each code's
description, indicator-phrase hits).

Every part is a plain scikit-learn object or numpy array once fitted, so the whole feature state
persists in skops' safe format with no custom classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from spacy.lang.nl.stop_words import STOP_WORDS

from .codebook import Codebook
from .text import lemma_string, normalise


@dataclass(frozen=True)
class Inputs:
    """What the model sees of a segment."""

    text: str
    question: str | None = None


def keyword_sets(codebook: Codebook, factor_ids: list[str]) -> list[frozenset[str]]:
    """Content lemmas of each factor's label and indicator phrases.

    This is how text-search autocoding in QDA tools works: a keyword list per code. We use it as
    one feature family of the model and, on its own, as the keyword peer in the evaluation.
    """
    sets = []
    for fid in factor_ids:
        factor = codebook.factor(fid)
        words: set[str] = set()
        for phrase in (factor.label, *factor.indicators):
            words.update(w for w in lemma_string(phrase).split() if len(w) >= 4 and w not in STOP_WORDS)
        sets.append(frozenset(words))
    return sets


def keyword_hits(lemma_texts: list[str], keywords: list[frozenset[str]]) -> np.ndarray:
    """Number of distinct keywords of each factor present in each text (n_texts x n_factors)."""
    out = np.zeros((len(lemma_texts), len(keywords)), dtype=np.float32)
    for i, text in enumerate(lemma_texts):
        words = set(text.split())
        for j, kw in enumerate(keywords):
            out[i, j] = len(words & kw)
    return out


def make_word_vectorizer(max_features: int) -> TfidfVectorizer:
    return TfidfVectorizer(token_pattern=r"\S+", ngram_range=(1, 2), min_df=2, max_df=0.9,
                           sublinear_tf=True, max_features=max_features, dtype=np.float32)


def make_char_vectorizer(max_features: int) -> TfidfVectorizer:
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=3, sublinear_tf=True,
                           max_features=max_features, dtype=np.float32, lowercase=True)


def make_question_vectorizer() -> TfidfVectorizer:
    return TfidfVectorizer(token_pattern=r"\S+", min_df=1, sublinear_tf=True, dtype=np.float32)


def lexical_texts(inputs: list[Inputs]) -> tuple[list[str], list[str], list[str]]:
    lemmas = [lemma_string(x.text) for x in inputs]
    chars = [normalise(x.text).lower() for x in inputs]
    questions = [lemma_string(x.question) if x.question else "" for x in inputs]
    return lemmas, chars, questions


def hstack(blocks: list) -> sp.csr_matrix:
    return sp.hstack([b if sp.issparse(b) else sp.csr_matrix(b) for b in blocks], format="csr", dtype=np.float32)


def surface_features(inputs: list[Inputs]) -> np.ndarray:
    """Shape of a turn, for the no-code detector: back-channels and procedural turns are short,
    made of function words, and often end in a question back to the interviewer."""
    out = np.zeros((len(inputs), 6), dtype=np.float32)
    for i, x in enumerate(inputs):
        words = normalise(x.text).lower().split()
        n = len(words)
        content = [w for w in words if w.strip(".,!?;:()\"'-…") not in STOP_WORDS and len(w) > 3]
        out[i] = (np.log1p(n) / 5.0, n <= 3, n <= 10, x.text.rstrip().endswith("?"),
                  len(content) / max(n, 1), x.question is None)
    return out
