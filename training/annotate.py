"""Batch annotation: folders of transcripts and logbooks in, a coded dataset out.

``annotate()`` reads and segments the files in a pool of worker processes (reading a .docx and
splitting a long transcript is pure-Python work that a thread pool would serialise on the GIL),
while the main process runs the model over each file's segments as soon as it is ready (one model
in memory, batched by :func:`training.suggest.suggest_segments`). With ``cluster`` (a Dask
scheduler's address) the whole per-file work, reading and suggesting, runs on the cluster's workers
instead (:mod:`training.cluster`); everything else (what to skip, failures, the outputs) is the
same code in both cases.

Output folder
-------------
- ``files/<key>.json``: per input file its pseudonymised document texts, metadata and records;
  the unit a rerun skips or redoes;
- ``annotations.jsonl``: every record in the stable shape of :mod:`training.suggest`, with
  ``meta`` holding file, document, kind, respondent, role, moment, plg, speaker, question,
  line and character offsets;
- ``dataset.csv`` / ``dataset.xlsx``: one row per segment and suggested code (a segment without
  a code gets one row with an empty code), see :data:`DATASET_COLUMNS`;
- ``failures.csv``: the files of the last run that failed and the lines left out of files that
  were annotated (``file, line, reason``);
- ``.codeerhulp-annotate.json``: the state file. A file is skipped on a rerun when its SHA-256,
  the model version, its metadata (manifest row or file name, names to replace) and the settings
  (minimum confidence, segment length) are all unchanged. The folder accumulates: the dataset
  covers every file ever annotated into it; start a new folder to drop files.

Pseudonyms
----------
Names listed in the manifest are replaced by respondent ids in the texts *and* in the file names
(:func:`training.metadata.pseudonymise_path`): ``bram_start.txt`` is stored as ``L3_start.txt``,
its segments are ``L3_start-0001`` and so on, and nothing in the output folder holds the original
name. The key from pseudonymised to original file name is a CSV kept *outside* the output folder
(default ``<outdir>-pseudoniemen.csv`` next to it), so the folder can be shared or exported
without it. It is written only when a file name changed, and a rerun adds to it.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import datetime as dt
import hashlib
import json
import logging
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import paths
from .batch import PreparedFile, discover, prepare_file
from .messages import in_dutch
from .metadata import FileMeta, Manifest, pseudonymise_path, read_manifest
from .outputs import stamps, written_and_replaced
from .segmenting import MAX_FILE_BYTES, MAX_SEGMENT_CHARS, InputError

log = logging.getLogger(__name__)

STATE_FILE = ".codeerhulp-annotate.json"
STATE_FORMAT = 1
FILES_DIR = "files"
RECORDS_FILE = "annotations.jsonl"
DATASET_CSV = "dataset.csv"
DATASET_XLSX = "dataset.xlsx"
FAILURES_CSV = "failures.csv"
FAILURE_COLUMNS = ("file", "line", "reason")
KEY_SUFFIX = "-pseudoniemen.csv"
KEY_COLUMNS = ("bestand_in_uitvoer", "oorspronkelijk_bestand")
MODEL_CODER = "model"  # the coder name of the model's suggestions in agreement reports

DATASET_COLUMNS = (
    "file", "document", "respondent", "role", "moment", "plg", "speaker", "kind", "segment_id",
    "line_start", "line_end", "char_start", "char_end", "question", "text",
    "code", "factor", "richting", "aard", "aard_label", "confidence", "model_version", "codebook_version",
)
META_KEYS = ("file", "document", "kind", "respondent", "role", "moment", "plg", "speaker", "question",
             "line_start", "line_end", "char_start", "char_end")


@dataclass
class AnnotateResult:
    outdir: Path
    model_version: str
    annotated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    # (file, line, reason): lines left out of files that were annotated otherwise.
    bad_lines: list[tuple[str, int, str]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # e.g. a file read as Windows-1252
    n_segments: int = 0  # segments annotated in this run
    n_dataset_segments: int = 0  # segments in the whole dataset
    outputs: dict[str, Path] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)  # files this run created
    replaced: list[Path] = field(default_factory=list)  # files this run overwrote
    pseudonym_key: Path | None = None
    renamed: dict[str, str] = field(default_factory=dict)  # pseudonymised name -> original, this run
    # On a cluster: worker address -> how often that worker process loaded the model (once, normally).
    worker_model_loads: dict[str, int] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or self.bad_lines else 0


# ---------------------------------------------------------------- state and per-file results


def _result_name(relpath: str) -> str:
    return f"{FILES_DIR}/{hashlib.sha256(relpath.encode('utf-8')).hexdigest()[:20]}.json"


def _write_json_atomically(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=None) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def load_state(outdir: Path) -> dict:
    path = outdir / STATE_FILE
    if not path.is_file():
        return {"format": STATE_FORMAT, "files": {}}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        # A damaged state only costs a full rerun; the per-file results are rewritten then.
        log.warning("%s is unreadable (%s); annotating every file again", path, exc)
        return {"format": STATE_FORMAT, "files": {}}
    if state.get("format") != STATE_FORMAT:
        return {"format": STATE_FORMAT, "files": {}}
    return state


def _settings_key(min_confidence: float | None, max_segment_chars: int) -> str:
    return f"min_confidence={min_confidence};max_segment_chars={max_segment_chars}"


# ---------------------------------------------------------------- records


def annotate_records(prepared: PreparedFile, loaded: Any, min_confidence: float | None) -> list[dict]:
    """The records of one prepared file: the per-file work after reading, locally or on a cluster worker."""
    from .suggest import suggest_segments

    segments = [seg for doc in prepared.documents for seg in doc.segments]
    records = suggest_segments(loaded, segments, min_confidence, with_rule_codes=True)
    by_id = {}
    for doc in prepared.documents:
        for seg in doc.segments:
            by_id[seg.id] = (doc, seg)
    for record in records:
        doc, seg = by_id[record["id"]]
        meta = {
            "file": prepared.relpath, "document": doc.name, "kind": seg.kind,
            "respondent": seg.respondent or doc.meta.get("respondent"), "role": doc.meta.get("role"),
            "moment": doc.meta.get("moment"), "plg": doc.meta.get("plg"), "speaker": seg.speaker,
            "question": seg.question, "line_start": seg.line_start, "line_end": seg.line_end,
            "char_start": seg.char_start, "char_end": seg.char_end,
        }
        record["meta"] = {k: v for k, v in meta.items() if v is not None}
    return records


def _file_result(prepared: PreparedFile, meta: FileMeta, records: list[dict], loaded: Any) -> dict:
    return {
        "file": prepared.relpath,
        "sha256": prepared.sha256,
        "model_version": loaded.version,
        "codebook_version": loaded.codebook_version,
        "meta": {k: v for k, v in meta.to_dict().items() if k != "names"},
        "names_replaced": prepared.replacements,
        "encoding": prepared.encoding,
        "bad_lines": prepared.bad_lines,
        "annotated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "documents": [{"name": d.name, "kind": d.kind, "text": d.text, "meta": d.meta} for d in prepared.documents],
        "records": records,
    }


# ---------------------------------------------------------------- the run


def unexpected_failure(rel: str, exc: BaseException, where: str = "") -> str:
    """The reason reported for a file that failed with an error nobody foresaw (a local or a cluster run)."""
    return f"{rel}: onverwachte fout{where} ({type(exc).__name__}: {exc})"


def _prepare_all(todo: list[tuple[Path, str, FileMeta]], name_map: dict[str, str], workers: int,
                 max_bytes: int, max_segment_chars: int) -> Iterable[tuple[str, PreparedFile | None, str | None]]:
    """Yield (relpath, prepared or None, error or None) as files finish, reading ahead in a pool."""
    if workers <= 1 or len(todo) <= 1:
        for path, rel, meta in todo:
            try:
                yield rel, prepare_file(path, rel, meta, name_map, max_bytes, max_segment_chars), None
            except InputError as exc:
                yield rel, None, in_dutch(exc)
            except Exception as exc:  # one broken file must not stop the folder
                log.debug("unexpected error on %s", rel, exc_info=True)
                yield rel, None, unexpected_failure(rel, exc)
        return
    # spawn, not fork: the parent holds a loaded model and tqdm's thread, neither of which a
    # forked child should inherit; the workers import only training.batch (standard library).
    context = multiprocessing.get_context("spawn")
    window = workers * 4  # bounded read-ahead: memory stays flat on a folder of thousands of files
    queue = list(reversed(todo))
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: dict[cf.Future, str] = {}
        while queue or pending:
            while queue and len(pending) < window:
                path, rel, meta = queue.pop()
                pending[pool.submit(prepare_file, path, rel, meta, name_map, max_bytes, max_segment_chars)] = rel
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in done:
                rel = pending.pop(future)
                try:
                    yield rel, future.result(), None
                except InputError as exc:
                    yield rel, None, in_dutch(exc)
                except Exception as exc:
                    yield rel, None, unexpected_failure(rel, exc)


# Loaded models by (models dir, version). Versions are immutable directories, so a version once
# loaded and checked stays valid; repeated runs in one process (tests, a notebook) skip the load.
_MODEL_CACHE: dict[tuple[str, str], Any] = {}


def _load_model(models_dir: str | Path, model_version: str | None, codebook_path: str | Path,
                announce: Callable[[str], None], ensure_model: Callable[..., Any]) -> Any:
    from .suggest import active_or_default

    version = model_version or active_or_default(models_dir)
    key = (str(Path(models_dir).resolve()), version or "")
    if version and key in _MODEL_CACHE:
        return _MODEL_CACHE[key]
    loaded = ensure_model(models_dir, model_version, announce=announce)
    _MODEL_CACHE[(key[0], loaded.version)] = loaded
    return loaded


def annotate(
    inputs: list[str | Path],
    outdir: str | Path,
    *,
    models_dir: str | Path = paths.DEFAULT_MODELS_DIR,
    codebook_path: str | Path = paths.DEFAULT_CODEBOOK,
    model_version: str | None = None,
    manifest: str | Path | Manifest | None = None,
    workers: int = 1,
    cluster: str | None = None,
    min_confidence: float | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    max_segment_chars: int = MAX_SEGMENT_CHARS,
    progress: bool = False,
    announce: Callable[[str], None] = log.warning,
    pseudonym_key: str | Path | None = None,
) -> AnnotateResult:
    """Annotate every supported file under ``inputs`` into ``outdir``; see the module docstring.

    Failing files are collected in the result (and ``failures.csv``) while the rest is processed;
    errors that concern the whole run (no model, unreadable manifest, no input, a cluster that cannot
    be reached or whose workers hold another model) raise.
    ``pseudonym_key`` is where the key of pseudonymised file names goes (default: next to
    ``outdir``, never inside it).
    """
    from tqdm import tqdm

    from .codebook import load_codebook
    from .suggest import ensure_model

    if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:
        raise ValueError("min_confidence must be between 0 and 1")
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"{outdir}: bestaat al en is geen map")
    key_path = Path(pseudonym_key) if pseudonym_key else outdir.parent / f"{outdir.name}{KEY_SUFFIX}"
    if outdir.resolve() in key_path.resolve().parents:
        raise InputError(f"{key_path}: de sleutel van de pseudoniemen hoort buiten de uitvoermap {outdir}")
    (outdir / FILES_DIR).mkdir(parents=True, exist_ok=True)
    before = stamps([*outdir.rglob("*"), key_path])
    if manifest is None:
        manifest = Manifest()
    elif not isinstance(manifest, Manifest):
        manifest = read_manifest(manifest)
    name_map = manifest.name_map

    files, problems = discover(list(inputs), exclude=[outdir])
    if not files and not problems:
        raise InputError(f"geen .txt-, .docx-, .csv-, .xlsx- of .jsonl-bestanden in {', '.join(map(str, inputs))}")
    # The output folder only ever sees pseudonymised names, also in the reasons of failures.
    problems = [(pseudonymise_path(rel, name_map), pseudonymise_path(reason, name_map)) for rel, reason in problems]
    loaded = _load_model(models_dir, model_version, codebook_path, announce, ensure_model)
    codebook = load_codebook(codebook_path)
    if codebook.version != loaded.codebook_version:
        log.warning("model %s was trained on codebook %s, the codebook file is %s", loaded.version,
                    loaded.codebook_version, codebook.version)

    result = AnnotateResult(outdir=outdir, model_version=loaded.version, failed=list(problems))
    result.notices.extend(manifest.notices)
    state = load_state(outdir)
    entries: dict[str, dict] = state["files"]
    settings_key = _settings_key(min_confidence, max_segment_chars)

    todo: list[tuple[Path, str, FileMeta]] = []
    metas: dict[str, FileMeta] = {}
    original_of: dict[str, str] = {}
    for path, original in files:
        rel = pseudonymise_path(original, name_map)
        if rel in original_of:
            result.failed.append((rel, f"{rel}: krijgt na pseudonimisering dezelfde naam als een ander bestand; "
                                       "hernoem een van beide"))
            continue
        original_of[rel] = original
        if rel != original:
            result.renamed[rel] = original
        meta = manifest.meta_for(original)
        metas[rel] = meta
        entry = entries.get(rel)
        if entry and (outdir / entry["result"]).is_file() and entry.get("model_version") == loaded.version \
                and entry.get("meta") == meta.fingerprint() and entry.get("settings") == settings_key:
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                digest = None
            if digest == entry.get("sha256"):
                result.skipped.append(rel)
                # Lines left out earlier are still left out: report them again.
                result.bad_lines.extend((rel, n, reason) for n, reason in entry.get("bad_lines", []))
                continue
        todo.append((path, rel, meta))

    # Segment ids must be unique over the dataset (decisions and agreement refer to them).
    id_owner: dict[str, str] = {}
    for rel, entry in entries.items():
        if rel not in {r for _, r, _ in todo}:
            for seg_id in entry.get("segment_ids", []):
                id_owner[seg_id] = rel

    removed = False
    bar = tqdm(total=len(files), desc="annoteren", unit=" bestand", file=sys.stderr, disable=not progress,
               dynamic_ncols=True)
    bar.update(len(result.skipped))
    if cluster:
        from .cluster import annotate_on_cluster

        # (relpath, prepared, records, error): the workers read and suggest each file.
        outcomes = annotate_on_cluster(cluster, todo, name_map, loaded, models_dir, min_confidence, max_bytes,
                                       max_segment_chars, result)
    else:
        # (relpath, prepared, None, error): the pool reads; the records are made here, one model in memory.
        outcomes = ((rel, prepared, None, error)
                    for rel, prepared, error in _prepare_all(todo, name_map, workers, max_bytes, max_segment_chars))
    try:
        for rel, prepared, records, error in outcomes:
            bar.update(1)
            if prepared is not None:
                clash = next((s.id for d in prepared.documents for s in d.segments
                              if id_owner.get(s.id, rel) != rel), None)
                if clash:
                    prepared, error = None, (f"{rel}: fragment-id {clash!r} komt ook voor in {id_owner[clash]}; "
                                             "ids moeten uniek zijn in een uitvoermap")
            if prepared is None:
                result.failed.append((rel, error or f"{rel}: mislukt"))
                # A file that now fails must not keep an outdated result in the dataset.
                old = entries.pop(rel, None)
                if old:
                    (outdir / old["result"]).unlink(missing_ok=True)
                    removed = True
                continue
            if records is None:
                records = annotate_records(prepared, loaded, min_confidence)
            name = _result_name(rel)
            _write_json_atomically(outdir / name, _file_result(prepared, metas[rel], records, loaded))
            ids = [r["id"] for r in records]
            for seg_id in ids:
                id_owner[seg_id] = rel
            entries[rel] = {"sha256": prepared.sha256, "model_version": loaded.version,
                            "meta": metas[rel].fingerprint(), "settings": settings_key, "result": name,
                            "segments": len(records), "segment_ids": ids, "bad_lines": prepared.bad_lines}
            result.bad_lines.extend((rel, n, reason) for n, reason in prepared.bad_lines)
            result.notices.extend(prepared.notices)
            # Saved after every file, so an interrupted run resumes where it stopped.
            _write_json_atomically(outdir / STATE_FILE, state)
            result.annotated.append(rel)
            result.n_segments += len(records)
    finally:
        bar.close()
        close = getattr(outcomes, "close", None)
        if close:
            close()  # a cluster run: cancel what is still running and disconnect
        _write_json_atomically(outdir / STATE_FILE, state)

    result.failed.sort()
    result.bad_lines.sort()
    outputs = {name: outdir / name for name in (RECORDS_FILE, DATASET_CSV, DATASET_XLSX)}
    if result.annotated or removed or not all(p.is_file() for p in outputs.values()):
        result.outputs = write_outputs(outdir, codebook=codebook)
    else:
        result.outputs = outputs  # nothing changed: a rerun of a large folder stays quick
    result.outputs[FAILURES_CSV] = _write_failures(outdir, result.failed, result.bad_lines)
    if result.renamed or key_path.is_file():
        result.pseudonym_key = _write_pseudonym_key(key_path, result.renamed)
    result.n_dataset_segments = sum(e.get("segments", 0) for e in entries.values())
    result.written, result.replaced = _changed_files(outdir, before, result.outputs, result.pseudonym_key)
    log.info("annotated %d files, skipped %d, failed %d", len(result.annotated), len(result.skipped),
             len(result.failed))
    return result


def _write_failures(outdir: Path, failed: list[tuple[str, str]], bad_lines: list[tuple[str, int, str]]) -> Path:
    """Whole files that failed (no line number), then single lines left out of annotated files."""
    path = outdir / FAILURES_CSV
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FAILURE_COLUMNS)
        writer.writerows((file, "", reason) for file, reason in failed)
        writer.writerows(bad_lines)
    return path


def _write_pseudonym_key(path: Path, renamed: dict[str, str]) -> Path:
    """Merge this run's renamings into the key file (a rerun may rename only some files)."""
    key: dict[str, str] = {}
    if path.is_file():
        with open(path, encoding="utf-8", newline="") as handle:
            key = {row[KEY_COLUMNS[0]]: row[KEY_COLUMNS[1]] for row in csv.DictReader(handle)
                   if row.get(KEY_COLUMNS[0])}
    key.update(renamed)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_csv(path, KEY_COLUMNS, ({KEY_COLUMNS[0]: k, KEY_COLUMNS[1]: v} for k, v in sorted(key.items())))


