"""A project coded in a QDA tool (REFI-QDA ``.qdpx``), read back as one coder's decisions.

A researcher exports the annotated material to ATLAS.ti, MAXQDA or NVivo (``codeerhulp export
--format qdpx``), codes it there as usual, exports the project again as ``.qdpx`` and reads it back
here. The result is a decisions file like any other, under the coder's name, so ``agreement`` can
compare the researcher with the model or with a colleague.

How codings become decisions
----------------------------
- Documents are matched by name with the annotate output folder the ``.qdpx`` was exported from;
  the text must be the same (line endings may differ: offsets are mapped). Other documents are
  reported and left out.
- A QDA tool lets the coder select any stretch of text, not our segments. A coding goes to:
  (1) the segments whose span is exactly the selection, when there are any (this is what our own
  export writes); otherwise (2) every segment covered for at least half by the selection, and the
  segment that holds at least half of the selection (a sentence selected inside a turn). A
  whole-logbook segment only takes a coding by rule (1) or when the selection covers half of it,
  since it holds every answer's selections.
- Only leaf codes named as our export names them (``ervaren_ruimte PO/+``) are codes; other code
  names (a factor, a code the coder added) are reported with their count and left out. Codes are
  checked against the codebook.
- Codings under the model's user (suggestions exported with ``--include-suggestions``) are never
  read as the coder's.
- Segments of a document the coder coded at least once, but that got no code, are decisions
  "no code": the coder read the document. Documents without any coding of the coder are left out
  (not read, so no decision).
- QDA tools know no main code. The code whose selection starts first is taken as the segment's
  main code; with equal starts, the order in the file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .annotate import Annotations, load_annotations, write_csv
from .batch import KIND_WHOLE
from .codebook import Codebook, CodebookError
from .exports import DECISION_COLUMNS
from .refiqda import QdpxCoding, normalise_text, read_project_qdpx, shift_offset
from .segmenting import InputError

log = logging.getLogger(__name__)


@dataclass
class ImportResult:
    coder: str
    rows: list[dict] = field(default_factory=list)  # decisions-file rows, in segment order
    documents: list[str] = field(default_factory=list)  # documents the coder coded
    problems: list[str] = field(default_factory=list)  # what was left out and why, in Dutch
    n_codings: int = 0  # codings of the coder that became (part of) a decision

    @property
    def n_segments(self) -> int:
        return len({r["segment_id"] for r in self.rows})


def _choose_user(codings: list[QdpxCoding], user: str | None, path: Path) -> list[QdpxCoding]:
    human = [c for c in codings if not c.is_suggestion]
    users = sorted({c.user or "" for c in human})
    if user is not None:
        if user not in users:
            raise InputError(f"{path.name}: geen coderingen van gebruiker {user!r} (wel van: "
                             f"{', '.join(u or '(zonder naam)' for u in users) or 'niemand'})")
        return [c for c in human if (c.user or "") == user]
    if len(users) > 1:
        raise InputError(f"{path.name}: coderingen van {len(users)} gebruikers ({', '.join(users)}); kies er een "
                         "met --user")
    return human


def _segments_for(start: int, end: int, segments: Sequence[dict]) -> list[dict]:
    exact = [r for r in segments if (r["meta"]["char_start"], r["meta"]["char_end"]) == (start, end)]
    if exact:
        return exact
    chosen = []
    for record in segments:
        s, e = record["meta"]["char_start"], record["meta"]["char_end"]
        overlap = min(end, e) - max(start, s)
        if overlap <= 0:
            continue
        covers_segment = overlap >= 0.5 * (e - s)
        holds_selection = overlap >= 0.5 * (end - start) and record["meta"].get("kind") != KIND_WHOLE
        if covers_segment or holds_selection:
            chosen.append(record)
    return chosen


def import_qdpx(path: str | Path, annotations: str | Path | Annotations, coder: str, codebook: Codebook,
                user: str | None = None) -> ImportResult:
    """Decisions of ``coder`` from the codings in a ``.qdpx``; see the module docstring."""
    path = Path(path)
    coder = coder.strip()
    if not coder:
        raise InputError("--coder heeft een naam nodig")
    if not isinstance(annotations, Annotations):
        annotations = load_annotations(annotations)
    project = read_project_qdpx(path)
    codings = _choose_user(project.codings, user, path)
    result = ImportResult(coder=coder)

    segments_of: dict[str, list[dict]] = {}
    for record in annotations.records:
        segments_of.setdefault(record["meta"].get("document"), []).append(record)

    by_document: dict[str, list[tuple[int, int, int, tuple[str, str, str]]]] = {}
    unknown_codes: dict[str, int] = {}
    for order, coding in enumerate(codings):
        source = project.sources.get(coding.document)
        ours = annotations.documents.get(coding.document)
        if ours is None or source is None:
            continue  # reported once per document below
        code_name = coding.code_name or "(zonder naam)"
        if coding.code is None:
            unknown_codes[code_name] = unknown_codes.get(code_name, 0) + 1
            continue
        try:
            codebook.validate_code(*coding.code)
        except CodebookError:
            unknown_codes[code_name] = unknown_codes.get(code_name, 0) + 1
            continue
        by_document.setdefault(coding.document, []).append((coding.start, coding.end, order, coding.code))

    for name in sorted({c.document for c in codings}):
        ours = annotations.documents.get(name)
        if ours is None:
            result.problems.append(f"document {name!r} staat niet in {annotations.outdir}; overgeslagen")
            continue
        text, removed = normalise_text(project.sources[name].text)
        if text != ours.text:
            result.problems.append(f"document {name!r}: de tekst verschilt van die in {annotations.outdir} "
                                   "(in de QDA-software bewerkt?); overgeslagen")
            by_document.pop(name, None)
            continue
        if name not in by_document:
            continue
        result.documents.append(name)
        codes_of: dict[str, list[tuple[int, int, tuple[str, str, str]]]] = {}
        for start, end, order, code in by_document[name]:
            start, end = shift_offset(start, removed), shift_offset(end, removed)
            targets = _segments_for(start, end, segments_of.get(name, []))
            if not targets:
                result.problems.append(f"document {name!r}: een codering op tekens {start}-{end} valt in geen "
                                       "fragment; overgeslagen")
                continue
            result.n_codings += 1
            for record in targets:
                codes_of.setdefault(record["id"], []).append((start, order, code))
        for record in segments_of.get(name, []):
            ordered = [code for _, _, code in sorted(codes_of.get(record["id"], []))]
            unique = list(dict.fromkeys(ordered))
            if not unique:
                result.rows.append({"segment_id": record["id"], "coder": coder})
            for factor, richting, aard in unique:
                result.rows.append({"segment_id": record["id"], "coder": coder, "factor": factor,
                                    "richting": richting, "aard": aard})
    for name, count in sorted(unknown_codes.items()):
        result.problems.append(f"code {name!r} ({count}x) is geen code van het codeboek in de vorm "
                               "'factor richting/aard'; overgeslagen")
    log.info("%s: %d decisions of %s from %d documents", path.name, len(result.rows), coder, len(result.documents))
    return result


def write_decisions(path: str | Path, rows: Sequence[dict]) -> Path:
    """A decisions file (CSV) that ``agreement``, ``tables`` and ``export`` read."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_csv(path, DECISION_COLUMNS, rows)
