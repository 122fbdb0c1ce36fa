"""Decisions files and exports of coded segments: CSV, XLSX, REFI-QDA project and codebook.

Decisions file
--------------
Human-confirmed codes travel as a *decisions file*: CSV (comma, semicolon or tab; UTF-8) or JSON
Lines, one row per segment, coder and code:

======================  =====================================================================
``segment_id``          the segment's id from ``annotations.jsonl`` / ``dataset.csv`` (required)
``coder``               who decided (required): a name or initials, the same in every file
``factor``              the factor id (``ervaren_ruimte``); empty = the coder read the segment
                        and gave it *no* code (this counts as a decision in agreement)
``richting``            ``PO``, ``SO`` or ``-``; may be empty for a factor with one richting
``aard``                ``+`` / ``-`` or the factor's pole label (``veel``, ``weinig``)
``created_at``          optional ISO date-time of the decision
``note``                optional; ignored by the statistics
``blind``               optional: ``ja``/``nee`` (or true/false, 1/0): whether the coder decided
                        without seeing the other coders' codes (the service records it); the
                        agreement report counts it, empty = not known
======================  =====================================================================

Several rows for the same segment and coder form that coder's codes for the segment, in the
order of the rows: the first is the coder's **main code** (what kappa and the confusion matrix
compare). A coder's decision on a segment is unique per (segment, coder): the rows are merged,
never overwritten. Every code is checked against the codebook with the row number in the message
(in Dutch: the researcher reads it).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .annotate import (
    META_KEYS,
    Annotations,
    load_annotations,
    write_csv,
    write_xlsx_table,
)
from .codebook import Codebook, CodebookError
from .messages import in_dutch, os_reason
from .metadata import header_delimiter
from .encoding import decode_legacy_text, encoding_notice
from .segmenting import InputError, iter_jsonl_objects

log = logging.getLogger(__name__)

Code = tuple[str, str, str]
DECISION_COLUMNS = ("segment_id", "coder", "factor", "richting", "aard", "created_at", "note")
EXPORT_COLUMNS = (
    "file", "document", "respondent", "role", "moment", "plg", "speaker", "kind", "segment_id", "line_start",
    "line_end", "char_start", "char_end", "question", "text",
    "source", "coder", "code", "factor", "richting", "aard", "aard_label", "confidence", "model_version",
    "codebook_version",
)


@dataclass(frozen=True)
class Decision:
    segment_id: str
    coder: str
    code: Code | None  # None: the coder gave this segment no code
    created_at: datetime | None = None
    where: str = ""
    blind: bool | None = None  # decided without seeing the other coders' codes; None: not known


# ---------------------------------------------------------------- reading decisions


def _parse_code(row: dict, codebook: Codebook, where: str) -> Code | None:
    factor = str(row.get("factor") or "").strip()
    richting = str(row.get("richting") or "").strip()
    aard = str(row.get("aard") or "").strip()
    if not factor:
        if richting or aard:
            raise InputError(f"{where}: richting of aard zonder factor")
        return None
    try:
        f = codebook.factor(factor)
    except KeyError:
        raise InputError(f"{where}: onbekende factor {factor!r} (codeboek {codebook.id} {codebook.version})") from None
    if not richting and len(f.richting) == 1:
        richting = f.richting[0]
    if richting not in f.richting:
        raise InputError(f"{where}: richting {richting or '(leeg)'!r} past niet bij factor {factor}; "
                         f"toegestaan: {' of '.join(f.richting)}")
    if aard not in ("+", "-"):
        by_label = {label.lower(): pole for pole, label in f.poles.items()}
        if aard.lower() not in by_label:
            raise InputError(f"{where}: aard {aard or '(leeg)'!r} past niet bij factor {factor}; gebruik + of - of "
                             f"de poollabels {f.poles['+']} (+) of {f.poles['-']} (-)")
        aard = by_label[aard.lower()]
    try:
        codebook.validate_code(factor, richting, aard)
    except CodebookError as exc:
        raise InputError(f"{where}: {in_dutch(exc)}") from None
    return (factor, richting, aard)


_YES = ("ja", "j", "true", "waar", "1", "yes", "y")
_NO = ("nee", "n", "false", "onwaar", "0", "no")


def _parse_blind(value: Any, where: str) -> bool | None:
    text = str(value if value is not None else "").strip().lower()
    if not text:
        return None
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise InputError(f"{where}: blind {value!r} is geen ja of nee (gebruik ja/nee, true/false of 1/0, "
                     "of laat het leeg)")


def _parse_time(value: Any, where: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{where}: created_at {value!r} is geen ISO-datum en -tijd (zoals 2016-11-20T20:14)") from None


def read_decisions(path: str | Path, codebook: Codebook) -> list[Decision]:
    """Read one decisions file (.csv or .jsonl); raises InputError naming the row."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: kan niet gelezen worden ({os_reason(exc)})") from None
    text, encoding = decode_legacy_text(raw, path.name)
    if encoding != "utf-8":
        log.warning("%s", encoding_notice(path.name, encoding))
    rows: list[tuple[str, dict]] = []
    if path.suffix.lower() == ".jsonl":
        for n, row in iter_jsonl_objects(text, path.name):
            rows.append((f"{path.name}: regel {n}", row))
    elif path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text), delimiter=header_delimiter(text))
        reader.fieldnames = [(c or "").strip().lower() for c in reader.fieldnames or []]
        missing = [c for c in ("segment_id", "coder") if c not in reader.fieldnames]
        if missing:
            raise InputError(f"{path.name}: geen besluitenbestand: kolom(men) {', '.join(missing)} ontbreken "
                             f"(verwacht: {', '.join(DECISION_COLUMNS)})")
        rows = [(f"{path.name}: rij {n}", row) for n, row in enumerate(reader, start=2)]
    else:
        raise InputError(f"{path.name}: een besluitenbestand is .csv of .jsonl")
    decisions = []
    for where, row in rows:
        seg = str(row.get("segment_id") or "").strip()
        coder = str(row.get("coder") or "").strip()
        if not seg or not coder:
            if not any(str(v or "").strip() for v in row.values()):
                continue
            raise InputError(f"{where}: segment_id en coder zijn verplicht")
        decisions.append(Decision(seg, coder, _parse_code(row, codebook, where),
                                  _parse_time(row.get("created_at"), where), where,
                                  _parse_blind(row.get("blind"), where)))
    log.info("%s: %d decisions", path.name, len(decisions))
    return decisions


