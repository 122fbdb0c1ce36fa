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
    assert "kapot.docx: geen leesbaar Word-bestand (.docx)" in stderr
    assert "4 bestanden geannoteerd" in stdout and "1 mislukt" in stdout
    failures = list(csv.DictReader(open(out / "failures.csv", encoding="utf-8")))
    assert [f["file"] for f in failures] == ["kapot.docx"] and failures[0]["line"] == ""
    # The command ends by naming what it wrote (a first run replaces nothing).
    assert "geschreven: " in stdout and "dataset.csv" in stdout and "vervangen:" not in stdout

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
    assert rc == 0 and "4 bestanden geannoteerd" in stdout
    before = _dataset(out)
    rc, stdout, _ = _run(args, trained_models_dir, capsys)
    assert rc == 0 and "0 bestanden geannoteerd" in stdout and "4 ongewijzigd overgeslagen" in stdout
    assert _dataset(out) == before  # the dataset still covers every file
    mixed["logbook"].write_text(mixed["logbook"].read_text(encoding="utf-8") + "\nWat ga je nu doen?\nVerder.\n",
                                encoding="utf-8")
    rc, stdout, _ = _run(args, trained_models_dir, capsys)
    assert "1 bestanden geannoteerd" in stdout and "3 ongewijzigd overgeslagen" in stdout
    # The rerun names the files it replaced: the dataset and the changed file's result.
    replaced = stdout.split("vervangen: ")[1]
    assert "dataset.csv" in replaced and "annotations.jsonl" in replaced
    state = json.loads((out / STATE_FILE).read_text(encoding="utf-8"))
    assert set(state["files"]) == {"L3_start.txt", "L3_eind.docx", "T21.txt", "logboeken_plg2.xlsx"}


