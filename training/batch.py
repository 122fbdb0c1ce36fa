"""Reading one input file of a batch run into pseudonymised, segmented documents.

This module is what the worker processes of ``codeerhulp annotate`` run, so it imports only the
standard library and the segmenter: a worker never loads the model, numpy or scikit-learn.

Input kinds
-----------
- ``.txt`` / ``.docx``: a transcript (split by speaker turn) or a logbook / plain text (split by
  paragraph, a one-line question above a paragraph kept as its context), see
  :mod:`training.segmenting`.
- ``.csv`` / ``.xlsx`` with columns ``id`` and ``text`` (optional ``question``, ``speaker``,
  ``respondent``): a list of ready-made segments. They are joined into one document text (blank
  line between segments) so that every segment still has character offsets for a QDA export.
- ``.csv`` / ``.xlsx`` logbook-form export (one row per filled-in logbook): a respondent column
  (``respondent``, ``deelnemer``, ``code``, ``leraar``, ``naam`` or ``name``), optional ``moment``
  (or ``logboek``, ``meting``) and ``plg`` columns, columns the form tool adds (timestamp, e-mail)
  that are ignored, and one column per question, headed by the question. Each row becomes a
  document ``<file>#r<row>`` whose text is "question, answer, blank line" per answered question;
  line numbers refer to that text.

Logbooks (a logbook text, a form-export row, or any file whose moment is a logboek) get one
segment per answer *and* one segment ``<doc>-geheel`` spanning the whole logbook, because the
researchers code a logbook as a whole (domain.md §3). The whole-logbook segment is exempt from
the segment length limit; it is the unit, not a turn.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .metadata import FileMeta, name_pattern, normalise_moment, pseudonymise, role_of
from .segmenting import (
    MAX_FILE_BYTES,
    MAX_SEGMENT_CHARS,
    MAX_SEGMENTS_PER_FILE,
    InputError,
    Segment,
    _line_of,
    _strip_span,
    extract_text,
    read_table_rows,
    segment_text,
)

log = logging.getLogger(__name__)

BATCH_SUFFIXES = (".txt", ".docx", ".csv", ".xlsx")
RESPONDENT_COLUMNS = ("respondent", "respondent id", "respondentid", "deelnemer", "code", "leraar", "naam", "name")
MOMENT_COLUMNS = ("moment", "logboek", "meting")
# Columns form tools (Google Forms, MS Forms, LimeSurvey, Qualtrics) add that are not answers.
IGNORED_COLUMNS = ("tijdstempel", "timestamp", "datum", "date", "e-mailadres", "email", "e-mail", "rol", "role",
                   "id", "start time", "completion time", "begintijd", "tijd van voltooien", "plg")
WHOLE_SUFFIX = "geheel"
KIND_WHOLE = "logboek_geheel"


@dataclass
class PreparedDocument:
    """One document of a file: its pseudonymised plain text, segments and metadata."""

    name: str
    text: str
    kind: str
    meta: dict
    segments: list[Segment] = field(default_factory=list)


@dataclass
class PreparedFile:
    relpath: str
    sha256: str
    documents: list[PreparedDocument]
    replacements: int = 0


def sha256_bytes(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def doc_stem(name: str) -> str:
    """A segment-id prefix from a document name: ``interviews/L7_start.txt`` -> ``interviews_L7_start``."""
    p = PurePosixPath(name.split("#", 1)[0])
    stem = str(p.with_suffix("")).replace("/", "_")
    if "#" in name:
        stem += "_" + name.split("#", 1)[1]
    return stem


def _renumber(segments: list[Segment], stem: str) -> None:
    # The segmenter numbers by file stem; two folders may both hold "L1.txt", so ids come from
    # the relative path instead.
    for n, seg in enumerate(segments, 1):
        seg.id = f"{stem}-{n:04d}"


def _whole_segment(text: str, stem: str, respondent: str | None) -> Segment | None:
    s, e = _strip_span(text, 0, len(text))
    if e <= s:
        return None
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    return Segment(id=f"{stem}-{WHOLE_SUFFIX}", text=text[s:e], respondent=respondent,
                   line_start=_line_of(line_starts, s), line_end=_line_of(line_starts, e - 1),
                   char_start=s, char_end=e, kind=KIND_WHOLE)


def _is_logbook(kind: str, meta: FileMeta) -> bool:
    return kind == "logboek" or (meta.moment or "").startswith("logboek")


def _doc_meta(meta: FileMeta, respondent: str | None = None, moment: str | None = None,
              plg: str | None = None) -> dict:
    respondent = respondent or meta.respondent
    # A form-export row names its own respondent; the file's role only holds for the file's respondent.
    role = meta.role if respondent == meta.respondent and meta.role else (role_of(respondent) or meta.role)
    return {"respondent": respondent, "role": role, "moment": moment or meta.moment, "plg": plg or meta.plg}


def _text_document(raw: bytes, relpath: str, meta: FileMeta, name_map: dict[str, str], max_bytes: int,
                   max_segment_chars: int) -> tuple[PreparedDocument, int]:
    text = extract_text(raw, relpath, max_bytes)
    text, replaced = pseudonymise(text, name_map, name_pattern(name_map))
    document = segment_text(text, relpath, respondent=meta.respondent, max_segment_chars=max_segment_chars)
    if not document.segments:
        raise InputError(f"{relpath}: no text to segment")
    stem = doc_stem(relpath)
    segments = document.segments
    _renumber(segments, stem)
    kind = document.kind
    if _is_logbook(kind, meta):
        kind = "logboek"
        for seg in segments:
            seg.kind = "logboek"
        whole = _whole_segment(text, stem, meta.respondent)
        if whole and not (len(segments) == 1 and (segments[0].char_start, segments[0].char_end)
                          == (whole.char_start, whole.char_end)):
            segments.append(whole)
    return PreparedDocument(name=relpath, text=text, kind=kind, meta=_doc_meta(meta), segments=segments), replaced


def _segment_table(columns: list[str], rows: list[dict], relpath: str, meta: FileMeta,
                   name_map: dict[str, str]) -> tuple[PreparedDocument, int]:
    """Ready-made segments (id, text): joined into one text so each keeps its offsets."""
    pattern = name_pattern(name_map)
    parts: list[str] = []
    segments: list[Segment] = []
    pos = 0
    line = 1
    seen: set[str] = set()
    replaced = 0
    for n, row in enumerate(rows, start=2):
        seg_id = str(row.get("id") or "").strip()
        text = str(row.get("text") or "").strip().replace("\r\n", "\n").replace("\r", "\n")
        if not seg_id:
            raise InputError(f"{relpath}: row {n}: column 'id' is empty")
        if seg_id in seen:
            raise InputError(f"{relpath}: row {n}: id {seg_id!r} occurs twice")
        seen.add(seg_id)
        if not text:
            raise InputError(f"{relpath}: row {n}: column 'text' is empty")
        if len(text) > MAX_SEGMENT_CHARS:
            raise InputError(f"{relpath}: row {n}: text of {len(text)} characters is over the limit of "
                             f"{MAX_SEGMENT_CHARS}")
        text, k = pseudonymise(text, name_map, pattern)
        question, k2 = pseudonymise(str(row.get("question") or "").strip(), name_map, pattern)
        replaced += k + k2
        n_lines = text.count("\n")
        respondent = str(row.get("respondent") or "").strip() or meta.respondent
        segments.append(Segment(id=seg_id, text=text, speaker=str(row.get("speaker") or "").strip() or None,
                                respondent=respondent, question=question or None, line_start=line,
                                line_end=line + n_lines, char_start=pos, char_end=pos + len(text), kind="text"))
        parts.append(text)
        pos += len(text) + 2
        line += n_lines + 2
        if len(segments) > MAX_SEGMENTS_PER_FILE:
            raise InputError(f"{relpath}: more than {MAX_SEGMENTS_PER_FILE} rows; split the file")
    if not segments:
        raise InputError(f"{relpath}: no rows")
    full = "\n\n".join(parts) + "\n"
    return PreparedDocument(name=relpath, text=full, kind="table", meta=_doc_meta(meta), segments=segments), replaced


def _pick(columns: list[str], candidates: tuple[str, ...]) -> str | None:
    return next((c for c in candidates if c in columns), None)


def _respondent_id(value: str, name_map: dict[str, str], where: str) -> str:
    """An id (L3, B1, S2) as is; a name listed in the manifest as its id; anything else refused."""
    value = " ".join(value.split())
    if re.fullmatch(r"[LBSlbs]\d{1,3}", value):
        return value.upper()
    for name, rid in name_map.items():
        if " ".join(name.lower().split()) == value.lower():
            return rid
    # A name that is not in the manifest would end up in the dataset unpseudonymised.
    raise InputError(f"{where}: respondent {value!r} is not an id (L1, B1, S1) nor a name listed in the "
                     "manifest's 'names' column")


def _logbook_form(columns: list[str], rows: list[dict], relpath: str, meta: FileMeta,
                  name_map: dict[str, str], max_segment_chars: int) -> tuple[list[PreparedDocument], int]:
    """A logbook-form export: one document per row, one segment per answer plus the whole logbook."""
    respondent_col = _pick(columns, RESPONDENT_COLUMNS)
    moment_col = _pick(columns, MOMENT_COLUMNS)
    known = {respondent_col, moment_col, "plg", *IGNORED_COLUMNS}
    questions = [c for c in columns if c and c not in known]
    if respondent_col is None or not questions:
        found = ", ".join(c for c in columns if c) or "none"
        raise InputError(
            f"{relpath}: unexpected columns ({found}); expected either 'id' and 'text' (a list of segments) or "
            f"a logbook-form export: a respondent column ({', '.join(RESPONDENT_COLUMNS[:5])}, ...) and one "
            "column per question"
        )
    pattern = name_pattern(name_map)
    documents: list[PreparedDocument] = []
    replaced = 0
    for n, row in enumerate(rows, start=2):
        where = f"{relpath}: row {n}"
        raw_resp = str(row.get(respondent_col) or "").strip()
        if not raw_resp:
            raise InputError(f"{where}: column {respondent_col!r} is empty")
        respondent = _respondent_id(raw_resp, name_map, where)
        moment = normalise_moment(row.get(moment_col)) if moment_col else None
        plg = str(row.get("plg") or "").strip() or None
        name = f"{relpath}#r{n}"
        stem = doc_stem(name)
        text = ""
        answers: list[tuple[str, int, int]] = []
        for column in questions:
            answer = str(row.get(column) or "").strip().replace("\r\n", "\n").replace("\r", "\n")
            if not answer:
                continue
            question, k1 = pseudonymise(" ".join(column.split()), name_map, pattern)
            answer, k2 = pseudonymise(answer, name_map, pattern)
            replaced += k1 + k2
            text += question + "\n"
            answers.append((question, len(text), len(text) + len(answer)))
            text += answer + "\n\n"
        if not answers:
            log.info("%s: no answers, skipped", where)
            continue
        line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        segments: list[Segment] = []
        for question, s, e in answers:
            # A long answer is split like a long turn; each part keeps the question as context.
            doc = segment_text(text[s:e], name, respondent=respondent, max_segment_chars=max_segment_chars)
            for part in doc.segments:
                ps, pe = s + part.char_start, s + part.char_end
                segments.append(Segment(id="", text=text[ps:pe], respondent=respondent, question=question,
                                        line_start=_line_of(line_starts, ps), line_end=_line_of(line_starts, pe - 1),
                                        char_start=ps, char_end=pe, kind="logboek"))
        _renumber(segments, stem)
        whole = _whole_segment(text, stem, respondent)
        if whole:
            segments.append(whole)
        documents.append(PreparedDocument(name=name, text=text, kind="logboek",
                                          meta=_doc_meta(meta, respondent, moment, plg), segments=segments))
    if not documents:
        raise InputError(f"{relpath}: no filled-in rows")
    return documents, replaced


def prepare_file(path: str | Path, relpath: str, meta: FileMeta, name_map: dict[str, str],
                 max_bytes: int = MAX_FILE_BYTES, max_segment_chars: int = MAX_SEGMENT_CHARS,
                 raw: bytes | None = None) -> PreparedFile:
    """Read, pseudonymise and segment one file. Raises InputError with a one-line reason."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in BATCH_SUFFIXES:
        raise InputError(f"{relpath}: unsupported file type {suffix or '(none)'}; use {', '.join(BATCH_SUFFIXES)}")
    if raw is None:
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise InputError(f"{relpath}: {size / 1_048_576:.1f} MB is over the limit of "
                                 f"{max_bytes / 1_048_576:.0f} MB; split the file")
            raw = path.read_bytes()
        except OSError as exc:
            raise InputError(f"{relpath}: cannot be read ({exc.strerror})") from None
    digest = sha256_bytes(raw)
    if not raw.strip():
        raise InputError(f"{relpath}: the file is empty")
    if suffix in (".txt", ".docx"):
        doc, replaced = _text_document(raw, relpath, meta, name_map, max_bytes, max_segment_chars)
        documents = [doc]
    else:
        original, raw_rows = read_table_rows(raw, relpath)
        if not raw_rows:
            raise InputError(f"{relpath}: no rows below the header")
        # Known columns match case-insensitively; question columns keep the header as written.
        lower = {c: c.lower() if c.lower() in (*RESPONDENT_COLUMNS, *MOMENT_COLUMNS, *IGNORED_COLUMNS, "text",
                                                "question", "speaker") else c for c in original}
        columns = list(lower.values())
        rows = [{lower.get(k, k): v for k, v in row.items()} for row in raw_rows]
        if "id" in columns and "text" in columns:
            doc, replaced = _segment_table(columns, rows, relpath, meta, name_map)
            documents = [doc]
        else:
            documents, replaced = _logbook_form(columns, rows, relpath, meta, name_map, max_segment_chars)
    if replaced:
        log.info("%s: replaced %d names by respondent ids", relpath, replaced)
    return PreparedFile(relpath=relpath, sha256=digest, documents=documents, replacements=replaced)


