"""The research's frequency tables and the per-teacher case-ordered matrix.

Frequency tables
----------------
One table per codebook group and pair of pole labels (a group whose factors use different poles,
such as the personal factors, gets one table per pair, as in the research). Rows are the group's
subcategories, split by richting where the factor has one ("Ervaren ruimte, PO"); columns are
moment x pole. Interviews: begin (startinterview) and eind (eindinterview); the end columns count
what the end interviews added and are shown with a "+", as in the research. Logbooks: logboek 1-3.

Counting: each code counts once per segment (several coders giving the same code to the same
segment is one code). Logbooks are counted per logbook by default (``logbook_unit="whole"``: each
code once per logbook, from the whole-logbook segment and its answers together), because the
researchers coded logbooks whole; ``"answers"`` counts per answer segment instead.

Sources (always written above every table): ``confirmed`` (coders' decisions), ``model`` (the
model's unconfirmed suggestions) or ``both`` (decisions where a segment has any, else the model).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .annotate import Annotations, load_annotations
from .batch import KIND_WHOLE
from .codebook import Codebook, Factor
from .exports import Code, check_segments, decision_sets, model_sets, read_all_decisions
from .refiqda import code_name

log = logging.getLogger(__name__)

INTERVIEW_MOMENTS = (("startinterview", "begin", False), ("eindinterview", "eind", True))
LOGBOOK_MOMENTS = (("logboek1", "logboek 1", False), ("logboek2", "logboek 2", False),
                   ("logboek3", "logboek 3", False))
MATRIX_MOMENTS = ("startinterview", "logboek1", "logboek2", "logboek3", "eindinterview")
MOMENT_LABELS = {"startinterview": "startinterview", "logboek1": "logboek 1", "logboek2": "logboek 2",
                 "logboek3": "logboek 3", "eindinterview": "eindinterview", "": "moment onbekend"}
# The research's matrix gives tensions a row of their own, although the codebook
# files them under the personal factors.
OWN_MATRIX_ROWS = ("spanningen",)
# Rows the researcher fills in by hand (temporal notes, events, interpretations); left empty for them.
RESEARCHER_ROWS = ("Temporele notities (retro-/prospectief)", "Verklarende gebeurtenissen", "Interpretaties onderzoeker")
FRAGMENT_CHARS = 200


@dataclass
class FreqTable:
    title: str
    kind: str  # "interviews" or "logboeken"
    moments: list[tuple[str, str, bool]]  # (moment, column label, counts what was added: "+")
    poles: tuple[str, str]
    rows: list[tuple[str, list[int]]]  # (row label, counts moment-major: m1 +, m1 -, m2 +, ...)

    def header(self) -> list[str]:
        return ["subcategorie"] + [f"{label}: {pole}" for _, label, _ in self.moments for pole in self.poles]

    def cells(self, counts: list[int]) -> list[str]:
        """Counts as the research prints them: end-of-year additions with a '+'."""
        out = []
        for i, n in enumerate(counts):
            plus = self.moments[i // 2][2]
            out.append(f"+{n}" if plus else str(n))
        return out


@dataclass
class Fragment:
    concept: str
    moment: str
    line_start: int | None
    line_end: int | None
    code: str
    text: str
    kind: str


@dataclass
class TablesResult:
    source: str
    source_label: str
    tables: list[FreqTable]
    matrix: dict[str, list[Fragment]] = field(default_factory=dict)
    concepts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _units(annotations: Annotations, codes_of: dict[str, frozenset[Code]], logbook_unit: str,
           role: str | None) -> list[tuple[dict, frozenset[Code]]]:
    """(segment meta, code set) per counting unit, after the logbook rule and the role filter."""
    units: list[tuple[dict, frozenset[Code]]] = []
    per_logbook: dict[str, tuple[dict, set[Code]]] = {}
    for record in annotations.records:
        meta = record.get("meta", {})
        if role and (meta.get("role") or "").lower() != role.lower():
            continue
        if record["id"] not in codes_of:
            continue
        codes = codes_of[record["id"]]
        is_logbook = meta.get("kind") in ("logboek", KIND_WHOLE)
        if is_logbook and logbook_unit == "whole":
            entry = per_logbook.setdefault(meta.get("document", record["id"]), (meta, set()))
            entry[1].update(codes)
            continue
        if meta.get("kind") == KIND_WHOLE:
            continue  # answers are the unit: the whole logbook would count every code twice
        units.append((meta, codes))
    units.extend((meta, frozenset(codes)) for meta, codes in per_logbook.values())
    return units


def _codes_by_source(annotations: Annotations, decisions_files: Sequence[str | Path], codebook: Codebook,
                     source: str, coders: Sequence[str] | None) -> tuple[dict[str, frozenset[Code]], str]:
    if source not in ("confirmed", "model", "both"):
        raise ValueError(f"source must be confirmed, model or both, not {source!r}")
    decisions = read_all_decisions(decisions_files, codebook, coders)
    check_segments(decisions, annotations)
    confirmed = {seg: frozenset().union(*per.values()) for seg, per in decision_sets(decisions).items()}
    names = ", ".join(sorted({d.coder for d in decisions})) or "geen"
    if source == "confirmed":
        if not decisions:
            raise ValueError("geen bevestigde codes: geef een besluitenbestand, of gebruik --source model")
        return confirmed, (f"Bron: bevestigde codes van codeurs ({names}); {len(confirmed)} gecodeerde segmenten")
    suggested = model_sets(annotations)
    versions = ", ".join(annotations.model_versions)
    if source == "model":
        return suggested, f"Bron: suggesties van het model {versions} (niet bevestigd); {len(suggested)} segmenten"
    both = dict(suggested)
    both.update(confirmed)
    return both, (f"Bron: bevestigde codes ({names}) voor {len(confirmed)} segmenten, anders suggesties van het "
                  f"model {versions} voor {len(both) - len(confirmed)} segmenten")


def _row_label(factor: Factor, richting: str) -> str:
    return f"{factor.label}, {richting}" if factor.has_direction else factor.label


def _frequency_tables(codebook: Codebook, counts: pd.DataFrame, moments: Sequence[tuple[str, str, bool]], kind: str,
                      hide_empty: bool) -> list[FreqTable]:
    """One table per group and pole pair, cut from ``counts`` (rows (factor, richting), columns (moment, aard))."""
    columns = pd.MultiIndex.from_product([[m for m, _, _ in moments], ["+", "-"]])
    tables = []
    for group in codebook.groups:
        factors = [f for f in codebook.active_factors if f.group == group.id]
        pole_pairs = list(dict.fromkeys((f.poles["+"], f.poles["-"]) for f in factors))
        for pair in pole_pairs:
            members = [(f, richting) for f in factors if (f.poles["+"], f.poles["-"]) == pair
                       for richting in f.richting]
            index = pd.MultiIndex.from_tuples([(f.id, richting) for f, richting in members])
            table = counts.reindex(index=index, columns=columns, fill_value=0).astype(int)
            rows = [(_row_label(f, richting), [int(n) for n in table.loc[(f.id, richting)]])
                    for f, richting in members if not hide_empty or table.loc[(f.id, richting)].any()]
            if rows:
                tables.append(FreqTable(title=f"{group.label} ({pair[0]} / {pair[1]})", kind=kind,
                                        moments=list(moments), poles=pair, rows=rows))
    return tables


def _concept(codebook: Codebook, code: Code) -> str:
    factor = codebook.factor(code[0])
    if factor.id in OWN_MATRIX_ROWS:
        return factor.label
    group = codebook.group(factor.group)
    if factor.has_direction and group.id == "professionele_ruimte":
        return f"{group.label}, {code[1]}"
    return group.label


def matrix_concepts(codebook: Codebook) -> list[str]:
    """Matrix rows in codebook order: space split by PO/SO, tensions on their own row."""
    concepts: list[str] = []
    for group in codebook.groups:
        for f in codebook.active_factors:
            if f.group != group.id:
                continue
            for richting in f.richting:
                c = _concept(codebook, (f.id, richting, "+"))
                if c not in concepts:
                    concepts.append(c)
    return concepts


def build_tables(annotations_dir: str | Path | Annotations, codebook: Codebook, *,
                 decisions_files: Sequence[str | Path] = (), source: str = "confirmed",
                 coders: Sequence[str] | None = None, role: str | None = None, logbook_unit: str = "whole",
                 hide_empty: bool = False) -> TablesResult:
    """Count codes per (factor, richting, aard, moment) and collect the matrix fragments."""
    if logbook_unit not in ("whole", "answers"):
        raise ValueError("logbook_unit must be 'whole' or 'answers'")
    annotations = annotations_dir if isinstance(annotations_dir, Annotations) else load_annotations(annotations_dir)
    codes_of, label = _codes_by_source(annotations, decisions_files, codebook, source, coders)
    if role:
        label += f"; alleen rol {role}"
    units = _units(annotations, codes_of, logbook_unit, role)
    coded = pd.DataFrame([(*code, meta.get("moment") or "") for meta, codes in units for code in codes],
                         columns=["factor", "richting", "aard", "moment"], dtype=object)
    counts = pd.crosstab([coded["factor"], coded["richting"]], [coded["moment"], coded["aard"]])
    unknown_moment = int((~coded["moment"].isin(MATRIX_MOMENTS)).sum())
    tables = _frequency_tables(codebook, counts, INTERVIEW_MOMENTS, "interviews", hide_empty)
    if coded["moment"].str.startswith("logboek").any():
        tables += _frequency_tables(codebook, counts, LOGBOOK_MOMENTS, "logboeken", hide_empty)
    notes = []
    if unknown_moment:
        notes.append(f"{unknown_moment} codes zonder bekend moment staan niet in de tabellen "
                     "(vul 'moment' in het manifest in)")

    # The matrix lists every coded segment, including a logbook's answers and the logbook as a whole.
    matrix: dict[str, list[Fragment]] = defaultdict(list)
    for record in annotations.records:
        meta = record.get("meta", {})
        if role and (meta.get("role") or "").lower() != role.lower():
            continue
        for code in sorted(codes_of.get(record["id"], ())):
            factor = codebook.factor(code[0])
            text = " ".join(record["text"].split())
            if len(text) > FRAGMENT_CHARS:
                text = text[: FRAGMENT_CHARS - 1] + "…"
            matrix[meta.get("respondent") or "onbekend"].append(Fragment(
                concept=_concept(codebook, code), moment=meta.get("moment") or "",
                line_start=meta.get("line_start"), line_end=meta.get("line_end"),
                code=f"{code_name(*code)} ({factor.poles.get(code[2], code[2])})", text=text,
                kind=meta.get("kind", "")))
    return TablesResult(source=source, source_label=label, tables=tables, matrix=dict(sorted(matrix.items())),
                        concepts=matrix_concepts(codebook), notes=notes)


# ---------------------------------------------------------------- writers


def to_markdown(result: TablesResult) -> str:
    lines = ["# Frequentietabellen", "", result.source_label, ""]
    lines += [f"- {n}" for n in result.notes] + ([""] if result.notes else [])
    for table in result.tables:
        lines += [f"## {table.title}, {table.kind}", "", f"*{result.source_label}*", ""]
        header = table.header()
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for label, counts in table.rows:
            lines.append("| " + " | ".join([label, *table.cells(counts)]) + " |")
        if any(plus for *_, plus in table.moments):
            lines += ["", "De eind-kolommen tellen wat de eindinterviews toevoegden (+)."]
        lines.append("")
    return "\n".join(lines)


def write_markdown(result: TablesResult, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(to_markdown(result), encoding="utf-8")
    return path


def write_tables_xlsx(result: TablesResult, path: str | Path) -> Path:
    """One sheet per kind (interviews, logboeken), tables stacked, the source on top of each."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    from .annotate import xlsx_value

    path = Path(path)
    wb = Workbook()
    wb.remove(wb.active)
    for kind in ("interviews", "logboeken"):
        tables = [t for t in result.tables if t.kind == kind]
        if not tables:
            continue
        ws = wb.create_sheet(kind)
        ws.append([result.source_label])
        ws["A1"].font = Font(bold=True)
        for note in result.notes:
            ws.append([note])
        ws.column_dimensions["A"].width = 48
        for table in tables:
            ws.append([])
            ws.append([table.title])
            ws.cell(ws.max_row, 1).font = Font(bold=True, size=12)
            ws.append(table.header())
            for cell in ws[ws.max_row]:
                cell.font = Font(bold=True)
                cell.alignment = Alignment(horizontal="center", wrap_text=True)
            for label, counts in table.rows:
                ws.append([xlsx_value(label), *counts])
                for i, _ in enumerate(counts):
                    if table.moments[i // 2][2]:
                        # Numbers stay numbers (sums work); the format shows the research's "+".
                        ws.cell(ws.max_row, i + 2).number_format = '"+"0'
        for col in range(2, 2 + 2 * max(len(t.moments) for t in tables)):
            ws.column_dimensions[ws.cell(1, col).column_letter].width = 16
    if not wb.worksheets:
        wb.create_sheet("interviews").append([result.source_label, "geen codes"])
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def matrix_cells(fragments: Sequence[Fragment]) -> pd.DataFrame:
    """One respondent's matrix as text cells: rows concepts, columns moments ("" = unknown moment).

    A cell lists its fragments as ``[r. 12-14] code (pole): text`` in the order they were coded.
    """
    def where(f: Fragment) -> str:
        if f.kind == KIND_WHOLE:
            return "logboek geheel"
        return f"r. {f.line_start}" + (f"-{f.line_end}" if f.line_end and f.line_end != f.line_start else "")

    frame = pd.DataFrame({"concept": [f.concept for f in fragments],
                          "moment": [f.moment if f.moment in MATRIX_MOMENTS else "" for f in fragments],
                          "cell": [f"[{where(f)}] {f.code}: {f.text}" for f in fragments]})
    return frame.pivot_table(index="concept", columns="moment", values="cell", aggfunc="\n\n".join, sort=False)


def write_matrix_xlsx(result: TablesResult, path: str | Path) -> Path:
    """A sheet per respondent: rows the concepts, columns the moments, cells the fragments."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    from .annotate import xlsx_value

    path = Path(path)
    wb = Workbook()
    wb.remove(wb.active)
    for respondent, fragments in result.matrix.items():
        ws = wb.create_sheet(respondent[:31])
        cells = matrix_cells(fragments)
        moments = [m for m in [*MATRIX_MOMENTS, ""] if m in cells.columns]
        ws.append([f"Respondent {respondent}", result.source_label])
        ws["A1"].font = Font(bold=True)
        ws.append(["concept", *(MOMENT_LABELS.get(m, m) for m in moments)])
        for cell in ws[2]:
            cell.font = Font(bold=True)
        cells = cells.reindex(index=[*result.concepts, *RESEARCHER_ROWS], columns=moments).fillna("")
        for concept, row in cells.iterrows():
            # Excel holds at most 32,767 characters in a cell.
            ws.append([concept, *(xlsx_value(text[:32_000]) for text in row)])
            for cell in ws[ws.max_row]:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.column_dimensions["A"].width = 34
        for col in range(2, 2 + len(moments)):
            ws.column_dimensions[ws.cell(2, col).column_letter].width = 60
        ws.freeze_panes = "B3"
    if not wb.worksheets:
        wb.create_sheet("leeg").append([result.source_label, "geen gecodeerde fragmenten"])
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