@pytest.mark.parametrize("name, content, reason", [
    ("leeg.txt", b"   \n", "het bestand is leeg"),
    ("binair.txt", b"\x00\x01\x02 niet te lezen", "binair bestand"),
    ("raar.xlsx", None, "onverwachte kolommen"),
    ("kapot.docx", b"not a zip at all", "geen leesbaar Word-bestand"),
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
    assert rc == 2 and "bestand of map bestaat niet" in err
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
    with pytest.raises(InputError, match="kolom 'file' ontbreekt"):
        bad = tmp_path / "bad.csv"
        bad.write_text("bestand,respondent\nx.txt,L1\n", encoding="utf-8")
        read_manifest(bad)


def test_form_export_skips_a_row_with_an_unlisted_name_without_repeating_it(tmp_path):
    path = write_form_xlsx(tmp_path / "form.xlsx", header=["Naam", "Wat heb je geleerd?"],
                           rows=[["L4", "Dat ik meer durf."], ["Joost Klein", "Veel."]])
    prepared = prepare_file(path, path.name, FileMeta(), Manifest().name_map)
    assert [d.meta["respondent"] for d in prepared.documents] == ["L4"]
    assert [n for n, _ in prepared.bad_lines] == [3]  # the row as Excel numbers it (header = 1)
    assert "geen naam uit de kolom 'names'" in prepared.bad_lines[0][1]
    assert "Joost" not in prepared.bad_lines[0][1]  # the reason goes into failures.csv: no name in it
    only_bad = write_form_xlsx(tmp_path / "form2.xlsx", header=["Naam", "Wat heb je geleerd?"],
                               rows=[["Joost Klein", "Veel."]])
    with pytest.raises(InputError, match="geen ingevulde rijen"):
        prepare_file(only_bad, only_bad.name, FileMeta(), Manifest().name_map)


# ---------------------------------------------------------------- batch that forgives


def test_file_names_are_pseudonymised_and_the_key_is_kept_apart(tmp_path, trained_models_dir, capsys):
    folder = tmp_path / "materiaal"
    folder.mkdir()
    (folder / "bram.txt").write_text("I: Hoe ging het, Bram?\nBram: Goed, ik voel veel ruimte in mijn lessen.\n"
                                     "I: En de sectie?\nBram: Daar is weinig ruimte.\n", encoding="utf-8")
    (folder / "interviews").mkdir()
    (folder / "interviews" / "Bram_Jansen-eind.txt").write_text(
        "I: Wat is er veranderd?\nR: Ik begin elke les met een instapvraag.\n", encoding="utf-8")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("file,respondent,role,moment,plg,names\nbram.txt,L5,leraar,start,PLG 2,Bram;Bram Jansen\n",
                        encoding="utf-8")
    out = tmp_path / "uit"
    rc, stdout, _ = _run(["annotate", str(folder), "-o", str(out), "--manifest", str(manifest), "--workers", "1"],
                         trained_models_dir, capsys)
    assert rc == 0
    records = [json.loads(line) for line in (out / "annotations.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["meta"]["file"] for r in records} == {"L5.txt", "interviews/L5-eind.txt"}
    assert {r["id"].rsplit("-", 1)[0] for r in records} == {"L5", "interviews_L5-eind"}
    # Nothing in the output folder holds the name: not the texts, not the file names, not the state.
    for path in out.rglob("*"):
        assert "bram" not in path.name.lower()
        if path.is_file() and path.suffix != ".xlsx":
            assert "bram" not in path.read_text(encoding="utf-8").lower(), path
    # The key is next to the folder, not in it, and the command says where.
    key = tmp_path / "uit-pseudoniemen.csv"
    rows = list(csv.DictReader(open(key, encoding="utf-8")))
    assert {(r["bestand_in_uitvoer"], r["oorspronkelijk_bestand"]) for r in rows} == {
        ("L5.txt", "bram.txt"), ("interviews/L5-eind.txt", "interviews/Bram_Jansen-eind.txt")}
    assert str(key) in stdout
    # An export from the folder carries the pseudonyms only.
    assert main(["export", str(out), "--format", "qdpx", "-o", str(tmp_path / "p.qdpx"), "--include-suggestions"]) == 0
    import zipfile
    with zipfile.ZipFile(tmp_path / "p.qdpx") as zf:
        assert all("bram" not in zf.read(n).decode("utf-8", "ignore").lower() for n in zf.namelist())
    with pytest.raises(InputError, match="buiten de uitvoermap"):
        annotate([folder], out, models_dir=trained_models_dir, pseudonym_key=out / "sleutel.csv")


def test_jsonl_is_annotated_and_one_bad_line_is_reported_by_number(tmp_path, trained_models_dir, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    lines = [json.dumps({"id": "L2-a", "text": "Ik heb veel ruimte gekregen van de schoolleiding.",
                         "question": "Hoe ervaar je de ruimte?"}),
             '{"id": "L2-b", "text": "afgebroken',
             json.dumps({"id": "L2-c", "text": "Er is geen tijd, alles gaat 's avonds."}),
             json.dumps({"id": "L2-d", "text": ""})]
    (folder / "L2_start.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    rc, stdout, stderr = _run(["annotate", str(folder), "-o", str(out), "--workers", "1"], trained_models_dir, capsys)
    assert rc == 1  # something was left out: the researcher must look
    records = load_annotations(out).records
    assert [r["id"] for r in records] == ["L2-a", "L2-c"]
    assert records[0]["meta"]["question"] == "Hoe ervaar je de ruimte?" and records[0]["meta"]["respondent"] == "L2"
    failures = list(csv.DictReader(open(out / "failures.csv", encoding="utf-8")))
    assert [(f["file"], f["line"]) for f in failures] == [("L2_start.jsonl", "2"), ("L2_start.jsonl", "4")]
    assert "regel 2: geen geldige JSON" in failures[0]["reason"] and "kolom 'text' is leeg" in failures[1]["reason"]
    assert "2 regel(s) overgeslagen" in stderr and "regel 2" in stderr
    # A rerun skips the unchanged file but still reports its bad lines.
    rc, stdout, _ = _run(["annotate", str(folder), "-o", str(out), "--workers", "1"], trained_models_dir, capsys)
    assert rc == 1 and "1 ongewijzigd overgeslagen" in stdout
    assert len(list(csv.DictReader(open(out / "failures.csv", encoding="utf-8")))) == 2


def test_a_bad_csv_row_is_left_out_and_the_rest_annotated(tmp_path):
    path = tmp_path / "fragmenten.csv"
    path.write_text("id,text\nf1,Ik heb veel ruimte.\nf1,Dubbel id.\n,Geen id.\nf2,Er is geen tijd.\n",
                    encoding="utf-8")
    prepared = prepare_file(path, path.name, FileMeta(), {})
    assert [s.id for s in prepared.documents[0].segments] == ["f1", "f2"]
    assert [n for n, _ in prepared.bad_lines] == [3, 4]
    assert "komt twee keer voor" in prepared.bad_lines[0][1]


@pytest.mark.parametrize("encoding, raw_text, named", [
    ("cp1252", "I: Hoe ging het?\nL2: Heel goed \u2013 ik heb \u201cveel\u201d ideeën gekregen.\n", "Windows-1252"),
    ("latin-1", "I: Hoe ging het?\nL2: Heel goed, ik heb veel ideeën gekregen.\n", "Latin-1"),
])
def test_windows_1252_and_latin_1_are_read_with_a_notice(tmp_path, trained_models_dir, capsys, encoding, raw_text,
                                                         named):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "L2_start.txt").write_bytes(raw_text.encode(encoding))
    out = tmp_path / "out"
    rc, _, stderr = _run(["annotate", str(folder), "-o", str(out), "--workers", "1"], trained_models_dir, capsys)
    assert rc == 0
    assert f"L2_start.txt: gelezen als {named}" in stderr
    records = load_annotations(out).records
    assert "ideeën" in records[0]["text"]
    if encoding == "cp1252":
        assert "\u201cveel\u201d" in records[0]["text"] and "\u2013" in records[0]["text"]
    result = json.loads(next((out / "files").glob("*.json")).read_text(encoding="utf-8"))
    assert result["encoding"] == ("windows-1252" if encoding == "cp1252" else "latin-1")


def test_a_manifest_saved_by_excel_in_windows_1252_is_read(tmp_path):
    path = tmp_path / "manifest.csv"
    path.write_bytes("file;respondent;names\nL3_start.txt;L3;Anaïs\n".encode("cp1252"))
    manifest = read_manifest(path)
    assert manifest.name_map == {"Anaïs": "L3"}
    assert manifest.notices and "Latin-1" in manifest.notices[0]
