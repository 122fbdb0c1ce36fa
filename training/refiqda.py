"""REFI-QDA export (codebook ``.qdc``, project ``.qdpx``) and a reader for our own projects.

Researchers review codings in the QDA tool they already use (ATLAS.ti, MAXQDA, NVivo,
QualCoder). REFI-QDA (QDA-XML 1.0) is the one format all of them import, so reviewed codings and,
when asked for, the model's suggestions leave Codeerhulp this way.

Code hierarchy
--------------
A code is (factor, richting, aard). It is exported as a three-level tree::

    group (isCodable=false)                   "Professionele ruimte"
      factor (isCodable=false)                "ervaren_ruimte"
        leaf code (isCodable=true)            "ervaren_ruimte PO/+", "ervaren_ruimte PO/-",
                                              "ervaren_ruimte SO/+", "ervaren_ruimte SO/-"
    ...
      factor without direction                "rol_schoolleiding"
        leaf codes                            "rol_schoolleiding -/+", "rol_schoolleiding -/-"

Only leaves are applied to text, so a QDA tool counts every full code on its own (the frequency
tables of the research are split by richting and pole), and its "aggregate subcodes" view gives
the per-factor total. Leaf names are complete on their own (``factor richting/aard``) because
some tools show or export a code without its parents; :func:`parse_code_name` reads them back.
The same names are used by :mod:`training.agreement` (``code_label(code, "aard")``).

Users, suggestions, cases
-------------------------
- Human codings go under a ``User`` per coder name.
- Model suggestions (records with a ``model_version``; exported only with
  ``include_suggestions=True``) go under a ``User`` named after the model version, so the QDA
  tool's own agreement feature can compare model and coders. The format has no field for a
  confidence: each suggestion selection's ``Description`` holds one line per code,
  ``"<code name>: confidence 0.873"``, below a first line naming the model.
- One ``Case`` per respondent (``L7``, ``B1``, ...), from the segments' ``respondent`` or from the
  ``cases`` argument, with a text variable ``rol`` (leraar, PLG-begeleider, schoolleider) when the
  id says so, and a ``SourceRef`` to each of its documents.

Texts and offsets
-----------------
Every source is written by us as ``Sources/<guid>.txt``, UTF-8 without BOM, LF line endings, and
referenced as ``plainTextPath="internal://<guid>.txt"``. Selection positions are character
offsets (code points) into exactly that text. A document whose text still has CR or CRLF line
endings or a BOM is normalised first and the codings' offsets are shifted with it.

GUIDs are uuid5 of stable names (codebook id and code, document name, coder, offsets), so a
re-export of the same material gives the same GUIDs and a QDA tool can merge it.
"""

from __future__ import annotations

import bisect
import logging
import os
import re
import uuid
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from lxml import etree

from training.codebook import AARD_VALUES, Codebook, Factor

logger = logging.getLogger(__name__)

NS_PROJECT = "urn:QDA-XML:project:1.0"
NS_CODEBOOK = "urn:QDA-XML:codebook:1.0"
QDE_NAME = "project.qde"
SOURCES_DIR = "Sources"
GUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:codeerhulp:refi-qda:1")
# Written by hand: lxml writes the declaration with single quotes, which some importers reject.
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
SUGGESTION_HEADER = "Codeerhulp-suggestie van model"
# One colour per codebook group, in codebook order, so the tree is readable at a glance.
GROUP_COLOURS = ("#1F77B4", "#2CA02C", "#17BECF", "#9467BD", "#FF7F0E", "#D62728", "#8C564B", "#7F7F7F")
ROLE_BY_PREFIX = {"L": "leraar", "B": "PLG-begeleider", "S": "schoolleider"}
_CODE_NAME = re.compile(r"^(?P<factor>\S+) (?P<richting>PO|SO|-)/(?P<aard>[+-])$")
_CONFIDENCE_LINE = re.compile(r"^(?P<code>.+?): confidence (?P<confidence>[0-9.]+)\s*$")


class RefiQdaError(ValueError):
    """Material that cannot be exported or a file that cannot be read; the message says which, in
    Dutch: only the command line's export and import meet it."""


class TextDocument(Protocol):
    """What the exporter needs of a document: training.segmenting.Document satisfies it."""

    name: str
    text: str


