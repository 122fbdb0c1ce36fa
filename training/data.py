"""The training and evaluation corpus: load, validate against the codebook, hash.

Rows are JSON Lines in the format of ``training/data/WRITING.md``. A corpus is frozen input to
training: its SHA-256 goes into every model's manifest.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, NamedTuple

from .codebook import Codebook

log = logging.getLogger(__name__)


class Code(NamedTuple):
    factor: str
    richting: str
    aard: str

    def label(self) -> str:
        return f"{self.factor} {self.richting}/{self.aard}"


@dataclass
class Example:
    id: str
    text: str
    codes: list[Code]
    question: str | None = None
    kind: str = "interview"
    speaker_role: str = "leraar"
    source: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def factors(self) -> list[str]:
        seen: list[str] = []
        for c in self.codes:
            if c.factor not in seen:
                seen.append(c.factor)
        return seen

    @property
    def primary_factor(self) -> str | None:
        """The first code's factor: writers and coders list the main code first."""
        return self.codes[0].factor if self.codes else None


class CorpusError(ValueError):
    """A training corpus file that cannot be used; said in Dutch to the researcher who keeps it."""


def example_from_row(row: dict, where: str, codebook: Codebook | None = None) -> Example:
    if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"].strip():
        raise CorpusError(f"{where}: een rij heeft een niet-lege 'text' nodig")
    codes = []
    for c in row.get("codes") or []:
        code = Code(str(c.get("factor")), str(c.get("richting")), str(c.get("aard")))
        if codebook is not None:
            try:
                factor = codebook.factor(code.factor)
            except KeyError:
                raise CorpusError(f"{where}: onbekende factor {code.factor!r}") from None
            if factor.status != "active":
                continue  # a retired code: the row still teaches what the other codes look like
            codebook.validate_code(*code)
        if code not in codes:
            codes.append(code)
    return Example(
        id=str(row.get("id") or where),
        text=row["text"],
        codes=codes,
        question=row.get("question") or None,
        kind=row.get("kind") or "interview",
        speaker_role=row.get("speaker_role") or "leraar",
        source=row.get("pass", ""),
    )


def load_jsonl(paths: Iterable[str | Path], codebook: Codebook | None = None) -> list[Example]:
    examples: list[Example] = []
    ids: set[str] = set()
    for path in sorted(Path(p) for p in paths):
        with open(path, encoding="utf-8") as handle:
            for ln, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                where = f"{path.name}:{ln}"
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise CorpusError(f"{where}: geen JSON ({exc.msg})") from None
                example = example_from_row(row, where, codebook)
                if example.id in ids:
                    raise CorpusError(f"{where}: id {example.id} komt twee keer voor")
                ids.add(example.id)
                examples.append(example)
    return examples


def corpus_files(directory: str | Path) -> list[Path]:
    return sorted(Path(directory).glob("*.jsonl"))


def load_corpus(directory: str | Path, codebook: Codebook | None = None) -> list[Example]:
    files = corpus_files(directory)
    if not files:
        raise CorpusError(f"{directory}: geen .jsonl-bestanden")
    return load_jsonl(files, codebook)


def corpus_hash(examples: Iterable[Example]) -> str:
    """SHA-256 over the examples' ids, texts, questions and codes, in order."""
    h = hashlib.sha256()
    for e in examples:
        h.update(json.dumps([e.id, e.text, e.question, [list(c) for c in e.codes]], ensure_ascii=False).encode())
    return h.hexdigest()