def _changed_files(outdir: Path, before: dict, outputs: dict[str, Path],
                   key: Path | None) -> tuple[list[Path], list[Path]]:
    """(new files, overwritten files) of this run: the outputs, the per-file results, the state, the key."""
    candidates = [*outputs.values(), *(outdir / FILES_DIR).glob("*.json"), outdir / STATE_FILE]
    return written_and_replaced(candidates + ([key] if key is not None else []), before)


# ---------------------------------------------------------------- reading an output folder


@dataclass
class StoredDocument:
    name: str
    text: str
    kind: str
    meta: dict
    file: str


@dataclass
class Annotations:
    """Everything an output folder holds: documents (pseudonymised text) and records."""

    outdir: Path
    documents: dict[str, StoredDocument]
    records: list[dict]

    @property
    def by_id(self) -> dict[str, dict]:
        return {r["id"]: r for r in self.records}

    @property
    def model_versions(self) -> list[str]:
        return sorted({r["model_version"] for r in self.records})


def _iter_results(outdir: Path) -> Iterable[dict]:
    state = load_state(outdir)
    for rel in sorted(state["files"]):
        path = outdir / state["files"][rel]["result"]
        try:
            yield json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: het resultaat van {rel} is onleesbaar ({exc}); draai annotate opnieuw") from None


