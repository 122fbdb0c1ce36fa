"""The research's frequency tables (Table 4 form) and the per-teacher matrix from known counts."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest

from service.cli import main
from tests.fixtures.batch_material import interview_text
from training.annotate import annotate, load_annotations
from training.codebook import load_codebook
from training.paths import DEFAULT_CODEBOOK
from training.tables import build_tables, to_markdown

# Table 4 of the research (domain.md §4): begin veel, begin weinig, eind veel (+), eind weinig (+).
TABLE_4 = {
    ("ervaren_ruimte", "PO"): (24, 9, 23, 9),
    ("ervaren_ruimte", "SO"): (11, 11, 6, 4),
    ("benutten_ruimte", "PO"): (10, 0, 4, 1),
    ("benutten_ruimte", "SO"): (18, 3, 17, 2),
}
TEACHERS = ("L1", "L2", "L3", "L4")
ANSWERS_PER_INTERVIEW = 10


@pytest.fixture(scope="module")
def study(tmp_path_factory, trained_models_dir) -> tuple[Path, Path]:
    """Start and end interviews of four teachers, and decisions holding exactly Table 4's counts."""
    folder = tmp_path_factory.mktemp("interviews")
    for t in TEACHERS:
        (folder / f"{t}_start.txt").write_text(interview_text(t, ANSWERS_PER_INTERVIEW), encoding="utf-8")
        (folder / f"{t}_eind.txt").write_text(interview_text(t, ANSWERS_PER_INTERVIEW), encoding="utf-8")
    out = tmp_path_factory.mktemp("out")
    assert annotate([folder], out, models_dir=trained_models_dir).exit_code == 0
    ids = {"start": [f"{t}_start-{i:04d}" for t in TEACHERS for i in range(1, ANSWERS_PER_INTERVIEW + 1)],
           "eind": [f"{t}_eind-{i:04d}" for t in TEACHERS for i in range(1, ANSWERS_PER_INTERVIEW + 1)]}
    known = {r["id"] for r in load_annotations(out).records}
    assert set(ids["start"]) | set(ids["eind"]) <= known
    rows = []
    offset = {"start": 0, "eind": 0}
    for (factor, richting), counts in TABLE_4.items():
        for moment, aard, n in (("start", "+", counts[0]), ("start", "-", counts[1]),
                                ("eind", "+", counts[2]), ("eind", "-", counts[3])):
            # Spread each code over distinct segments (40 per moment, at most 24 of one code).
            for k in range(n):
                seg = ids[moment][(offset[moment] + k) % len(ids[moment])]
                rows.append((seg, "anne", factor, richting, aard))
            offset[moment] += n
    # A second coder giving the same code to a segment does not count it twice.
    rows.append((rows[0][0], "bob", *rows[0][2:]))
    decisions = out.parent / "beslissingen.csv"
    with open(decisions, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["segment_id", "coder", "factor", "richting", "aard"])
        writer.writerows(rows)
    return out, decisions


def test_table_4_is_reproduced(study):
    out, decisions = study
    codebook = load_codebook(DEFAULT_CODEBOOK)
    result = build_tables(out, codebook, decisions_files=[decisions], source="confirmed", hide_empty=True)
    assert "bevestigde codes" in result.source_label
    table = next(t for t in result.tables if t.title.startswith("Professionele ruimte") and t.kind == "interviews")
    assert table.header() == ["subcategorie", "begin: veel", "begin: weinig", "eind: veel", "eind: weinig"]
    assert [(label, table.cells(counts)) for label, counts in table.rows] == [
        ("Ervaren ruimte, PO", ["24", "9", "+23", "+9"]),
        ("Ervaren ruimte, SO", ["11", "11", "+6", "+4"]),
        ("Benutten ruimte, PO", ["10", "0", "+4", "+1"]),
        ("Benutten ruimte, SO", ["18", "3", "+17", "+2"]),
    ]
    markdown = to_markdown(result)
    assert "| Ervaren ruimte, PO | 24 | 9 | +23 | +9 |" in markdown
    assert "| Benutten ruimte, SO | 18 | 3 | +17 | +2 |" in markdown
    assert markdown.count(result.source_label) >= 2  # on top and above every table


def test_tables_cli_writes_xlsx_markdown_and_matrix(study, tmp_path, capsys):
    out, decisions = study
    xlsx, md, matrix = tmp_path / "tabellen.xlsx", tmp_path / "tabellen.md", tmp_path / "matrix.xlsx"
    assert main(["tables", str(out), str(decisions), "-o", str(xlsx), "--markdown", str(md),
                 "--matrix", str(matrix)]) == 0
    assert "Bron: bevestigde codes" in capsys.readouterr().out
    ws = openpyxl.load_workbook(xlsx)["interviews"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0].startswith("Bron: bevestigde codes")
    row = next(r for r in rows if r[0] == "Ervaren ruimte, PO")
    assert row[1:5] == (24, 9, 23, 9)
    cell = next(c for c in ws[[r[0] for r in rows].index("Ervaren ruimte, PO") + 1] if c.column == 4)
    assert cell.number_format == '"+"0'  # shown as +23, still a number
    assert "| Creëren ruimte, PO | 0 | 0 | +0 | +0 |" in md.read_text(encoding="utf-8")  # not hidden here

    wb = openpyxl.load_workbook(matrix)
    assert wb.sheetnames == list(TEACHERS)
    sheet = list(wb["L1"].iter_rows(values_only=True))
    assert sheet[1] == ("concept", "startinterview", "eindinterview")
    concepts = [r[0] for r in sheet[2:]]
    assert concepts[:2] == ["Professionele ruimte, PO", "Professionele ruimte, SO"]
    assert "Spanningen" in concepts and "Persoonlijke factoren" in concepts
    po = sheet[2][1]
    assert po.startswith("[r. ") and "ervaren_ruimte PO/+ (veel)" in po


