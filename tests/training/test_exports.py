"""Exports: decisions files, CSV/XLSX, and REFI-QDA projects whose offsets survive annotate -> export."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import openpyxl
import pytest
from lxml import etree

from service.cli import main
from tests.fixtures.batch_material import interview_text
from training.annotate import annotate, load_annotations
from training.exports import decision_sets, read_decisions
from training.paths import REFI_QDA_SCHEMA_DIR
from training.refiqda import NS_PROJECT, read_project_qdpx

SCHEMA_DIR = REFI_QDA_SCHEMA_DIR


@pytest.fixture(scope="module")
def annotated(tmp_path_factory, trained_models_dir) -> Path:
    """L1 with CRLF line endings and a BOM, L2 with LF; accented text in every turn."""
    folder = tmp_path_factory.mktemp("in")
    (folder / "L1_start.txt").write_bytes(b"\xef\xbb\xbf" + interview_text("L1", 6, "\r\n").encode("utf-8"))
    (folder / "L2_eind.txt").write_bytes(interview_text("L2", 5, "\n").encode("utf-8"))
    out = tmp_path_factory.mktemp("out")
    result = annotate([folder], out, models_dir=trained_models_dir, min_confidence=0.05)
    assert result.exit_code == 0
    return out


@pytest.fixture(scope="module")
def decisions(annotated, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dec") / "beslissingen.csv"
    path.write_text(
        "segment_id,coder,factor,richting,aard,created_at\n"
        "L1_start-0001,anne,ervaren_ruimte,PO,veel,2026-02-01T10:00:00Z\n"
        "L1_start-0002,anne,ervaren_ruimte,SO,-,\n"
        "L1_start-0002,anne,secties,,belemmerend,\n"
        "L1_start-0003,anne,,,,\n"
        "L1_start-0001,bob,ervaren_ruimte,PO,+,\n"
        "L2_eind-0005,bob,dagelijkse_praktijk,PO,+,\n",
        encoding="utf-8")
    return path


def test_decisions_file_is_read_and_validated(decisions, codebook, tmp_path):
    rows = read_decisions(decisions, codebook)
    sets = decision_sets(rows)
    # In the order of the rows: the first is anne's main code.
    assert sets["L1_start-0002"]["anne"] == (("ervaren_ruimte", "SO", "-"), ("secties", "-", "-"))
    assert sets["L1_start-0003"]["anne"] == ()  # read, no code
    bad = tmp_path / "bad.csv"
    bad.write_text("segment_id,coder,factor,richting,aard\nx,anne,ervaren_ruimte,XX,+\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.csv: rij 2: richting 'XX' past niet bij factor ervaren_ruimte; "
                                         "toegestaan: PO of SO"):
        read_decisions(bad, codebook)
    # A wrong aard is answered with the factor's pole labels.
    bad.write_text("segment_id,coder,factor,richting,aard\nx,anne,sfeer_plg,-,hoog\n", encoding="utf-8")
    with pytest.raises(ValueError, match="rij 2: aard 'hoog' past niet bij factor sfeer_plg; gebruik \\+ of - of de "
                                         "poollabels veilig-constructief \\(\\+\\) of onveilig-destructief \\(-\\)"):
        read_decisions(bad, codebook)
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"segment_id": "a", "coder": "c", "factor": "facilitering", "aard": "onvoldoende"}\n',
                     encoding="utf-8")
    assert read_decisions(jsonl, codebook)[0].code == ("facilitering", "-", "-")


def test_qdpx_validates_and_offsets_round_trip(annotated, decisions, tmp_path, capsys):
    out = tmp_path / "project.qdpx"
    rc = main(["export", str(annotated), str(decisions), "--format", "qdpx", "-o", str(out), "--include-suggestions"])
    assert rc == 0, capsys.readouterr().err
    schema = etree.XMLSchema(etree.parse(str(SCHEMA_DIR / "Project.xsd")))
    with zipfile.ZipFile(out) as zf:
        root = etree.fromstring(zf.read("project.qde"))
        for name in zf.namelist():
            if name.startswith("Sources/"):
                raw = zf.read(name)
                assert b"\r" not in raw and not raw.startswith(b"\xef\xbb\xbf")
    assert schema.validate(root), schema.error_log
    assert root.nsmap[None] == NS_PROJECT

    project = read_project_qdpx(out)
    annotations = load_annotations(annotated)
    by_span = {(r["meta"]["document"], r["meta"]["char_start"], r["meta"]["char_end"]): r for r in annotations.records}
    for name, source in project.sources.items():
        assert source.text == annotations.documents[name].text  # identical text, so identical offsets
    assert {c.user for c in project.codings if not c.is_suggestion} == {"anne", "bob"}
    for coding in project.codings:
        record = by_span[(coding.document, coding.start, coding.end)]
        assert coding.text == record["text"]
        assert "ë" in coding.text or "ï" in coding.text or "é" in coding.text
    human = sorted((c.user, c.code_name) for c in project.codings if not c.is_suggestion)
    assert human == [("anne", "ervaren_ruimte PO/+"), ("anne", "ervaren_ruimte SO/-"), ("anne", "secties -/-"),
                     ("bob", "dagelijkse_praktijk PO/+"), ("bob", "ervaren_ruimte PO/+")]
    suggestions = [c for c in project.codings if c.is_suggestion]
    assert suggestions and all(c.user == annotations.model_versions[0] and c.confidence is not None
                               for c in suggestions)
    # CRLF source (L1) and LF source (L2) both present and both coded.
    assert {c.document for c in project.codings if not c.is_suggestion} == {"L1_start.txt", "L2_eind.txt"}


def test_qdc_validates(tmp_path, capsys):
    out = tmp_path / "codeboek.qdc"
    assert main(["export", "--format", "qdc", "-o", str(out)]) == 0
    schema = etree.XMLSchema(etree.parse(str(SCHEMA_DIR / "Codebook.xsd")))
    assert schema.validate(etree.parse(str(out))), schema.error_log


def test_csv_and_xlsx_exports(annotated, decisions, tmp_path, capsys):
    out = tmp_path / "codes.csv"
    assert main(["export", str(annotated), str(decisions), "--format", "csv", "-o", str(out), "--coders", "anne"]) == 0
    rows = list(csv.DictReader(open(out, encoding="utf-8")))
    assert {r["coder"] for r in rows} == {"anne"} and {r["source"] for r in rows} == {"coder"}
    no_code = [r for r in rows if r["segment_id"] == "L1_start-0003"]
    assert len(no_code) == 1 and no_code[0]["code"] == ""
    assert next(r for r in rows if r["code"] == "ervaren_ruimte PO/+")["aard_label"] == "veel"
    xlsx = tmp_path / "codes.xlsx"
    assert main(["export", str(annotated), str(decisions), "--format", "xlsx", "-o", str(xlsx),
                 "--include-suggestions"]) == 0
    ws = openpyxl.load_workbook(xlsx)["codes"]
    sources = {row[15] for row in ws.iter_rows(min_row=2, values_only=True)}
    assert sources == {"coder", "model"}


def test_export_errors_are_one_line(annotated, tmp_path, capsys):
    bad = tmp_path / "d.csv"
    bad.write_text("segment_id,coder,factor,richting,aard\nbestaat-niet,anne,facilitering,-,+\n", encoding="utf-8")
    assert main(["export", str(annotated), str(bad), "--format", "qdpx", "-o", str(tmp_path / "x.qdpx")]) == 2
    assert "bestaat-niet" in capsys.readouterr().err
    assert main(["export", str(annotated), "--format", "csv", "-o", str(tmp_path / "x.csv")]) == 2
    assert "niets te exporteren" in capsys.readouterr().err


def test_import_reads_a_coded_qdpx_back_as_decisions_of_a_named_coder(annotated, decisions, codebook, tmp_path,
                                                                     capsys):
    """Round trip: our own export, read back as if a researcher had coded it in ATLAS.ti."""
    project = tmp_path / "project.qdpx"
    assert main(["export", str(annotated), str(decisions), "--format", "qdpx", "-o", str(project),
                 "--include-suggestions"]) == 0
    capsys.readouterr()
    # Two people coded in the project: the command asks which one.
    assert main(["import", str(project), "--coder", "anne", "--annotations", str(annotated)]) == 2
    assert "kies er een met --user" in capsys.readouterr().err
    imported = tmp_path / "anne_qda.csv"
    rc = main(["import", str(project), "--coder", "anne-qda", "--user", "anne", "--annotations", str(annotated),
               "-o", str(imported)])
    stdout = capsys.readouterr().out
    assert rc == 0 and "geschreven: " in stdout and "anne_qda.csv" in stdout
    original = decision_sets(read_decisions(decisions, codebook))
    back = decision_sets(read_decisions(imported, codebook))
    # Every code anne gave comes back on its segment, in the same order (main code first), and the
    # model's suggestions in the project are not taken for hers.
    for segment, per in original.items():
        if "anne" in per:
            assert back[segment]["anne-qda"] == per["anne"], segment
    # The rest of the document she coded counts as read without a code; the other document as not read.
    l1 = [r["id"] for r in load_annotations(annotated).records if r["meta"]["document"] == "L1_start.txt"]
    assert set(back) == set(l1)
    assert all(back[s]["anne-qda"] == () for s in l1 if s not in original or "anne" not in original[s])
    # And agreement with the model can be measured on it.
    assert main(["agreement", str(annotated), str(imported), "--coders", "anne-qda,model", "-o",
                 str(tmp_path / "r"), "--resamples", "50"]) == 0
    assert "kappa anne-qda ~ model" in capsys.readouterr().out


def test_import_maps_a_selection_to_the_segments_it_covers(annotated, codebook, tmp_path):
    from training.qda_import import import_qdpx
    from training.refiqda import CodingRecord, write_project_qdpx

    annotations = load_annotations(annotated)
    doc = annotations.documents["L2_eind.txt"]
    segs = [r for r in annotations.records if r["meta"]["document"] == "L2_eind.txt"]
    first, second = segs[0]["meta"], segs[1]["meta"]
    codings = [
        # A few words inside the first segment: that segment.
        CodingRecord("L2_eind.txt", first["char_start"] + 3, first["char_start"] + 20, "facilitering", "-", "-", "eva"),
        # From inside the first segment to the end of the second: the second only (it is covered for more
        # than half; the selection holds less than half of the first).
        CodingRecord("L2_eind.txt", first["char_end"] - 5, second["char_end"], "sfeer_plg", "-", "+", "eva"),
    ]
    project = tmp_path / "eva.qdpx"
    write_project_qdpx(project, codebook, [doc], codings, users=["eva"])
    result = import_qdpx(project, annotations, "eva", codebook)
    codes = {}
    for row in result.rows:
        codes.setdefault(row["segment_id"], []).append(row.get("factor"))
    assert codes[segs[0]["id"]] == ["facilitering"] and codes[segs[1]["id"]] == ["sfeer_plg"]
    assert all(codes[s["id"]] == [None] for s in segs[2:])
    assert result.documents == ["L2_eind.txt"] and result.n_codings == 2
