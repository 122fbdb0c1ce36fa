"""Model subcommands: train, suggest, evaluate, models. What they say to a person is Dutch."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import CliError
from ..settings import get_settings


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models-dir", type=Path, metavar="MAP",
                   help="modelopslag (standaard: instelling CODEERHULP_MODELS_DIR, anders ./models)")
    p.add_argument("--codebook", type=Path, metavar="YAML",
                   help="codeboek (YAML; standaard het meegeleverde codebook/codebook.yaml)")


def _dirs(args) -> tuple[Path, Path]:
    settings = get_settings()
    return args.models_dir or settings.models_dir, args.codebook or settings.codebook_path


def register(sub) -> None:
    p = sub.add_parser("train", help="een nieuwe modelversie trainen onder models/",
                       description="Traint een nieuwe modelversie op het meegeleverde corpus met een "
                                   "trainingsconfiguratie, toetst die op de apart geschreven fragmenten en maakt "
                                   "haar het actieve model als ze niet slechter is dan het actieve (kappa op de "
                                   "hoofdcode op de transcripten, anders macro-F1 van de factor).")
    p.add_argument("--config", type=Path, metavar="YAML",
                   help="trainingsconfiguratie (YAML; standaard: training/configs/default.yaml)")
    p.add_argument("--no-promote", action="store_true", help="het actieve model houden, wat de uitkomst ook is")
    _common(p)
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("suggest", help="codes voorstellen voor een transcript, logboek of lijst teksten",
                       description="Stelt codes voor voor elk fragment van BESTAND. .txt en .docx worden verdeeld "
                                   "per spreekbeurt (I:, L12:, een naam:) of, zonder spreekbeurten, per alinea; "
                                   '.jsonl heeft één {"id": ..., "text": ...} per regel; .csv en .xlsx hebben de '
                                   "kolommen id en text. Uitvoer: JSON Lines, één fragment per regel, codes "
                                   "gesorteerd op zekerheid.")
    p.add_argument("file", type=Path, metavar="BESTAND", help=".txt, .docx, .jsonl, .csv of .xlsx")
    p.add_argument("-o", "--output", type=Path, metavar="UIT",
                   help="de JSONL hierheen schrijven in plaats van naar het scherm")
    p.add_argument("--min-confidence", type=float, metavar="X",
                   help="codes met zekerheid >= X houden (standaard: de gekalibreerde drempel van het model; "
                        "0 houdt alles)")
    p.add_argument("--model-version", metavar="VERSIE", help="deze modelversie gebruiken in plaats van de actieve")
    _common(p)
    p.set_defaults(handler=cmd_suggest, exit_when_done=True)  # service/cli.py: _exit_now

    p = sub.add_parser("evaluate", help="het model en zijn vergelijkers meten (achtergehouden fragmenten, "
                                        "kruisvalidatie)",
                       description="Precisie, recall en F1 per factor, macro- en micro-F1, Cohens kappa op de "
                                   "hoofdcode, juistheid van richting en aard en de kalibratie (betrouwbaarheidstabel, "
                                   "ECE, Brier), op de apart geschreven achtergehouden fragmenten en in k-voudige "
                                   "kruisvalidatie op het trainingscorpus, voor het model en de vergelijkers naast "
                                   "elkaar.")
    p.add_argument("--config", type=Path, metavar="YAML",
                   help="trainingsconfiguratie van het te meten model (standaard: de standaardconfiguratie)")
    p.add_argument("--folds", type=int, metavar="N", default=5,
                   help="aantal delen voor kruisvalidatie (0: geen kruisvalidatie)")
    p.add_argument("--peers", metavar="LIJST", default="keyword,majority,spacy",
                   help="vergelijkers, met komma's: keyword, majority, spacy (spaCy-textcat via 'spacy train'), "
                        "of none")
    p.add_argument("--learning-curve", action="store_true", help="ook de kwaliteit tegen de omvang van het corpus")
    p.add_argument("--json", type=Path, metavar="UIT.json", help="alle resultaten als JSON hierheen schrijven")
    _common(p)
    p.set_defaults(handler=cmd_evaluate)

    p = sub.add_parser("models", help="modelversies tonen, of er een actief maken",
                       description="Toont de modelversies met hun cijfers op de achtergehouden fragmenten (* is de "
                                   "actieve); --activate VERSIE maakt een versie de actieve (ook om terug te gaan).")
    p.add_argument("--activate", metavar="VERSIE", help="deze versie de actieve maken")
    _common(p)
    p.set_defaults(handler=cmd_models)


def _say(message: str) -> None:
    print(f"codeerhulp: {message}", file=sys.stderr)


def cmd_train(args) -> int:
    from training.artifacts import read_active, set_active
    from training.promotion import gate
    from training.train import TrainConfig, train_version

    models_dir, codebook = _dirs(args)
    settings = get_settings()
    config = TrainConfig.load(args.config or settings.train_config)
    _say(f"trainen met {config.source} (encoder {config.model.encoder}); dit duurt een paar minuten")
    active = read_active(models_dir)
    loaded = train_version(models_dir=models_dir, codebook_path=codebook, config=config, train_dir=settings.train_dir,
                           eval_dir=settings.eval_dir, cache_dir=settings.resolved_vector_cache_dir(),
                           transcripts_dir=settings.transcripts_dir)
    metrics = loaded.manifest["metrics"]
    held, spoken = metrics.get("held_out", {}), metrics.get("transcripts", {})
    print(f"{loaded.version} getraind in {metrics['train_seconds']} s op {metrics['n_train']} fragmenten; "
          f"achtergehouden: macro-F1 {held.get('macro_f1')}, kappa {held.get('kappa_primary')}"
          + (f"; transcripten: kappa {spoken.get('kappa_primary')}, hit@3 {spoken.get('hit3')}" if spoken else ""))
    metric, new, old = _gate_against_active(loaded, models_dir, active, codebook)
    promote = gate(new, old, metric=metric).promote
    why = _gate_in_dutch(metric, new, old, promote)
    if args.no_promote:
        print(f"niet geactiveerd (--no-promote); {active} blijft actief")
    elif promote:
        set_active(models_dir, loaded.version)
        print(f"{loaded.version} geactiveerd: {why}")
    else:
        print(f"niet geactiveerd: {why}; {active} blijft actief")
    return 0


def _gate_in_dutch(metric: str, new: dict | None, old: dict | None, promote: bool) -> str:
    """The promotion gate's verdict (training.promotion.gate decides) as the person who trained reads it."""
    if not old or old.get(metric) is None:
        return "er is geen actief model om mee te vergelijken"
    if not new or new.get(metric) is None:
        return f"het nieuwe model heeft geen {metric} op de achtergehouden fragmenten"
    word = "niet slechter dan" if promote else "slechter dan"
    return f"{metric} {new[metric]:.3f} is {word} die van het actieve model, {old[metric]:.3f}"


