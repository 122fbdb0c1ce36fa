"""Evaluation: factor quality, primary-code agreement, richting/aard accuracy, calibration.

Every scorer (our model and each peer) is reduced to the same thing: a matrix of factor
probabilities plus a threshold, and richting/aard given a factor. So the same metrics, in the same
table, are computed for all of them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
from sklearn.metrics import cohen_kappa_score
from sklearn.model_selection import KFold

from .codebook import Codebook
from .data import Example
from .estimator import CodeSuggester, ModelConfig, best_threshold
from .features import Inputs

log = logging.getLogger(__name__)
NO_CODE = "geen_code"
best_threshold_for = best_threshold  # the same rule for every scorer that tunes a threshold


class Scorer(Protocol):
    factor_ids_: list[str]
    threshold_: float

    def predict_all(self, inputs: list[Inputs]) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


def gold_matrix(examples: list[Example], factor_ids: list[str]) -> np.ndarray:
    index = {f: j for j, f in enumerate(factor_ids)}
    Y = np.zeros((len(examples), len(factor_ids)), dtype=np.int64)
    for i, e in enumerate(examples):
        for f in e.factors:
            if f in index:
                Y[i, index[f]] = 1
    return Y


def reliability_table(y_true: np.ndarray, proba: np.ndarray, bins: int = 10) -> tuple[list[dict], float, float]:
    """Reliability table over all (segment, factor) probabilities; ECE and Brier score."""
    p, y = proba.ravel(), y_true.ravel().astype(float)
    edges = np.linspace(0, 1, bins + 1)
    rows, ece = [], 0.0
    for b in range(bins):
        mask = (p >= edges[b]) & ((p < edges[b + 1]) if b < bins - 1 else (p <= 1))
        n = int(mask.sum())
        if n == 0:
            continue
        mean_p, freq = float(p[mask].mean()), float(y[mask].mean())
        ece += n / len(p) * abs(mean_p - freq)
        rows.append({"bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}", "n": n, "mean_confidence": round(mean_p, 3),
                     "observed_frequency": round(freq, 3)})
    return rows, float(ece), float(np.mean((p - y) ** 2))


def _f1(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def evaluate_scores(examples: list[Example], factor_ids: list[str], factor_p: np.ndarray, po_p: np.ndarray,
                    aard_p: np.ndarray, threshold: float, codebook_factor_ids: list[str] | None = None) -> dict:
    """All metrics for one scorer's outputs on labelled examples."""
    all_ids = list(codebook_factor_ids or factor_ids)
    # Factors the scorer never learned count as never predicted: their recall is 0, honestly.
    full = np.zeros((len(examples), len(all_ids)))
    col = {f: j for j, f in enumerate(all_ids)}
    for j, f in enumerate(factor_ids):
        full[:, col[f]] = factor_p[:, j]
    Y = gold_matrix(examples, all_ids)
    pred = full >= threshold
    per_factor, f1s = {}, []
    tps = fps = fns = 0.0
    for j, f in enumerate(all_ids):
        tp = float((pred[:, j] & (Y[:, j] == 1)).sum())
        fp = float((pred[:, j] & (Y[:, j] == 0)).sum())
        fn = float((~pred[:, j] & (Y[:, j] == 1)).sum())
        tps, fps, fns = tps + tp, fps + fp, fns + fn
        p, r, f1 = _f1(tp, fp, fn)
        support = int(Y[:, j].sum())
        per_factor[f] = {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f1, 3), "support": support}
        if support:
            f1s.append(f1)
    _, _, micro = _f1(tps, fps, fns)

    # Primary code: the gold list's first factor against the scorer's top factor (or no code).
    gold_primary = [e.primary_factor or NO_CODE for e in examples]
    top = full.argmax(axis=1)
    pred_primary = [all_ids[t] if full[i, t] >= threshold else NO_CODE for i, t in enumerate(top)]
    kappa = float(cohen_kappa_score(gold_primary, pred_primary)) if len(set(gold_primary + pred_primary)) > 1 else 0.0
    coded = [i for i, e in enumerate(examples) if e.codes]
    order = np.argsort(-full, axis=1)[:, :3]
    top3 = float(np.mean([any(e_f in [all_ids[k] for k in order[i]] for e_f in examples[i].factors) for i in coded])) if coded else 0.0
    exact_set = float(np.mean([(set(np.flatnonzero(pred[i])) == set(np.flatnonzero(Y[i]))) for i in range(len(examples))]))

    # richting and aard, given the gold factor (what a coder checks once the factor is right).
    r_hits, r_n, a_hits, a_n = 0, 0, 0, 0
    fidx = {f: j for j, f in enumerate(factor_ids)}
    for i, e in enumerate(examples):
        for c in e.codes:
            if c.factor not in fidx:
                continue
            j = fidx[c.factor]
            # Factors with one allowed richting are right by construction (po_p is exactly 1):
            # count only the segments where the scorer had to choose between PO and SO.
            if c.richting in ("PO", "SO") and 0.0 < po_p[i, j] < 1.0:
                r_hits += ("PO" if po_p[i, j] >= 0.5 else "SO") == c.richting
                r_n += 1
            a_hits += ("+" if aard_p[i, j] >= 0.5 else "-") == c.aard
            a_n += 1
    table, ece, brier = reliability_table(Y, full)
    summary = {
        "n": len(examples),
        "macro_f1": round(float(np.mean(f1s)) if f1s else 0.0, 3),
        "micro_f1": round(micro, 3),
        "kappa_primary": round(kappa, 3),
        "top3_primary": round(top3, 3),
        "exact_set": round(exact_set, 3),
        "richting_accuracy": round(r_hits / r_n, 3) if r_n else None,
        "aard_accuracy": round(a_hits / a_n, 3) if a_n else None,
        "ece": round(ece, 4),
        "brier": round(brier, 4),
        "threshold": round(float(threshold), 2),
    }
    return {"summary": summary, "per_factor": per_factor, "reliability": table}