@dataclass(frozen=True)
class CodingRecord:
    """One code applied to a span of a document by a coder (or suggested by a model).

    Offsets are characters into the document's text as given (before any CRLF normalisation).
    A record with ``model_version`` is a model suggestion; its ``coder`` is then ignored.
    """

    document: str
    char_start: int
    char_end: int
    factor: str
    richting: str
    aard: str
    coder: str
    confidence: float | None = None
    model_version: str | None = None
    created_at: datetime | None = None

    @property
    def code(self) -> tuple[str, str, str]:
        return (self.factor, self.richting, self.aard)

    @property
    def is_suggestion(self) -> bool:
        return bool(self.model_version)


# ---------------------------------------------------------------- names and GUIDs


def stable_guid(kind: str, *parts: object) -> str:
    """A uuid5 from a kind and stable parts: the same inputs give the same GUID on every export."""
    return str(uuid.uuid5(GUID_NAMESPACE, "\x1f".join([kind, *map(str, parts)])))


def code_name(factor: str, richting: str, aard: str) -> str:
    """The leaf code's name: ``"ervaren_ruimte PO/+"``, ``"rol_schoolleiding -/-"``."""
    return f"{factor} {richting}/{aard}"


def parse_code_name(name: str) -> tuple[str, str, str] | None:
    """(factor, richting, aard) from a leaf code name, or None for any other name."""
    m = _CODE_NAME.match(name.strip())
    return (m["factor"], m["richting"], m["aard"]) if m else None


def code_guid(codebook: Codebook, factor: str, richting: str, aard: str) -> str:
    # The codebook version is left out on purpose: a new codebook version keeps a code's GUID,
    # so a tool that merges re-exports keeps the codings of unchanged codes together.
    return stable_guid("code", codebook.id, factor, richting, aard)


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- text normalisation


def normalise_text(text: str) -> tuple[str, list[int]]:
    """(LF text without BOM, sorted original indices of the removed characters).

    CRLF becomes LF (the CR is removed), a lone CR becomes LF (nothing removed), a leading BOM is
    removed. :func:`shift_offset` maps an original offset into the normalised text.
    """
    removed: list[int] = []
    if text.startswith("\ufeff"):
        removed.append(0)
    removed.extend(m.start() for m in re.finditer("\r\n", text))
    normalised = text[1:] if text.startswith("\ufeff") else text
    normalised = normalised.replace("\r\n", "\n").replace("\r", "\n")
    return normalised, removed


def shift_offset(offset: int, removed: Sequence[int]) -> int:
    """An offset into the original text as an offset into the normalised text."""
    return offset - bisect.bisect_left(removed, offset)


# ---------------------------------------------------------------- code tree


def _factors_for_export(codebook: Codebook, used: set[str] | None = None) -> list[Factor]:
    """Active factors, plus retired ones that codings still use (older material)."""
    used = used or set()
    return [f for f in codebook.factors if f.status == "active" or f.id in used]


def _add_code_tree(parent: etree._Element, ns: str, codebook: Codebook, factors: Sequence[Factor]) -> None:
    def sub(elem: etree._Element, tag: str, **attrs: str) -> etree._Element:
        return etree.SubElement(elem, f"{{{ns}}}{tag}", attrs)

    def description(elem: etree._Element, text: str) -> None:
        if text.strip():
            sub(elem, "Description").text = text.strip()

    for gi, group in enumerate(codebook.groups):
        members = [f for f in factors if f.group == group.id]
        if not members:
            continue
        colour = GROUP_COLOURS[gi % len(GROUP_COLOURS)]
        g_el = sub(parent, "Code", guid=stable_guid("group", codebook.id, group.id), name=group.label,
                   isCodable="false", color=colour)
        description(g_el, group.description)
        for factor in members:
            f_el = sub(g_el, "Code", guid=stable_guid("factor", codebook.id, factor.id), name=factor.id,
                       isCodable="false", color=colour)
            retired = " (vervallen code)" if factor.status != "active" else ""
            description(f_el, f"{factor.label}{retired}. {factor.definition}")
            for richting in factor.richting:
                for aard in AARD_VALUES:
                    leaf = sub(f_el, "Code", guid=code_guid(codebook, factor.id, richting, aard),
                               name=code_name(factor.id, richting, aard), isCodable="true", color=colour)
                    r_label = codebook.richting_labels.get(richting, richting)
                    description(leaf, f"{factor.label}; richting {richting} ({r_label}); "
                                      f"aard {aard}: {factor.poles.get(aard, aard)}")


