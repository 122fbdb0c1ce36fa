"""The decision rule chosen across writers: when to say "nothing to code", when to add codes.

The factor and no-code heads are calibrated on out-of-fold scores of our own corpus, where every
segment is written, complete and about one thing. Real speech shifts those scores down, so
thresholds chosen there silence most real segments. Here the two numbers of the rule (the
detector's threshold and the threshold for further codes) are chosen on coded transcripts by
other writers, and judged leave-one-writer-out: the rule for a writer's documents is chosen on the
other writers' documents only. The same holds for the other numbers chosen there: the weight of
the previous turn's scores (``CodeSuggester.in_context``) and, when a model's config asks for them
(off by default: they did not hold up on real text), a confidence map and an aard prior correction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score

from .data import Example
from .estimator import DecisionRule, Predictions, confidence_map, logit, sigmoid
from .evaluate import NO_CODE

NO_CODE_GRID = tuple(np.round(np.concatenate([np.arange(0.20, 0.95, 0.025), np.arange(0.95, 0.996, 0.005)]), 3))
FURTHER_GRID = tuple(np.round(np.arange(0.10, 0.91, 0.05), 2))
MIN_COVERAGE = 0.95  # at least this share of codable segments gets a code (issue #10)
CONTEXT_GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)


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


AARD_SHRINK = 2.0  # pseudo-segments pulling a factor's measured + share towards the overall share


def aard_offsets(model, examples: list[Example], rows: list[int] | None = None) -> np.ndarray:
    """Per factor: logit of the + share among these coded segments (shrunk to the overall share)
    minus the logit of the training corpus' + share; added to the aard logit (a prior correction)."""
    rows = list(range(len(examples))) if rows is None else rows
    index = {f: j for j, f in enumerate(model.factor_ids_)}
    plus, seen = np.zeros(len(index)), np.zeros(len(index))
    for i in rows:
        for c in examples[i].codes:
            if c.factor in index:
                plus[index[c.factor]] += c.aard == "+"
                seen[index[c.factor]] += 1
    overall = plus.sum() / max(seen.sum(), 1)
    measured = (plus + AARD_SHRINK * overall) / (seen + AARD_SHRINK)
    # Shares are clipped to 2-98%: one factor's few segments must not move its prior without bound.
    return logit(measured, 0.02) - logit(model.aard_prior_, 0.02)


def with_aard_offsets(pred: Predictions, offsets: np.ndarray) -> Predictions:
    return Predictions(pred.factor_p, pred.po_p, sigmoid(logit(pred.aard_p) + offsets[None, :]), pred.no_code_p)


def hit_at_1(factor_p: np.ndarray, examples: list[Example], factor_ids: list[str], rows: list[int]) -> float:
    coded = [i for i in rows if examples[i].codes]
    best = factor_p.argmax(axis=1)
    return float(np.mean([factor_ids[best[i]] in examples[i].factors for i in coded])) if coded else 0.0


def choose_context_weight(model, pred: Predictions, examples: list[Example], follows: list[bool],
                          rows: list[int] | None = None) -> float:
    """The blend with the previous turn's scores that ranks a gold factor first most often."""
    rows = list(range(len(examples))) if rows is None else rows
    ids = list(model.factor_ids_)
    return max(CONTEXT_GRID, key=lambda w: (round(hit_at_1(model.in_context(pred, follows, w).factor_p, examples, ids,
                                                           rows), 4), -w))


def take(pred: Predictions, rows: list[int]) -> Predictions:
    return Predictions(pred.factor_p[rows], pred.po_p[rows], pred.aard_p[rows],
                       None if pred.no_code_p is None else pred.no_code_p[rows])


def fit_confidence_map(pred: Predictions, examples: list[Example], factor_ids: list[str],
                       rows: list[int] | None = None) -> tuple[float, float]:
    """(a, b) such that sigmoid(a * logit(p) + b) of the best factor's confidence is the share of
    codable segments whose best factor is a gold one: what a confidence means on speech."""
    rows = list(range(len(examples))) if rows is None else rows
    coded = [i for i in rows if examples[i].codes]
    top = pred.factor_p[coded].argmax(axis=1)
    right = np.array([factor_ids[j] in examples[i].factors for i, j in zip(coded, top)], dtype=int)
    if len(set(right.tolist())) < 2:
        return 1.0, 0.0
    fit = LogisticRegression(C=1e4).fit(logit(pred.factor_p[coded, top])[:, None], right)
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def with_confidence_map(pred: Predictions, ab: tuple[float, float]) -> Predictions:
    return Predictions(confidence_map(pred.factor_p, ab), pred.po_p, pred.aard_p, pred.no_code_p)


@dataclass(frozen=True)
class Decision:
    """What is chosen on coded transcripts and stored in a model's decision rule."""

    calibration: tuple[float, float] | None
    context_weight: float
    rule: DecisionRule
    aard_offsets: np.ndarray | None

    def apply(self, model, pred: Predictions, follows: list[bool]) -> Predictions:
        """Scores as the rule decides on them: calibrated, blended with the previous turn, aard corrected."""
        calibrated = with_confidence_map(pred, self.calibration) if self.calibration else pred
        blended = model.in_context(calibrated, follows, self.context_weight)
        return blended if self.aard_offsets is None else with_aard_offsets(blended, self.aard_offsets)


def fit_decision(model, pred: Predictions, examples: list[Example], follows: list[bool],
                 rows: list[int] | None = None) -> Decision:
    """Everything chosen on coded transcripts, from the rows given (``pred`` from a model without a
    rule): the confidence map and aard offsets when the model's config asks for them, the context
    weight, and the rule on the scores as they will be."""
    ids = list(model.factor_ids_)
    config = model._cfg()
    calibration = fit_confidence_map(pred, examples, ids, rows) if config.speech_confidence_map else None
    calibrated = with_confidence_map(pred, calibration) if calibration else pred
    weight = choose_context_weight(model, calibrated, examples, follows, rows)
    rule = choose_rule(model.in_context(calibrated, follows, weight), examples, ids, rows)
    offsets = aard_offsets(model, examples, rows) if config.aard_prior_correction else None
    return Decision(calibration, weight, rule, offsets)


def across_writers(model, pred: Predictions, examples: list[Example], writers: list[str],
                   follows: list[bool]) -> tuple[list[list], Predictions]:
    """Each writer's segments suggested with what was chosen on the other writers' segments; also
    the predictions as they were decided on (blended, aard corrected) for the ranking metrics."""
    out: list[list] = [[] for _ in examples]
    decided = [None] * len(examples)
    for w in sorted(set(writers)):
        rows = [i for i, x in enumerate(writers) if x == w]
        others = [i for i, x in enumerate(writers) if x != w]
        decision = fit_decision(model, pred, examples, follows, others)
        held = take(decision.apply(model, pred, follows), rows)
        for k, (i, row) in enumerate(zip(rows, model.suggest_from(held, rule=decision.rule))):
            out[i] = row
            decided[i] = k, held
    factor_p = np.vstack([held.factor_p[k] for k, held in decided])
    aard_p = np.vstack([held.aard_p[k] for k, held in decided])
    return out, Predictions(factor_p, pred.po_p, aard_p, pred.no_code_p)