def evaluate_model(model: Scorer, examples: list[Example], codebook_factor_ids: list[str] | None = None) -> dict:
    inputs = [Inputs(e.text, e.question) for e in examples]
    factor_p, po_p, aard_p = model.predict_all(inputs)
    return evaluate_scores(examples, list(model.factor_ids_), factor_p, po_p, aard_p, model.threshold_,
                           codebook_factor_ids)


def cross_validate(make_scorer: Callable[[list[Example]], Scorer], examples: list[Example], folds: int = 5,
                   seed: int = 13, codebook_factor_ids: list[str] | None = None) -> dict:
    """k-fold cross-validation: mean and standard deviation of each summary metric."""
    results = []
    for k, (train_idx, test_idx) in enumerate(KFold(folds, shuffle=True, random_state=seed).split(examples)):
        started = time.perf_counter()
        scorer = make_scorer([examples[i] for i in train_idx])
        results.append(evaluate_model(scorer, [examples[i] for i in test_idx], codebook_factor_ids)["summary"])
        log.info("fold %d/%d done in %.0f s", k + 1, folds, time.perf_counter() - started)
    out = {}
    for key in results[0]:
        values = [r[key] for r in results if r[key] is not None]
        if values and key != "n":
            out[key] = round(float(np.mean(values)), 3)
            out[key + "_sd"] = round(float(np.std(values)), 3)
    out["n"] = sum(r["n"] for r in results)
    out["folds"] = folds
    return out


def model_factory(codebook: Codebook, config: ModelConfig, encoder) -> Callable[[list[Example]], CodeSuggester]:
    def make(train: list[Example]) -> CodeSuggester:
        return CodeSuggester(config).fit([Inputs(e.text, e.question) for e in train], [e.codes for e in train],
                                         codebook, encoder)

    return make


@dataclass
class SubsetResult:
    fraction: float
    n_train: int
    summary: dict


def learning_curve(make_scorer: Callable[[list[Example]], Scorer], train: list[Example], held_out: list[Example],
                   fractions=(0.1, 0.25, 0.5, 0.75, 1.0), seed: int = 13,
                   codebook_factor_ids: list[str] | None = None) -> list[SubsetResult]:
    """Quality on the held-out split against the amount of training data (nested random subsets)."""
    order = np.random.default_rng(seed).permutation(len(train))
    out = []
    for fraction in fractions:
        subset = [train[i] for i in order[: max(int(len(train) * fraction), 20)]]
        scorer = make_scorer(subset)
        out.append(SubsetResult(fraction, len(subset), evaluate_model(scorer, held_out, codebook_factor_ids)["summary"]))
    return out