def load_annotations(outdir: str | Path) -> Annotations:
    """Read an annotate output folder (raises InputError when it is not one)."""
    outdir = Path(outdir)
    if not (outdir / STATE_FILE).is_file():
        raise InputError(f"{outdir}: geen uitvoermap van annotate (geen {STATE_FILE}); "
                         "draai eerst 'codeerhulp annotate'")
    documents: dict[str, StoredDocument] = {}
    records: list[dict] = []
    for res in _iter_results(outdir):
        for d in res["documents"]:
            documents[d["name"]] = StoredDocument(name=d["name"], text=d["text"], kind=d["kind"], meta=d["meta"],
                                                  file=res["file"])
        records.extend(res["records"])
    return Annotations(outdir=outdir, documents=documents, records=records)


# ---------------------------------------------------------------- dataset files


def dataset_rows(records: Iterable[dict], codebook: Any = None) -> Iterable[dict]:
    """One row per segment and code; a segment without a code gets one row with an empty code."""
    from .refiqda import code_name

    for record in records:
        meta = record.get("meta", {})
        base = {k: meta.get(k) for k in META_KEYS}
        base.update(segment_id=record["id"], text=record["text"], model_version=record.get("model_version"),
                    codebook_version=record.get("codebook_version"))
        codes = record.get("codes") or [None]
        for code in codes:
            row = dict(base)
            if code:
                label = None
                if codebook is not None:
                    try:
                        label = codebook.factor(code["factor"]).poles.get(code["aard"])
                    except KeyError:
                        label = None
                row.update(code=code_name(code["factor"], code["richting"], code["aard"]), factor=code["factor"],
                           richting=code["richting"], aard=code["aard"], aard_label=label,
                           confidence=code.get("confidence"))
            yield {c: row.get(c) for c in DATASET_COLUMNS}