def read_all_decisions(paths: Sequence[str | Path], codebook: Codebook,
                       coders: Sequence[str] | None = None) -> list[Decision]:
    decisions = [d for p in paths for d in read_decisions(p, codebook)]
    if coders is not None:
        known = sorted({d.coder for d in decisions})
        unknown = [c for c in coders if c not in known and c != "model"]
        if unknown:
            raise InputError(f"codeur(s) {', '.join(unknown)} niet in de besluitenbestanden (gevonden: "
                             f"{', '.join(known) or 'geen'})")
        decisions = [d for d in decisions if d.coder in coders]
    return decisions


def decision_sets(decisions: Iterable[Decision]) -> dict[str, dict[str, tuple[Code, ...]]]:
    """``{segment_id: {coder: codes}}``, codes in the order of the rows (main code first, no
    duplicates); a "no code" row gives an empty tuple."""
    out: dict[str, dict[str, tuple[Code, ...]]] = {}
    for d in decisions:
        per = out.setdefault(d.segment_id, {})
        codes = per.get(d.coder, ())
        if d.code and d.code not in codes:
            codes = (*codes, d.code)
        per[d.coder] = codes
    return out


def blind_counts(decisions: Iterable[Decision]) -> dict[str, int]:
    """Of the decisions (one per segment and coder, as in :func:`decision_sets`): how many there
    are, how many were made blind, and of how many that is not known. A decision's rows that say
    nothing take the value of a row that does."""
    per: dict[tuple[str, str], bool | None] = {}
    for d in decisions:
        key = (d.segment_id, d.coder)
        if per.get(key) is None:
            per[key] = d.blind
    return tally_blind(per.values())


def tally_blind(flags: Iterable[bool | None]) -> dict[str, int]:
    """One flag per compared decision (True: made blind; None: not known) as the report's counts;
    the service counts its stored decisions with the same function."""
    values = list(flags)
    return {"compared": len(values), "blind": sum(v is True for v in values),
            "unknown": sum(v is None for v in values)}


def model_sets(annotations: Annotations) -> dict[str, tuple[Code, ...]]:
    """``{segment_id: codes the model suggests}``, most confident first (empty: no suggestion).

    These are the codes of the model's own decision rule: when the folder was annotated with
    ``--min-confidence`` the records keep the rule's codes apart (``rule_codes``), so a low cut
    made to browse more codes does not count as what the model suggests.
    """
    return {r["id"]: tuple((c["factor"], c["richting"], c["aard"]) for c in r.get("rule_codes", r.get("codes", [])))
            for r in annotations.records}


def check_segments(decisions: Sequence[Decision], annotations: Annotations) -> None:
    known = annotations.by_id
    unknown = [d for d in decisions if d.segment_id not in known]
    if unknown:
        ids = ", ".join(sorted({d.segment_id for d in unknown})[:5])
        raise InputError(f"{unknown[0].where}: fragment-id('s) {ids} niet in {annotations.outdir} "
                         f"({len(unknown)} besluiten); zijn ze in een andere map geannoteerd?")


# ---------------------------------------------------------------- export


