"""Batch subcommands: annotate, export, tables, agreement, import.

Thin wrappers: options are checked here, the work is done in ``training.annotate``,
``training.exports``, ``training.tables``, ``training.agreement_report`` and ``training.qda_import``.
What a researcher reads here is Dutch; every command ends by naming the files it wrote and
replaced. Results go to standard
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
        p.add_argument("--models-dir", type=Path, metavar="MAP",
                       help="modelopslag (standaard: instelling CODEERHULP_MODELS_DIR, anders ./models)")
        p.add_argument("--model-version", metavar="VERSIE", help="deze modelversie gebruiken in plaats van de actieve")
    p.add_argument("--codebook", type=Path, metavar="YAML",
                   help="codeboek (YAML; standaard het meegeleverde codebook/codebook.yaml)")


def _codebook_path(args) -> Path:
    return args.codebook or get_settings().codebook_path


def _split_inputs(inputs: list[Path]) -> tuple[Path | None, list[Path]]:
    """(the annotate output folder, decisions files) from positional INPUTs."""
    folders = [p for p in inputs if p.is_dir()]
    files = [p for p in inputs if p.is_file()]
    missing = [p for p in inputs if not p.exists()]
    if missing:
        raise CliError(f"{missing[0]}: bestand of map bestaat niet")
    if len(folders) > 1:
        raise CliError(f"geef één uitvoermap van annotate, niet {len(folders)}")
    return (folders[0] if folders else None), files


def _coders(value: str | None) -> list[str] | None:
    if value is None:
        return None
    coders = [c.strip() for c in value.split(",") if c.strip()]
    if not coders:
        raise CliError("--coders heeft minstens één naam nodig")
    return coders


def register(sub) -> None:
    p = sub.add_parser(
        "annotate", help="codes voorstellen voor hele mappen transcripten en logboeken",
        description="Annoteert elk .txt-, .docx-, .csv-, .xlsx- en .jsonl-bestand onder PAD (mappen worden "
                    "doorlopen): interviews per spreekbeurt met de vraag van de interviewer als context, logboeken "
                    "per antwoord plus het logboek als geheel. Schrijft annotations.jsonl, dataset.csv en "
                    "dataset.xlsx naar UITVOERMAP. Mislukte bestanden en overgeslagen regels staan aan het eind "
                    "(en in failures.csv) terwijl de rest verwerkt wordt; de exitcode is dan 1. Opnieuw draaien "
                    "slaat ongewijzigde bestanden over. Namen uit het manifest worden in teksten en bestandsnamen "
                    "vervangen door het respondent-id; de sleutel staat buiten de uitvoermap.")
    p.add_argument("paths", nargs="+", type=Path, metavar="PAD", help="bestanden of mappen")
    p.add_argument("-o", "--outdir", type=Path, metavar="UITVOERMAP", default=Path("annotaties"),
                   help="uitvoermap (standaard: ./annotaties)")
    p.add_argument("--manifest", type=Path, metavar="CSV",
                   help="metadata per bestand: kolommen file, respondent, role, moment, plg, names (namen met ';' "
                        "gescheiden, vervangen door het respondent-id)")
    p.add_argument("--pseudonym-key", type=Path, metavar="CSV",
                   help="waar de sleutel van gepseudonimiseerde bestandsnamen komt, buiten de uitvoermap "
                        "(standaard: UITVOERMAP-pseudoniemen.csv ernaast)")
    p.add_argument("--workers", type=int, metavar="N", default=min(4, os.cpu_count() or 1),
                   help="bestanden die tegelijk gelezen worden (standaard: min(4, CPU's); 1 leest in het hoofdproces)")
    p.add_argument("--cluster", metavar="tcp://HOST:8786",
                   help="het werk per bestand (lezen en voorstellen) op de workers van deze Dask-scheduler doen in "
                        "plaats van op deze computer (extra: pip install 'codeerhulp[cluster]'; zie docs/batch.md)")
    p.add_argument("--min-confidence", type=float, metavar="X",
                   help="codes met zekerheid >= X houden (standaard: de drempel van het model); de overeenstemming "
                        "beoordeelt het model altijd op zijn eigen drempel")
    p.add_argument("--no-progress", action="store_true", help="geen voortgangsbalk")
    _common(p, models=True)
    p.set_defaults(handler=cmd_annotate)

    p = sub.add_parser(
        "export", help="coderingen naar CSV, XLSX of een REFI-QDA-project/codeboek",
        description="INVOER is een uitvoermap van annotate en/of besluitenbestanden (CSV of JSONL met segment_id, "
                    "coder, factor, richting, aard). qdpx: een REFI-QDA-project voor ATLAS.ti, MAXQDA, NVivo en "
                    "QualCoder met de coderingen van elke codeur onder een eigen gebruiker en, met "
                    "--include-suggestions, die van het model onder een gebruiker met de naam van de modelversie. "
                    "qdc: alleen het codeboek.")
    p.add_argument("inputs", nargs="*", type=Path, metavar="INVOER", help="uitvoermap van annotate, besluitenbestanden")
    p.add_argument("--format", required=True, choices=("csv", "xlsx", "qdpx", "qdc"),
                   help="csv of xlsx: één rij per fragment; qdpx: een REFI-QDA-project; qdc: alleen het codeboek")
    p.add_argument("-o", "--output", type=Path, metavar="UIT",
                   help="uitvoerbestand (standaard: export.<format> in de huidige map)")
    p.add_argument("--include-suggestions", action="store_true", help="ook de suggesties van het model exporteren")
    p.add_argument("--coders", metavar="NAMEN",
                   help="codeurs om mee te nemen, met komma's (standaard: alle in de besluitenbestanden)")
    _common(p)
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser(
        "tables", help="de frequentietabellen van het onderzoek en de matrix per leraar",
        description="Frequentietabellen per groep van het codeboek (rijen: subcategorieën met richting; kolommen: "
                    "moment x pool; eindkolommen met '+'), uit bevestigde codes (besluitenbestanden), de suggesties "
                    "van het model, of beide, altijd met de bron erbij. Ook de matrix per respondent.")
    p.add_argument("inputs", nargs="+", type=Path, metavar="INVOER", help="uitvoermap van annotate, besluitenbestanden")
    p.add_argument("--source", choices=("confirmed", "model", "both"), default="confirmed",
                   help="confirmed: besluiten van codeurs; model: suggesties; both: besluiten waar een fragment ze "
                        "heeft, anders suggesties (standaard: confirmed)")
    p.add_argument("-o", "--output", type=Path, metavar="UIT", help="tabellen-XLSX (standaard: tabellen.xlsx)")
    p.add_argument("--markdown", type=Path, metavar="UIT.md", help="de tabellen ook als Markdown")
    p.add_argument("--matrix", type=Path, metavar="UIT.xlsx",
                   help="matrix per respondent (XLSX; standaard: matrix.xlsx naast de tabellen)")
    p.add_argument("--coders", metavar="NAMEN",
                   help="alleen bevestigde codes van deze codeurs (standaard: alle, elke code één keer "
                        "per fragment)")
    p.add_argument("--role", metavar="ROL", help="alleen respondenten met deze rol (bijv. leraar)")
    p.add_argument("--logbook-unit", choices=("whole", "answers"), default="whole",
                   help="whole: een code telt één keer per logboek (standaard, zoals het onderzoek logboeken als "
                        "geheel codeerde); answers: per antwoord")
    p.add_argument("--hide-empty", action="store_true", help="rijen zonder codes weglaten")
    _common(p)
    p.set_defaults(handler=cmd_tables)

    p = sub.add_parser(
        "agreement", help="overeenstemming tussen codeurs en/of het model: kappa, alfa, verschillen",
        description="Percentage overeenstemming, Cohens kappa per paar (op de hoofdcode), Krippendorffs alfa "
                    "(nominaal en MASI), alfa per factor, verwarringsmatrices en de verschillen, voor twee of meer "
                    "codeurs (besluitenbestanden) en/of het model (een uitvoermap van annotate), op de fragmenten "
                    "die ze delen. Elke coëfficiënt met n en een 95%-bootstrapinterval; een oordeel pas vanaf 30 "
                    "fragmenten. Schrijft agreement.html (op zichzelf staand, met grafieken) en agreement.json "
                    "naar UITVOERMAP.")
    p.add_argument("inputs", nargs="+", type=Path, metavar="INVOER", help="besluitenbestanden, uitvoermap van annotate")
    p.add_argument("--coders", metavar="NAMEN",
                   help="codeurs met komma's; 'model' zijn de suggesties van het model (standaard: alle "
                        "codeurs, plus het model als er een annotate-map is gegeven)")
    p.add_argument("-o", "--outdir", type=Path, metavar="UITVOERMAP", default=Path("overeenstemming"),
                   help="uitvoermap (standaard: ./overeenstemming)")
    p.add_argument("--resamples", type=int, default=1000, metavar="N",
                   help="bootstraptrekkingen van fragmenten voor de 95%%-intervallen (standaard 1000; "
                        "0: geen intervallen)")
    p.add_argument("--seed", type=int, metavar="N", default=0,
                   help="seed van de trekkingen: dezelfde seed geeft dezelfde intervallen")
    _common(p)
    p.set_defaults(handler=cmd_agreement)

    p = sub.add_parser(
        "import", help="een in ATLAS.ti, MAXQDA of NVivo gecodeerd project (.qdpx) terughalen als besluiten",
        description="Leest de coderingen uit een REFI-QDA-project (.qdpx) dat uit een export van Codeerhulp "
                    "komt en in een QDA-programma is gecodeerd, en schrijft ze als besluitenbestand van één codeur. "
                    "Coderingen worden aan de fragmenten in de annotate-map gekoppeld; fragmenten van een "
                    "gecodeerd document zonder code worden besluiten 'geen code'. Daarna meet 'codeerhulp "
                    "agreement' de overeenstemming met het model of een collega.")
    p.add_argument("project", type=Path, metavar="PROJECT.qdpx", help="het REFI-QDA-project")
    p.add_argument("--coder", metavar="NAAM", required=True, help="onder deze naam komen de besluiten")
    p.add_argument("--annotations", type=Path, default=Path("annotaties"), metavar="MAP",
                   help="de uitvoermap van annotate waaruit het project geëxporteerd is (standaard: ./annotaties)")
    p.add_argument("--user", metavar="GEBRUIKER",
                   help="alleen de coderingen van deze gebruiker in het project (nodig als er meer zijn)")
    p.add_argument("-o", "--output", type=Path, metavar="UIT",
                   help="besluitenbestand (standaard: besluiten_CODEUR.csv)")
    _common(p)
    p.set_defaults(handler=cmd_import)


# ---------------------------------------------------------------- what a command wrote


def _report_files(written: list[Path], replaced: list[Path]) -> None:
    """The last lines of every batch command: the files it wrote and those it overwrote.

    Files are listed by folder; more than six in one folder (the per-file results of annotate)
    are counted instead.
    """
    def describe(paths: list[Path]) -> str:
        groups: dict[Path, list[Path]] = {}
        for path in paths:
            groups.setdefault(path.parent, []).append(path)
        parts = []
        for folder, members in groups.items():
            if len(members) > 6:
                parts.append(f"{folder}/: {len(members)} bestanden")
            else:
                parts.append(f"{folder}/: {', '.join(m.name for m in members)}")
        return "; ".join(parts)

    print(f"geschreven: {describe(written) if written else 'niets nieuws'}")
    if replaced:
        print(f"vervangen: {describe(replaced)}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _ci(value: list[float] | None) -> str:
    return "" if not value else f" [{value[0]:.3f}; {value[1]:.3f}]"


# ---------------------------------------------------------------- annotate


def cmd_annotate(args) -> int:
    from training.annotate import annotate
    from training.cluster import ClusterError

    if args.min_confidence is not None and not 0.0 <= args.min_confidence <= 1.0:
        raise CliError("--min-confidence moet tussen 0 en 1 liggen")
    if args.workers < 1:
        raise CliError("--workers moet minstens 1 zijn")
    if args.cluster is not None and not args.cluster.strip():
        raise CliError("--cluster heeft het adres van een Dask-scheduler nodig, bijvoorbeeld tcp://rekenserver:8786")
    settings = get_settings()
    try:
        result = annotate(
            args.paths, args.outdir,
            models_dir=args.models_dir or settings.models_dir, codebook_path=_codebook_path(args),
            model_version=args.model_version, manifest=args.manifest, workers=args.workers, cluster=args.cluster,
            min_confidence=args.min_confidence, max_bytes=settings.max_upload_bytes,
            max_segment_chars=settings.max_segment_chars, progress=not args.no_progress, announce=_say,
            pseudonym_key=args.pseudonym_key,
        )
    except ClusterError as exc:
        raise CliError(f"cluster: {exc}") from None
    if result.worker_model_loads:
        print(f"cluster {args.cluster}: {len(result.worker_model_loads)} workers, elk met model {result.model_version}")
    print(f"model {result.model_version}: {len(result.annotated)} bestanden geannoteerd ({result.n_segments} "
          f"fragmenten), {len(result.skipped)} ongewijzigd overgeslagen, {len(result.failed)} mislukt")
    print(f"dataset: {result.n_dataset_segments} fragmenten in {result.outdir}")
    for notice in result.notices:
        print(f"let op: {notice}", file=sys.stderr)
    if result.failed:
        print(f"{len(result.failed)} bestand(en) mislukt (ook in {result.outdir}/failures.csv):", file=sys.stderr)
        for _, reason in result.failed:
            print(f"  {reason}", file=sys.stderr)
    if result.bad_lines:
        print(f"{len(result.bad_lines)} regel(s) overgeslagen, de rest van die bestanden is geannoteerd (ook in "
              f"{result.outdir}/failures.csv):", file=sys.stderr)
        for _, _, reason in result.bad_lines:
            print(f"  {reason}", file=sys.stderr)
    if result.pseudonym_key:
        print(f"sleutel van de pseudoniemen (bewaar apart, deel niet): {result.pseudonym_key}")
    _report_files(result.written, result.replaced)
    return result.exit_code


# ---------------------------------------------------------------- export


def cmd_export(args) -> int:
    from training.codebook import load_codebook
    from training.exports import export
    from training.outputs import stamps, written_and_replaced

    codebook = load_codebook(_codebook_path(args))
    folder, decisions = _split_inputs(args.inputs)
    output = args.output or Path(f"export.{args.format}")
    before = stamps([output])
    summary = export(args.format, output, codebook, annotations_dir=folder, decisions_files=decisions,
                     include_suggestions=args.include_suggestions, coders=_coders(args.coders))
    print(summary)
    _report_files(*written_and_replaced([output], before))
    return 0


# ---------------------------------------------------------------- tables


def cmd_tables(args) -> int:
    from training.codebook import load_codebook
    from training.outputs import stamps, written_and_replaced
    from training.tables import build_tables, write_markdown, write_matrix_xlsx, write_tables_xlsx

    codebook = load_codebook(_codebook_path(args))
    folder, decisions = _split_inputs(args.inputs)
    if folder is None:
        raise CliError("tables heeft de uitvoermap van annotate nodig (voor respondent en moment van de fragmenten)")
    if args.source == "confirmed" and not decisions:
        raise CliError("--source confirmed heeft een besluitenbestand nodig; gebruik --source model voor de "
                       "suggesties van het model")
    output = args.output or Path("tabellen.xlsx")
    matrix = args.matrix or output.with_name("matrix.xlsx")
    targets = [output, matrix] + ([args.markdown] if args.markdown else [])
    before = stamps(targets)
    result = build_tables(folder, codebook, decisions_files=decisions, source=args.source,
                          coders=_coders(args.coders), role=args.role, logbook_unit=args.logbook_unit,
                          hide_empty=args.hide_empty)
    write_tables_xlsx(result, output)
    write_matrix_xlsx(result, matrix)
    if args.markdown:
        write_markdown(result, args.markdown)
    print(result.source_label)
    print(f"tabellen: {output}; matrix: {matrix}" + (f"; markdown: {args.markdown}" if args.markdown else ""))
    _report_files(*written_and_replaced(targets, before))
    return 0


# ---------------------------------------------------------------- agreement


def cmd_agreement(args) -> int:
    from training.agreement_report import HTML_FILE, JSON_FILE, agreement_texts, run_agreement
    from training.codebook import load_codebook
    from training.outputs import stamps, written_and_replaced

    if args.resamples < 0:
        raise CliError("--resamples moet 0 of meer zijn")
    codebook = load_codebook(_codebook_path(args))
    folder, decisions = _split_inputs(args.inputs)
    texts = agreement_texts(args.resamples, args.seed)
    verdicts = texts["verdicts"]
    targets = [args.outdir / JSON_FILE, args.outdir / HTML_FILE]
    before = stamps(targets)
    report, paths = run_agreement(args.outdir, codebook, annotations_dir=folder, decisions_files=decisions,
                                  coders=_coders(args.coders), resamples=args.resamples, seed=args.seed)
    factor = report["dimensions"]["factor"]
    boot = report["bootstrap"]
    print(f"codeurs: {', '.join(report['coders'])}; {factor['n_units']} fragmenten door minstens twee gecodeerd")
    if boot["resamples"]:
        print(f"tussen haken: 95%-bootstrapinterval ({boot['resamples']} trekkingen van fragmenten, "
              f"seed {boot['seed']})")
    for dim, rep in report["dimensions"].items():
        print(f"{dim:>8}: overeenstemming {_fmt(rep['percent_agreement'])}{_ci(rep.get('percent_agreement_ci'))}, "
              f"alfa nominaal {_fmt(rep['alpha_nominal'])}{_ci(rep.get('alpha_nominal_ci'))} "
              f"({verdicts.get(rep['reading']['alpha_nominal'], rep['reading']['alpha_nominal'])}), "
              f"alfa MASI {_fmt(rep['alpha_masi'])}{_ci(rep.get('alpha_masi_ci'))}; n = {rep['n_units']}")
        for pair in rep["kappa_pairs"]:
            print(f"          kappa {pair['coders'][0]} ~ {pair['coders'][1]}: {_fmt(pair['kappa'])}"
                  f"{_ci(pair.get('kappa_ci'))} ({verdicts.get(pair['kappa_verdict'], pair['kappa_verdict'])}) "
                  f"op {pair['n_units']} fragmenten")
    print(f"{len(factor['disagreements'])} fragmenten met verschil in factor")
    blind = report["blind_decisions"]
    if blind["compared"]:  # the same sentence as the HTML report, from the same catalogue
        line = texts["blind"]["count"].format(blind=blind["blind"], compared=blind["compared"])
        if blind["unknown"]:
            line += " " + texts["blind"]["unknown"].format(unknown=blind["unknown"])
        print(line)
    print(f"rapport: {paths['html']}; gegevens: {paths['json']}")
    _report_files(*written_and_replaced(targets, before))
    return 0


# ---------------------------------------------------------------- import


def cmd_import(args) -> int:
    from training.codebook import load_codebook
    from training.outputs import stamps, written_and_replaced
    from training.qda_import import import_qdpx, write_decisions

    codebook = load_codebook(_codebook_path(args))
    if not args.project.is_file():
        raise CliError(f"{args.project}: bestand bestaat niet")
    output = args.output or Path(f"besluiten_{args.coder.strip()}.csv")
    before = stamps([output])
    result = import_qdpx(args.project, args.annotations, args.coder, codebook, user=args.user)
    if not result.rows:
        raise CliError(f"{args.project.name}: geen coderingen die bij de fragmenten in {args.annotations} passen"
                       + ("; " + "; ".join(result.problems[:3]) if result.problems else ""))
    write_decisions(output, result.rows)
    print(f"{result.coder}: {result.n_codings} coderingen in {len(result.documents)} documenten werden besluiten "
          f"over {result.n_segments} fragmenten")
    for problem in result.problems:
        print(f"let op: {problem}", file=sys.stderr)
    print(f"vergelijk met het model: codeerhulp agreement {args.annotations} {output} --coders {result.coder},model")
    _report_files(*written_and_replaced([output], before))
    return 0
