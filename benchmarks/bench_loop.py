"""The learning loop played on the transcript split; writes BENCHMARKS.md (loop).

    python benchmarks/bench_loop.py [--confirmed 0,1,2,4] [--retrain-at 2] [--seeds 2]
    python benchmarks/bench_loop.py --spread   (also: the same number of segments drawn from all documents)
    python benchmarks/bench_loop.py --orders [--order-budgets 10,20,40] [--order-documents 2]   (review-orders)

A writer's documents stand for one team's project (one school, its teachers and PLG). In a random
order (``--seeds`` orders per writer), coders confirm the first n documents whole; the writer's
other documents are scored. Three models:

- static: the active shipped model as it is;
- memory: the same model with the confirmation memory of the n documents (``training.memory``),
  no retrain: what a coder sees within a second of the decision;
- retrain (at ``--retrain-at`` documents): the default configuration trained on the corpus plus the
  confirmed segments, with the static model's calibration carried as the service does, given the
  static model's decision rule, with the memory as well. Each confirmed segment counts
  ``confirmed_weight`` times a corpus segment (the config's; ``--confirmed-weights 1,3,10`` compares).

Scores on the unseen documents of every writer, averaged: primary kappa as suggested, top-1 kappa,
hit@1 and hit@3 over codable segments, aard accuracy of shown codes with a right factor; and the
seconds a memory update and a retrain take. The shipped model's decision rule was chosen on this
split, so absolute figures are optimistic; the differences between rows are what this measures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT, git_commit, machine, write_section  # noqa: E402
from training import paths  # noqa: E402
from training.artifacts import load_model, read_active  # noqa: E402
from training.codebook import load_codebook  # noqa: E402
from training.data import load_corpus  # noqa: E402
from training.decision import take  # noqa: E402
from training.estimator import CodeSuggester, ModelConfig, Predictions  # noqa: E402
from training.evaluate import evaluate_suggestions  # noqa: E402
from training.memory import ConfirmationMemory, Remembered  # noqa: E402
from training.review_order import most_instructive  # noqa: E402
from training.train import CONFIRMED, TrainConfig, build_encoder, fit_model, inputs_of  # noqa: E402
from training.transcripts import follows_previous, load_transcripts  # noqa: E402

CACHE = ROOT / "data" / "cache"
COLUMNS = ("kappa_primary", "kappa_top1", "hit1", "hit3", "aard_accuracy")


def project_orders(split, seeds: int) -> list[list[tuple[str, str]]]:
    """Per seed and writer, the writer's documents in a random order: the order they get confirmed."""
    orders = []
    for seed in range(seeds):
        rng = random.Random(seed)
        for writer in sorted({t.writer for t in split}):
            documents = sorted({t.document for t in split if t.writer == writer})
            rng.shuffle(documents)
            orders.append([(writer, d) for d in documents])
    return orders


def scored(model, split, rows: list[int], pred: Predictions) -> dict:
    examples = [split[i].example for i in rows]
    return evaluate_suggestions(examples, model.suggest_from(pred), list(model.factor_ids_), pred.factor_p)["summary"]


def memory_of(model, examples: list, confirmed: list[int]) -> ConfirmationMemory:
    """The confirmation memory a project has once the ``confirmed`` rows are confirmed as coded."""
    return ConfirmationMemory(model, [Remembered(str(i), examples[i].text, tuple(examples[i].codes))
                                      for i in confirmed])


class Loop(NamedTuple):
    """What every simulated project shares: the shipped model, the corpus and the split."""
    static: CodeSuggester
    shipped_config: dict
    corpus: list
    codebook: object
    split: list
    examples: list
    follows: list[bool]


def retrain_and_score(loop: Loop, config: ModelConfig, confirmed: list[int], unseen: list[int]
                      ) -> tuple[float, int, dict, dict]:
    """Retrain as the service does on the corpus plus the ``confirmed`` rows of the split and score the
    ``unseen`` rows: (seconds, training size, scores, scores with the confirmation memory on top)."""
    model, seconds, n_train = retrained(loop, config, confirmed)
    return (seconds, n_train, *score_retrained(loop, model, confirmed, unseen))


