"""The promotion gate: a new model version replaces the active one only when it is not worse."""

from __future__ import annotations

from dataclasses import dataclass

GATE_METRIC = "macro_f1"


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
