"""One evaluation run: the model and its peers on the held-out split and in cross-validation,
optionally a learning curve; plus the Markdown tables for the terminal and BENCHMARKS.md."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

from . import paths
from .codebook import load_codebook
from .data import load_corpus
from .evaluate import cross_validate, evaluate_model, model_factory
from .evaluate import learning_curve as measure_learning_curve
from .peers import KeywordPeer, MajorityPeer, SpacyTextcatPeer
from .train import TrainConfig, build_encoder

log = logging.getLogger(__name__)
MODEL_NAME = "codeerhulp (model)"


def _peer_factory(name: str, codebook) -> Callable:
    classes = {"keyword": KeywordPeer, "majority": MajorityPeer, "spacy": SpacyTextcatPeer}
    return lambda train: classes[name](codebook).fit(train)


def run_evaluation(codebook_path: str | Path = paths.DEFAULT_CODEBOOK, config_path: str | Path | None = None,
                   train_dir: str | Path = paths.TRAIN_DIR, eval_dir: str | Path = paths.EVAL_DIR,
                   folds: int = 5, peers: list[str] = ("keyword", "majority", "spacy"),
                   learning_curve_fractions: tuple | None = None, learning_curve: bool = False,
                   progress: Callable[[str], None] = log.info) -> dict:
    codebook = load_codebook(codebook_path)
    config = TrainConfig.load(config_path)
    train = load_corpus(train_dir, codebook)
    held_out = load_corpus(eval_dir, codebook)
    all_ids = list(codebook.factor_ids)
    encoder = build_encoder(config.model.encoder) if config.model.encoder != "none" else None
    factories = {MODEL_NAME: model_factory(codebook, config.model, encoder)}
    for name in peers:
        factories[f"{name} (peer)"] = _peer_factory(name, codebook)
    results: dict = {
        "config": config.model.to_dict(),
        "config_source": config.source,
        "codebook_version": codebook.version,
        "n_train": len(train),
        "n_held_out": len(held_out),
        "held_out": {},
        "cross_validation": {},
        "seconds": {},
    }
    for name, make in factories.items():
        progress(f"{name}: trainen op {len(train)} fragmenten, toetsen op de {len(held_out)} achtergehouden "
                 "fragmenten")
        started = time.perf_counter()
        scorer = make(train)
        results["seconds"][name] = round(time.perf_counter() - started, 1)
        results["held_out"][name] = evaluate_model(scorer, held_out, all_ids)
        if folds and folds > 1:
            progress(f"{name}: {folds}-voudige kruisvalidatie")
            results["cross_validation"][name] = cross_validate(make, train, folds, codebook_factor_ids=all_ids)
    if learning_curve or learning_curve_fractions:
        progress("leercurve van het model op de achtergehouden fragmenten")
        fractions = learning_curve_fractions or (0.1, 0.25, 0.5, 0.75, 1.0)
        curve = measure_learning_curve(factories[MODEL_NAME], train, held_out, fractions, codebook_factor_ids=all_ids)
        results["learning_curve"] = [{"fraction": r.fraction, "n_train": r.n_train, **r.summary} for r in curve]
    if encoder is not None:
        encoder.save()
    return results


# The table's words: English for BENCHMARKS.md (written by benchmarks/), Dutch for the person who
# runs 'codeerhulp evaluate'. Scorer names, metric names and numbers are the same in both.
TABLE_WORDS = {
    "en": {
        "intro": "Held-out split (written separately, n={n_held_out}) and {folds}-fold cross-validation on the "
                 "training corpus (n={n_train}):",
        "scores": "| scorer | held-out macro-F1 | micro-F1 | kappa (primary) | top-3 | richting acc. | aard acc. | ECE "
                  "| Brier | CV macro-F1 | CV kappa |",
        "curve": "Learning curve (model, held-out split):",
        "curve_head": "| share of corpus | segments | macro-F1 | kappa (primary) | top-3 |",
        "calibration": "Calibration of the model's factor confidences (held-out, all segment x factor pairs):",
        "calibration_head": "| confidence bin | pairs | mean confidence | observed frequency |",
        "per_factor": "Per factor (model, held-out):",
        "per_factor_head": "| factor | precision | recall | F1 | support |",
    },
    "nl": {
        "intro": "Achtergehouden fragmenten (apart geschreven, n={n_held_out}) en {folds}-voudige kruisvalidatie op "
                 "het trainingscorpus (n={n_train}):",
        "scores": "| scorer | achtergehouden macro-F1 | micro-F1 | kappa (hoofdcode) | top-3 | richting juist | aard "
                  "juist | ECE | Brier | KV macro-F1 | KV kappa |",
        "curve": "Leercurve (model, achtergehouden fragmenten):",
        "curve_head": "| deel van het corpus | fragmenten | macro-F1 | kappa (hoofdcode) | top-3 |",
        "calibration": "Kalibratie van de zekerheid per factor (achtergehouden, alle paren fragment x factor):",
        "calibration_head": "| zekerheid | paren | gemiddelde zekerheid | waargenomen frequentie |",
        "per_factor": "Per factor (model, achtergehouden):",
        "per_factor_head": "| factor | precisie | recall | F1 | aantal |",
    },
}


def summary_table(results: dict, language: str = "en") -> str:
    words = TABLE_WORDS[language]
    folds = next(iter(results["cross_validation"].values()), {}).get("folds", 0)
    lines = [
        words["intro"].format(n_held_out=results["n_held_out"], folds=folds, n_train=results["n_train"]),
        "",
        words["scores"],
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, result in results["held_out"].items():
        s = result["summary"]
        cv = results["cross_validation"].get(name, {})
        cv_f1 = f"{cv['macro_f1']:.3f} ± {cv['macro_f1_sd']:.3f}" if "macro_f1" in cv else "-"
        cv_k = f"{cv['kappa_primary']:.3f} ± {cv['kappa_primary_sd']:.3f}" if "kappa_primary" in cv else "-"
        fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
        lines.append(f"| {name} | {fmt(s['macro_f1'])} | {fmt(s['micro_f1'])} | {fmt(s['kappa_primary'])} | "
                     f"{fmt(s['top3_primary'])} | {fmt(s['richting_accuracy'])} | {fmt(s['aard_accuracy'])} | "
                     f"{fmt(s['ece'])} | {fmt(s['brier'])} | {cv_f1} | {cv_k} |")
    if results.get("learning_curve"):
        lines += ["", words["curve"], "", words["curve_head"], "|---|---|---|---|---|"]
        for r in results["learning_curve"]:
            lines.append(f"| {r['fraction']:.0%} | {r['n_train']} | {r['macro_f1']:.3f} | {r['kappa_primary']:.3f} | {r['top3_primary']:.3f} |")
    model = results["held_out"].get(MODEL_NAME)
    if model:
        lines += ["", words["calibration"], "", words["calibration_head"], "|---|---|---|---|"]
        for r in model["reliability"]:
            lines.append(f"| {r['bin']} | {r['n']} | {r['mean_confidence']:.3f} | {r['observed_frequency']:.3f} |")
        lines += ["", words["per_factor"], "", words["per_factor_head"], "|---|---|---|---|---|"]
        for f, m in model["per_factor"].items():
            lines.append(f"| {f} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
    return "\n".join(lines)
