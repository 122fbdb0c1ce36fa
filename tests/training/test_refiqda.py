"""REFI-QDA export: schema validity, stable GUIDs, and character offsets that survive the trip."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest
from lxml import etree

from training.codebook import Codebook, CodebookError
from training.paths import REFI_QDA_SCHEMA_DIR
from training.refiqda import (
    NS_CODEBOOK,
    NS_PROJECT,
    CodingRecord,
    RefiQdaError,
    code_name,
    normalise_text,
    parse_code_name,
    read_project_qdpx,
    shift_offset,
    write_codebook_qdc,
    write_project_qdpx,
)
from training.segmenting import Document, read_bytes

SCHEMA_DIR = REFI_QDA_SCHEMA_DIR
CREATED = datetime(2026, 1, 31, 12, 0, 0, tzinfo=timezone.utc)

# Spoken Dutch with accents (ë, é, ï, ü), a curly apostrophe and emoji outside the BMP, which
# count as one character each in Python but two UTF-16 units: exactly where offsets go wrong.
TURNS = [
    "I: Hoe ervaar je de ruimte op school? Is er één moment geweest waarop het beter ging?",
    "L7: Nou, eh, de schoolleiding is daar eigenlijk heel naïef in, zeg maar. Ze zeggen wel "
    "‘doe maar’, maar er is geen tijd 😅. Ik heb best veel ideeën, hè.",
    "I: En in de PLG? Creëer je daar zelf ruimte?",
    "L7: Ja, in de PLG voel ik me vrij 👍🏽 om te experimenteren. Coördinatie met de sectie "
    "blijft lastig, maar ik heb het PTA samen met collega’s herschreven.",
    "I: Dank je wel.",
    "L7: Graag gedaan, ’t was een geïnspireerd gesprek.",
]
LF_BYTES = ("\n".join(TURNS) + "\n").encode("utf-8")
CRLF_BYTES = ("\r\n".join(TURNS) + "\r\n").encode("utf-8")


@pytest.fixture(scope="module")
def project_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / "Project.xsd")))


@pytest.fixture(scope="module")
def codebook_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / "Codebook.xsd")))


def _codings_for(doc: Document, offsets: list[tuple[int, int]] | None = None) -> list[CodingRecord]:
    """Two coders and the model on the document's three answer segments."""
    segs = doc.segments
    spans = offsets or [(s.char_start, s.char_end) for s in segs]
    assert len(spans) == 3
    (s1, e1), (s2, e2), (s3, e3) = spans
    name = doc.name
    return [
        CodingRecord(name, s1, e1, "rol_schoolleiding", "-", "-", "anna"),
        CodingRecord(name, s1, e1, "ervaren_ruimte", "SO", "-", "anna"),
        CodingRecord(name, s1, e1, "rol_schoolleiding", "-", "-", "bram"),
        CodingRecord(name, s2, e2, "ervaren_ruimte", "PO", "+", "anna"),
        CodingRecord(name, s2, e2, "creeren_ruimte", "SO", "+", "bram"),
        CodingRecord(name, s3, e3, "motivatie", "PO", "+", "anna"),
        CodingRecord(name, s1, e1, "rol_schoolleiding", "-", "-", "model", confidence=0.912,
                     model_version="codeerhulp-0.1.0"),
        CodingRecord(name, s2, e2, "ervaren_ruimte", "PO", "+", "model", confidence=0.55,
                     model_version="codeerhulp-0.1.0"),
    ]


def _export(tmp_path: Path, codebook: Codebook, docs: list, codings: list, name: str = "p.qdpx",
            **kwargs: object) -> Path:
    return write_project_qdpx(tmp_path / name, codebook, docs, codings, users=["anna", "bram", "chris"],
                              created=CREATED, **kwargs)


# ---------------------------------------------------------------- schema validity


def test_qdc_validates_and_has_codable_leaves(tmp_path: Path, codebook: Codebook,
                                              codebook_schema: etree.XMLSchema) -> None:
    path = write_codebook_qdc(codebook, tmp_path / "codeboek.qdc")
    tree = etree.parse(str(path))
    codebook_schema.assertValid(tree)
    root = tree.getroot()
    assert root.tag == f"{{{NS_CODEBOOK}}}CodeBook" and root.nsmap[None] == NS_CODEBOOK
    ns = {"c": NS_CODEBOOK}
    leaves = root.findall(".//c:Code[@isCodable='true']", ns)
    expected = {code_name(f.id, r, a) for f in codebook.active_factors for r in f.richting for a in ("+", "-")}
    assert {leaf.get("name") for leaf in leaves} == expected
    assert all(leaf.find("c:Code", ns) is None for leaf in leaves)  # only leaves are codable
    assert all(parse_code_name(leaf.get("name")) for leaf in leaves)
    groups = root.findall("c:Codes/c:Code", ns)
    assert len(groups) == len(codebook.groups)
    assert all(g.get("isCodable") == "false" for g in groups)
    guids = [c.get("guid") for c in root.iter(f"{{{NS_CODEBOOK}}}Code")]
    assert len(guids) == len(set(guids))


