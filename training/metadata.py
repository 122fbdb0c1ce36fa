"""Who said it, when, in which PLG: metadata of a transcript or logbook, and pseudonymisation.

Metadata comes from a manifest CSV written by the researcher (columns ``file``, ``respondent``,
``role``, ``moment``, ``plg``, ``names``) or, for files the manifest does not list, from the file
name, following the research's conventions:

- ``T31`` (logbook file): meting 3, leraar 1 -> respondent ``L1``, moment ``logboek3``;
  ``T312`` -> meting 3, leraar 12;
- ``L12_start`` / ``L12-begin`` / ``startinterview_L12`` -> ``L12``, ``startinterview``;
  ``L12_eind`` / ``eindinterview_L12`` -> ``L12``, ``eindinterview``;
- ``logboek2_L5`` -> ``L5``, ``logboek2``;
- a bare id ``L12``, ``B1`` (PLG-begeleider), ``S2`` (schoolleider) -> that respondent, no moment.

Moments are normalised to ``startinterview``, ``logboek1``..``logboek3``, ``eindinterview`` so the
tables can place them; anything else is kept as written.

Pseudonymisation: every name in a manifest row's ``names`` column (``;``-separated) is replaced by
that row's respondent id, as a whole word and case-insensitively, in every file of the run (a
colleague's name can occur in another teacher's interview). It runs on the document text before
segmenting, so offsets and line numbers point into the pseudonymised text and no original name
reaches a record, a dataset or an export.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .messages import os_reason
from .segmenting import InputError

log = logging.getLogger(__name__)

ROLE_BY_PREFIX = {"L": "leraar", "B": "PLG-begeleider", "S": "schoolleider"}
MOMENTS = ("startinterview", "logboek1", "logboek2", "logboek3", "eindinterview")
MANIFEST_COLUMNS = ("file", "respondent", "role", "moment", "plg", "names")
# Dutch and English spellings researchers use in a manifest, mapped to the canonical moment.
_MOMENT_ALIASES = {
    "start": "startinterview", "begin": "startinterview", "startinterview": "startinterview",
    "beginmeting": "startinterview", "voormeting": "startinterview",
    "eind": "eindinterview", "einde": "eindinterview", "eindinterview": "eindinterview", "end": "eindinterview",
    "nameting": "eindinterview",
}
_ID = r"(?P<id>[LBS]\d{1,3})"
# File-name patterns, tried in order; names are matched on the stem split into tokens by _ - space.
_T_LOGBOOK = re.compile(r"^T(?P<meting>[1-3])(?P<leraar>\d{1,2})$", re.IGNORECASE)
_ID_TOKEN = re.compile(rf"^{_ID}$", re.IGNORECASE)
_LOGBOOK_TOKEN = re.compile(r"^(?:logboek|logbook|lb)(?P<n>[1-3])$", re.IGNORECASE)


@dataclass
class FileMeta:
    """Metadata of one input file; empty fields are unknown."""

    respondent: str | None = None
    role: str | None = None
    moment: str | None = None
    plg: str | None = None
    names: list[str] = field(default_factory=list)
    source: str = "none"  # "manifest", "filename" or "none": where the metadata came from

    def to_dict(self) -> dict:
        return asdict(self)

    def fingerprint(self) -> str:
        """Changes when anything that changes the output changes (a rerun then redoes the file)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def role_of(respondent: str | None) -> str | None:
    m = re.fullmatch(r"([LBS])\d+", (respondent or "").strip(), re.IGNORECASE)
    return ROLE_BY_PREFIX[m.group(1).upper()] if m else None


def normalise_moment(value: str | None) -> str | None:
    """``"Logboek 3"`` -> ``logboek3``, ``"begin"`` -> ``startinterview``; unknown text is kept."""
    if value is None or not str(value).strip():
        return None
    raw = str(value).strip()
    key = re.sub(r"[\s_-]+", "", raw.lower())
    if key in _MOMENT_ALIASES:
        return _MOMENT_ALIASES[key]
    m = re.fullmatch(r"(?:logboek|logbook|meting|lb)([1-3])", key)
    if m:
        return f"logboek{m.group(1)}"
    if key in ("1", "2", "3"):
        return f"logboek{key}"
    return raw


