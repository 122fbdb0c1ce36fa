"""Read transcripts and logbooks and split them into segments that keep speaker and line numbers.

One reader for every entry point (CLI ``suggest``, batch ``annotate``, the service's uploads), so a
transcript is segmented the same way wherever it comes in.

Every segment's text is an exact slice ``document.text[char_start:char_end]`` of the document's
plain text (UTF-8, LF line endings), so exports to QDA tools can cite character offsets.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .messages import UserError, os_reason

# Documented limits (README, "Limits"). A file above MAX_FILE_BYTES is refused before parsing.
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_SEGMENT_CHARS = 2000
MAX_SEGMENTS_PER_FILE = 20_000
SUPPORTED_SUFFIXES = (".txt", ".docx", ".jsonl", ".csv", ".xlsx")

INTERVIEWER_LABELS = frozenset({"i", "int", "interviewer", "interviewster", "onderzoeker", "o", "v", "vraag"})
_TIMESTAMP = r"(?:\[?\(?\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?\)?\]?\s*(?:-\s*)?)"
_CODE_LABEL = r"(?:I|Int|Interviewer|Interviewster|Onderzoeker|R|Respondent|[LBST]\d{1,3})"
_NAME_LABEL = r"(?:[A-ZÀ-Ý][a-zà-ÿA-Z'.-]{1,20}(?: (?:van|de|der|den|ter|ten|[A-ZÀ-Ý][a-zà-ÿ'.-]{1,20})){0,3})"
TURN_RE = re.compile(rf"^\s*{_TIMESTAMP}?(?P<label>{_CODE_LABEL}|{_NAME_LABEL})\s*:\s?(?P<rest>.*)$")
TIMESTAMP_ONLY_RE = re.compile(rf"^\s*{_TIMESTAMP}")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


class InputError(UserError, ValueError):
    """A file or text that cannot be read: one line to act on, in English for the API and in Dutch
    (``.dutch``) for a researcher (training.messages)."""


def _empty(name: str) -> InputError:
    return InputError(f"{name}: the file is empty", dutch=f"{name}: het bestand is leeg")


@dataclass
class Segment:
    id: str
    text: str
    speaker: str | None = None
    respondent: str | None = None
    question: str | None = None
    line_start: int | None = None
    line_end: int | None = None
    char_start: int | None = None
    char_end: int | None = None
    kind: str = "text"
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Document:
    name: str
    text: str
    kind: str
    segments: list[Segment]


# ---------------------------------------------------------------- decoding

# A lone UTF-16 surrogate (JSON's "\ud800" escape decodes to one) cannot be written as UTF-8, and
# PostgreSQL refuses NUL in text: either would fail far from where it came in, so both are refused
# where text enters.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: str, dutch: bool = False) -> str | None:
    """Why a text cannot be stored as it is (a NUL character, a lone surrogate), or None."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    if dutch:
        what = "een NUL-teken (\\u0000)" if found.group() == "\x00" else (
            f"een los surrogaat (\\u{ord(found.group()):04x}, een halve UTF-16-code, geen teken)")
        return f"bevat {what} op positie {found.start() + 1}; haal het weg"
    what = "a NUL character (\\u0000)" if found.group() == "\x00" else (
        f"a lone surrogate (\\u{ord(found.group()):04x}, half of a UTF-16 pair, not a character)")
    return f"contains {what} at position {found.start() + 1}; remove it"


def _check_document_text(document: Document) -> Document:
    """Every text of a parsed document is a storable string: JSONL and CSV rows can hold anything."""
    for segment in document.segments:
        for field_name in ("id", "text", "speaker", "respondent", "question"):
            value = getattr(segment, field_name)
            if value is None:
                continue
            where = f"{document.name}: segment {segment.id!r}: '{field_name}'"
            if not isinstance(value, str):
                raise InputError(f"{where} must be text", dutch=f"{where} moet tekst zijn")
            problem = text_problem(value)
            if problem:
                raise InputError(f"{where} {problem}", dutch=f"{where} {text_problem(value, dutch=True)}")
    problem = text_problem(document.text)
    if problem:
        raise InputError(f"{document.name}: the text {problem}",
                         dutch=f"{document.name}: de tekst {text_problem(document.text, dutch=True)}")
    return document


