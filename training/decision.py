"""The decision rule chosen across writers: when to say "nothing to code", when to add codes.

The factor and no-code heads are calibrated on out-of-fold scores of our own corpus, where every
segment is written, complete and about one thing. Real speech shifts those scores down, so
thresholds chosen there silence most real segments. Here the two numbers of the rule (the
detector's threshold and the threshold for further codes) are chosen on coded transcripts by
other writers, and judged leave-one-writer-out: the rule for a writer's documents is chosen on the
other writers' documents only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import cohen_kappa_score

from .data import Example
from .estimator import DecisionRule, Predictions

NO_CODE = "geen_code"
NO_CODE_GRID = tuple(np.round(np.arange(0.20, 0.96, 0.025), 3))
FURTHER_GRID = tuple(np.round(np.arange(0.10, 0.91, 0.05), 2))
MIN_COVERAGE = 0.95  # at least this share of codable segments gets a code (issue #10)


@dataclass(frozen=True)
class RuleScore:
    kappa: float
    coverage: float
    micro_f1: float


def score_rule(rule: DecisionRule, pred: Predictions, examples: list[Example], factor_ids: list[str],
               rows: list[int] | None = None) -> RuleScore:
    rows = list(range(len(examples))) if rows is None else rows
    gold, shown, covered, codable = [], [], 0, 0
    tp = fp = fn = 0
    for i in rows:
        kept = rule.kept(pred.factor_p[i], None if pred.no_code_p is None else float(pred.no_code_p[i]))
        factors = {factor_ids[j] for j in kept}
        gold.append(examples[i].primary_factor or NO_CODE)
        shown.append(factor_ids[kept[0]] if kept else NO_CODE)
        if examples[i].codes:
            codable += 1
            covered += bool(kept)
        g = set(examples[i].factors)
        tp, fp, fn = tp + len(factors & g), fp + len(factors - g), fn + len(g - factors)
    kappa = float(cohen_kappa_score(gold, shown)) if len(set(gold + shown)) > 1 else 0.0
    micro = 2 * tp / max(2 * tp + fp + fn, 1)
    return RuleScore(kappa, covered / max(codable, 1), micro)


def choose_rule(pred: Predictions, examples: list[Example], factor_ids: list[str],
                rows: list[int] | None = None) -> DecisionRule:
    """The detector threshold with the best primary kappa among those that leave at most 5% of
    codable segments empty (the best kappa overall when none does), then the further-code
    threshold with the best micro-F1 of the shown code sets."""
    candidates = []
    for t in NO_CODE_GRID:
        s = score_rule(DecisionRule(1.01, float(t)), pred, examples, factor_ids, rows)
        candidates.append((s.coverage >= MIN_COVERAGE, s.kappa, -t, float(t)))
    no_code_t = max(candidates)[3]
    best = max(FURTHER_GRID, key=lambda f: (score_rule(DecisionRule(float(f), no_code_t), pred, examples, factor_ids,
                                                       rows).micro_f1, f))
    return DecisionRule(float(best), no_code_t)


def leave_one_writer_out(pred: Predictions, examples: list[Example], factor_ids: list[str],
                         writers: list[str]) -> tuple[list[DecisionRule | None], dict[str, DecisionRule]]:
    """For every segment, the rule chosen without its writer; and the rule per held-out writer."""
    per_segment: list[DecisionRule | None] = [None] * len(examples)
    per_writer = {}
    for w in sorted(set(writers)):
        others = [i for i, x in enumerate(writers) if x != w]
        rule = choose_rule(pred, examples, factor_ids, others)
        per_writer[w] = rule
        for i, x in enumerate(writers):
            if x == w:
                per_segment[i] = rule
    return per_segment, per_writer


def take(pred: Predictions, rows: list[int]) -> Predictions:
    return Predictions(pred.factor_p[rows], pred.po_p[rows], pred.aard_p[rows],
                       None if pred.no_code_p is None else pred.no_code_p[rows])


def suggestions_across_writers(model, pred: Predictions, examples: list[Example], writers: list[str]) -> list[list]:
    """Each writer's segments suggested with the rule chosen on the other writers' segments."""
    factor_ids = list(model.factor_ids_)
    _, per_writer = leave_one_writer_out(pred, examples, factor_ids, writers)
    out: list[list] = [[] for _ in examples]
    for w, rule in per_writer.items():
        rows = [i for i, x in enumerate(writers) if x == w]
        for i, row in zip(rows, model.suggest_from(take(pred, rows), rule=rule)):
            out[i] = row
    return out