def meta_from_filename(name: str) -> FileMeta:
    """Respondent and moment from a file name (see the module docstring); empty when not recognised."""
    stem = Path(name).stem
    tokens = [t for t in re.split(r"[\s_.-]+", stem) if t]
    meta = FileMeta()
    for i, token in enumerate(tokens):
        m = _T_LOGBOOK.match(token)
        if m:
            meta.respondent = f"L{int(m['leraar'])}"
            meta.moment = f"logboek{m['meting']}"
            continue
        m = _ID_TOKEN.match(token)
        if m and not meta.respondent:
            meta.respondent = m["id"].upper()
            continue
        moment = _MOMENT_ALIASES.get(token.lower())  # words only: "interview_L7_1" is no logboek1
        if moment and not meta.moment:
            meta.moment = moment
            continue
        m = _LOGBOOK_TOKEN.match(token)
        if m and not meta.moment:
            meta.moment = f"logboek{m['n']}"
    # "startinterviewL7" or "L7start" written as one token.
    if not meta.respondent:
        m = re.search(rf"(?:^|[^A-Za-z]){_ID}(?:$|[^0-9])", stem) or re.search(
            rf"(?:interview|logboek){_ID}$", stem, re.IGNORECASE)
        if m:
            meta.respondent = m["id"].upper()
    meta.role = role_of(meta.respondent)
    if meta.respondent or meta.moment:
        meta.source = "filename"
    return meta


class Manifest:
    """The researcher's manifest: metadata per file and the names to replace."""

    def __init__(self, rows: dict[str, FileMeta] | None = None, notices: list[str] | None = None) -> None:
        self.rows: dict[str, FileMeta] = rows or {}
        self.notices: list[str] = notices or []  # e.g. the manifest was read as Windows-1252

    @property
    def name_map(self) -> dict[str, str]:
        """Every listed name -> the respondent id of its row."""
        out: dict[str, str] = {}
        for meta in self.rows.values():
            for name in meta.names:
                if meta.respondent:
                    out[name] = meta.respondent
        return out

    def lookup(self, relpath: str) -> FileMeta | None:
        """The row for a file: by relative path first, then by file name, then by stem."""
        p = Path(relpath)
        for key in (p.as_posix().lower(), p.name.lower(), p.stem.lower()):
            if key in self.rows:
                return self.rows[key]
        # The manifest may name "interviews/a.txt" while the file was given on its own as "a.txt".
        by_name = [meta for key, meta in self.rows.items() if Path(key).name == p.name.lower()]
        return by_name[0] if len(by_name) == 1 else None

    def meta_for(self, relpath: str) -> FileMeta:
        """Manifest row when listed (file-name metadata fills its empty fields), else from the name."""
        from_name = meta_from_filename(relpath)
        row = self.lookup(relpath)
        if row is None:
            return from_name
        merged = FileMeta(**{**row.to_dict(), "names": list(row.names)})
        for attr in ("respondent", "moment", "plg"):
            if not getattr(merged, attr):
                setattr(merged, attr, getattr(from_name, attr))
        merged.role = merged.role or role_of(merged.respondent)
        merged.source = "manifest"
        return merged


def header_delimiter(text: str) -> str:
    """Comma, semicolon (Dutch Excel) or tab: whichever the header line uses most.

    Decided on the header alone, because the data may hold the other characters (a ``names``
    cell "Anaïs;Anaïs Verbeek" in a comma-separated file), which confuses csv.Sniffer.
    """
    header = text.split("\n", 1)[0]
    return max((",", ";", "\t"), key=header.count)