def evaluate_suggestions(examples: list[Example], suggestions: list[list], factor_ids: list[str],
                         factor_p: np.ndarray) -> dict:
    """What a coder meets: metrics of the suggestions as ``suggest`` returns them, beside the ranking.

    ``suggestions`` are the model's kept codes per segment (first = main code, ``[]`` = no code);
    ``factor_p`` is the full score matrix (the ranking behind them, for top-1 and top-3). Measured on
    real or transcript text, where segments without a code matter as much as the codes.
    """
    gold_primary = [e.primary_factor or NO_CODE for e in examples]
    shown_primary = [s[0].factor if s else NO_CODE for s in suggestions]
    order = np.argsort(-factor_p, axis=1)
    top1 = [factor_ids[order[i, 0]] for i in range(len(examples))]
    coded = [i for i, e in enumerate(examples) if e.codes]
    uncoded = [i for i, e in enumerate(examples) if not e.codes]

    def kappa(pred: list[str]) -> float:
        return float(cohen_kappa_score(gold_primary, pred)) if len(set(gold_primary + pred)) > 1 else 0.0

    hit1 = [top1[i] in examples[i].factors for i in coded]
    hit3 = [any(factor_ids[k] in examples[i].factors for k in order[i, :3]) for i in coded]
    tp = fp = fn = 0
    for e, s in zip(examples, suggestions):
        shown, gold = {c.factor for c in s}, set(e.factors)
        tp, fp, fn = tp + len(shown & gold), fp + len(shown - gold), fn + len(gold - shown)
    _, _, micro = _f1(tp, fp, fn)
    predicted_none = [i for i, s in enumerate(suggestions) if not s]
    nc_tp = len(set(predicted_none) & set(uncoded))
    # aard and richting of the shown codes whose factor is right (what a coder checks next).
    a_hits = a_n = r_hits = r_n = 0
    for e, s in zip(examples, suggestions):
        gold = {c.factor: c for c in e.codes}
        for c in s:
            if c.factor in gold:
                a_hits, a_n = a_hits + (c.aard == gold[c.factor].aard), a_n + 1
                if gold[c.factor].richting in ("PO", "SO") and c.richting in ("PO", "SO"):
                    r_hits, r_n = r_hits + (c.richting == gold[c.factor].richting), r_n + 1
    # Calibration of what is shown: does a main code of confidence p turn out right p of the time?
    shown_conf = np.array([s[0].confidence for s in suggestions if s])
    shown_right = np.array([float(s[0].factor in e.factors) for e, s in zip(examples, suggestions) if s])
    table, ece, _ = reliability_table(shown_right[:, None], shown_conf[:, None]) if len(shown_conf) else ([], 0.0, 0.0)
    summary = {
        "n": len(examples),
        "n_no_code": len(uncoded),
        "kappa_primary": round(kappa(shown_primary), 3),
        "kappa_top1": round(kappa(top1), 3),  # the best factor for every segment: no threshold
        "hit1": round(float(np.mean(hit1)), 3) if hit1 else None,
        "hit3": round(float(np.mean(hit3)), 3) if hit3 else None,
        "micro_f1": round(micro, 3),
        "coverage": round(float(np.mean([bool(suggestions[i]) for i in coded])), 3) if coded else None,
        "no_code_precision": round(nc_tp / len(predicted_none), 3) if predicted_none else None,
        "no_code_recall": round(nc_tp / len(uncoded), 3) if uncoded else None,
        "aard_accuracy": round(a_hits / a_n, 3) if a_n else None,
        "richting_accuracy": round(r_hits / r_n, 3) if r_n else None,
        "ece_main_code": round(ece, 4),
        "codes_per_segment": round(float(np.mean([len(s) for s in suggestions])), 2),
    }
    return {"summary": summary, "reliability": table}


def evaluate_on_transcripts(model, split: list, raw=None) -> dict:
    """The model as it suggests whole transcripts (previous turn as context, its own decision rule)
    on coded transcript rows (``training.transcripts.load_transcripts``); ``raw``: the model's
    predictions for these rows, when already made."""
    from .transcripts import follows_previous

    examples = [t.example for t in split]
    raw = raw if raw is not None else model.predictions([Inputs(e.text, e.question) for e in examples])
    pred = model.in_context(raw, follows_previous(split))
    return evaluate_suggestions(examples, model.suggest_from(pred), list(model.factor_ids_), pred.factor_p)
