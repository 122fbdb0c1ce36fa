"""Bootstrap intervals for the agreement coefficients: resample the units, recompute, take percentiles.

A coefficient on 12 segments and one on 1,200 can print the same value; only its interval tells a
reader how much it could move with other segments of the same kind. The unit of resampling is the
segment (the thing coded), never a single coding, because the codings of one segment belong
together. Every coefficient of one report is computed on the *same* resamples, so intervals of
different coefficients are comparable and the run is reproducible from its seed.

The resamples are a ``(resamples, units)`` matrix ``W`` of counts (how often each unit was drawn
in each resample, drawn with :meth:`numpy.random.Generator.multinomial`). Each coefficient is
written as sums over units, so all resamples are one matrix product instead of a Python loop:

- Krippendorff's alpha with any distance ``d`` (zero on the diagonal): with ``N[u, c]`` the number
  of coders giving unit ``u`` value ``c`` and ``m_u`` the unit's pairable values,
  ``D_o = sum_u n_u' d n_u / (m_u - 1)`` and ``n_c = sum_u N[u, c]``, so per resample
  ``alpha = 1 - (n - 1) * (W @ D_o_u) / ((W @ N) d (W @ N)')``. This is the same formula as
  :func:`training.agreement.alpha_from_coincidences`; the tests check both give the same value
  on the unresampled data.
- Cohen's kappa on paired labels: observed agreement and the two coders' marginals are weighted
  sums of per-unit indicators.
- Percent agreement: a weighted mean of per-unit agreement shares.

The interval is the percentile interval (2.5th and 97.5th percentile for 95%) over the resamples
where the coefficient is defined; it is ``None`` when fewer than half of the resamples give a
value (for example when almost every resample has no variation at all).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
LEVEL = 0.95


@dataclass(frozen=True)
class Resamples:
    """Counts ``weights[b, u]``: how often unit ``u`` is in resample ``b``; ``units`` in column order."""

    units: tuple[Hashable, ...]
    weights: np.ndarray
    seed: int | None

    @property
    def count(self) -> int:
        return int(self.weights.shape[0])

    def columns(self, units: Sequence[Hashable]) -> np.ndarray:
        """The weight columns of these units, in their order."""
        index = {u: i for i, u in enumerate(self.units)}
        return self.weights[:, [index[u] for u in units]]


def draw(units: Sequence[Hashable], resamples: int = DEFAULT_RESAMPLES, seed: int | None = DEFAULT_SEED) -> Resamples:
    """``resamples`` bootstrap samples of the units (each as large as the original, with replacement)."""
    n = len(units)
    rng = np.random.default_rng(seed)
    if n == 0 or resamples <= 0:
        weights = np.zeros((max(resamples, 0), n), dtype=np.float64)
    else:
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)
    return Resamples(units=tuple(units), weights=weights, seed=seed)


def percentile_interval(values: np.ndarray, level: float = LEVEL) -> list[float] | None:
    """[low, high] over the defined (finite) values; None when fewer than half are defined."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if values.size == 0 or finite.size < values.size / 2:
        return None
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return [float(low), float(high)]


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = numerator / denominator
    out[~np.isfinite(out)] = np.nan
    return out


def masi_matrix(sets: Sequence[frozenset]) -> np.ndarray:
    """MASI distances between all pairs of label sets at once (the same values as
    :func:`training.agreement.masi_distance`, which a study's few hundred distinct sets would call
    a hundred thousand times)."""
    labels = {label: i for i, label in enumerate(sorted({x for s in sets for x in s}, key=repr))}
    member = np.zeros((len(sets), len(labels)))
    for i, values in enumerate(sets):
        member[i, [labels[x] for x in values]] = 1
    size = member.sum(axis=1)
    inter = member @ member.T
    union = size[:, None] + size[None, :] - inter
    jaccard = np.divide(inter, union, out=np.ones_like(inter), where=union > 0)
    equal = (inter == size[:, None]) & (inter == size[None, :])
    subset = (inter == size[:, None]) | (inter == size[None, :])
    monotonicity = np.where(equal, 1.0, np.where(subset & (inter > 0), 2 / 3, np.where(inter > 0, 1 / 3, 0.0)))
    return 1.0 - jaccard * monotonicity