def _gate_against_active(loaded, models_dir, active, codebook) -> tuple[str, dict | None, dict | None]:
    """(metric, new, old) for the gate: on the transcript split (primary kappa, both versions scored
    now, the same way) when there is one, else on the synthetic held-out split."""
    from training.artifacts import ArtifactError, list_versions, load_model
    from training.codebook import load_codebook
    from training.evaluate import evaluate_on_transcripts
    from training.promotion import GATE_METRIC
    from training.train import load_split

    new = loaded.manifest["metrics"].get("transcripts")
    split = load_split(load_codebook(codebook), get_settings().transcripts_dir) if new and active else []
    if split:
        try:
            old = evaluate_on_transcripts(load_model(models_dir, active).model, split)["summary"]
        except ArtifactError as exc:
            _say(f"de actieve versie kan niet vergeleken worden ({exc.dutch})")
            old = None
        return "kappa_primary", new, old
    old = next((m for m in list_versions(models_dir) if m.get("version") == active), None)
    return GATE_METRIC, loaded.manifest["metrics"].get("held_out"), (old or {}).get("metrics", {}).get("held_out")


def cmd_suggest(args) -> int:
    from training.suggest_file import suggest_file
    from training.timing import stage

    if args.min_confidence is not None and not 0.0 <= args.min_confidence <= 1.0:
        raise CliError("--min-confidence moet tussen 0 en 1 liggen")
    settings = get_settings()
    models_dir, _ = _dirs(args)
    records = suggest_file(args.file, models_dir, args.model_version, args.min_confidence,
                           max_bytes=settings.max_upload_bytes, max_segment_chars=settings.max_segment_chars,
                           announce=_say)
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        with stage("output"):
            for record in records:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
    finally:
        if args.output:
            out.close()
    if args.output:
        _say(f"{len(records)} fragmenten geschreven naar {args.output}")
    return 0


def cmd_evaluate(args) -> int:
    from training.report import run_evaluation, summary_table

    models_dir, codebook = _dirs(args)
    peers = [p.strip() for p in args.peers.split(",") if p.strip() and p.strip() != "none"]
    unknown = set(peers) - {"keyword", "majority", "spacy"}
    if unknown:
        raise CliError(f"onbekende vergelijker(s): {', '.join(sorted(unknown))}; gebruik keyword, majority, spacy")
    settings = get_settings()
    results = run_evaluation(codebook_path=codebook, config_path=args.config or settings.train_config,
                             train_dir=settings.train_dir, eval_dir=settings.eval_dir, folds=args.folds, peers=peers,
                             learning_curve=args.learning_curve, progress=_say)
    print(summary_table(results, language="nl"))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        _say(f"resultaten geschreven naar {args.json}")
    return 0


def cmd_models(args) -> int:
    from training.artifacts import list_versions, read_active, set_active

    models_dir, _ = _dirs(args)
    if args.activate:
        set_active(models_dir, args.activate)
        print(f"{args.activate} is nu de actieve versie")
        return 0
    active = read_active(models_dir)
    versions = list_versions(models_dir)
    if not versions:
        print(f"geen modelversies in {models_dir}")
    for m in versions:
        held = m.get("metrics", {}).get("held_out", {})
        mark = "*" if m.get("version") == active else " "
        problem = f"  FOUT: {_manifest_problem(models_dir, m['version'])}" if "error" in m else ""
        print(f"{mark} {m.get('version')}  codeboek {m.get('codebook', {}).get('version', '?')}  "
              f"encoder {m.get('encoder', '?')}  macro-F1 {held.get('macro_f1', '-')}  "
              f"kappa {held.get('kappa_primary', '-')}" + problem)
    return 0


def _manifest_problem(models_dir: Path, version: str) -> str:
    """Why a version's manifest cannot be read, in Dutch (list_versions keeps the English text)."""
    from training.artifacts import ArtifactError, read_manifest, version_dir

    try:
        read_manifest(version_dir(models_dir, version))
    except ArtifactError as exc:
        return exc.dutch
    return "onleesbaar manifest"