def retrained(loop: Loop, config: ModelConfig, confirmed: list[int]) -> tuple[CodeSuggester, float, int]:
    """The model a retrain on the corpus plus the ``confirmed`` rows of the split gives, the seconds it took
    and its training size. The confirmed segments are marked as the service marks them, so they carry
    ``config.confirmed_weight``; the shipped model's calibration is carried when its settings match (the
    service does so once 10 confirmed segments are held out for its gate), so each head is fitted once."""
    t0 = time.perf_counter()
    train = loop.corpus + [replace(loop.examples[i], source=CONFIRMED) for i in confirmed]
    encoder = build_encoder(config.encoder, CACHE)
    carried = loop.static if config.heads_match(ModelConfig.from_dict(loop.shipped_config)) else None
    model = fit_model(train, loop.codebook, config, encoder, calibration_from=carried)
    rule = loop.static.decision_rule_
    model.set_decision_rule(rule["no_code_threshold"], rule["further_threshold"], "bench_loop",
                            rule.get("context_weight", 0.0))
    return model, time.perf_counter() - t0, len(train)


def score_retrained(loop: Loop, model: CodeSuggester, confirmed: list[int], unseen: list[int],
                    read: list[int] | None = None) -> tuple[dict, dict]:
    """The ``unseen`` rows scored by a retrained model: alone, and with the memory of ``confirmed`` on top.
    ``read`` (default ``unseen``): the rows predicted, in order, so an unseen turn has its previous turn as
    context even when that turn was confirmed."""
    read = unseen if read is None else read
    unseen_examples = [loop.examples[i] for i in unseen]
    pred = model.in_context(model.predictions(inputs_of([loop.examples[i] for i in read])),
                            [loop.follows[i] for i in read])
    if read is not unseen:
        at = {row: j for j, row in enumerate(read)}
        pred = take(pred, [at[i] for i in unseen])
    memory = memory_of(model, loop.examples, confirmed)
    blended, _ = memory.blend(pred, model.memory_vectors([e.text for e in unseen_examples]))
    return scored(model, loop.split, unseen, pred), scored(model, loop.split, unseen, blended)


def spread_rows(loop: Loop, table: dict, config: ModelConfig, order, position, budget: int, n: int,
                pred_static: Predictions, vectors, rng: random.Random) -> None:
    """The same number of confirmed segments as ``n`` whole documents, drawn at random from all of the
    project's documents (as issue #11's real-quote trial drew halves); the project's other segments are
    scored, so confirmed and scored turns share documents, speakers and questions."""
    project = [i for d in order for i in position[d]]
    confirmed = sorted(rng.sample(project, budget))
    chosen = set(confirmed)
    rest = [i for i in project if i not in chosen]
    label = f"{n} documents' worth spread over the project"
    static_rest = take(pred_static, rest)
    table.setdefault(f"static, {label}", []).append(scored(loop.static, loop.split, rest, static_rest))
    blended, _ = memory_of(loop.static, loop.examples, confirmed).blend(static_rest, vectors[rest])
    table.setdefault(f"memory, {label}", []).append(scored(loop.static, loop.split, rest, blended))
    model = retrained(loop, config, confirmed)[0]
    plain, with_memory = score_retrained(loop, model, confirmed, rest, read=project)
    table.setdefault(f"retrain, {label}", []).append(plain)
    table.setdefault(f"retrain + memory, {label}", []).append(with_memory)


def review_order(name: str, pred: Predictions, vectors, rows: list[int]) -> list[int]:
    """The rows in one of the page's review orders (service/web/queries.py, training/review_order.py), as
    scored by the static model: 'document' as written, 'zekerheid' lowest best score first, 'leerzaam'
    margin sampling across groups of the sentence vectors."""
    if name == "document":
        return list(rows)
    if name == "zekerheid":
        return sorted(rows, key=lambda i: (float(pred.factor_p[i].max()), i))
    return [rows[j] for j in most_instructive(pred.factor_p[rows], vectors[rows])]