def alpha_resampled(weights: np.ndarray, unit_values: Sequence[Sequence[Any]],
                    distance: Callable[[Any, Any], float] | str | None = None) -> np.ndarray:
    """Krippendorff's alpha per resample; ``unit_values[u]`` are the values of unit ``u`` (column u).

    ``distance`` None is the nominal distance (0 for equal values, 1 otherwise), computed without a
    distance matrix: the expected disagreement is then ``n^2 - sum_c n_c^2``. ``"masi"`` is the
    MASI distance between label sets (:func:`masi_matrix`); any other callable is applied pairwise.
    """
    from scipy import sparse

    domain: dict[Any, int] = {}
    for values in unit_values:
        if len(values) >= 2:
            for v in values:
                domain.setdefault(v, len(domain))
    if not domain:
        return np.full(weights.shape[0], np.nan)
    ordered = list(domain)
    if distance is None:
        d = None
    elif distance == "masi":
        d = masi_matrix(ordered)
    else:
        d = np.array([[distance(a, b) for b in ordered] for a in ordered])
    rows, cols = [], []
    observed_per_unit = np.zeros(len(unit_values))
    for u, values in enumerate(unit_values):
        if len(values) < 2:
            continue  # not pairable: adds nothing to any coincidence
        index = [domain[v] for v in values]
        rows += [u] * len(index)
        cols += index
        if d is None:
            observed = len(index) ** 2 - sum(n * n for n in np.unique(index, return_counts=True)[1])
        else:
            observed = d[np.ix_(index, index)].sum()
        observed_per_unit[u] = observed / (len(values) - 1)
    counts = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(unit_values), len(ordered)))
    n_c = np.asarray((counts.T @ weights.T).T)  # (resamples, values), without a dense units x values matrix
    n = n_c.sum(axis=1)
    expected = n * n - (n_c * n_c).sum(axis=1) if d is None else ((n_c @ d) * n_c).sum(axis=1)
    return 1.0 - (n - 1) * _divide(weights @ observed_per_unit, expected)


def binary_alpha_resampled(weights: np.ndarray, present: np.ndarray, coders: np.ndarray) -> np.ndarray:
    """Alpha on present/absent per resample and label.

    ``present[u, l]``: coders who used label ``l`` on unit ``u``; ``coders[u]``: coders of the unit
    (units with fewer than two count for nothing). Returns ``(resamples, labels)``.
    """
    pairable = coders >= 2
    present = np.where(pairable[:, None], present, 0.0)
    m = np.where(pairable, coders, 0.0)
    absent = m[:, None] - present
    with np.errstate(divide="ignore", invalid="ignore"):
        observed_per_unit = np.where(pairable[:, None], 2 * present * absent / (m[:, None] - 1), 0.0)
    n1 = weights @ present
    n = (weights @ m)[:, None]
    n0 = n - n1
    return 1.0 - (n - 1) * _divide(weights @ observed_per_unit, 2 * n1 * n0)


def kappa_resampled(weights: np.ndarray, labels_a: Sequence[Hashable], labels_b: Sequence[Hashable]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(Cohen's kappa, percent agreement) per resample for paired labels (column u = unit u)."""
    categories = {label: i for i, label in enumerate(dict.fromkeys([*labels_a, *labels_b]))}
    n_units = len(labels_a)
    onehot_a = np.zeros((n_units, len(categories)))
    onehot_b = np.zeros((n_units, len(categories)))
    onehot_a[np.arange(n_units), [categories[a] for a in labels_a]] = 1
    onehot_b[np.arange(n_units), [categories[b] for b in labels_b]] = 1
    agree = np.array([a == b for a, b in zip(labels_a, labels_b)], dtype=np.float64)
    n = weights.sum(axis=1)
    p_o = _divide(weights @ agree, n)
    p_e = _divide(((weights @ onehot_a) * (weights @ onehot_b)).sum(axis=1), n * n)
    kappa = _divide(p_o - p_e, 1 - p_e)
    kappa[np.isclose(p_e, 1.0)] = np.nan
    return kappa, p_o


def mean_resampled(weights: np.ndarray, values: np.ndarray, counted: np.ndarray) -> np.ndarray:
    """Weighted mean of per-unit values over the counted units, per resample."""
    return _divide(weights @ np.where(counted, values, 0.0), weights @ counted.astype(np.float64))
