"""Batch subcommands: annotate, export, tables, agreement.

Thin wrappers: options are checked here, the work is done in ``training.annotate``,
``training.exports``, ``training.tables`` and ``training.agreement_report``. Results go to standard
output, progress and warnings to standard error.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import CliError
from ..settings import get_settings


def _say(message: str) -> None:
    print(f"codeerhulp: {message}", file=sys.stderr)


def _common(p: argparse.ArgumentParser, models: bool = False) -> None:
    if models:
        p.add_argument("--models-dir", type=Path,
                       help="model store (default: setting CODEERHULP_MODELS_DIR, else ./models)")
        p.add_argument("--model-version", help="use this model version instead of the active one")
    p.add_argument("--codebook", type=Path, help="codebook YAML (default: the shipped codebook/codebook.yaml)")


def _codebook_path(args) -> Path:
    return args.codebook or get_settings().codebook_path


def _split_inputs(inputs: list[Path]) -> tuple[Path | None, list[Path]]:
    """(the annotate output folder, decisions files) from positional INPUTs."""
    folders = [p for p in inputs if p.is_dir()]
    files = [p for p in inputs if p.is_file()]
    missing = [p for p in inputs if not p.exists()]
    if missing:
        raise CliError(f"{missing[0]}: no such file or folder")
    if len(folders) > 1:
        raise CliError(f"give one annotate output folder, not {len(folders)}")
    return (folders[0] if folders else None), files


def _coders(value: str | None) -> list[str] | None:
    if value is None:
        return None
    coders = [c.strip() for c in value.split(",") if c.strip()]
    if not coders:
        raise CliError("--coders needs at least one name")
    return coders


def register(sub) -> None:
    p = sub.add_parser(
        "annotate", help="suggest codes for whole folders of transcripts and logbooks",
        description="Annotate every .txt, .docx, .csv and .xlsx under PATH (folders are walked recursively): "
                    "interviews are split by speaker turn with the interviewer's question as context, logbooks "
                    "per answer plus the logbook as a whole. Writes annotations.jsonl, dataset.csv and "
                    "dataset.xlsx to OUTDIR. Files that fail are listed at the end (and in failures.csv) "
                    "while the rest is processed; the exit code is then 1. A rerun skips files already "
                    "annotated with the same model version.")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    p.add_argument("-o", "--outdir", type=Path, default=Path("annotaties"), help="output folder (default: ./annotaties)")
    p.add_argument("--manifest", type=Path, metavar="CSV",
                   help="metadata per file: columns file, respondent, role, moment, plg, names (';'-separated "
                        "names replaced by the respondent id)")
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                   help="files read in parallel (default: min(4, CPUs); 1 reads in the main process)")
    p.add_argument("--min-confidence", type=float, metavar="X",
                   help="keep codes with confidence >= X (default: the model's calibrated threshold)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _common(p, models=True)
    p.set_defaults(handler=cmd_annotate)

    p = sub.add_parser(
        "export", help="export codings to CSV, XLSX or a REFI-QDA project/codebook",
        description="INPUT is an annotate output folder and/or decisions files (CSV or JSONL with segment_id, "
                    "coder, factor, richting, aard). qdpx: a REFI-QDA project for ATLAS.ti, MAXQDA, NVivo, "
                    "QualCoder with each coder's codings under their own user and, with --include-suggestions, "
                    "the model's under a user named after the model version. qdc: the codebook only.")
    p.add_argument("inputs", nargs="*", type=Path, metavar="INPUT", help="annotate output folder, decisions files")
    p.add_argument("--format", required=True, choices=("csv", "xlsx", "qdpx", "qdc"))
    p.add_argument("-o", "--output", type=Path, help="output file (default: export.<format> in the current folder)")
    p.add_argument("--include-suggestions", action="store_true", help="also export the model's suggestions")
    p.add_argument("--coders", help="comma-separated coders to include (default: all in the decisions files)")
    _common(p)
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser(
        "tables", help="the research's frequency tables and the per-teacher matrix",
        description="Frequency tables per codebook group (rows: subcategories with richting; columns: moment x "
                    "pole; end-of-year columns marked '+'), from confirmed codes (decisions files), the model's "
                    "suggestions, or both, always labelled which. Also the case-ordered matrix per respondent.")
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="annotate output folder, decisions files")
    p.add_argument("--source", choices=("confirmed", "model", "both"), default="confirmed",
                   help="confirmed: coders' decisions; model: suggestions; both: decisions where a segment has "
                        "them, else suggestions (default: confirmed)")
    p.add_argument("-o", "--output", type=Path, help="tables XLSX (default: tabellen.xlsx)")
    p.add_argument("--markdown", type=Path, metavar="OUT.md", help="also write the tables as Markdown")
    p.add_argument("--matrix", type=Path, metavar="OUT.xlsx",
                   help="per-respondent matrix XLSX (default: matrix.xlsx next to the tables)")
    p.add_argument("--coders", help="confirmed codes of these coders only (default: all, each code once per segment)")
    p.add_argument("--role", help="only respondents with this role (e.g. leraar)")
    p.add_argument("--logbook-unit", choices=("whole", "answers"), default="whole",
                   help="whole: a code counts once per logbook (default, as the research coded logbooks whole); "
                        "answers: per answer segment")
    p.add_argument("--hide-empty", action="store_true", help="leave out rows without any code")
    _common(p)
    p.set_defaults(handler=cmd_tables)

    p = sub.add_parser(
        "agreement", help="agreement between coders and/or the model: kappa, alpha, disagreements",
        description="Percent agreement, Cohen's kappa per pair, Krippendorff's alpha (nominal and MASI), binary "
                    "alpha per factor, confusion matrices and the disagreements, for two or more coders (decisions "
                    "files) and/or the model (an annotate output folder), on the segments they share. Writes "
                    "agreement.html (self-contained, with plots) and agreement.json to OUTDIR.")
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="decisions files, annotate output folder")
    p.add_argument("--coders", help="comma-separated coders; 'model' is the model's suggestions (default: all coders, "
                                    "plus the model when an annotate folder is given)")
    p.add_argument("-o", "--outdir", type=Path, default=Path("overeenstemming"),
                   help="output folder (default: ./overeenstemming)")
    _common(p)
    p.set_defaults(handler=cmd_agreement)


# ---------------------------------------------------------------- annotate


def cmd_annotate(args) -> int:
    from training.annotate import annotate

    if args.min_confidence is not None and not 0.0 <= args.min_confidence <= 1.0:
        raise CliError("--min-confidence must be between 0 and 1")
    if args.workers < 1:
        raise CliError("--workers must be at least 1")
    settings = get_settings()
    result = annotate(
        args.paths, args.outdir,
        models_dir=args.models_dir or settings.models_dir, codebook_path=_codebook_path(args),
        model_version=args.model_version, manifest=args.manifest, workers=args.workers,
        min_confidence=args.min_confidence, max_bytes=settings.max_upload_bytes,
        max_segment_chars=settings.max_segment_chars, progress=not args.no_progress, announce=_say,
    )
    print(f"model {result.model_version}: annotated {len(result.annotated)} files ({result.n_segments} segments), "
          f"skipped {len(result.skipped)} unchanged, {len(result.failed)} failed")
    print(f"dataset: {result.n_dataset_segments} segments in {result.outdir}/dataset.csv, dataset.xlsx, "
          "annotations.jsonl")
    if result.failed:
        print(f"{len(result.failed)} file(s) failed (also in {result.outdir}/failures.csv):", file=sys.stderr)
        for _, reason in result.failed:
            print(f"  {reason}", file=sys.stderr)
    return result.exit_code


# ---------------------------------------------------------------- export


def cmd_export(args) -> int:
    from training.codebook import load_codebook
    from training.exports import export

    codebook = load_codebook(_codebook_path(args))
    folder, decisions = _split_inputs(args.inputs)
    output = args.output or Path(f"export.{args.format}")
    summary = export(args.format, output, codebook, annotations_dir=folder, decisions_files=decisions,
                     include_suggestions=args.include_suggestions, coders=_coders(args.coders))
    print(summary)
    return 0


# ---------------------------------------------------------------- tables


def cmd_tables(args) -> int:
    from training.codebook import load_codebook
    from training.tables import build_tables, write_markdown, write_matrix_xlsx, write_tables_xlsx

    codebook = load_codebook(_codebook_path(args))
    folder, decisions = _split_inputs(args.inputs)
    if folder is None:
        raise CliError("tables needs the annotate output folder (for the segments' respondent and moment)")
    if args.source == "confirmed" and not decisions:
        raise CliError("--source confirmed needs a decisions file; use --source model for the model's suggestions")
    result = build_tables(folder, codebook, decisions_files=decisions, source=args.source,
                          coders=_coders(args.coders), role=args.role, logbook_unit=args.logbook_unit,
                          hide_empty=args.hide_empty)
    output = args.output or Path("tabellen.xlsx")
    write_tables_xlsx(result, output)
    matrix = args.matrix or output.with_name("matrix.xlsx")
    write_matrix_xlsx(result, matrix)
    print(f"{result.source_label}")
    print(f"tables: {output}; matrix: {matrix}")
    if args.markdown:
        write_markdown(result, args.markdown)
        print(f"markdown: {args.markdown}")
    return 0


# ---------------------------------------------------------------- agreement


def cmd_agreement(args) -> int:
    from training.agreement_report import run_agreement
    from training.codebook import load_codebook

    codebook = load_codebook(_codebook_path(args))
    folder, decisions = _split_inputs(args.inputs)
    report, paths = run_agreement(args.outdir, codebook, annotations_dir=folder, decisions_files=decisions,
                                  coders=_coders(args.coders))
    factor = report["dimensions"]["factor"]
    print(f"coders: {', '.join(report['coders'])}; {factor['n_units']} segments coded by at least two")
    for dim, rep in report["dimensions"].items():
        def fmt(x):
            return "-" if x is None else f"{x:.3f}"
        print(f"{dim:>8}: agreement {fmt(rep['percent_agreement'])}, alpha nominal {fmt(rep['alpha_nominal'])} "
              f"({rep['reading']['alpha_nominal']}), alpha MASI {fmt(rep['alpha_masi'])}")
        for pair in rep["kappa_pairs"]:
            print(f"          kappa {pair['coders'][0]} ~ {pair['coders'][1]}: {fmt(pair['kappa'])} "
                  f"on {pair['n_units']} segments")
    print(f"{len(factor['disagreements'])} segments with a disagreement on the factor")
    print(f"report: {paths['html']}; data: {paths['json']}")
    return 0