def _write_bytes_atomically(path: Path, write: Any) -> None:
    """Write through a temporary file in the same folder, so a failed export leaves no half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def codebook_xml(codebook: Codebook) -> bytes:
    """The ``.qdc`` document as bytes (root ``CodeBook`` in the codebook namespace)."""
    root = etree.Element(f"{{{NS_CODEBOOK}}}CodeBook", nsmap={None: NS_CODEBOOK},
                         origin=f"Codeerhulp; codebook {codebook.id} {codebook.version}")
    codes = etree.SubElement(root, f"{{{NS_CODEBOOK}}}Codes")
    _add_code_tree(codes, NS_CODEBOOK, codebook, _factors_for_export(codebook))
    return XML_DECLARATION + etree.tostring(root, encoding="UTF-8", pretty_print=True)


def write_codebook_qdc(codebook: Codebook, path: str | Path) -> Path:
    """Write the codebook (active codes) as a REFI-QDA ``.qdc`` file; returns the path."""
    path = Path(path)
    data = codebook_xml(codebook)
    _write_bytes_atomically(path, lambda tmp: tmp.write_bytes(data))
    logger.info("wrote codebook %s %s to %s", codebook.id, codebook.version, path)
    return path


# ---------------------------------------------------------------- project export


def _as_record(obj: CodingRecord | Mapping[str, Any]) -> CodingRecord:
    if isinstance(obj, CodingRecord):
        return obj
    if isinstance(obj, Mapping):
        try:
            return CodingRecord(
                document=str(obj["document"]), char_start=int(obj["char_start"]), char_end=int(obj["char_end"]),
                factor=str(obj["factor"]), richting=str(obj["richting"]), aard=str(obj["aard"]),
                coder=str(obj.get("coder") or ""), confidence=obj.get("confidence"),
                model_version=obj.get("model_version") or None, created_at=obj.get("created_at"),
            )
        except KeyError as exc:
            raise RefiQdaError(f"codering {dict(obj)!r}: veld {exc.args[0]!r} ontbreekt") from None
    raise RefiQdaError(f"codering van type {type(obj).__name__} wordt niet begrepen")


@dataclass
class _Selection:
    document: str
    start: int
    end: int
    user_key: tuple[str, str]  # ("coder" | "model", name)
    codes: dict[tuple[str, str, str], CodingRecord] = field(default_factory=dict)


def _respondent_role(respondent: str) -> str | None:
    m = re.fullmatch(r"([LBS])\d+", respondent.strip())
    return ROLE_BY_PREFIX[m.group(1)] if m else None


def write_project_qdpx(
    path: str | Path,
    codebook: Codebook,
    documents: Sequence[TextDocument],
    codings: Iterable[CodingRecord | Mapping[str, Any]],
    users: Sequence[str] = (),
    *,
    project_name: str | None = None,
    include_suggestions: bool = False,
    cases: Mapping[str, Sequence[str]] | None = None,
    created: datetime | None = None,
) -> Path:
    """Write a REFI-QDA project: ``project.qde`` plus ``Sources/<guid>.txt`` in a ZIP.

    ``codings`` are :class:`CodingRecord`\\ s or dicts with the same keys. Every code is checked
    against the codebook and every span against its document, so an export never carries a code
    or offset a QDA tool would misplace. ``users`` lists human coders to include even without
    codings. Suggestions (records with ``model_version``) are skipped unless
    ``include_suggestions``. ``cases`` maps a respondent to document names; by default cases come
    from the documents' segments. ``created`` stamps every element (default: now, UTC) unless a
    record has its own ``created_at``.
    """
    path = Path(path)
    created = created or datetime.now(timezone.utc).replace(microsecond=0)
    stamp = _timestamp(created)

    # Documents: one normalised LF text each.
    texts: dict[str, tuple[str, list[int]]] = {}
    doc_order: list[str] = []
    for doc in documents:
        if doc.name in texts:
            raise RefiQdaError(f"twee documenten heten {doc.name!r}; namen van bronnen moeten uniek zijn")
        texts[doc.name] = normalise_text(doc.text or "")
        doc_order.append(doc.name)
        if texts[doc.name][1]:
            logger.info("%s: normalised %d characters (CRLF/BOM) before export", doc.name, len(texts[doc.name][1]))

    # Codings: validated, mapped to normalised offsets, grouped into one selection per span and user.
    selections: dict[tuple[str, int, int, tuple[str, str]], _Selection] = {}
    skipped = 0
    used_factors: set[str] = set()
    for raw in codings:
        rec = _as_record(raw)
        if rec.is_suggestion and not include_suggestions:
            skipped += 1
            continue
        codebook.validate_code(rec.factor, rec.richting, rec.aard)
        if rec.document not in texts:
            raise RefiQdaError(f"codering op {rec.document!r}: dat document zit niet in de export")
        text, removed = texts[rec.document]
        if not text:
            raise RefiQdaError(f"codering op {rec.document!r}: het document heeft geen platte tekst om naar te "
                               "verwijzen")
        original_length = len(text) + len(removed)
        if not 0 <= rec.char_start < rec.char_end <= original_length:
            raise RefiQdaError(
                f"codering {code_name(*rec.code)} op {rec.document!r}: stuk {rec.char_start}-{rec.char_end} "
                f"ligt buiten de tekst (lengte {original_length})"
            )
        start, end = shift_offset(rec.char_start, removed), shift_offset(rec.char_end, removed)
        if rec.is_suggestion:
            user_key = ("model", str(rec.model_version))
        else:
            if not rec.coder.strip():
                raise RefiQdaError(f"codering {code_name(*rec.code)} op {rec.document!r}: geen naam van een codeur")
            user_key = ("coder", rec.coder.strip())
        key = (rec.document, start, end, user_key)
        sel = selections.setdefault(key, _Selection(rec.document, start, end, user_key))
        if rec.code in sel.codes:
            logger.debug("duplicate coding %s on %s %d-%d ignored", code_name(*rec.code), rec.document, start, end)
            continue
        sel.codes[rec.code] = rec
        used_factors.add(rec.factor)
    if skipped:
        logger.info("skipped %d model suggestions (include_suggestions=False)", skipped)

    # Users: given coders first, then coders and models in the codings, each once.
    user_keys: list[tuple[str, str]] = []
    for name in users:
        if ("coder", name) not in user_keys:
            user_keys.append(("coder", name))
    for key in sorted({s.user_key for s in selections.values()}):
        if key not in user_keys:
            user_keys.append(key)
    user_guid = {key: stable_guid("user", *key) for key in user_keys}

    source_guid = {name: stable_guid("source", name) for name in doc_order}

    # Cases: respondent -> documents.
    if cases is None:
        found: dict[str, list[str]] = {}
        for doc in documents:
            for seg in getattr(doc, "segments", None) or []:
                resp = getattr(seg, "respondent", None)
                if resp and doc.name not in found.setdefault(resp, []):
                    found[resp].append(doc.name)
        case_map: dict[str, list[str]] = found
    else:
        case_map = {resp: list(names) for resp, names in cases.items()}
        for resp, names in case_map.items():
            for name in names:
                if name not in texts:
                    raise RefiQdaError(f"casus {resp!r}: geen document {name!r} in de export")

    # ---- XML
    P = f"{{{NS_PROJECT}}}"

    def sub(elem: etree._Element, tag: str, **attrs: str) -> etree._Element:
        return etree.SubElement(elem, P + tag, attrs)

    root = etree.Element(P + "Project", nsmap={None: NS_PROJECT},
                         name=project_name or f"Codeerhulp {codebook.title}",
                         origin=f"Codeerhulp; codebook {codebook.id} {codebook.version}",
                         creationDateTime=stamp)
    if user_keys:
        users_el = sub(root, "Users")
        for key in user_keys:
            sub(users_el, "User", guid=user_guid[key], name=key[1])
    codes_el = sub(sub(root, "CodeBook"), "Codes")
    _add_code_tree(codes_el, NS_PROJECT, codebook, _factors_for_export(codebook, used_factors))

    roles = {resp: _respondent_role(resp) for resp in case_map}
    role_var = stable_guid("variable", "rol")
    if any(roles.values()):
        var = sub(sub(root, "Variables"), "Variable", guid=role_var, name="rol", typeOfVariable="Text")
        sub(var, "Description").text = "Rol van de respondent: leraar, PLG-begeleider of schoolleider."
    if case_map:
        cases_el = sub(root, "Cases")
        for resp in sorted(case_map):
            case = sub(cases_el, "Case", guid=stable_guid("case", resp), name=resp)
            if roles[resp]:
                vv = sub(case, "VariableValue")
                sub(vv, "VariableRef", targetGUID=role_var)
                sub(vv, "TextValue").text = roles[resp]
            for name in case_map[resp]:
                sub(case, "SourceRef", targetGUID=source_guid[name])

    code_order = {}
    for fi, factor in enumerate(codebook.factors):
        for ri, richting in enumerate(factor.richting):
            for ai, aard in enumerate(AARD_VALUES):
                code_order[(factor.id, richting, aard)] = (fi, ri, ai)

    files: dict[str, bytes] = {}
    sources_el = sub(root, "Sources") if doc_order else None
    for name in doc_order:
        assert sources_el is not None
        text, _ = texts[name]
        guid = source_guid[name]
        src = sub(sources_el, "TextSource", guid=guid, name=name, plainTextPath=f"internal://{guid}.txt",
                  creationDateTime=stamp)
        files[f"{SOURCES_DIR}/{guid}.txt"] = text.encode("utf-8")
        doc_sels = sorted((s for s in selections.values() if s.document == name),
                          key=lambda s: (s.start, s.end, s.user_key))
        for sel in doc_sels:
            sel_guid = stable_guid("selection", name, sel.start, sel.end, *sel.user_key)
            records = sorted(sel.codes.values(), key=lambda r: code_order.get(r.code, (999, 0, 0)))
            times = [r.created_at for r in records if r.created_at is not None]
            sel_stamp = _timestamp(min(times)) if times else stamp
            sel_el = sub(src, "PlainTextSelection", guid=sel_guid, name=_selection_name(text[sel.start:sel.end]),
                         startPosition=str(sel.start), endPosition=str(sel.end),
                         creatingUser=user_guid[sel.user_key], creationDateTime=sel_stamp)
            if sel.user_key[0] == "model":
                lines = [f"{SUGGESTION_HEADER} {sel.user_key[1]}"]
                for r in records:
                    conf = "onbekend" if r.confidence is None else f"{float(r.confidence):.3f}"
                    lines.append(f"{code_name(*r.code)}: confidence {conf}")
                sub(sel_el, "Description").text = "\n".join(lines)
            for r in records:
                cguid = code_guid(codebook, *r.code)
                coding = sub(sel_el, "Coding", guid=stable_guid("coding", sel_guid, cguid),
                             creatingUser=user_guid[sel.user_key],
                             creationDateTime=_timestamp(r.created_at) if r.created_at else sel_stamp)
                sub(coding, "CodeRef", targetGUID=cguid)

    qde = XML_DECLARATION + etree.tostring(root, encoding="UTF-8", pretty_print=True)
    zip_time = created.astimezone(timezone.utc).timetuple()[:6] if created.tzinfo else created.timetuple()[:6]

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for arcname, data in [(QDE_NAME, qde), *sorted(files.items())]:
                info = zipfile.ZipInfo(arcname, date_time=zip_time)
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)

    _write_bytes_atomically(path, write)
    logger.info("wrote %s: %d sources, %d selections, %d users", path, len(doc_order), len(selections), len(user_keys))
    return path


def _selection_name(text: str, limit: int = 60) -> str:
    """A short readable name for a selection (tools list selections by name)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# ---------------------------------------------------------------- reader


