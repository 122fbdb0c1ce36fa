"""Reading one input file of a batch run into pseudonymised, segmented documents.

This module is what the worker processes of ``codeerhulp annotate`` run, so it imports only the
standard library and the segmenter: a worker never loads the model, numpy or scikit-learn.

Input kinds
-----------
- ``.txt`` / ``.docx``: a transcript (split by speaker turn) or a logbook / plain text (split by
  paragraph, a one-line question above a paragraph kept as its context), see
  :mod:`training.segmenting`.
- ``.csv`` / ``.xlsx`` with columns ``id`` and ``text`` (optional ``question``, ``speaker``,
  ``respondent``), or ``.jsonl`` with one such object a line: a list of ready-made segments. They
  are joined into one document text (blank line between segments) so that every segment still
  has character offsets for a QDA export.
- ``.csv`` / ``.xlsx`` logbook-form export (one row per filled-in logbook): a respondent column
  (``respondent``, ``deelnemer``, ``code``, ``leraar``, ``naam`` or ``name``), optional ``moment``
  (or ``logboek``, ``meting``) and ``plg`` columns, columns the form tool adds (timestamp, e-mail)
  that are ignored, and one column per question, headed by the question. Each row becomes a
  document ``<file>#r<row>`` whose text is "question, answer, blank line" per answered question;
  line numbers refer to that text.

Logbooks (a logbook text, a form-export row, or any file whose moment is a logboek) get one
segment per answer *and* one segment ``<doc>-geheel`` spanning the whole logbook, because the
researchers code a logbook as a whole. The whole-logbook segment is exempt from
the segment length limit; it is the unit, not a turn.

Forgiving input
---------------
- Text files (``.txt``, ``.csv``, ``.jsonl``) that are not UTF-8 are read as Windows-1252,
  Latin-1 or UTF-16 (:mod:`training.encoding`); the file then carries a notice naming the
  encoding, which the command prints.
- A bad line of a ``.jsonl`` or a bad row of a table (not JSON, an empty id or text, an id used
  twice, a text over the length limit, an unknown respondent in a form export) is left out and
  reported with its number in :attr:`PreparedFile.bad_lines`, while the rest of the file is
  annotated. A file with no good line at all fails as a whole.
- Messages are in Dutch: they end up in the failure report a researcher reads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .encoding import UTF8, decode_legacy_text, encoding_notice
from .messages import os_reason
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

BATCH_SUFFIXES = (".txt", ".docx", ".csv", ".xlsx", ".jsonl")
SEGMENT_FIELDS = ("id", "text", "question", "speaker", "respondent")
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
    encoding: str = UTF8
    # (line or row number, reason) of the lines left out; the rest of the file is annotated.
    bad_lines: list[tuple[int, str]] = field(default_factory=list)

    @property
    def notices(self) -> list[str]:
        return [encoding_notice(self.relpath, self.encoding)] if self.encoding != UTF8 else []


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


def _text_document(text: str, relpath: str, meta: FileMeta, name_map: dict[str, str],
                   max_segment_chars: int) -> tuple[PreparedDocument, int]:
    text, replaced = pseudonymise(text, name_map, name_pattern(name_map))
    document = segment_text(text, relpath, respondent=meta.respondent, max_segment_chars=max_segment_chars)
    if not document.segments:
        raise InputError(f"{relpath}: geen tekst om in fragmenten te verdelen")
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


def _segment_table(rows: list[tuple[int, dict]], relpath: str, meta: FileMeta, name_map: dict[str, str],
                   bad_lines: list[tuple[int, str]], unit: str = "rij") -> tuple[PreparedDocument, int]:
    """Ready-made segments (id, text): joined into one text so each keeps its offsets.

    ``rows`` are (row or line number, fields); a bad one is added to ``bad_lines`` and left out.
    """
    pattern = name_pattern(name_map)
    parts: list[str] = []
    segments: list[Segment] = []
    pos = 0
    line = 1
    seen: set[str] = set()
    replaced = 0
    for n, row in rows:
        seg_id = str(row.get("id") or "").strip()
        text = str(row.get("text") or "").strip().replace("\r\n", "\n").replace("\r", "\n")
        problem = None
        if not seg_id:
            problem = "kolom 'id' is leeg"
        elif seg_id in seen:
            problem = f"id {seg_id!r} komt twee keer voor"
        elif not text:
            problem = "kolom 'text' is leeg"
        elif len(text) > MAX_SEGMENT_CHARS:
            problem = f"tekst van {len(text)} tekens is langer dan de grens van {MAX_SEGMENT_CHARS}"
        if problem:
            bad_lines.append((n, f"{relpath}: {unit} {n}: {problem}; overgeslagen"))
            continue
        seen.add(seg_id)
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
            raise InputError(f"{relpath}: meer dan {MAX_SEGMENTS_PER_FILE} rijen; splits het bestand")
    if not segments:
        raise InputError(f"{relpath}: geen bruikbare rijen" + _skipped(bad_lines))
    full = "\n\n".join(parts) + "\n"
    return PreparedDocument(name=relpath, text=full, kind="table", meta=_doc_meta(meta), segments=segments), replaced


def _skipped(bad_lines: list[tuple[int, str]]) -> str:
    return f" ({len(bad_lines)} overgeslagen)" if bad_lines else ""


def _pick(columns: list[str], candidates: tuple[str, ...]) -> str | None:
    return next((c for c in candidates if c in columns), None)


def _respondent_id(value: str, name_map: dict[str, str]) -> str | None:
    """An id (L3, B1, S2) as is; a name listed in the manifest as its id; anything else None."""
    value = " ".join(value.split())
    if re.fullmatch(r"[LBSlbs]\d{1,3}", value):
        return value.upper()
    for name, rid in name_map.items():
        if " ".join(name.lower().split()) == value.lower():
            return rid
    return None


def _logbook_form(columns: list[str], rows: list[dict], relpath: str, meta: FileMeta,
                  name_map: dict[str, str], max_segment_chars: int,
                  bad_lines: list[tuple[int, str]]) -> tuple[list[PreparedDocument], int]:
    """A logbook-form export: one document per row, one segment per answer plus the whole logbook."""
    respondent_col = _pick(columns, RESPONDENT_COLUMNS)
    moment_col = _pick(columns, MOMENT_COLUMNS)
    known = {respondent_col, moment_col, "plg", *IGNORED_COLUMNS}
    questions = [c for c in columns if c and c not in known]
    if respondent_col is None or not questions:
        found = ", ".join(c for c in columns if c) or "none"
        raise InputError(
            f"{relpath}: onverwachte kolommen ({found}); verwacht 'id' en 'text' (een lijst fragmenten) of "
            f"een export van een logboekformulier: een kolom met de respondent ({', '.join(RESPONDENT_COLUMNS[:5])}, "
            "...) en een kolom per vraag"
        )
    pattern = name_pattern(name_map)
    documents: list[PreparedDocument] = []
    replaced = 0
    for n, row in enumerate(rows, start=2):
        where = f"{relpath}: rij {n}"
        raw_resp = str(row.get(respondent_col) or "").strip()
        if not raw_resp:
            bad_lines.append((n, f"{where}: kolom {respondent_col!r} is leeg; rij overgeslagen"))
            continue
        respondent = _respondent_id(raw_resp, name_map)
        if respondent is None:
            # The value is not repeated: it may be a name, and this message goes into the failure report.
            bad_lines.append((n, f"{where}: de respondent is geen id (L1, B1, S1) en geen naam uit de kolom "
                                 "'names' van het manifest; rij overgeslagen (zet de naam in het manifest)"))
            continue
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
        raise InputError(f"{relpath}: geen ingevulde rijen" + _skipped(bad_lines))
    return documents, replaced


def _jsonl_rows(text: str, relpath: str, bad_lines: list[tuple[int, str]]) -> list[tuple[int, dict]]:
    """(line number, object) of the good lines of a JSONL file; the bad ones go to ``bad_lines``."""
    rows = []
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            bad_lines.append((n, f"{relpath}: regel {n}: geen geldige JSON ({exc.msg}); overgeslagen"))
            continue
        if not isinstance(row, dict):
            bad_lines.append((n, f"{relpath}: regel {n}: geen JSON-object; overgeslagen"))
            continue
        rows.append((n, {k: row.get(k) for k in SEGMENT_FIELDS}))
    return rows


def read_input(path: Path, relpath: str, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of an input file, refused (InputError) before reading when over ``max_bytes``.

    A local run reads here; a cluster run reads here on the client and sends the bytes to a worker."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(_too_large(relpath, size, max_bytes))
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{relpath}: kan niet gelezen worden ({os_reason(exc)})") from None


def _too_large(relpath: str, size: int, max_bytes: int) -> str:
    return (f"{relpath}: {size / 1_048_576:.1f} MB is groter dan de grens van "
            f"{max_bytes / 1_048_576:.0f} MB; splits het bestand")


def prepare_file(path: str | Path, relpath: str, meta: FileMeta, name_map: dict[str, str],
                 max_bytes: int = MAX_FILE_BYTES, max_segment_chars: int = MAX_SEGMENT_CHARS,
                 raw: bytes | None = None) -> PreparedFile:
    """Read, pseudonymise and segment one file. Raises InputError with a one-line reason."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in BATCH_SUFFIXES:
        raise InputError(f"{relpath}: bestandstype {suffix or '(geen)'} wordt niet gelezen; gebruik "
                         f"{', '.join(BATCH_SUFFIXES)}")
    if raw is None:
        raw = read_input(path, relpath, max_bytes)
    if len(raw) > max_bytes:
        raise InputError(_too_large(relpath, len(raw), max_bytes))
    digest = sha256_bytes(raw)
    if not raw.strip():
        raise InputError(f"{relpath}: het bestand is leeg")
    encoding = UTF8
    bad_lines: list[tuple[int, str]] = []
    if suffix in (".txt", ".csv", ".jsonl"):
        text, encoding = decode_legacy_text(raw, relpath)
    if suffix in (".txt", ".docx"):
        if suffix == ".docx":
            text = extract_text(raw, relpath, max_bytes)
        doc, replaced = _text_document(text, relpath, meta, name_map, max_segment_chars)
        documents = [doc]
    elif suffix == ".jsonl":
        doc, replaced = _segment_table(_jsonl_rows(text, relpath, bad_lines), relpath, meta, name_map, bad_lines,
                                       unit="regel")
        documents = [doc]
    else:
        # The table reader decodes UTF-8 itself; a file read in another encoding is handed over as UTF-8.
        original, raw_rows = read_table_rows(text.encode("utf-8") if suffix == ".csv" else raw, relpath)
        if not raw_rows:
            raise InputError(f"{relpath}: geen rijen onder de kopregel")
        # Known columns match case-insensitively; question columns keep the header as written.
        lower = {c: c.lower() if c.lower() in (*RESPONDENT_COLUMNS, *MOMENT_COLUMNS, *IGNORED_COLUMNS, "text",
                                                "question", "speaker") else c for c in original}
        columns = list(lower.values())
        rows = [{lower.get(k, k): v for k, v in row.items()} for row in raw_rows]
        if "id" in columns and "text" in columns:
            doc, replaced = _segment_table(list(enumerate(rows, start=2)), relpath, meta, name_map, bad_lines)
            documents = [doc]
        else:
            documents, replaced = _logbook_form(columns, rows, relpath, meta, name_map, max_segment_chars,
                                                bad_lines)
    if replaced:
        log.info("%s: replaced %d names by respondent ids", relpath, replaced)
    return PreparedFile(relpath=relpath, sha256=digest, documents=documents, replacements=replaced,
                        encoding=encoding, bad_lines=bad_lines)


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
                problems.append((rel, f"{rel}: een andere invoer heeft dezelfde relatieve naam ({seen_rel[rel]}); "
                                      "geef de mappen een voor een op, elk met een eigen uitvoermap"))
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
                problems.append((given.name, f"{given.name}: bestandstype {given.suffix or '(geen)'} wordt niet "
                                              f"gelezen; gebruik {', '.join(BATCH_SUFFIXES)}"))
                continue
            add(given, given.name)
        else:
            raise InputError(f"{given}: bestand of map bestaat niet")
    return found, problems