def test_model_source_is_labelled(study, tmp_path, capsys):
    out, _ = study
    assert main(["tables", str(out), "--source", "model", "-o", str(tmp_path / "t.xlsx")]) == 0
    assert "suggesties van het model" in capsys.readouterr().out
    assert main(["tables", str(out), "-o", str(tmp_path / "t.xlsx")]) == 2  # confirmed needs decisions


# ---------------------------------------------------------------- outputs unchanged by the pandas rewrite

# Everything a researcher gets from `tables`, as produced before the counting and the matrix were
# rewritten with pandas. CODEERHULP_WRITE_GOLDEN=1 writes it anew (only when an output is meant to change).
GOLDEN = Path(__file__).with_name("tables_golden.json")
MIXED_DECISIONS = [
    ("L3_start-0001", "anne", "motief_autonoom", "-", "+"),
    ("L3_start-0002", "anne", "ervaren_ruimte", "PO", "+"),
    ("L3_start-0002", "anne", "benutten_ruimte", "PO", "+"),
    ("L3_start-0003", "anne", "ervaren_ruimte", "SO", "-"),
    ("L3_start-0003", "bob", "secties", "-", "-"),
    ("L3_start-0004", "anne", "facilitering", "-", "-"),
    ("L3_eind-0001", "anne", "dagelijkse_praktijk", "PO", "+"),
    ("L3_eind-0002", "anne", "verbreden_verdiepen", "SO", "+"),
    ("T21-0001", "anne", "gezamenlijk_leren_plg", "-", "+"),
    ("T21-0002", "anne", "handelingsrepertoire", "PO", "+"),
    ("T21-geheel", "anne", "handelingsrepertoire", "PO", "+"),
    ("T21-geheel", "bob", "verbreden_verdiepen", "SO", "+"),
    ("logboeken_plg2_r2-0003", "anne", "sfeer_plg", "-", "+"),
    ("logboeken_plg2_r3-geheel", "anne", "facilitering", "-", "-"),
]


def _snapshot(result) -> dict:
    from dataclasses import asdict

    return {"markdown": to_markdown(result), "notes": result.notes, "concepts": result.concepts,
            "matrix": {respondent: [asdict(f) for f in fragments] for respondent, fragments in result.matrix.items()}}


def _matrix_cells(path: Path) -> dict:
    wb = openpyxl.load_workbook(path)
    return {name: [list(row) for row in wb[name].iter_rows(values_only=True)] for name in wb.sheetnames}


@pytest.fixture(scope="module")
def mixed_study(tmp_path_factory, trained_models_dir) -> tuple[Path, Path]:
    from tests.fixtures.batch_material import write_mixed_folder

    paths = write_mixed_folder(tmp_path_factory.mktemp("gemengd") / "materiaal")
    paths["corrupt"].unlink()
    out = tmp_path_factory.mktemp("gemengd_uit")
    assert annotate([paths["start"].parent], out, models_dir=trained_models_dir,
                    manifest=paths["manifest"]).exit_code == 0
    decisions = out.parent / "gemengd_besluiten.csv"
    with open(decisions, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["segment_id", "coder", "factor", "richting", "aard"])
        writer.writerows(MIXED_DECISIONS)
    return out, decisions


def test_tables_and_matrix_are_unchanged(study, mixed_study, tmp_path):
    import json
    import os

    codebook = load_codebook(DEFAULT_CODEBOOK)
    runs = {
        "table4": build_tables(study[0], codebook, decisions_files=[study[1]]),
        "table4_hide_empty": build_tables(study[0], codebook, decisions_files=[study[1]], hide_empty=True),
        "mixed_whole": build_tables(mixed_study[0], codebook, decisions_files=[mixed_study[1]]),
        "mixed_answers": build_tables(mixed_study[0], codebook, decisions_files=[mixed_study[1]],
                                      logbook_unit="answers"),
        "mixed_leraar_anne": build_tables(mixed_study[0], codebook, decisions_files=[mixed_study[1]],
                                          role="leraar", coders=["anne"], hide_empty=True),
    }
    snapshot = {name: _snapshot(result) for name, result in runs.items()}
    from training.tables import write_matrix_xlsx

    snapshot["mixed_whole_matrix_xlsx"] = _matrix_cells(write_matrix_xlsx(runs["mixed_whole"], tmp_path / "m.xlsx"))
    snapshot = json.loads(json.dumps(snapshot, ensure_ascii=False))
    if os.environ.get("CODEERHULP_WRITE_GOLDEN"):
        GOLDEN.write_text(json.dumps(snapshot, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    for name in golden:
        assert snapshot[name] == golden[name], name