def discover(paths: list[str | Path], exclude: list[Path] = ()) -> tuple[list[tuple[Path, str]], list[tuple[str, str]]]:
    """(files to read as (path, relative name), problems as (name, reason)).

    A folder is walked recursively for the supported suffixes; hidden files and Word's ``~$``
    lock files are skipped, and so is anything inside ``exclude`` (the output folder). A file given
    by name with another suffix is a problem, reported like a failing file.
    """
    excluded = [p.resolve() for p in exclude]
    found: list[tuple[Path, str]] = []
    problems: list[tuple[str, str]] = []
    seen_rel: dict[str, Path] = {}

    def add(path: Path, rel: str) -> None:
        resolved = path.resolve()
        if any(resolved == ex or ex in resolved.parents for ex in excluded):
            return
        if rel in seen_rel:
            if seen_rel[rel] != resolved:
                problems.append((rel, f"{rel}: another input has the same relative name ({seen_rel[rel]}); "
                                      "give the folders one by one into different output folders"))
            return
        seen_rel[rel] = resolved
        found.append((path, rel))

    for given in map(Path, paths):
        if given.is_dir():
            for path in sorted(given.rglob("*")):
                rel_parts = path.relative_to(given).parts
                if any(part.startswith((".", "~$")) for part in rel_parts) or not path.is_file():
                    continue
                if path.suffix.lower() not in BATCH_SUFFIXES:
                    log.debug("skipping %s: not %s", path, ", ".join(BATCH_SUFFIXES))
                    continue
                add(path, PurePosixPath(*rel_parts).as_posix())
        elif given.is_file():
            if given.suffix.lower() not in BATCH_SUFFIXES:
                problems.append((given.name, f"{given.name}: unsupported file type {given.suffix or '(none)'}; "
                                              f"use {', '.join(BATCH_SUFFIXES)}"))
                continue
            add(given, given.name)
        else:
            raise InputError(f"{given}: no such file or folder")
    return found, problems
