"""Dutch text analysis shared by every model: normalisation, tokens and lemmas.

Tokens come from spaCy's rule-based Dutch tokenizer (``spacy.blank("nl")``, no download).
spaCy's lookup lemmatizer leaves most Dutch inflections as they are, so lemmas come from
simplemma, a dictionary lemmatizer that ships its Dutch data in the wheel.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import lru_cache

import simplemma

# Fillers carry the register of spoken Dutch but no meaning for the codebook; dropping them keeps
# them from becoming spurious evidence for whichever code the most talkative writer favoured.
# Only sounds that never carry meaning: "maar", "wel", "niet" are kept, they carry the pole.
FILLERS = frozenset("eh ehm euh uh uhm hè hm hmm mm nou".split())
_WS = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Unicode NFC, unified quotes and dashes, collapsed whitespace."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    text = text.replace("\u2013", "-").replace("\u2014", "-").replace("\u00a0", " ")
    return _WS.sub(" ", text).strip()


def sentence_texts(inputs, use_question: bool) -> list[str]:
    """What a model hands its sentence encoder for these inputs (anything with ``text`` and
    ``question``), normalised: every text, then, when the model reads the question, the question of
    each input that has one. One place, so the vectors prefetched for a document
    (``training.prefetch``) are exactly the ones the model asks for."""
    texts = [normalise(x.text) for x in inputs]
    if use_question:
        texts += [normalise(x.question) for x in inputs if x.question]
    return texts


@lru_cache(maxsize=1)
def tokenizer():
    import spacy  # ~1 s of imports: only where text is tokenised, not for ``normalise``

    return spacy.blank("nl").tokenizer


@lru_cache(maxsize=1)
def lemmatizer():
    """simplemma's default lemmatiser over its Dutch dictionary decoded once into the data dir
    (``training.lemma_dictionary``): the first lemma of a process costs ~0.1 s instead of ~1.4 s."""
    try:
        from .lemma_dictionary import make_lemmatizer

        return make_lemmatizer()
    except ImportError as exc:  # a simplemma whose internals moved: its own (slower) loading
        logging.getLogger(__name__).warning("simplemma's dictionary is not cached (%s)", exc)
        return simplemma.Lemmatizer()


@lru_cache(maxsize=200_000)
def lemma(word: str) -> str:
    return lemmatizer().lemmatize(word, "nl")


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens (no punctuation, no numbers)."""
    return [t.lower_ for t in tokenizer()(normalise(text)) if t.is_alpha]


def lemmas(text: str) -> list[str]:
    """Lemmas of the word tokens, fillers removed."""
    return [lemma(t) for t in tokens(text) if t not in FILLERS]


@lru_cache(maxsize=50_000)  # a retrain in a long-lived process analyses the corpus once, not every time
def lemma_string(text: str) -> str:
    """Lemmas joined by spaces: the form the word-level vectorizers read.

    Handing scikit-learn a pre-analysed string (instead of a Python callable as analyzer) keeps
    the fitted vectorizer free of custom code, so it persists in skops' safe format.
    """
    return " ".join(lemmas(text))
