"""Batch annotation: a mixed folder, failures with reasons, reruns, metadata and pseudonymisation."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import openpyxl
import pytest

from service.cli import main
from tests.fixtures.batch_material import FORM_HEADER, write_form_xlsx, write_mixed_folder
from training.annotate import STATE_FILE, annotate, load_annotations
from training.batch import prepare_file
from training.metadata import FileMeta, Manifest, meta_from_filename, normalise_moment, pseudonymise, read_manifest
from training.segmenting import MAX_SEGMENT_CHARS, InputError


@pytest.fixture
def mixed(tmp_path) -> dict[str, Path]:
    return write_mixed_folder(tmp_path / "materiaal")


def _run(args: list[str], models_dir: Path, capsys) -> tuple[int, str, str]:
    rc = main([*args, "--models-dir", str(models_dir), "--no-progress"])
    out, err = capsys.readouterr()
    return rc, out, err


def _dataset(outdir: Path) -> list[dict]:
    with open(outdir / "dataset.csv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_mixed_folder_writes_dataset_and_names_the_corrupt_file(mixed, tmp_path, trained_models_dir, capsys):
    out = tmp_path / "out"
    rc, stdout, stderr = _run(["annotate", str(mixed["start"].parent), "-o", str(out), "--manifest",
                               str(mixed["manifest"]), "--workers", "2"], trained_models_dir, capsys)
    assert rc == 1  # only because of kapot.docx
    assert "kapot.docx: not a readable .docx file" in stderr
    assert "annotated 4 files" in stdout and "1 failed" in stdout
    failures = list(csv.DictReader(open(out / "failures.csv", encoding="utf-8")))
    assert [f["file"] for f in failures] == ["kapot.docx"]

    rows = _dataset(out)
    assert {r["file"] for r in rows} == {"L3_start.txt", "L3_eind.docx", "T21.txt", "logboeken_plg2.xlsx"}
    header = list(rows[0])
    for column in ("file", "respondent", "role", "moment", "plg", "speaker", "line_start", "line_end", "segment_id",
                   "text", "code", "confidence", "model_version", "codebook_version"):
        assert column in header
    start = [r for r in rows if r["file"] == "L3_start.txt"]
    assert {r["moment"] for r in start} == {"startinterview"} and {r["plg"] for r in start} == {"PLG 2"}
    first = next(r for r in start if r["segment_id"] == "L3_start-0001")
    # Line numbers as in the source (title block and blank line above the first answer).
    assert first["line_start"] == "4" and first["question"].startswith("Fijn dat je er bent, L3.")
    assert {r["moment"] for r in rows if r["file"] == "L3_eind.docx"} == {"eindinterview"}
    # Every segment has at least one row; a segment without a code has exactly one with an empty code.
    records = [json.loads(line) for line in open(out / "annotations.jsonl", encoding="utf-8")]
    assert {r["id"] for r in records} == {r["segment_id"] for r in rows}
    for rec in records:
        n = sum(1 for r in rows if r["segment_id"] == rec["id"])
        assert n == max(1, len(rec["codes"]))

    # Logbooks: one segment per answer plus the logbook as a whole.
    t21 = [r for r in records if r["meta"]["file"] == "T21.txt"]
    assert [r["meta"]["kind"] for r in t21] == ["logboek"] * 3 + ["logboek_geheel"]
    assert t21[0]["meta"]["question"].startswith("Welke betekenisvolle situatie")
    assert t21[-1]["meta"]["respondent"] == "L1" and t21[-1]["meta"]["moment"] == "logboek2"
    form = [r for r in records if r["meta"]["file"] == "logboeken_plg2.xlsx"]
    assert {r["meta"]["respondent"] for r in form} == {"L3", "L5"}  # "Bram Jansen" -> L5 via the manifest
    assert sum(r["meta"]["kind"] == "logboek_geheel" for r in form) == 2
    assert {r["meta"]["question"] for r in form if r["meta"]["kind"] == "logboek"} == set(FORM_HEADER[3:])

    wb = openpyxl.load_workbook(out / "dataset.xlsx")
    assert wb["dataset"].max_row == len(rows) + 1
    assert [c.value for c in wb["dataset"][1]] == header


def test_names_are_replaced_before_anything_is_stored(mixed, tmp_path, trained_models_dir, capsys):
    out = tmp_path / "out"
    _run(["annotate", str(mixed["start"].parent), "-o", str(out), "--manifest", str(mixed["manifest"]),
          "--workers", "1"], trained_models_dir, capsys)
    for path in out.rglob("*"):
        if path.is_file() and path.suffix != ".xlsx":
            text = path.read_text(encoding="utf-8")
            assert "Anaïs" not in text and "Bram" not in text, path
    annotations = load_annotations(out)
    doc = annotations.documents["L3_start.txt"]
    assert "L3: Nou, eh, ik heb me zelf aangemeld" in doc.text
    # Offsets point into the pseudonymised text.
    for rec in annotations.records:
        d = annotations.documents[rec["meta"]["document"]]
        assert d.text[rec["meta"]["char_start"]:rec["meta"]["char_end"]] == rec["text"]
    # A name that is not the respondent's (a colleague) stays: only listed names are replaced.
    assert "Jeroen de Wit" in doc.text


def test_rerun_skips_unchanged_files_and_redoes_changed_ones(mixed, tmp_path, trained_models_dir, capsys):
    out = tmp_path / "out"
    folder = str(mixed["start"].parent)
    mixed["corrupt"].unlink()
    args = ["annotate", folder, "-o", str(out), "--workers", "1", "--manifest", str(mixed["manifest"])]
    rc, stdout, _ = _run(args, trained_models_dir, capsys)
    assert rc == 0 and "annotated 4 files" in stdout
    before = _dataset(out)
    rc, stdout, _ = _run(args, trained_models_dir, capsys)
    assert rc == 0 and "annotated 0 files" in stdout and "skipped 4 unchanged" in stdout
    assert _dataset(out) == before  # the dataset still covers every file
    mixed["logbook"].write_text(mixed["logbook"].read_text(encoding="utf-8") + "\nWat ga je nu doen?\nVerder.\n",
                                encoding="utf-8")
    rc, stdout, _ = _run(args, trained_models_dir, capsys)
    assert "annotated 1 files" in stdout and "skipped 3 unchanged" in stdout
    state = json.loads((out / STATE_FILE).read_text(encoding="utf-8"))
    assert set(state["files"]) == {"L3_start.txt", "L3_eind.docx", "T21.txt", "logboeken_plg2.xlsx"}


@pytest.mark.parametrize("name, content, reason", [
    ("leeg.txt", b"   \n", "the file is empty"),
    ("ansi.txt", "I: Hoe ging het?\nL2: Heel goed, ik heb veel ideeën gekregen.\n".encode("cp1252"),
     "Windows-1252"),
    ("raar.xlsx", None, "unexpected columns"),
    ("kapot.docx", b"not a zip at all", "not a readable .docx file"),
])
def test_failing_files_are_reported_with_their_reason(tmp_path, trained_models_dir, name, content, reason):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "L1_start.txt").write_text("I: Hoe ging het?\nL1: Goed, ik voel veel ruimte in mijn lessen.\n",
                                         encoding="utf-8")
    if content is None:
        write_form_xlsx(folder / name, header=["Kolom1", "Kolom2"], rows=[["a", "b"]])
    else:
        (folder / name).write_bytes(content)
    result = annotate([folder], tmp_path / "out", models_dir=trained_models_dir)
    assert result.annotated == ["L1_start.txt"]
    assert len(result.failed) == 1 and result.failed[0][0] == name and reason in result.failed[0][1]
    assert result.exit_code == 1


def test_usage_errors_exit_2(tmp_path, trained_models_dir, capsys):
    rc, _, err = _run(["annotate", str(tmp_path / "bestaat-niet"), "-o", str(tmp_path / "o")], trained_models_dir,
                      capsys)
    assert rc == 2 and "no such file or folder" in err
    rc, _, err = _run(["annotate", str(tmp_path), "--min-confidence", "2"], trained_models_dir, capsys)
    assert rc == 2


def test_long_turns_are_split_below_the_maximum_with_lines_kept(tmp_path):
    sentence = "Ik heb in de sectie veel ruimte gekregen om nieuwe dingen te proberen met mijn klassen. "
    text = "I: Vertel eens?\r\nL4: " + sentence * 60 + "\r\nI: Dank je.\r\n"
    path = tmp_path / "L4_eind.txt"
    path.write_bytes(text.encode("utf-8"))
    prepared = prepare_file(path, path.name, meta_from_filename(path.name), {})
    segments = prepared.documents[0].segments
    assert len(segments) > 1
    assert all(len(s.text) <= MAX_SEGMENT_CHARS for s in segments)
    assert all(s.question == "Vertel eens?" and s.line_start == 2 for s in segments)
    assert prepared.documents[0].meta == {"respondent": "L4", "role": "leraar", "moment": "eindinterview", "plg": None}


def test_file_names_give_respondent_and_moment():
    assert meta_from_filename("T31.docx").respondent == "L1"
    assert meta_from_filename("T31.docx").moment == "logboek3"
    assert meta_from_filename("T312.txt").respondent == "L12"
    assert (meta_from_filename("L12_start.txt").respondent, meta_from_filename("L12_start.txt").moment) == \
        ("L12", "startinterview")
    assert meta_from_filename("L12-eind.docx").moment == "eindinterview"
    assert (meta_from_filename("B1.txt").respondent, meta_from_filename("B1.txt").role) == ("B1", "PLG-begeleider")
    assert meta_from_filename("S2_eindinterview.txt").role == "schoolleider"
    assert meta_from_filename("interview_L7_1.txt").moment is None
    assert meta_from_filename("notities.txt").source == "none"
    assert normalise_moment("Logboek 2") == "logboek2" and normalise_moment("begin") == "startinterview"


def test_manifest_and_pseudonymisation(tmp_path):
    path = tmp_path / "manifest.csv"
    # Semicolons as Dutch Excel writes them; the names cell is quoted because it holds ';' itself.
    path.write_text('file;respondent;role;moment;plg;names\ninterviews/a.txt;L9;leraar;eind;PLG 4;"Anaïs Verbeek;'
                    'Anaïs"\n', encoding="utf-8")
    manifest = read_manifest(path)
    meta = manifest.meta_for("interviews/a.txt")
    assert (meta.respondent, meta.moment, meta.plg, meta.source) == ("L9", "eindinterview", "PLG 4", "manifest")
    assert manifest.meta_for("a.txt").respondent == "L9"  # found by file name too
    text, n = pseudonymise("Anaïs Verbeek zei: anaïs, niet Anaïsje of Annabel.", manifest.name_map)
    assert text == "L9 zei: L9, niet Anaïsje of Annabel." and n == 2
    with pytest.raises(InputError, match="column 'file'"):
        bad = tmp_path / "bad.csv"
        bad.write_text("bestand,respondent\nx.txt,L1\n", encoding="utf-8")
        read_manifest(bad)


def test_form_export_refuses_an_unlisted_name(tmp_path):
    path = write_form_xlsx(tmp_path / "form.xlsx", header=["Naam", "Wat heb je geleerd?"],
                           rows=[["Joost Klein", "Veel."]])
    with pytest.raises(InputError, match="not an id"):
        prepare_file(path, path.name, FileMeta(), Manifest().name_map)