def test_qdpx_validates(tmp_path: Path, codebook: Codebook, project_schema: etree.XMLSchema) -> None:
    doc = read_bytes(CRLF_BYTES, "startinterview_L7.txt")
    path = _export(tmp_path, codebook, [doc], _codings_for(doc), include_suggestions=True)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert names[0] == "project.qde"
        root = etree.fromstring(zf.read("project.qde"))
        source = root.find(f"{{{NS_PROJECT}}}Sources/{{{NS_PROJECT}}}TextSource")
        raw = zf.read(f"Sources/{source.get('guid')}.txt")
    project_schema.assertValid(etree.ElementTree(root))
    assert root.tag == f"{{{NS_PROJECT}}}Project" and root.nsmap[None] == NS_PROJECT
    assert source.get("plainTextPath") == f"internal://{source.get('guid')}.txt"
    assert source.get("richTextPath") is None
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r" not in raw
    assert raw.decode("utf-8") == doc.text


# ---------------------------------------------------------------- offsets


@pytest.mark.parametrize("raw", [LF_BYTES, CRLF_BYTES], ids=["LF", "CRLF"])
def test_offsets_round_trip_from_segmenting(tmp_path: Path, codebook: Codebook, raw: bytes) -> None:
    doc = read_bytes(raw, "startinterview_L7.txt")
    assert [s.respondent for s in doc.segments] == ["L7", "L7", "L7"]
    path = _export(tmp_path, codebook, [doc], _codings_for(doc), include_suggestions=True)
    project = read_project_qdpx(path)
    assert project.sources["startinterview_L7.txt"].text == doc.text
    by_span = {(s.char_start, s.char_end): s.text for s in doc.segments}
    assert len(project.codings) == 8
    for coding in project.codings:
        assert coding.text == by_span[(coding.start, coding.end)]
    # Offsets after the emoji (counted as one character each) still land on the right text.
    assert any("😅" in c.text for c in project.codings) and any("👍🏽" in c.text for c in project.codings)
    assert any(c.text.startswith("Graag gedaan") for c in project.codings)


def test_crlf_and_lf_sources_give_the_same_export(tmp_path: Path, codebook: Codebook) -> None:
    lf = read_bytes(LF_BYTES, "startinterview_L7.txt")
    crlf = read_bytes(CRLF_BYTES, "startinterview_L7.txt")
    a = _export(tmp_path, codebook, [lf], _codings_for(lf), name="lf.qdpx")
    b = _export(tmp_path, codebook, [crlf], _codings_for(crlf), name="crlf.qdpx")
    assert a.read_bytes() == b.read_bytes()


@dataclass
class RawDocument:
    """A document straight from a Windows file, CRLF and BOM still in the text."""

    name: str
    text: str
    segments: list = field(default_factory=list)


def test_crlf_text_offsets_are_shifted(tmp_path: Path, codebook: Codebook) -> None:
    text = "\ufeff" + CRLF_BYTES.decode("utf-8")
    answers = [t.split(": ", 1)[1] for t in TURNS if t.startswith("L7:")]
    offsets = []
    for answer in answers:
        start = text.index(answer)
        offsets.append((start, start + len(answer)))
    doc = RawDocument("L7_windows.txt", text)
    path = _export(tmp_path, codebook, [doc], _codings_for(doc, offsets), include_suggestions=True,
                   cases={"L7": ["L7_windows.txt"]})
    project = read_project_qdpx(path)
    source_text = project.sources["L7_windows.txt"].text
    assert source_text == CRLF_BYTES.decode("utf-8").replace("\r\n", "\n")
    for coding in project.codings:
        assert coding.text in answers
        assert source_text[coding.start:coding.end] == coding.text
    assert {c.text for c in project.codings} == set(answers)
    assert project.cases == {"L7": ["L7_windows.txt"]}


def test_normalise_text_and_shift_offset() -> None:
    text = "\ufeffa\r\nb\rc\r\nd"
    normalised, removed = normalise_text(text)
    assert normalised == "a\nb\nc\nd"
    for original, char in [(1, "a"), (4, "b"), (6, "c"), (9, "d")]:
        assert text[original] == char
        assert normalised[shift_offset(original, removed)] == char
    assert shift_offset(len(text), removed) == len(normalised)


