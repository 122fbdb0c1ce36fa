"""simplemma's Dutch dictionary, decoded once and kept under the data dir.

simplemma ships each language as an lzma-compressed, front-coded stream and decodes the whole
stream record by record in Python on the first lemma it is asked for: for Dutch (370,000 entries)
that is ~1.3 s of every ``codeerhulp suggest``, of which decompression is only ~0.1 s. We decode it
once and keep the entries as a plain file, ``<data_dir>/lemmas/simplemma-<version>-nl-<sha>.dict``:
a header line, then keys and values separated by the byte 0xFF, which never occurs in UTF-8. A
later process reads it with one ``split``, no pickle, nothing executed. The name carries
simplemma's version and the SHA-256 of the shipped stream, so an upgrade decodes again.

The entries are the very ones simplemma would build (a test compares them), and the lemmatiser
around them is simplemma's own default strategy: lemmas are identical. When the data dir cannot be
written, the dictionary is decoded in memory as before, only slower.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import secrets
from pathlib import Path

from . import paths

log = logging.getLogger(__name__)

LANGUAGE = "nl"
SEPARATOR = b"\xff"  # not a byte of any UTF-8 text
FORMAT = b"codeerhulp-lemma-dictionary 1"


def cache_dir() -> Path:
    return paths.data_dir() / "lemmas"


def shipped_stream(lang: str = LANGUAGE) -> Path:
    from simplemma.strategies.dictionaries import dictionary_factory

    return dictionary_factory.DATA_FOLDER / f"{lang}.plzma"


def cache_file(directory: Path, lang: str = LANGUAGE) -> Path:
    import simplemma

    digest = hashlib.sha256(shipped_stream(lang).read_bytes()).hexdigest()[:16]
    return directory / f"simplemma-{simplemma.__version__}-{lang}-{digest}.dict"


def decode_shipped(lang: str = LANGUAGE) -> dict[bytes, bytes]:
    """The dictionary as simplemma builds it (the slow way)."""
    from simplemma.strategies.dictionaries import dictionary_factory

    return dictionary_factory._load_dictionary_from_disk(lang)


def encode_entries(entries: dict[bytes, bytes]) -> bytes | None:
    """The file's bytes, or None when an entry contains the separator (then nothing is cached)."""
    if any(SEPARATOR in k or SEPARATOR in v for k, v in entries.items()):
        return None
    body = SEPARATOR.join(part for pair in entries.items() for part in pair)
    return FORMAT + b" " + str(len(entries)).encode() + b"\n" + body


def decode_entries(data: bytes) -> dict[bytes, bytes]:
    header, _, body = data.partition(b"\n")
    fmt, _, count = header.rpartition(b" ")
    if fmt != FORMAT or not count.isdigit():
        raise ValueError("not a lemma dictionary of this format")
    # 740,000 new objects would trigger the cyclic garbage collector again and again (it doubled
    # the time here); none of them can form a cycle.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        parts = body.split(SEPARATOR) if body else []
        if len(parts) != 2 * int(count):
            raise ValueError(f"lemma dictionary truncated: {len(parts)} parts for {int(count)} entries")
        return dict(zip(parts[0::2], parts[1::2]))
    finally:
        if was_enabled:
            gc.enable()


def load(lang: str = LANGUAGE, directory: Path | None = None) -> dict[bytes, bytes]:
    """The dictionary from the data dir, decoding and storing it there on first use."""
    directory = directory or cache_dir()
    path = cache_file(directory, lang)
    try:
        return decode_entries(path.read_bytes())
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        log.warning("lemma dictionary %s is unreadable (%s); decoding simplemma's again", path, exc)
    entries = decode_shipped(lang)
    data = encode_entries(entries)
    if data is not None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            tmp = directory / f".{path.name}.{secrets.token_hex(4)}"
            tmp.write_bytes(data)
            os.replace(tmp, path)  # readers never see half a file
        except OSError as exc:
            log.info("lemma dictionary not cached in %s (%s)", directory, exc)
    return entries


def make_lemmatizer(directory: Path | None = None):
    """simplemma's default lemmatiser (as ``simplemma.lemmatize`` uses it) over the cached dictionary."""
    from simplemma import Lemmatizer
    from simplemma.strategies import DefaultStrategy
    from simplemma.strategies.dictionaries.dictionary_factory import (
        CachingDictionaryFactory,
        MappingStrToByteString,
    )

    class CachedDictionaryFactory(CachingDictionaryFactory):
        def _get_dictionary_uncached(self, lang: str):
            return MappingStrToByteString(load(lang, directory))

    return Lemmatizer(lemmatization_strategy=DefaultStrategy(dictionary_factory=CachedDictionaryFactory()))