def _export_rows(annotations: Annotations | None, decisions: Sequence[Decision], include_suggestions: bool,
                 codebook: Codebook) -> Iterable[dict]:
    from .refiqda import code_name

    def pole(code: Code) -> str | None:
        try:
            return codebook.factor(code[0]).poles.get(code[2])
        except KeyError:
            return None

    by_segment: dict[str, list[Decision]] = {}
    for d in decisions:
        by_segment.setdefault(d.segment_id, []).append(d)
    records = annotations.records if annotations else [{"id": s, "meta": {}, "text": None} for s in by_segment]
    for record in records:
        meta = record.get("meta", {})
        base = {k: meta.get(k) for k in META_KEYS}
        base.update(segment_id=record["id"], text=record.get("text"))
        for coder, sets in decision_sets(by_segment.get(record["id"], [])).get(record["id"], {}).items():
            for code in sets or [None]:  # main code first
                row = dict(base, source="coder", coder=coder, codebook_version=codebook.version)
                if code:
                    row.update(code=code_name(*code), factor=code[0], richting=code[1], aard=code[2],
                               aard_label=pole(code))
                yield row
        if include_suggestions and annotations:
            for code in record.get("codes") or [None]:
                row = dict(base, source="model", coder=record.get("model_version"),
                           model_version=record.get("model_version"), codebook_version=record.get("codebook_version"))
                if code:
                    c = (code["factor"], code["richting"], code["aard"])
                    row.update(code=code_name(*c), factor=c[0], richting=c[1], aard=c[2], aard_label=pole(c),
                               confidence=code.get("confidence"))
                yield row


@dataclass
class _Doc:
    """What the REFI-QDA writer needs of a document."""

    name: str
    text: str


def export(fmt: str, output: str | Path, codebook: Codebook, *, annotations_dir: str | Path | None = None,
           decisions_files: Sequence[str | Path] = (), include_suggestions: bool = False,
           coders: Sequence[str] | None = None) -> str:
    """Write one export; returns a one-line summary for the user."""
    from .refiqda import CodingRecord, write_codebook_qdc, write_project_qdpx

    output = Path(output)
    if fmt == "qdc":
        write_codebook_qdc(codebook, output)
        return f"{output}: codeboek {codebook.id} {codebook.version} ({len(codebook.active_factors)} factoren)"
    annotations = load_annotations(annotations_dir) if annotations_dir else None
    decisions = read_all_decisions(decisions_files, codebook, coders)
    if annotations:
        check_segments(decisions, annotations)
    n_coders = len({d.coder for d in decisions})
    if fmt in ("csv", "xlsx"):
        if not decisions and not include_suggestions:
            raise InputError("niets te exporteren: geef een besluitenbestand en/of --include-suggestions")
        rows = list(_export_rows(annotations, decisions, include_suggestions, codebook))
        if fmt == "csv":
            write_csv(output, EXPORT_COLUMNS, rows)
        else:
            write_xlsx_table(output, [("codes", list(EXPORT_COLUMNS), ([r.get(c) for c in EXPORT_COLUMNS]
                                                                      for r in rows))])
        return f"{output}: {len(rows)} rijen ({len(decisions)} besluiten van {n_coders} codeurs" + \
               (", met de suggesties van het model)" if include_suggestions else ")")
    if fmt != "qdpx":
        raise ValueError(f"onbekend exportformaat {fmt!r}; gebruik csv, xlsx, qdpx of qdc")
    if annotations is None:
        raise InputError("een .qdpx-export heeft de uitvoermap van annotate nodig (daar staan de teksten)")
    by_id = annotations.by_id
    codings: list[CodingRecord] = []
    for d in decisions:
        if d.code is None:
            continue  # "no code" has no place in a QDA project
        meta = by_id[d.segment_id]["meta"]
        codings.append(CodingRecord(document=meta["document"], char_start=meta["char_start"],
                                    char_end=meta["char_end"], factor=d.code[0], richting=d.code[1],
                                    aard=d.code[2], coder=d.coder, created_at=d.created_at))
    n_suggestions = 0
    if include_suggestions:
        for record in annotations.records:
            meta = record["meta"]
            for code in record.get("codes", []):
                codings.append(CodingRecord(document=meta["document"], char_start=meta["char_start"],
                                            char_end=meta["char_end"], factor=code["factor"],
                                            richting=code["richting"], aard=code["aard"], coder="",
                                            confidence=code.get("confidence"), model_version=record["model_version"]))
                n_suggestions += 1
    documents = [_Doc(name=d.name, text=d.text) for d in annotations.documents.values()]
    cases: dict[str, list[str]] = {}
    for d in annotations.documents.values():
        if d.meta.get("respondent"):
            cases.setdefault(d.meta["respondent"], []).append(d.name)
    write_project_qdpx(output, codebook, documents, codings, users=sorted({d.coder for d in decisions}),
                       project_name=f"Codeerhulp {annotations.outdir.name}", include_suggestions=include_suggestions,
                       cases=cases)
    return (f"{output}: {len(documents)} documenten, {len(codings) - n_suggestions} coderingen van {n_coders} "
            f"codeurs" + (f", {n_suggestions} suggesties van model {', '.join(annotations.model_versions)}"
                          if include_suggestions else ""))