def decode_text(raw: bytes, name: str) -> str:
    """UTF-8 (with or without BOM) to str with LF line endings, or a clear InputError."""
    if not raw.strip():
        raise _empty(name)
    if b"\x00" in raw[:8192]:
        raise InputError(f"{name}: looks like a binary file, not text (expected UTF-8 text)",
                         dutch=f"{name}: lijkt een binair bestand, geen tekst (verwacht: UTF-8-tekst)")
    nul = raw.find(b"\x00")
    if nul >= 0:  # past the sniffed start: text with a stray NUL, which no database stores
        raise InputError(f"{name}: contains a NUL byte at byte {nul}; remove it and save as UTF-8",
                         dutch=f"{name}: bevat een NUL-byte op byte {nul}; haal die weg en bewaar als UTF-8")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # Word and Notepad on Dutch Windows save "ANSI" (cp1252) by default: say so, because
        # "not UTF-8" alone does not tell a researcher what to change.
        cp1252 = _looks_cp1252(raw)
        hint = " (it looks like Windows-1252/ANSI text)" if cp1252 else ""
        hint_nl = " (het lijkt Windows-1252/ANSI-tekst)" if cp1252 else ""
        raise InputError(
            f"{name}: not UTF-8 text (byte {exc.start}){hint}; save it as UTF-8, e.g. 'Opslaan als' > UTF-8",
            dutch=f"{name}: geen UTF-8-tekst (byte {exc.start}){hint_nl}; bewaar het als UTF-8, bijvoorbeeld met "
                  "'Opslaan als' > UTF-8",
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _looks_cp1252(raw: bytes) -> bool:
    """True when bytes decode as cp1252 and hold the accented letters Dutch text uses."""
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return any(ch in text for ch in "ëéèïöüäáóúíàçñ’‘“”–…ËÉÏÖÜ")


def _check_size(size: int, name: str, max_bytes: int) -> None:
    if size > max_bytes:
        size_mb, limit_mb = f"{size / 1_048_576:.1f}", f"{max_bytes / 1_048_576:.0f}"
        raise InputError(f"{name}: {size_mb} MB is over the limit of {limit_mb} MB; split the file",
                         dutch=f"{name}: {size_mb} MB is groter dan de grens van {limit_mb} MB; splits het bestand")


# ---------------------------------------------------------------- splitting


def _spans_below(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Split text[start:end] at paragraph, then sentence, then word boundaries into spans <= max_chars."""
    s, e = _strip_span(text, start, end)
    if e - s <= max_chars:
        return [(s, e)] if e > s else []
    pieces: list[tuple[int, int]] = []
    for pattern in (re.compile(r"\n\s*\n"), _SENTENCE_END, re.compile(r"\s+")):
        cuts = [m.end() for m in pattern.finditer(text, s, e)]
        if cuts:
            break
    else:
        # One unbroken run of characters: cut hard, it is not prose anyway.
        return [(i, min(i + max_chars, e)) for i in range(s, e, max_chars)]
    chunk_start = s
    last_cut = None
    for cut in cuts + [e]:
        if cut - chunk_start > max_chars and last_cut is not None and last_cut > chunk_start:
            pieces.extend(_spans_below(text, chunk_start, last_cut, max_chars))
            chunk_start = last_cut
        last_cut = cut
    pieces.extend(_spans_below(text, chunk_start, e, max_chars) if e - chunk_start > max_chars and chunk_start == s
                  else [_strip_span(text, chunk_start, e)])
    return [p for p in pieces if p[1] > p[0]]


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _line_of(line_starts: list[int], offset: int) -> int:
    lo, hi = 0, len(line_starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if line_starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo + 1


def _is_interviewer(label: str) -> bool:
    return label.strip().lower().rstrip(".") in INTERVIEWER_LABELS


def _find_turns(text: str) -> list[tuple[str, int, int]]:
    """(speaker label, text start, text end) per speaker turn, or [] when the text has no turns."""
    lines = text.split("\n")
    offsets = []
    pos = 0
    for line in lines:
        offsets.append(pos)
        pos += len(line) + 1
    heads = []
    for i, line in enumerate(lines):
        m = TURN_RE.match(line)
        if m:
            heads.append((i, m.group("label").strip(), offsets[i] + m.start("rest")))
    if not heads:
        return []
    # A capitalised word before a colon is a speaker only when it recurs ("Marieke:" twice);
    # otherwise a line such as "Bijvoorbeeld: ..." would open a turn.
    counts: dict[str, int] = {}
    for _, label, _ in heads:
        counts[label] = counts.get(label, 0) + 1
    heads = [h for h in heads if re.fullmatch(_CODE_LABEL, h[1]) or counts[h[1]] >= 2]
    if len(heads) < 2:
        return []
    # Text before the first turn is a title block ("Interview L7, startinterview"), not an answer.
    turns = []
    for n, (line_no, label, start) in enumerate(heads):
        end = offsets[heads[n + 1][0]] if n + 1 < len(heads) else len(text)
        turns.append((label, start, end))
    return turns


def segment_text(
    text: str,
    name: str = "tekst",
    respondent: str | None = None,
    max_segment_chars: int = MAX_SEGMENT_CHARS,
) -> Document:
    """Split a transcript by speaker turn, or a logbook/plain text by paragraph.

    Interviewer turns are not segments: each one becomes the ``question`` of the answer that
    follows, because the question is a strong hint for that answer's code.
    """
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    stem = Path(name).stem
    segments: list[Segment] = []

    def add(start: int, end: int, speaker: str | None, question: str | None, kind: str) -> None:
        for s, e in _spans_below(text, start, end, max_segment_chars):
            segments.append(
                Segment(
                    id=f"{stem}-{len(segments) + 1:04d}",
                    text=text[s:e],
                    speaker=speaker or None,
                    respondent=respondent or (speaker if speaker and not _is_interviewer(speaker) else None),
                    question=question,
                    line_start=_line_of(line_starts, s),
                    line_end=_line_of(line_starts, max(s, e - 1)),
                    char_start=s,
                    char_end=e,
                    kind=kind,
                )
            )
            if len(segments) > MAX_SEGMENTS_PER_FILE:
                raise InputError(f"{name}: more than {MAX_SEGMENTS_PER_FILE} segments; split the file",
                                 dutch=f"{name}: meer dan {MAX_SEGMENTS_PER_FILE} fragmenten; splits het bestand")

    turns = _find_turns(text)
    if turns:
        question = None
        for label, start, end in turns:
            s, e = _strip_span(text, start, end)
            if e <= s:
                continue
            if label and _is_interviewer(label):
                question = " ".join(text[s:e].split())
                continue
            add(s, e, label, question, "interview")
            question = None
        return Document(name=name, text=text, kind="interview", segments=segments)

    # No speaker turns: paragraphs. A paragraph that is a single line ending in "?" is a logbook
    # prompt: it becomes the question of the paragraph below it, not a segment of its own.
    question = None
    for m in re.finditer(r"(?:[^\n]|\n(?![ \t]*\n))+", text):
        s, e = _strip_span(text, m.start(), m.end())
        if e <= s:
            continue
        first_line_end = text.find("\n", s, e)
        head_end = e if first_line_end == -1 else first_line_end
        head = text[s:head_end].strip()
        if head.endswith("?") and len(head) < 300:
            question = head
            s, e = _strip_span(text, head_end, e)
            if e <= s:
                continue
        add(s, e, None, question, "logboek" if question else "text")
        question = None
    return Document(name=name, text=text, kind="logboek" if any(s.question for s in segments) else "text",
                    segments=segments)


# ---------------------------------------------------------------- file readers


def _read_docx(raw: bytes, name: str) -> str:
    try:
        import docx  # python-docx

        document = docx.Document(io.BytesIO(raw))
    except Exception as exc:  # python-docx raises zip, lxml and opc errors of several kinds on damaged files
        raise InputError(f"{name}: not a readable .docx file ({type(exc).__name__})",
                         dutch=f"{name}: geen leesbaar Word-bestand (.docx); open en bewaar het opnieuw in "
                               "Word") from None
    lines = [p.text for p in document.paragraphs]
    text = "\n".join(lines).replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise InputError(f"{name}: the document has no text", dutch=f"{name}: het document bevat geen tekst")
    # Word paragraphs are lines; separate them by blank lines when the document has no turns, so
    # that paragraph splitting sees them.
    if not _find_turns(text):
        text = "\n\n".join(line for line in lines if line.strip())
    return text


def _rows_to_documents(rows: list[dict], name: str, line_base: int, unit: str = "rij") -> Document:
    segments = []
    seen = set()
    for n, row in enumerate(rows):
        where, waar = f"{name}: row {n + line_base}", f"{name}: {unit} {n + line_base}"
        seg_id = str(row.get("id") or "").strip()
        text = row.get("text")
        if not seg_id:
            raise InputError(f"{where}: column 'id' is empty", dutch=f"{waar}: de kolom 'id' is leeg")
        if seg_id in seen:
            raise InputError(f"{where}: id {seg_id!r} occurs twice", dutch=f"{waar}: id {seg_id!r} komt twee keer voor")
        seen.add(seg_id)
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{where}: column 'text' is empty", dutch=f"{waar}: de kolom 'text' is leeg")
        if len(text) > MAX_SEGMENT_CHARS:
            raise InputError(f"{where}: text of {len(text)} characters is over the limit of {MAX_SEGMENT_CHARS}",
                             dutch=f"{waar}: tekst van {len(text)} tekens is langer dan de grens van "
                                   f"{MAX_SEGMENT_CHARS}")
        question = row.get("question") or None
        segments.append(Segment(id=seg_id, text=text, question=question if isinstance(question, str) else None,
                                speaker=row.get("speaker") or None, respondent=row.get("respondent") or None))
        if len(segments) > MAX_SEGMENTS_PER_FILE:
            raise InputError(f"{name}: more than {MAX_SEGMENTS_PER_FILE} rows; split the file",
                             dutch=f"{name}: meer dan {MAX_SEGMENTS_PER_FILE} rijen; splits het bestand")
    if not segments:
        raise InputError(f"{name}: no rows", dutch=f"{name}: geen rijen")
    return Document(name=name, text="", kind="table", segments=segments)


def iter_jsonl_objects(text: str, name: str):
    """(line number, object) for each non-empty line; InputError naming the line otherwise."""
    for ln, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{name}: line {ln} is not JSON ({exc.msg})",
                             dutch=f"{name}: regel {ln} is geen JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise InputError(f"{name}: line {ln} must be a JSON object",
                             dutch=f"{name}: regel {ln} moet een JSON-object zijn")
        yield ln, row


def _read_jsonl(text: str, name: str) -> Document:
    rows = []
    for ln, row in iter_jsonl_objects(text, name):
        if "text" not in row or "id" not in row:
            raise InputError(f'{name}: line {ln} must be an object with "id" and "text"',
                             dutch=f'{name}: regel {ln} moet een object met "id" en "text" zijn')
        rows.append(row)
    return _rows_to_documents(rows, name, line_base=1, unit="regel")


def _read_csv(text: str, name: str) -> Document:
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    columns = [c.strip().lower() for c in (reader.fieldnames or [])]
    if "id" not in columns or "text" not in columns:
        raise _needs_id_and_text(name, columns)
    reader.fieldnames = columns
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise _not_csv(name, exc) from None
    return _rows_to_documents(rows, name, line_base=2)


def _needs_id_and_text(name: str, columns: list[str]) -> InputError:
    found = ", ".join(c for c in columns if c)
    return InputError(f"{name}: needs the columns 'id' and 'text' (found: {found or 'none'})",
                      dutch=f"{name}: de kolommen 'id' en 'text' zijn nodig (gevonden: {found or 'geen'})")


def _not_csv(name: str, exc: csv.Error) -> InputError:
    return InputError(f"{name}: not valid CSV ({exc})", dutch=f"{name}: geen geldige CSV ({exc})")


def _read_xlsx_rows(raw: bytes, name: str, lower: bool = True) -> tuple[list[str], list[dict]]:
    try:
        import openpyxl

        wb = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on damaged files
        raise InputError(f"{name}: not a readable .xlsx file ({type(exc).__name__})",
                         dutch=f"{name}: geen leesbaar Excel-bestand (.xlsx); open en bewaar het opnieuw in "
                               "Excel") from None
    ws = wb.worksheets[0]
    it = ws.iter_rows(values_only=True)
    header = next(it, None)
    if not header:
        raise InputError(f"{name}: the first sheet is empty", dutch=f"{name}: het eerste werkblad is leeg")
    columns = [(str(c).strip().lower() if lower else " ".join(str(c).split())) if c is not None else ""
               for c in header]
    rows = [
        {columns[i]: (str(v) if v is not None else "") for i, v in enumerate(values) if i < len(columns)}
        for values in it
        if values and any(v not in (None, "") for v in values)
    ]
    wb.close()
    return columns, rows


def read_table_rows(raw: bytes, name: str) -> tuple[list[str], list[dict]]:
    """(column names as written, rows as dicts of strings) of a .csv or the first sheet of a .xlsx.

    For callers that interpret the columns themselves (batch annotation of logbook-form exports,
    whose headers are the questions, so their case is kept).
    """
    suffix = Path(name).suffix.lower()
    if not raw:
        raise _empty(name)
    if suffix == ".xlsx":
        return _read_xlsx_rows(raw, name, lower=False)
    if suffix != ".csv":
        raise InputError(f"{name}: not a table (.csv or .xlsx)", dutch=f"{name}: geen tabel (.csv of .xlsx)")
    text = decode_text(raw, name)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    columns = [" ".join((c or "").split()) for c in (reader.fieldnames or [])]
    reader.fieldnames = columns
    try:
        rows = [{k: (v or "") for k, v in row.items() if k is not None} for row in reader]
    except csv.Error as exc:
        raise _not_csv(name, exc) from None
    return columns, [r for r in rows if any(str(v).strip() for v in r.values())]


def extract_text(raw: bytes, name: str, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The plain text (LF line endings) of a .txt or .docx file, before segmenting.

    Lets a caller change the text first (batch annotation replaces names by respondent ids
    before segmenting, so every offset points into the pseudonymised text).
    """
    suffix = Path(name).suffix.lower()
    _check_size(len(raw), name, max_bytes)
    if suffix == ".docx":
        if not raw:
            raise _empty(name)
        return _read_docx(raw, name)
    if suffix == ".txt":
        return decode_text(raw, name)
    raise InputError(f"{name}: not a text document (.txt or .docx)",
                     dutch=f"{name}: geen tekstdocument (.txt of .docx)")


def _read_xlsx(raw: bytes, name: str) -> Document:
    columns, rows = _read_xlsx_rows(raw, name)
    if "id" not in columns or "text" not in columns:
        raise _needs_id_and_text(name, columns)
    return _rows_to_documents(rows, name, line_base=2)


def read_bytes(raw: bytes, name: str, max_bytes: int = MAX_FILE_BYTES, respondent: str | None = None,
               max_segment_chars: int = MAX_SEGMENT_CHARS) -> Document:
    """Parse an uploaded or read file by its suffix into a Document with segments."""
    return _check_document_text(_parse_bytes(raw, name, max_bytes, respondent, max_segment_chars))


def _parse_bytes(raw: bytes, name: str, max_bytes: int, respondent: str | None, max_segment_chars: int) -> Document:
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise InputError(f"{name}: unsupported file type {suffix or '(none)'}; use {', '.join(SUPPORTED_SUFFIXES)}",
                         dutch=f"{name}: bestandstype {suffix or '(geen)'} wordt niet gelezen; gebruik "
                               f"{', '.join(SUPPORTED_SUFFIXES)}")
    _check_size(len(raw), name, max_bytes)
    if suffix == ".docx":
        if not raw:
            raise _empty(name)
        text = _read_docx(raw, name)
        return segment_text(text, name, respondent=respondent, max_segment_chars=max_segment_chars)
    if suffix == ".xlsx":
        if not raw:
            raise _empty(name)
        return _read_xlsx(raw, name)
    text = decode_text(raw, name)
    if suffix == ".jsonl":
        return _read_jsonl(text, name)
    if suffix == ".csv":
        return _read_csv(text, name)
    document = segment_text(text, name, respondent=respondent, max_segment_chars=max_segment_chars)
    if not document.segments:
        raise InputError(f"{name}: no text to segment", dutch=f"{name}: geen tekst om in fragmenten te verdelen")
    return document


def read_file(path: str | Path, max_bytes: int = MAX_FILE_BYTES, respondent: str | None = None,
              max_segment_chars: int = MAX_SEGMENT_CHARS) -> Document:
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise _unreadable(path, exc) from None
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a file", dutch=f"{path}: is een map, geen bestand")
    _check_size(size, path.name, max_bytes)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _unreadable(path, exc) from None
    return read_bytes(raw, path.name, max_bytes=max_bytes, respondent=respondent,
                      max_segment_chars=max_segment_chars)


def _unreadable(path: Path, exc: OSError) -> InputError:
    return InputError(f"{path}: cannot be read ({exc.strerror})",
                      dutch=f"{path}: kan niet gelezen worden ({os_reason(exc)})")
