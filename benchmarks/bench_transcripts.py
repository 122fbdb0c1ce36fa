"""Quality on whole transcripts: today's model, each change, and the peers, in one run; writes
BENCHMARKS.md (transcripts).

    python benchmarks/bench_transcripts.py [--real PATH/TO/real_dev.jsonl] [--candidates a,b,...]

The shipped versions are scored as they suggest (the active one's rule was chosen on this split, so
its transcript figures are optimistic). Every candidate is trained on the training corpus only
(`training/data/train/`). It is scored on
the transcript split (`training/data/transcripts/`, six writers who never saw the corpus). A
candidate with the no-code detector is scored twice: with its decision rule from the corpus'
out-of-fold scores, and with the rule chosen across writers (leave-one-writer-out: each writer's
documents are suggested with the thresholds chosen on the other five writers' documents). With
`--real`, the same models are scored on a real coded development set kept outside the repository
(its rule: the one chosen on all transcripts, as the shipped model has it).

Embeddings of the transcripts are cached under `data/cache/` (not in the repository).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT, git_commit, machine, write_section  # noqa: E402
from training import paths  # noqa: E402
from training.artifacts import list_versions, load_model, read_active  # noqa: E402
from training.codebook import load_codebook  # noqa: E402
from training.data import load_corpus, load_jsonl  # noqa: E402
from training.decision import across_writers, fit_decision  # noqa: E402
from training.estimator import CodeSuggester, DecisionRule, ModelConfig, Predictions, Suggestion  # noqa: E402
from training.evaluate import evaluate_suggestions  # noqa: E402
from training.peers import KeywordPeer, MajorityPeer  # noqa: E402
from training.train import TrainConfig, build_encoder, inputs_of  # noqa: E402
from training.transcripts import follows_previous, load_transcripts  # noqa: E402

CACHE = ROOT / "data" / "cache"
COLUMNS = ("kappa_primary", "kappa_top1", "hit1", "hit3", "micro_f1", "coverage", "no_code_precision",
           "no_code_recall", "aard_accuracy", "richting_accuracy", "ece_main_code")

# The passes written as transcribed speech for issue #10 (train-F onwards); A-E are the first corpus.
SPOKEN_PASSES = tuple(f"pass_{p}.jsonl" for p in "fghijklm")

# name -> (config changes over training/configs/default.yaml, train passes left out)
CANDIDATES = {
    "default": ({}, ()),
    "without the spoken passes (A-E only)": ({}, SPOKEN_PASSES),
    "without the per-factor aard terms": ({"aard_per_factor": False}, ()),
    "with the aard prior correction (tried)": ({"aard_prior_correction": True}, ()),
    "with the confidence map on speech (tried)": ({"speech_confidence_map": True}, ()),
    "lexical only (no sentence vectors)": ({"encoder": "none"}, ()),
}


def peer_suggestions(peer, pred: Predictions, rule: DecisionRule) -> list[list[Suggestion]]:
    """Peers have no detector or richting head: their kept factors with their prior richting/aard."""
    out = []
    for i in range(len(pred.factor_p)):
        row = []
        for j in rule.kept(pred.factor_p[i], None):
            po = pred.po_p[i, j]
            richting = "-" if po in (0.0, 1.0) else ("PO" if po >= 0.5 else "SO")
            row.append(Suggestion(peer.factor_ids_[j], richting, "+" if pred.aard_p[i, j] >= 0.5 else "-",
                                  float(pred.factor_p[i, j]), 1.0, 1.0))
        out.append(row)
    return out


def score(examples, rows, factor_ids, pred) -> dict:
    return evaluate_suggestions(examples, rows, factor_ids, pred.factor_p)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--real", type=Path, help="a real coded development set (JSONL), kept outside the repository")
    parser.add_argument("--candidates", default=",".join(CANDIDATES), help="comma-separated names of CANDIDATES")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md as it is")
    args = parser.parse_args()
    started = time.perf_counter()
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    codebook = load_codebook(paths.DEFAULT_CODEBOOK)
    split = load_transcripts(codebook=codebook)
    examples = [t.example for t in split]
    writers = [t.writer for t in split]
    follows = follows_previous(split)
    inputs = inputs_of(examples)
    real = load_jsonl([args.real], codebook) if args.real else []
    real_inputs = inputs_of(real)
    results: dict[str, dict] = {"transcripts": {}, "real": {}}

    def record(name: str, where: str, summary: dict) -> None:
        results[where][name] = summary
        log(f"{where:11s} {name:45s} " + " ".join(f"{k}={summary.get(k)}" for k in COLUMNS))

    # Every shipped version (the previous release and this one), as it suggests whole documents.
    active = read_active(paths.DEFAULT_MODELS_DIR)
    versions = list_versions(paths.DEFAULT_MODELS_DIR)
    reserialised = {m.get("provenance", {}).get("reserialised_from") for m in versions}
    for manifest in versions:
        version = manifest["version"]
        if version in reserialised:
            continue  # the same fitted model as a newer version's (training/reserialise.py): scored once
        shipped = load_model(paths.DEFAULT_MODELS_DIR, version).model
        shipped.encoder_ = build_encoder(shipped._cfg().encoder, CACHE)  # the same encoder, with the cache
        label = f"shipped {version}" + (" (active)" if version == active else " (previous release)")
        pred = shipped.in_context(shipped.predictions(inputs), follows)
        record(label, "transcripts", score(examples, shipped.suggest_from(pred), shipped.factor_ids_, pred)["summary"])
        if real:
            pred = shipped.predictions(real_inputs)
            record(label, "real", score(real, shipped.suggest_from(pred), shipped.factor_ids_, pred)["summary"])
        shipped.encoder_.save()

    base = TrainConfig.load()
    all_train = load_corpus(paths.TRAIN_DIR, codebook)
    reliability = {}
    for name in args.candidates.split(","):
        changes, left_out = CANDIDATES[name]
        config = ModelConfig.from_dict({**base.model.to_dict(), **changes})
        train = all_train
        if left_out:
            drop = {e.id for e in load_jsonl([paths.TRAIN_DIR / f for f in left_out if (paths.TRAIN_DIR / f).is_file()],
                                            codebook)}
            train = [e for e in all_train if e.id not in drop]
        encoder = build_encoder(config.encoder, CACHE) if config.encoder != "none" else None
        t0 = time.perf_counter()
        model = CodeSuggester(config).fit(inputs_of(train), [e.codes for e in train], codebook, encoder)
        log(f"trained {name} on {len(train)} segments in {time.perf_counter() - t0:.0f} s")
        pred = model.predictions(inputs)
        if encoder is not None:
            encoder.save()
        ids = list(model.factor_ids_)
        record(f"{name}, rule from corpus folds", "transcripts", score(examples, model.suggest_from(pred), ids, pred)["summary"])
        if model.has_no_code_detector:
            rows, decided = across_writers(model, pred, examples, writers, follows)
            cross = score(examples, rows, ids, decided)
            record(f"{name}, rule across writers", "transcripts", cross["summary"])
            reliability[name] = cross["reliability"]
            decision = fit_decision(model, pred, examples, follows)
            rule = decision.rule
            results.setdefault("rules", {})[name] = {"threshold": rule.threshold, "no_code_threshold": rule.no_code_threshold,
                                                     "context_weight": decision.context_weight}
        if real:
            rpred = model.predictions(real_inputs)
            record(f"{name}, rule from corpus folds", "real", score(real, model.suggest_from(rpred), ids, rpred)["summary"])
            if model.has_no_code_detector:
                # Real quotes are single segments: no previous turn, so no context blend.
                rpred = decision.apply(model, rpred, [False] * len(real))
                record(f"{name}, rule across writers", "real", score(real, model.suggest_from(rpred, rule=rule), ids, rpred)["summary"])
        if encoder is not None:
            encoder.save()

    for peer_name, peer in (("peer: keyword autocoding", KeywordPeer(codebook)), ("peer: majority class", MajorityPeer(codebook))):
        peer.fit(all_train)
        for where, exs, inp in (("transcripts", examples, inputs), ("real", real, real_inputs)):
            if exs:
                pred = Predictions(*peer.predict_all(inp), None)
                record(peer_name, where, score(exs, peer_suggestions(peer, pred, DecisionRule(peer.threshold_)), peer.factor_ids_, pred)["summary"])

    (ROOT / "benchmarks" / "results").mkdir(exist_ok=True)
    (ROOT / "benchmarks" / "results" / "transcripts.json").write_text(
        json.dumps({"results": results, "reliability": reliability}, indent=2, ensure_ascii=False) + "\n")
    if args.no_write:
        return
    docs = {(t.writer, t.document) for t in split}
    n_coded = sum(1 for e in examples if e.codes)
    body = [
        "## Quality on whole transcripts (the transcript split) and on real text",
        "",
        f"Measured by `python benchmarks/bench_transcripts.py{' --real PATH' if real else ''}` (commit {git_commit()}, "
        f"{time.perf_counter() - started:.0f} s) on {machine()}. Transcript split: {len(docs)} documents by "
        f"{len(set(writers))} writers, {len(examples)} segments, {n_coded} with a code "
        "(`training/data/transcripts/README.md`). Every model is trained on the training corpus only.",
        "",
        "Columns: primary kappa as suggested (default rule) and with the top factor forced on every segment "
        "(top-1); hit@1 and hit@3 over codable segments (a gold factor first / in the first three); micro-F1 of "
        "the shown code sets; coverage (codable segments with at least one code); no-code precision and recall; "
        "aard and richting accuracy of shown codes whose factor is right; ECE of the main code's confidence.",
        "",
    ]
    for where, title in (("transcripts", "Transcript split"), ("real", "Real development set (189 segments of other PLG reports, outside the repository)")):
        if not results[where]:
            continue
        body += [f"### {title}", "", "| model | " + " | ".join(COLUMNS) + " |", "|---|" + "---:|" * len(COLUMNS)]
        for name, s in results[where].items():
            body.append(f"| {name} | " + " | ".join("" if s.get(k) is None else f"{s[k]:.3f}" for k in COLUMNS) + " |")
        body.append("")
    if "default" in reliability:
        body += ["### Reliability of the main code's confidence (default, rule across writers, transcript split)", "",
                 "| confidence | n | mean confidence | share right |", "|---|---:|---:|---:|"]
        body += [f"| {r['bin']} | {r['n']} | {r['mean_confidence']:.3f} | {r['observed_frequency']:.3f} |" for r in reliability["default"]]
        body.append("")
    if results.get("rules"):
        body.append("Rules chosen on all transcripts: " + "; ".join(
            f"{k}: no-code >= {v['no_code_threshold']}, further codes >= {v['threshold']}, previous turn's weight "
            f"{v['context_weight']}" for k, v in results["rules"].items()) + ".")
    write_section("transcripts", "\n".join(body))


if __name__ == "__main__":
    main()
