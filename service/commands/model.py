"""Model subcommands: train, suggest, evaluate, models."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import CliError
from ..settings import get_settings


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models-dir", type=Path, help="model store (default: setting CODEERHULP_MODELS_DIR, else ./models)")
    p.add_argument("--codebook", type=Path, help="codebook YAML (default: the shipped codebook/codebook.yaml)")


def _dirs(args) -> tuple[Path, Path]:
    settings = get_settings()
    return args.models_dir or settings.models_dir, args.codebook or settings.codebook_path


def register(sub) -> None:
    p = sub.add_parser("train", help="train a new model version under models/",
                       description="Train a new model version on the shipped corpus with a training config, "
                                   "evaluate it on the separately written split, and make it the active model "
                                   "when it is not worse than the active one (macro-F1 of factor).")
    p.add_argument("--config", type=Path, help="training config YAML (default: training/configs/default.yaml)")
    p.add_argument("--no-promote", action="store_true", help="keep the active model whatever the result")
    _common(p)
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("suggest", help="suggest codes for a transcript, logbook or list of texts",
                       description="Suggest codes for every segment of FILE. .txt and .docx are split by speaker "
                                   "turn (I:, L12:, a name:) or, without turns, by paragraph; .jsonl holds one "
                                   '{"id": ..., "text": ...} a line; .csv has the columns id and text. '
                                   "Output: JSON Lines, one segment a line, codes sorted by confidence.")
    p.add_argument("file", type=Path, metavar="FILE", help=".txt, .docx, .jsonl or .csv")
    p.add_argument("-o", "--output", type=Path, help="write JSONL here instead of standard output")
    p.add_argument("--min-confidence", type=float, metavar="X",
                   help="keep codes with confidence >= X (default: the model's calibrated threshold; 0 keeps all)")
    p.add_argument("--model-version", help="use this model version instead of the active one")
    _common(p)
    p.set_defaults(handler=cmd_suggest)

    p = sub.add_parser("evaluate", help="measure the model and its peers (held-out split, cross-validation)",
                       description="Per-factor precision/recall/F1, macro and micro F1, Cohen's kappa on the primary "
                                   "factor, richting and aard accuracy and calibration (reliability table, ECE, "
                                   "Brier), on the separately written held-out split and in k-fold cross-validation "
                                   "on the training corpus, for the model and the peers side by side.")
    p.add_argument("--config", type=Path, help="training config of the model to evaluate (default config if not given)")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (0 skips cross-validation)")
    p.add_argument("--peers", default="keyword,majority,spacy",
                   help="comma-separated peers: keyword, majority, spacy (spaCy textcat via 'spacy train'), or none")
    p.add_argument("--learning-curve", action="store_true", help="also measure quality against corpus size")
    p.add_argument("--json", type=Path, help="write all results as JSON here")
    _common(p)
    p.set_defaults(handler=cmd_evaluate)

    p = sub.add_parser("models", help="list model versions, or activate one",
                       description="List the model versions with their held-out metrics; --activate VERSION makes a "
                                   "version the active one (also a rollback).")
    p.add_argument("--activate", metavar="VERSION", help="make this version the active one")
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
    _say(f"training with {config.source} (encoder {config.model.encoder}); this takes a few minutes")
    active = read_active(models_dir)
    loaded = train_version(models_dir=models_dir, codebook_path=codebook, config=config, train_dir=settings.train_dir,
                           eval_dir=settings.eval_dir, cache_dir=settings.resolved_vector_cache_dir(),
                           transcripts_dir=settings.transcripts_dir)
    metrics = loaded.manifest["metrics"]
    held, spoken = metrics.get("held_out", {}), metrics.get("transcripts", {})
    print(f"trained {loaded.version} in {metrics['train_seconds']} s on {metrics['n_train']} segments; "
          f"held-out macro-F1 {held.get('macro_f1')}, kappa {held.get('kappa_primary')}"
          + (f"; transcript split kappa {spoken.get('kappa_primary')}, hit@3 {spoken.get('hit3')}" if spoken else ""))
    decision = _gate_against_active(loaded, models_dir, active, codebook, gate)
    if args.no_promote:
        print(f"not activated (--no-promote); active stays {active}")
    elif decision.promote:
        set_active(models_dir, loaded.version)
        print(f"activated {loaded.version}: {decision.reason}")
    else:
        print(f"not activated: {decision.reason}; active stays {active}")
    return 0


def _gate_against_active(loaded, models_dir, active, codebook, gate):
    """Promote when not worse than the active version: on the transcript split (primary kappa, both
    versions scored now, the same way) when there is one, else on the synthetic held-out split."""
    from training.artifacts import ArtifactError, list_versions, load_model
    from training.codebook import load_codebook
    from training.evaluate import evaluate_on_transcripts
    from training.train import load_split

    new = loaded.manifest["metrics"].get("transcripts")
    split = load_split(load_codebook(codebook), get_settings().transcripts_dir) if new and active else []
    if split:
        try:
            old = evaluate_on_transcripts(load_model(models_dir, active).model, split)["summary"]
        except ArtifactError as exc:
            _say(f"the active version cannot be compared ({exc})")
            old = None
        return gate(new, old, metric="kappa_primary")
    old = next((m for m in list_versions(models_dir) if m.get("version") == active), None)
    return gate(loaded.manifest["metrics"].get("held_out"), (old or {}).get("metrics", {}).get("held_out"))


def cmd_suggest(args) -> int:
    from training.segmenting import read_file
    from training.suggest import ensure_model, suggest_segments

    if args.min_confidence is not None and not 0.0 <= args.min_confidence <= 1.0:
        raise CliError("--min-confidence must be between 0 and 1")
    settings = get_settings()
    models_dir, _ = _dirs(args)
    document = read_file(args.file, max_bytes=settings.max_upload_bytes, max_segment_chars=settings.max_segment_chars)
    loaded = ensure_model(models_dir, args.model_version, announce=_say)
    records = suggest_segments(loaded, document.segments, args.min_confidence)
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    finally:
        if args.output:
            out.close()
    if args.output:
        _say(f"{len(records)} segments written to {args.output}")
    return 0


def cmd_evaluate(args) -> int:
    from training.report import run_evaluation, summary_table

    models_dir, codebook = _dirs(args)
    peers = [p.strip() for p in args.peers.split(",") if p.strip() and p.strip() != "none"]
    unknown = set(peers) - {"keyword", "majority", "spacy"}
    if unknown:
        raise CliError(f"unknown peer(s): {', '.join(sorted(unknown))}; use keyword, majority, spacy")
    settings = get_settings()
    results = run_evaluation(codebook_path=codebook, config_path=args.config or settings.train_config,
                             train_dir=settings.train_dir, eval_dir=settings.eval_dir, folds=args.folds, peers=peers,
                             learning_curve=args.learning_curve, progress=_say)
    print(summary_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        _say(f"results written to {args.json}")
    return 0


def cmd_models(args) -> int:
    from training.artifacts import list_versions, read_active, set_active

    models_dir, _ = _dirs(args)
    if args.activate:
        set_active(models_dir, args.activate)
        print(f"activated {args.activate}")
        return 0
    active = read_active(models_dir)
    versions = list_versions(models_dir)
    if not versions:
        print(f"no model versions in {models_dir}")
    for m in versions:
        held = m.get("metrics", {}).get("held_out", {})
        mark = "*" if m.get("version") == active else " "
        print(f"{mark} {m.get('version')}  codebook {m.get('codebook', {}).get('version', '?')}  "
              f"encoder {m.get('encoder', '?')}  macro-F1 {held.get('macro_f1', '-')}  "
              f"kappa {held.get('kappa_primary', '-')}" + (f"  ERROR {m['error']}" if "error" in m else ""))
    return 0