def write_csv(path: Path, columns: Iterable[str], rows: Iterable[dict]) -> Path:
    """Plain UTF-8 CSV, comma-separated (the XLSX is the file for Excel)."""
    columns = list(columns)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    os.replace(tmp, path)
    return path


def xlsx_value(value: Any) -> Any:
    """A value openpyxl writes as data: no control characters, and text never read as a formula."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def append_row(ws: Any, values: Iterable[Any]) -> None:
    """Append to a write-only sheet; strings starting with '=' stay strings (no formula injection)."""
    from openpyxl.cell import WriteOnlyCell

    cells = []
    for value in values:
        value = xlsx_value(value)
        if isinstance(value, str) and value.startswith("="):
            cell = WriteOnlyCell(ws, value=value)
            cell.data_type = "s"
            cells.append(cell)
        else:
            cells.append(value)
    ws.append(cells)


def write_xlsx_table(path: Path, sheets: list[tuple[str, list[str], Iterable[Iterable[Any]]]]) -> Path:
    """An XLSX of plain tables: (sheet title, header, rows) each, written in streaming mode."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    for title, header, rows in sheets:
        ws = wb.create_sheet(title=title[:31])
        ws.freeze_panes = "A2"
        bold = []
        for h in header:
            cell = WriteOnlyCell(ws, value=h)
            cell.font = Font(bold=True)
            bold.append(cell)
        ws.append(bold)
        for row in rows:
            append_row(ws, row)
    tmp = path.with_name(f".{path.name}.tmp.xlsx")
    wb.save(tmp)
    os.replace(tmp, path)
    return path