def read_manifest(path: str | Path) -> Manifest:
    """Read a manifest CSV (comma, semicolon or tab separated; UTF-8, or Windows-1252 from Excel with a notice)."""
    from .encoding import UTF8, decode_legacy_text, encoding_notice

    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"manifest {path}: kan niet gelezen worden ({os_reason(exc)})") from None
    text, encoding = decode_legacy_text(raw, f"manifest {path.name}")
    notices = [encoding_notice(f"manifest {path.name}", encoding)] if encoding != UTF8 else []
    reader = csv.DictReader(io.StringIO(text), delimiter=header_delimiter(text))
    columns = [(c or "").strip().lower() for c in (reader.fieldnames or [])]
    if "file" not in columns:
        raise InputError(f"manifest {path.name}: de kolom 'file' ontbreekt (gevonden: {', '.join(columns) or 'geen'}); "
                         f"bekende kolommen: {', '.join(MANIFEST_COLUMNS)}")
    unknown = [c for c in columns if c and c not in MANIFEST_COLUMNS]
    if unknown:
        log.warning("manifest %s: ignoring unknown column(s) %s", path.name, ", ".join(unknown))
    reader.fieldnames = columns
    rows: dict[str, FileMeta] = {}
    for n, row in enumerate(reader, start=2):
        get = lambda key: (row.get(key) or "").strip() or None  # noqa: E731
        file = get("file")
        if not file:
            if any((v or "").strip() for v in row.values() if isinstance(v, str)):
                raise InputError(f"manifest {path.name}: rij {n}: de kolom 'file' is leeg")
            continue
        key = Path(file.replace("\\", "/")).as_posix().lower()
        if key in rows:
            raise InputError(f"manifest {path.name}: rij {n}: bestand {file!r} staat er twee keer in")
        respondent = get("respondent")
        names = [x.strip() for x in (get("names") or "").split(";") if x.strip()]
        if names and not respondent:
            raise InputError(f"manifest {path.name}: rij {n}: er staan namen in 'names' maar 'respondent' is leeg; "
                             "namen worden vervangen door het respondent-id")
        rows[key] = FileMeta(respondent=respondent, role=get("role") or role_of(respondent),
                             moment=normalise_moment(get("moment")), plg=get("plg"), names=names,
                             source="manifest")
    log.info("manifest %s: %d files", path.name, len(rows))
    return Manifest(rows, notices)


def name_pattern(name_map: dict[str, str]) -> re.Pattern[str] | None:
    """One regex for all names, longest first so "Marieke de Vries" wins over "Marieke"."""
    names = sorted({n for n in name_map if n.strip()}, key=len, reverse=True)
    if not names:
        return None
    alternatives = "|".join(r"\s+".join(map(re.escape, n.split())) for n in names)
    # \w-boundaries that also hold for accented letters ("Anaïs"), so "Anna" does not hit "Annabel".
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def pseudonymise(text: str, name_map: dict[str, str], pattern: re.Pattern[str] | None = None) -> tuple[str, int]:
    """(text with every listed name replaced by its respondent id, number of replacements)."""
    pattern = pattern if pattern is not None else name_pattern(name_map)
    if pattern is None or not text:
        return text, 0
    lowered = {" ".join(k.lower().split()): v for k, v in name_map.items()}
    count = 0

    def replace(m: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return lowered[" ".join(m.group(0).lower().split())]

    return pattern.sub(replace, text), count


# In file and folder names a name is delimited by anything but a letter or digit: "bram_start.txt",
# "Bram Jansen.docx", "interviews/bram-jansen/eind.txt".
_PATH_SEPARATORS = r"[\s_.-]+"


def pseudonymise_path(relpath: str, name_map: dict[str, str]) -> str:
    """A relative file name with every listed name replaced by its respondent id.

    ``bram_start.txt`` with the name *Bram* listed for ``L3`` becomes ``L3_start.txt``, so segment
    ids, document names and exports carry the id, not the name. Matching ignores case; the parts of
    a name of several words may be joined by spaces, ``_``, ``-`` or ``.`` in a file name.
    """
    names = sorted({n for n in name_map if n.strip()}, key=len, reverse=True)
    if not names:
        return relpath
    alternatives = "|".join(_PATH_SEPARATORS.join(map(re.escape, n.split())) for n in names)
    pattern = re.compile(rf"(?<![^\W_])(?:{alternatives})(?![^\W_])", re.IGNORECASE)
    lowered = {" ".join(k.lower().split()): v for k, v in name_map.items()}
    return pattern.sub(lambda m: lowered[" ".join(re.split(_PATH_SEPARATORS, m.group(0).lower()))], relpath)
