"""The promotion gate: a new model version replaces the active one only when it is not worse."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import bootstrap
from .artifacts import same_vectors
from .data import Example
from .evaluate import evaluate_model
from .features import Inputs

GATE_METRIC = "macro_f1"
MIN_PAIRED = 10  # held-out confirmed segments from which the gate compares on them alone


@dataclass
class Decision:
    promote: bool
    reason: str


def gate(new: dict | None, old: dict | None, metric: str = GATE_METRIC, tolerance: float = 0.0) -> Decision:
    """Compare two metric summaries on the same held-out data; promote when new >= old - tolerance."""
    if not old or old.get(metric) is None:
        return Decision(True, "no active model to compare with")
    if not new or new.get(metric) is None:
        return Decision(False, f"the new model has no {metric} on held-out data")
    if new[metric] + 1e-12 >= old[metric] - tolerance:
        return Decision(True, f"{metric} {new[metric]:.3f} is not worse than {old[metric]:.3f}")
    return Decision(False, f"{metric} {new[metric]:.3f} is worse than the active model's {old[metric]:.3f}")


@dataclass(frozen=True)
class Comparison:
    """New minus active on the same held-out segments, with a paired bootstrap interval."""

    metric: str
    n: int
    new: float
    old: float
    difference: float
    low: float
    high: float
    resamples: int

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def segment_f1(gold: list[set[str]], shown: list[set[str]]) -> list[float]:
    """Per segment: F1 of the shown factor set against the confirmed one (both empty: 1, a right no-code)."""
    out = []
    for g, s in zip(gold, shown, strict=True):
        out.append(1.0 if not g and not s else 2 * len(g & s) / (len(g) + len(s)))
    return out


def paired_difference(new: list[float], old: list[float], metric: str = "segment_f1", resamples: int = 2000,
                      level: float = 0.95, seed: int = 0) -> Comparison:
    """Mean per-segment score of both models and the percentile bootstrap interval of their
    difference, resampling segments (paired: both models are scored on the same draw)."""
    a, b = np.asarray(new, dtype=float), np.asarray(old, dtype=float)
    if len(a) != len(b) or len(a) == 0:
        raise ValueError("both models need scores on the same, non-empty held-out segments")
    diff = a - b
    # The same resampling of segments as the agreement report's intervals (training.bootstrap).
    drawn = bootstrap.draw(range(len(diff)), resamples, seed)
    means = bootstrap.mean_resampled(drawn.weights, diff, np.ones(len(diff), dtype=bool))
    low, high = bootstrap.percentile_interval(means, level)
    return Comparison(metric, len(diff), float(a.mean()), float(b.mean()), float(diff.mean()), low, high, resamples)


def gate_paired(comparison: Comparison, tolerance: float = 0.0) -> Decision:
    """Promote when the new model's mean is not worse than the active one's by more than ``tolerance``;
    the interval says how sure that is (a lead sees it beside the decision)."""
    c = comparison
    interval = f"difference {c.difference:+.3f}, 95% interval {c.low:+.3f} to {c.high:+.3f}, n = {c.n}"
    if c.difference + 1e-12 >= -tolerance:
        return Decision(True, f"{c.metric} {c.new:.3f} is not worse than {c.old:.3f} ({interval})")
    return Decision(False, f"{c.metric} {c.new:.3f} is worse than the active model's {c.old:.3f} ({interval})")


def paired_on_confirmed(new_model, old_model, held: list[Example]) -> Comparison:
    """Both models as they suggest (their own decision rules) on the held-out confirmed segments:
    per segment the F1 of the suggested factor set against the confirmed one, new minus active."""
    gold = [set(e.factors) for e in held]
    inputs = [Inputs(e.text, e.question) for e in held]
    shown = {name: [{s.factor for s in row} for row in model.suggest(inputs)]
             for name, model in (("new", new_model), ("old", old_model))}
    return paired_difference(segment_f1(gold, shown["new"]), segment_f1(gold, shown["old"]))


def compare_for_promotion(new_model, old_model, synthetic: list[Example], held: list[Example],
                          factor_ids: list[str], tolerance: float = 0.0) -> tuple[Decision, dict]:
    """The gate: both models on the same data, and whether the new one may replace the active one.

    With at least MIN_PAIRED held-out confirmed segments the decision rests on them alone (paired per
    segment, with a bootstrap interval); with fewer, on macro-F1 over the synthetic held-out split plus
    them. ``old_model`` None: no active model to compare with. When both models read the same sentence
    vectors, the active one is given the new one's encoder, whose cache already holds every gate sentence.
    """
    if old_model is not None and new_model.encoder_ is not None and old_model.encoder_ is not None \
            and same_vectors(old_model.encoder_name_, new_model.encoder_.name):
        old_model.encoder_ = new_model.encoder_
    gate_set = synthetic + held
    new_summary = evaluate_model(new_model, gate_set, factor_ids)["summary"] if gate_set else None
    old_summary = paired = None
    if old_model is not None and gate_set:
        old_summary = evaluate_model(old_model, gate_set, factor_ids)["summary"]
        if len(held) >= MIN_PAIRED:
            paired = paired_on_confirmed(new_model, old_model, held)
    decision = gate_paired(paired, tolerance) if paired else gate(new_summary, old_summary, tolerance=tolerance)
    info = {"metric": GATE_METRIC, "n": len(gate_set), "n_confirmed": len(held), "n_synthetic": len(synthetic),
            "tolerance": tolerance, "new_value": (new_summary or {}).get(GATE_METRIC),
            "active_value": (old_summary or {}).get(GATE_METRIC), "paired": paired.to_dict() if paired else None,
            "decided_on": "paired" if paired else GATE_METRIC, "passed": decision.promote,
            "new": new_summary, "old": old_summary}
    return decision, info