def compare_orders(args, loop: Loop, pred_static, vectors, position, log) -> None:
    """Which segments to confirm first: per project, a coder confirms ``budget`` segments of the first
    ``--order-documents`` documents, picked by each review order; the memory learns them and the project's
    other documents are scored, with ``--order-retrain`` also after a retrain on them (one per project, budget
    and order). Writes BENCHMARKS.md (review-orders)."""
    static, split, examples = loop.static, loop.split, loop.examples
    config = TrainConfig.load().model
    started = time.perf_counter()
    control = retrained(loop, config, [])[0] if args.order_retrain else None  # see main()
    budgets = [int(b) for b in args.order_budgets.split(",")]
    orders = ("document", "zekerheid", "leerzaam")
    table: dict[str, list[dict]] = {}
    for order in project_orders(split, args.seeds):
        if len(order) <= args.order_documents:
            continue
        pool = [i for d in order[:args.order_documents] for i in position[d]]
        unseen = [i for d in order[args.order_documents:] for i in position[d]]
        ranked = {name: review_order(name, pred_static, vectors, pool) for name in orders}
        table.setdefault("static, nothing confirmed", []).append(scored(static, split, unseen, take(pred_static, unseen)))
        if control is not None:
            table.setdefault("retrain on the corpus alone (control), nothing confirmed", []).append(
                score_retrained(loop, control, [], unseen)[0])
        for budget in budgets:
            for name in orders:
                chosen = ranked[name][:budget]
                blended, _ = memory_of(static, examples, chosen).blend(take(pred_static, unseen), vectors[unseen])
                table.setdefault(f"{name}, {budget} confirmed", []).append(scored(static, split, unseen, blended))
                if args.order_retrain:
                    _, _, _, with_memory = retrain_and_score(loop, config, chosen, unseen)
                    table.setdefault(f"{name}, {budget} confirmed, retrain + memory", []).append(with_memory)
        log(f"{order[0][0]}: " + ", ".join(f"{k}={v[-1]['hit1']}" for k, v in table.items()))
    means = {name: {c: round(float(np.mean([r[c] for r in rows if r.get(c) is not None])), 3) for c in COLUMNS}
             for name, rows in table.items()}
    projects = len(next(iter(table.values()))) if table else 0
    result = {"means": means, "projects": projects, "budgets": budgets, "documents": args.order_documents}
    (ROOT / "benchmarks" / "results").mkdir(exist_ok=True)
    (ROOT / "benchmarks" / "results" / "review_orders.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if args.no_write:
        return
    retrain = " --order-retrain" if args.order_retrain else ""
    body = ["## Review orders (transcript split)", "",
            f"Measured by `python benchmarks/bench_loop.py --orders --order-budgets {args.order_budgets} "
            f"--order-documents {args.order_documents} --seeds {args.seeds}{retrain}` (commit {git_commit()}, "
            f"{time.perf_counter() - started:.0f} s) on {machine()}. Per project ({projects}: writers x orders) a "
            f"coder confirms the first n segments of its first {args.order_documents} documents in each review order "
            "(document: as written; zekerheid: lowest best score first; leerzaam: margin sampling across k-means "
            "groups of the sentence vectors); the confirmation memory learns them and the project's other "
            "documents are scored by the static model with that memory"
            + (", and by a model retrained on them as the service retrains (its calibration carried), with the "
               "memory on top" if args.order_retrain else "") + ". Means over projects.", "",
            "| order, confirmed | " + " | ".join(COLUMNS) + " |", "|---|" + "---:|" * len(COLUMNS)]
    body += [f"| {name} | " + " | ".join(f"{s[c]:.3f}" for c in COLUMNS) + " |" for name, s in means.items()]
    control_name = "retrain on the corpus alone (control), nothing confirmed"
    for kind, rows, base in (
            ("memory only", [k for k in means if "retrain" not in k and k != "static, nothing confirmed"],
             "static, nothing confirmed"),
            ("after a retrain", [k for k in means if k.endswith("retrain + memory")], control_name)):
        if rows and base in means:
            spread = max(abs(means[k][c] - means[base][c]) for k in rows for c in COLUMNS)
            best = max(rows, key=lambda k: means[k]["hit1"])
            body += ["", f"{kind.capitalize()}: largest difference from the row '{base}' {spread:.3f}; highest "
                     f"hit@1 {means[best]['hit1']:.3f} ({best}; that row {means[base]['hit1']:.3f})."]
    write_section("review-orders", "\n".join(body))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--confirmed", default="0,1,2,4", help="numbers of confirmed documents per project")
    parser.add_argument("--retrain-at", type=int, default=2, help="retrain after this many documents (0: never)")
    parser.add_argument("--seeds", type=int, default=2, help="random document orders per writer")
    parser.add_argument("--confirmed-weights", default="",
                        help="compare these weights of a confirmed segment in the retrain (default: the config's)")
    parser.add_argument("--spread", action="store_true",
                        help="also confirm as many segments as --retrain-at documents hold, drawn at random from all "
                             "the project's documents, and score the rest (does the loop fail to transfer to new "
                             "documents, or to learn at all?)")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--orders", action="store_true", help="compare the review orders instead (memory only)")
    parser.add_argument("--order-budgets", default="10,20,40", help="segments confirmed per project, per order")
    parser.add_argument("--order-documents", type=int, default=2, help="documents the confirmed segments come from")
    parser.add_argument("--order-retrain", action="store_true",
                        help="also retrain on each order's confirmed segments (about 20 s per project, budget, order)")
    args = parser.parse_args()
    started = time.perf_counter()
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    codebook = load_codebook(paths.DEFAULT_CODEBOOK)
    split = load_transcripts(codebook=codebook)
    examples = [t.example for t in split]
    follows = follows_previous(split)
    shipped = load_model(paths.DEFAULT_MODELS_DIR, read_active(paths.DEFAULT_MODELS_DIR))
    static, shipped_config = shipped.model, shipped.manifest["config"]
    static.encoder_ = build_encoder(static._cfg().encoder, CACHE)
    pred_static = static.in_context(static.predictions(inputs_of(examples)), follows)
    vectors = static.memory_vectors([e.text for e in examples])
    static.encoder_.save()
    position = {(t.writer, t.document): [] for t in split}
    for i, t in enumerate(split):
        position[(t.writer, t.document)].append(i)
    loop = Loop(static, shipped_config, load_corpus(paths.TRAIN_DIR, codebook), codebook, split, examples, follows)
    if args.orders:
        compare_orders(args, loop, pred_static, vectors, position, log)
        return

    counts = [int(n) for n in args.confirmed.split(",")]
    table: dict[str, list[dict]] = {}
    update_seconds, retrain_sizes = [], []
    retrain_seconds: dict[str, list[float]] = {}
    config = TrainConfig.load().model
    # The control: a retrain on the corpus alone, as a retrain with confirmed segments is made. Whatever it
    # gains over the shipped model comes from retraining itself, not from what the coders confirmed.
    control = retrained(loop, config, [])[0] if args.retrain_at else None
    weights = [float(w) for w in args.confirmed_weights.split(",")] if args.confirmed_weights else [config.confirmed_weight]
    for number, order in enumerate(project_orders(split, args.seeds)):
        for n in counts:
            if n >= len(order):
                continue
            confirmed = [i for d in order[:n] for i in position[d]]
            unseen = [i for d in order[n:] for i in position[d]]
            table.setdefault(f"static, {n} confirmed", []).append(
                scored(static, split, unseen, take(pred_static, unseen)))
            t0 = time.perf_counter()
            blended, _ = memory_of(static, examples, confirmed).blend(take(pred_static, unseen), vectors[unseen])
            update_seconds.append(time.perf_counter() - t0)
            table.setdefault(f"memory, {n} confirmed", []).append(scored(static, split, unseen, blended))
            if n and n == args.retrain_at:
                table.setdefault(f"retrain on the corpus alone (control), {n} confirmed", []).append(
                    score_retrained(loop, control, [], unseen)[0])
                for weight in weights:
                    label = "retrain" if len(weights) == 1 else f"retrain (weight {weight:g})"
                    seconds, n_train, plain, with_memory = retrain_and_score(
                        loop, replace(config, confirmed_weight=weight), confirmed, unseen)
                    retrain_seconds.setdefault(f"{weight:g}", []).append(round(seconds, 1))
                    retrain_sizes.append(n_train)
                    table.setdefault(f"{label}, {n} confirmed", []).append(plain)
                    table.setdefault(f"{label} + memory, {n} confirmed", []).append(with_memory)
                if args.spread:
                    spread_rows(loop, table, config, order, position, len(confirmed), n, pred_static, vectors,
                                random.Random(number))
            log(f"{order[0][0]} n={n}: " + ", ".join(f"{k}={v[-1]['hit1']}" for k, v in table.items()
                                                     if k.endswith(f" {n} confirmed")))
    means = {name: {c: round(float(np.mean([r[c] for r in rows if r.get(c) is not None])), 3) for c in COLUMNS}
             for name, rows in table.items()}
    result = {"means": means, "projects": len(project_orders(split, args.seeds)),
              "memory_update_seconds_max": round(max(update_seconds), 3),
              "retrain_seconds": retrain_seconds, "retrain_segments": retrain_sizes}
    (ROOT / "benchmarks" / "results").mkdir(exist_ok=True)
    (ROOT / "benchmarks" / "results" / "loop.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if args.no_write:
        return
    body = [
        "## The learning loop (transcript split)",
        "",
        f"Measured by `python benchmarks/bench_loop.py --confirmed {args.confirmed} --retrain-at {args.retrain_at} "
        f"--seeds {args.seeds}{f' --confirmed-weights {args.confirmed_weights}' if args.confirmed_weights else ''}"
        f"{' --spread' if args.spread else ''}` (commit {git_commit()}, {time.perf_counter() - started:.0f} s) on {machine()}. "
        f"Each writer's documents are one project ({result['projects']} projects: writers x orders); the first n "
        "documents are confirmed whole, the rest are scored. Means over projects; the shipped rule was chosen on "
        "this split, so compare rows, not absolute values.",
        "",
        "| model | " + " | ".join(COLUMNS) + " |", "|---|" + "---:|" * len(COLUMNS),
    ]
    body += [f"| {name} | " + " | ".join(f"{s[c]:.3f}" for c in COLUMNS) + " |" for name, s in means.items()]
    load = os.getloadavg()[0]
    if args.spread:
        body += ["", f"Rows \"{args.retrain_at} documents' worth spread over the project\": as many confirmed segments as "
                 f"{args.retrain_at} whole documents hold, drawn at random from all of the project's documents (as "
                 "issue #11's trial on real quotes drew halves); the project's other segments are scored, and "
                 "compared with the static row on those same segments (they are not the unseen documents' segments)."]
    if len(weights) > 1:
        body += ["", "Weight w: each confirmed segment counts w times a corpus segment in every head "
                 f"(`confirmed_weight`; default.yaml sets {config.confirmed_weight:g})."]
    body += ["", f"Memory update (build from the confirmed documents and blend): at most "
             f"{result['memory_update_seconds_max']} s. Retrain (features and heads, calibration carried, sentence vectors cached) on "
             f"{retrain_sizes[0] if retrain_sizes else 0} segments: "
             + "; ".join((f"weight {w}: " if len(retrain_seconds) > 1 else "") + ", ".join(str(x) for x in secs)
                         for w, secs in retrain_seconds.items())
             + f" s (load average {load:.1f} on the machine's "
             "cores at the end of the run: times from a busy machine are upper bounds).", ""]
    write_section("loop", "\n".join(body))


if __name__ == "__main__":
    main()