@dataclass
class QdpxSource:
    guid: str
    name: str
    text: str


@dataclass
class QdpxCoding:
    """One coding read back: where, which code, by whom."""

    document: str
    start: int
    end: int
    text: str
    code_guid: str
    code_name: str
    code: tuple[str, str, str] | None
    user: str | None
    user_guid: str | None
    description: str = ""
    confidence: float | None = None
    is_suggestion: bool = False


@dataclass
class QdpxProject:
    name: str
    users: dict[str, str]
    codes: dict[str, str]
    sources: dict[str, QdpxSource]
    codings: list[QdpxCoding]
    cases: dict[str, list[str]]


def _read_source_text(zf: zipfile.ZipFile, el: etree._Element, name: str) -> str:
    inline = el.find(f"{{{NS_PROJECT}}}PlainTextContent")
    if inline is not None:
        return inline.text or ""
    ref = el.get("plainTextPath")
    if not ref:
        raise RefiQdaError(f"bron {name!r}: heeft plainTextPath noch PlainTextContent")
    if not ref.startswith("internal://"):
        raise RefiQdaError(f"bron {name!r}: alleen internal://-paden worden gelezen, niet {ref!r}")
    member = f"{SOURCES_DIR}/{ref[len('internal://'):]}"
    try:
        raw = zf.read(member)
    except KeyError:
        raise RefiQdaError(f"bron {name!r}: {member} ontbreekt in het archief") from None
    # Offsets count the characters of the file as written, so line endings stay as they are;
    # only a BOM, which no tool counts, is dropped.
    return raw.decode("utf-8-sig")