# ---------------------------------------------------------------- users, codes, suggestions


def test_users_codes_and_suggestions_read_back(tmp_path: Path, codebook: Codebook) -> None:
    doc = read_bytes(LF_BYTES, "startinterview_L7.txt")
    path = _export(tmp_path, codebook, [doc], _codings_for(doc), include_suggestions=True)
    project = read_project_qdpx(path)
    assert sorted(project.users.values()) == ["anna", "bram", "chris", "codeerhulp-0.1.0"]
    human = [c for c in project.codings if not c.is_suggestion]
    model = [c for c in project.codings if c.is_suggestion]
    assert sorted((c.user, c.code) for c in human) == sorted(
        (r.coder, r.code) for r in _codings_for(doc) if not r.model_version)
    assert {(c.user, c.code_name, c.confidence) for c in model} == {
        ("codeerhulp-0.1.0", "rol_schoolleiding -/-", 0.912),
        ("codeerhulp-0.1.0", "ervaren_ruimte PO/+", 0.55),
    }
    assert project.cases == {"L7": ["startinterview_L7.txt"]}


def test_suggestions_are_left_out_unless_asked(tmp_path: Path, codebook: Codebook) -> None:
    doc = read_bytes(LF_BYTES, "startinterview_L7.txt")
    project = read_project_qdpx(_export(tmp_path, codebook, [doc], _codings_for(doc)))
    assert len(project.codings) == 6
    assert "codeerhulp-0.1.0" not in project.users.values()


def test_guids_are_stable_across_exports(tmp_path: Path, codebook: Codebook) -> None:
    doc = read_bytes(LF_BYTES, "startinterview_L7.txt")
    codings = _codings_for(doc)
    a = _export(tmp_path, codebook, [doc], codings, name="a.qdpx", include_suggestions=True)
    b = _export(tmp_path, codebook, [doc], list(reversed(codings)), name="b.qdpx", include_suggestions=True)
    assert a.read_bytes() == b.read_bytes()
    qdc_a = write_codebook_qdc(codebook, tmp_path / "a.qdc").read_bytes()
    qdc_b = write_codebook_qdc(codebook, tmp_path / "b.qdc").read_bytes()
    assert qdc_a == qdc_b
    # The project's code GUIDs are the codebook's, so a .qdc and a .qdpx merge in a QDA tool.
    with zipfile.ZipFile(a) as zf:
        project_codes = {c.get("guid") for c in etree.fromstring(zf.read("project.qde")).iter(f"{{{NS_PROJECT}}}Code")}
    qdc_codes = {c.get("guid") for c in etree.fromstring(qdc_a).iter(f"{{{NS_CODEBOOK}}}Code")}
    assert qdc_codes <= project_codes


def test_dict_records_are_accepted(tmp_path: Path, codebook: Codebook) -> None:
    doc = read_bytes(LF_BYTES, "startinterview_L7.txt")
    seg = doc.segments[0]
    record = {"document": doc.name, "char_start": seg.char_start, "char_end": seg.char_end,
              "factor": "spanningen", "richting": "-", "aard": "+", "coder": "anna"}
    project = read_project_qdpx(_export(tmp_path, codebook, [doc], [record]))
    assert [(c.code, c.text) for c in project.codings] == [(("spanningen", "-", "+"), seg.text)]


# ---------------------------------------------------------------- refusals


def test_invalid_code_and_span_are_refused(tmp_path: Path, codebook: Codebook) -> None:
    doc = read_bytes(LF_BYTES, "startinterview_L7.txt")
    with pytest.raises(CodebookError):
        _export(tmp_path, codebook, [doc], [CodingRecord(doc.name, 0, 5, "rol_schoolleiding", "PO", "+", "anna")])
    with pytest.raises(RefiQdaError, match="ligt buiten de tekst"):
        _export(tmp_path, codebook, [doc], [CodingRecord(doc.name, 0, len(doc.text) + 1, "secties", "-", "+", "anna")])
    with pytest.raises(RefiQdaError, match="zit niet in de export"):
        _export(tmp_path, codebook, [doc], [CodingRecord("elders.txt", 0, 5, "secties", "-", "+", "anna")])
    with pytest.raises(RefiQdaError, match="uniek"):
        _export(tmp_path, codebook, [doc, doc], [])
    assert not (tmp_path / "p.qdpx").exists()  # a refused export leaves no file behind