def write_outputs(outdir: Path, codebook: Any = None) -> dict[str, Path]:
    """Rebuild annotations.jsonl, dataset.csv and dataset.xlsx from every per-file result."""
    annotations = load_annotations(outdir)
    records = annotations.records
    jsonl = outdir / RECORDS_FILE
    tmp = jsonl.with_name(f".{jsonl.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    os.replace(tmp, jsonl)
    csv_path = write_csv(outdir / DATASET_CSV, DATASET_COLUMNS, dataset_rows(records, codebook))
    info = [
        ("created", dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")),
        ("model_versions", ", ".join(annotations.model_versions)),
        ("codebook_versions", ", ".join(sorted({str(r.get("codebook_version")) for r in records}))),
        ("files", str(len({d.file for d in annotations.documents.values()}))),
        ("segments", str(len(records))),
        ("note", "codes are model suggestions, not confirmed codings"),
    ]
    xlsx_path = write_xlsx_table(outdir / DATASET_XLSX, [
        ("dataset", list(DATASET_COLUMNS),
         ([row[c] for c in DATASET_COLUMNS] for row in dataset_rows(records, codebook))),
        ("info", ["key", "value"], info),
    ])
    return {RECORDS_FILE: jsonl, DATASET_CSV: csv_path, DATASET_XLSX: xlsx_path}