def read_project_qdpx(path: str | Path) -> QdpxProject:
    """Read a ``.qdpx``: users, codes, source texts and every text coding with its offsets.

    Written for our own exports (and tests of them) but tolerant of what other tools add:
    codings directly on a source count as spanning the whole text, unknown elements are ignored.
    """
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise RefiQdaError(f"{path}: geen leesbaar .qdpx-archief ({exc})") from None
    with zf:
        qde_names = [n for n in zf.namelist() if n.lower().endswith(".qde")]
        if not qde_names:
            raise RefiQdaError(f"{path}: geen .qde-bestand in het archief")
        try:
            root = etree.fromstring(zf.read(qde_names[0]))
        except etree.XMLSyntaxError as exc:
            raise RefiQdaError(f"{path}: {qde_names[0]} is geen geldige XML ({exc})") from None
        ns = {"q": NS_PROJECT}
        users = {u.get("guid"): u.get("name") or "" for u in root.iterfind("q:Users/q:User", ns)}
        codes = {c.get("guid"): c.get("name") for c in root.iterfind("q:CodeBook/q:Codes//q:Code", ns)}
        sources: dict[str, QdpxSource] = {}
        source_names: dict[str, str] = {}
        codings: list[QdpxCoding] = []

        def coding_from(el: etree._Element, doc: str, start: int, end: int, text: str, description: str,
                        selection_user: str | None) -> QdpxCoding:
            ref = el.find("q:CodeRef", ns)
            target = ref.get("targetGUID") if ref is not None else ""
            cname = codes.get(target, "")
            user_guid = el.get("creatingUser") or selection_user
            confidences = {}
            is_suggestion = description.startswith(SUGGESTION_HEADER)
            for line in description.splitlines():
                m = _CONFIDENCE_LINE.match(line)
                if m:
                    confidences[m["code"]] = float(m["confidence"])
            return QdpxCoding(document=doc, start=start, end=end, text=text[start:end], code_guid=target,
                              code_name=cname, code=parse_code_name(cname) if cname else None,
                              user=users.get(user_guid) if user_guid else None, user_guid=user_guid,
                              description=description, confidence=confidences.get(cname),
                              is_suggestion=is_suggestion)

        for src in root.iterfind("q:Sources/q:TextSource", ns):
            name = src.get("name") or src.get("guid")
            text = _read_source_text(zf, src, name)
            sources[name] = QdpxSource(guid=src.get("guid"), name=name, text=text)
            source_names[src.get("guid")] = name
            for sel in src.iterfind("q:PlainTextSelection", ns):
                start, end = int(sel.get("startPosition")), int(sel.get("endPosition"))
                if not 0 <= start <= end <= len(text):
                    raise RefiQdaError(f"bron {name!r}: selectie {start}-{end} ligt buiten de tekst ({len(text)} "
                                       "tekens)")
                desc_el = sel.find("q:Description", ns)
                description = (desc_el.text or "") if desc_el is not None else ""
                for coding in sel.iterfind("q:Coding", ns):
                    codings.append(coding_from(coding, name, start, end, text, description, sel.get("creatingUser")))
            for coding in src.iterfind("q:Coding", ns):
                codings.append(coding_from(coding, name, 0, len(text), text, "", None))

        cases = {
            (case.get("name") or case.get("guid")): [
                source_names.get(ref.get("targetGUID"), ref.get("targetGUID"))
                for ref in case.iterfind("q:SourceRef", ns)
            ]
            for case in root.iterfind("q:Cases/q:Case", ns)
        }
    return QdpxProject(name=root.get("name", ""), users=users, codes=codes, sources=sources, codings=codings,
                       cases=cases)
