"""Inter-coder agreement: how far two or more coders (people, or people and the model) agree.

The research this product serves had two researchers code some interviews independently and
discuss to consensus, but reported no agreement statistic. Reviewers of such studies ask for one,
and the model's suggestions must be judged the same way a second coder would be. This module
turns ``(coder, unit, value)`` triples into the usual statistics so the numbers come from one
place (CLI, service, benchmarks) and are checked against published worked examples in the tests.

Conventions
-----------
- A *triple* is ``(coder, unit, value)``. A missing triple, ``None`` or ``NaN`` as value means the
  coder did not code that unit (a missing value). An *empty set* is a real value: the coder read
  the unit and gave it no code.
- Units coded by fewer than two coders are not pairable and do not count in any statistic.
- Statistics that are undefined (no pairable units, or no variation at all so the expected
  disagreement is zero) are ``float('nan')`` in the low-level functions, as in scikit-learn and
  the ``krippendorff`` package, and ``None`` in :func:`agreement_report`, whose output must be JSON.
- Krippendorff's alpha is computed from the coincidence matrix (Krippendorff 2011, "Computing
  Krippendorff's Alpha-Reliability"): ``alpha = 1 - (n - 1) * sum_{c,k} o_ck d_ck /
  sum_{c,k} n_c n_k d_ck``, where ``o_ck`` counts the c-k value pairs within units, each unit
  weighted by ``1 / (m_u - 1)``; nominal alpha uses ``d_ck = 1`` for ``c != k``, MASI alpha uses
  the MASI distance between code sets (Passonneau 2006).
- A coder's codes on a unit are *ordered*: the first is the **main code** (the coder's first
  choice, the model's most confident code). Cohen's kappa and the confusion matrix, which need one
  category per unit, use it (:func:`primary_label`). Values given as a set have no order; their
  main code is the sorted-first, which is arbitrary, so callers pass lists.
- Every coefficient comes with its n (the units it rests on) and a 95% bootstrap percentile
  interval over resampled units (:mod:`training.bootstrap`; the number of resamples and the seed
  are in the report).
- Verdicts are given only from :data:`MIN_UNITS_FOR_VERDICT` units on; below that the verdict is
  ``too_few`` ("te weinig fragmenten"), because a kappa of 1.0 on two segments says nothing.
  Alpha: Krippendorff's reading guide, alpha >= .800 reliable, >= .667 tentative conclusions only,
  below that unreliable. Kappa: Landis & Koch (1977), < 0 poor, up to .20 slight, .40 fair,
  .60 moderate, .80 substantial, above almost perfect.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Callable

import numpy as np

from . import bootstrap

logger = logging.getLogger(__name__)

Triple = tuple[Hashable, Hashable, Any]
Distance = Callable[[Any, Any], float]

NO_CODE = "geen_code"
DIMENSIONS: tuple[str, ...] = ("factor", "richting", "aard")
RELIABLE = 0.800
TENTATIVE = 0.667
MIN_UNITS_FOR_VERDICT = 30
TOO_FEW = "too_few"
# What a research lead reads, so in Dutch; the keys are the verdicts in the JSON.
READING_GUIDE: dict[str, str] = {
    "reliable": "alfa >= 0,800: betrouwbaar; conclusies kunnen op deze codes rusten",
    "tentative": "0,667 <= alfa < 0,800: alleen voorlopige conclusies",
    "unreliable": "alfa < 0,667: onbetrouwbaar; bespreek het codeboek en codeer opnieuw",
    "undefined": "niet te berekenen (geen fragmenten met twee codeurs, of geen variatie in de codes)",
    TOO_FEW: f"te weinig fragmenten: een oordeel pas vanaf {MIN_UNITS_FOR_VERDICT} fragmenten",
}
# Landis & Koch (1977): upper bounds of each band of kappa.
KAPPA_BANDS: tuple[tuple[float, str], ...] = (
    (0.0, "poor"), (0.20, "slight"), (0.40, "fair"), (0.60, "moderate"), (0.80, "substantial"),
    (1.0, "almost_perfect"),
)
KAPPA_GUIDE: dict[str, str] = {
    "poor": "kappa < 0: slechter dan toeval",
    "slight": "0 tot 0,20: geringe overeenstemming",
    "fair": "0,21 tot 0,40: redelijke overeenstemming",
    "moderate": "0,41 tot 0,60: matige overeenstemming",
    "substantial": "0,61 tot 0,80: substantiële overeenstemming",
    "almost_perfect": "0,81 tot 1: (bijna) volledige overeenstemming",
    "undefined": READING_GUIDE["undefined"],
    TOO_FEW: READING_GUIDE[TOO_FEW],
}


# ---------------------------------------------------------------- helpers


def is_missing(value: Any) -> bool:
    """True for the values that mean "not coded": None and NaN."""
    if value is None:
        return True
    return isinstance(value, float) and math.isnan(value)


def _freeze(value: Any) -> Any:
    """Make a value hashable: sets become frozensets (lists too, since codes are unordered)."""
    if isinstance(value, (set, frozenset, list)):
        return frozenset(value)
    return value


def _sort_key(value: Any) -> tuple[str, str]:
    """Order values of mixed types deterministically (labels, numbers, frozensets)."""
    if isinstance(value, frozenset):
        return ("set", repr(sorted(map(repr, value))))
    return (type(value).__name__, repr(value))


def _jsonable(value: Any) -> Any:
    """Frozensets to sorted lists, tuples to lists, NaN to None, so json.dumps accepts the report."""
    if isinstance(value, frozenset):
        return sorted((_jsonable(v) for v in value), key=lambda v: repr(v))
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _nan_to_none(value: float) -> float | None:
    return None if math.isnan(value) else value


def interpret_alpha(alpha: float | None, n_units: int | None = None) -> str:
    """The reading-guide verdict for an alpha: reliable, tentative, unreliable or undefined.

    With ``n_units`` below :data:`MIN_UNITS_FOR_VERDICT` the verdict is ``too_few``.
    """
    if alpha is None or math.isnan(alpha):
        return "undefined"
    if n_units is not None and n_units < MIN_UNITS_FOR_VERDICT:
        return TOO_FEW
    if alpha >= RELIABLE:
        return "reliable"
    if alpha >= TENTATIVE:
        return "tentative"
    return "unreliable"


def interpret_kappa(kappa: float | None, n_units: int | None = None) -> str:
    """Landis & Koch's band for a kappa (poor ... almost_perfect), ``too_few`` below 30 units."""
    if kappa is None or math.isnan(kappa):
        return "undefined"
    if n_units is not None and n_units < MIN_UNITS_FOR_VERDICT:
        return TOO_FEW
    if kappa < 0:
        return "poor"
    return next(name for bound, name in KAPPA_BANDS[1:] if kappa <= bound + 1e-12)


def units_from_triples(triples: Iterable[Triple]) -> dict[Hashable, dict[Hashable, Any]]:
    """``{unit: {coder: value}}`` in order of first appearance, missing values dropped.

    A coder who gives the same unit a value twice is an input error (which one counts?), except
    for set values, which are merged: a coder may send one triple per code.
    """
    units: dict[Hashable, dict[Hashable, Any]] = {}
    for coder, unit, value in triples:
        if is_missing(value):
            continue
        value = _freeze(value)
        per_coder = units.setdefault(unit, {})
        if coder in per_coder:
            old = per_coder[coder]
            if isinstance(old, frozenset) and isinstance(value, frozenset):
                per_coder[coder] = old | value
                continue
            if old != value:
                raise ValueError(f"coder {coder!r} gives unit {unit!r} two values: {old!r} and {value!r}")
            continue
        per_coder[coder] = value
    return units


def reliability_matrix(triples: Iterable[Triple]) -> tuple[list[Hashable], list[Hashable], list[list[Any]]]:
    """(coders, units, matrix) with matrix[coder][unit] = value or None, as the krippendorff package takes it."""
    units = units_from_triples(triples)
    coders = sorted({c for per in units.values() for c in per}, key=_sort_key)
    unit_ids = list(units)
    matrix = [[units[u].get(c) for u in unit_ids] for c in coders]
    return coders, unit_ids, matrix


def _pairable_values(units: Mapping[Hashable, Mapping[Hashable, Any]]) -> list[list[Any]]:
    return [list(per.values()) for per in units.values() if len(per) >= 2]


# ---------------------------------------------------------------- simple statistics


def percent_agreement(triples: Iterable[Triple]) -> float:
    """Share of agreeing coder pairs, averaged over pairable units.

    With two coders this is the familiar share of units on which both gave the same value; with
    more coders each unit contributes the share of its coder pairs that agree.
    """
    shares = []
    for values in _pairable_values(units_from_triples(triples)):
        pairs = list(combinations(values, 2))
        shares.append(sum(a == b for a, b in pairs) / len(pairs))
    return sum(shares) / len(shares) if shares else float("nan")


def cohen_kappa(labels_a: Sequence[Hashable], labels_b: Sequence[Hashable]) -> float:
    """Cohen's kappa for two coders who labelled the same units (position i = unit i).

    ``kappa = (p_o - p_e) / (1 - p_e)`` with chance agreement from each coder's own marginals.
    NaN when ``p_e == 1`` (both coders used one and the same label throughout).
    """
    if len(labels_a) != len(labels_b):
        raise ValueError(f"cohen_kappa: {len(labels_a)} labels for coder a but {len(labels_b)} for coder b")
    n = len(labels_a)
    if n == 0:
        return float("nan")
    labels_a = [_freeze(v) for v in labels_a]
    labels_b = [_freeze(v) for v in labels_b]
    p_o = sum(a == b for a, b in zip(labels_a, labels_b)) / n
    count_a, count_b = Counter(labels_a), Counter(labels_b)
    p_e = sum(count_a[label] * count_b.get(label, 0) for label in count_a) / (n * n)
    if math.isclose(p_e, 1.0):
        return float("nan")
    return (p_o - p_e) / (1 - p_e)


def confusion_matrix(
    labels_a: Sequence[Hashable], labels_b: Sequence[Hashable], labels: Sequence[Hashable] | None = None
) -> dict[str, Any]:
    """Counts of (coder a's label, coder b's label); rows are coder a, columns coder b."""
    if len(labels_a) != len(labels_b):
        raise ValueError("confusion_matrix: both coders need one label per unit")
    labels_a = [_freeze(v) for v in labels_a]
    labels_b = [_freeze(v) for v in labels_b]
    if labels is None:
        labels = sorted(set(labels_a) | set(labels_b), key=_sort_key)
    else:
        labels = [_freeze(v) for v in labels]
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for a, b in zip(labels_a, labels_b):
        if a not in index or b not in index:
            raise ValueError(f"confusion_matrix: label {a if a not in index else b!r} is not in labels")
        matrix[index[a]][index[b]] += 1
    return {"labels": [_jsonable(label) for label in labels], "matrix": matrix}


def disagreements(triples: Iterable[Triple]) -> list[dict[str, Any]]:
    """Pairable units on which not all coders gave the same value, with each coder's value."""
    out = []
    for unit, per in units_from_triples(triples).items():
        if len(per) >= 2 and len(set(per.values())) > 1:
            out.append({
                "unit": _jsonable(unit),
                "values": {str(c): _jsonable(per[c]) for c in sorted(per, key=_sort_key)},
            })
    return out


# ---------------------------------------------------------------- Krippendorff's alpha


def nominal_distance(a: Any, b: Any) -> float:
    """0 for the same value, 1 otherwise."""
    return 0.0 if a == b else 1.0


def masi_distance(a: Iterable[Hashable], b: Iterable[Hashable]) -> float:
    """MASI distance between two sets: ``1 - Jaccard * M`` (Passonneau 2006).

    M is 1 when the sets are identical, 2/3 when one is a subset of the other, 1/3 when they
    overlap otherwise and 0 when disjoint. Two empty sets are identical (distance 0); an empty
    set against a non-empty one is disjoint (distance 1): "no code" is itself a judgement.
    """
    a, b = frozenset(a), frozenset(b)
    if a == b:
        return 0.0
    union = a | b
    inter = a & b
    jaccard = len(inter) / len(union)
    if not inter:
        monotonicity = 0.0
    elif a <= b or b <= a:
        monotonicity = 2 / 3
    else:
        monotonicity = 1 / 3
    return 1.0 - jaccard * monotonicity


def coincidence_matrix(units: Iterable[Sequence[Any]]) -> tuple[list[Any], list[list[float]]]:
    """(values, o) where ``o[c][k]`` is the coincidence of values c and k over pairable units.

    Each unit with ``m_u >= 2`` values adds, for every ordered pair of its values taken from
    different coders, ``1 / (m_u - 1)``; units with fewer values add nothing.
    """
    counts_per_unit = []
    domain: set[Any] = set()
    for values in units:
        values = [_freeze(v) for v in values if not is_missing(v)]
        if len(values) < 2:
            continue
        counts = Counter(values)
        counts_per_unit.append((counts, len(values)))
        domain.update(counts)
    ordered = sorted(domain, key=_sort_key)
    index = {v: i for i, v in enumerate(ordered)}
    o = [[0.0] * len(ordered) for _ in ordered]
    for counts, m in counts_per_unit:
        for c, n_c in counts.items():
            for k, n_k in counts.items():
                pairs = n_c * (n_c - 1) if c == k else n_c * n_k
                o[index[c]][index[k]] += pairs / (m - 1)
    return ordered, o


def alpha_from_coincidences(values: Sequence[Any], o: Sequence[Sequence[float]], distance: Distance) -> float:
    """Krippendorff's alpha from a coincidence matrix and a distance (metric) between values."""
    n_c = [sum(row) for row in o]
    n = sum(n_c)
    if n < 2:
        return float("nan")
    observed = 0.0
    expected = 0.0
    for i, c in enumerate(values):
        for j, k in enumerate(values):
            if i == j:
                continue
            d = distance(c, k)
            observed += o[i][j] * d
            expected += n_c[i] * n_c[j] * d
    if expected == 0:
        return float("nan")
    return 1.0 - (n - 1) * observed / expected


def _units_of(data: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """Columns of a coders x units matrix, missing values dropped."""
    rows = [list(row) for row in data]
    if not rows:
        return []
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        raise ValueError("reliability data: every coder needs one entry per unit (None for missing)")
    return [[row[u] for row in rows if not is_missing(row[u])] for u in range(width)]


def krippendorff_alpha(data: Sequence[Sequence[Any]], level: str = "nominal") -> float:
    """Krippendorff's alpha for reliability data ``data[coder][unit]`` (None or NaN = missing).

    ``level`` is ``"nominal"`` (values are categories) or ``"masi"`` (values are sets of labels,
    compared with :func:`masi_distance`). Any number of coders; missing values allowed.
    """
    if level == "nominal":
        distance: Distance = nominal_distance
    elif level == "masi":
        distance = masi_distance
    else:
        raise ValueError(f"krippendorff_alpha: level {level!r} is not supported (use 'nominal' or 'masi')")
    values, o = coincidence_matrix(_units_of(data))
    return alpha_from_coincidences(values, o, distance)


def alpha_from_triples(triples: Iterable[Triple], level: str = "nominal") -> float:
    """Krippendorff's alpha straight from ``(coder, unit, value)`` triples."""
    _, _, matrix = reliability_matrix(triples)
    return krippendorff_alpha(matrix, level=level)


def masi_alpha(triples: Iterable[Triple]) -> float:
    """Krippendorff's alpha with MASI distance for triples whose values are sets of labels.

    Partial overlap (one coder gives {A, B}, the other {A}) counts as partial agreement, which
    nominal alpha on whole sets would treat as total disagreement.
    """
    return alpha_from_triples(triples, level="masi")


def binary_alpha(triples: Iterable[Triple], label: Hashable) -> dict[str, Any]:
    """Nominal alpha on "label present / absent" per unit per coder, for set-valued triples.

    Returns ``{"alpha", "n_units", "n_present", "reading"}``: ``n_units`` pairable units,
    ``n_present`` units where at least one coder used the label. Alpha is NaN when nobody (or
    everybody, everywhere) used it: with no variation there is nothing to agree about.
    """
    units = units_from_triples(triples)
    pairable = {u: per for u, per in units.items() if len(per) >= 2}
    present = [[label in frozenset(v) for v in per.values()] for per in pairable.values()]
    values, o = coincidence_matrix(present)
    alpha = alpha_from_coincidences(values, o, nominal_distance)
    return {
        "alpha": alpha,
        "n_units": len(pairable),
        "n_present": sum(any(p) for p in present),
        "reading": interpret_alpha(alpha),
    }


# ---------------------------------------------------------------- the report over code sets


Code = tuple[str, str, str]


def _as_code(code: Any) -> Code:
    if isinstance(code, Mapping):
        return (str(code["factor"]), str(code["richting"]), str(code["aard"]))
    if isinstance(code, (tuple, list)) and len(code) == 3:
        return (str(code[0]), str(code[1]), str(code[2]))
    raise ValueError(f"a code must be (factor, richting, aard), not {code!r}")


def code_label(code: Code, dimension: str) -> str:
    """The label of a code at one dimension; each dimension includes the ones before it.

    ``factor`` -> ``"ervaren_ruimte"``; ``richting`` -> ``"ervaren_ruimte PO"``;
    ``aard`` -> ``"ervaren_ruimte PO/+"`` (the full code, named as in the REFI-QDA export).
    A richting or aard on its own ("PO", "+") means nothing without its factor: pooling the
    PO's of different factors would mostly measure factor agreement again.
    """
    factor, richting, aard = code
    if dimension == "factor":
        return factor
    if dimension == "richting":
        return f"{factor} {richting}"
    if dimension == "aard":
        return f"{factor} {richting}/{aard}"
    raise ValueError(f"unknown dimension {dimension!r}; use one of {', '.join(DIMENSIONS)}")


def primary_label(labels: Iterable[str]) -> str:
    """A unit's codes reduced to one label: the main code, or ``geen_code`` when there is none.

    Cohen's kappa and a confusion matrix need one category per unit while a segment may carry
    several codes. For an ordered sequence the main code is its first label (the coder's first
    choice, the model's most confident code). A set has no order: its sorted-first label is
    taken, arbitrary but the same for every coder. A unit with no code gets its own category
    ``geen_code`` because "no code" is a coding decision too.
    """
    if isinstance(labels, (set, frozenset)):
        ordered = sorted(labels)
    else:
        ordered = list(labels)
    return ordered[0] if ordered else NO_CODE


@dataclass(frozen=True)
class Coding:
    """One coder's codes on one unit: the set (for alpha) and the main label (for kappa)."""

    labels: frozenset[str]
    main: str


def _ordered_unique(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def _interval(values: Any, resamples: bootstrap.Resamples | None) -> list[float] | None:
    return None if resamples is None else bootstrap.percentile_interval(values)


def _dimension_report(codings: dict[Hashable, dict[Hashable, Coding]], coders: list[Hashable],
                      labels: Sequence[str] | None, resamples: bootstrap.Resamples | None) -> dict[str, Any]:
    set_triples = [(c, u, v.labels) for u, per in codings.items() for c, v in per.items()]
    primary_triples = [(c, u, v.main) for u, per in codings.items() for c, v in per.items()]
    pairable = [u for u, per in codings.items() if len(per) >= 2]
    n_units = len(pairable)
    weights = resamples.columns(list(codings)) if resamples is not None else None

    pairs = []
    for a, b in combinations(coders, 2):
        shared = [u for u in codings if a in codings[u] and b in codings[u]]
        la = [codings[u][a].main for u in shared]
        lb = [codings[u][b].main for u in shared]
        kappa = cohen_kappa(la, lb)
        pair = {
            "coders": [str(a), str(b)],
            "n_units": len(shared),
            "percent_agreement": _nan_to_none(sum(x == y for x, y in zip(la, lb)) / len(shared)) if shared else None,
            "kappa": _nan_to_none(kappa),
            "kappa_verdict": interpret_kappa(kappa, len(shared)),
            "confusion_matrix": confusion_matrix(la, lb),
        }
        pair["kappa_ci"] = pair["percent_agreement_ci"] = None
        if resamples is not None:
            if shared:
                kappas, shares = bootstrap.kappa_resampled(resamples.columns(shared), la, lb)
            else:
                kappas = shares = []
            pair["kappa_ci"] = _interval(kappas, resamples)
            pair["percent_agreement_ci"] = _interval(shares, resamples)
        pairs.append(pair)

    alpha_nominal = alpha_from_triples(set_triples, "nominal")
    alpha_primary = alpha_from_triples(primary_triples, "nominal")
    alpha_masi = alpha_from_triples(set_triples, "masi")
    all_labels = sorted(set(labels or ()) | {lab for per in codings.values() for v in per.values() for lab in v.labels})
    binary = {}
    for label in all_labels:
        result = binary_alpha(set_triples, label)
        result["alpha"] = _nan_to_none(result["alpha"])
        result["reading"] = interpret_alpha(result["alpha"], result["n_units"])
        binary[label] = result
    report: dict[str, Any] = {
        "n_units": n_units,
        "percent_agreement": _nan_to_none(percent_agreement(set_triples)),
        "percent_agreement_primary": _nan_to_none(percent_agreement(primary_triples)),
        "kappa_pairs": pairs,
        "alpha_nominal": _nan_to_none(alpha_nominal),
        "alpha_nominal_primary": _nan_to_none(alpha_primary),
        "alpha_masi": _nan_to_none(alpha_masi),
        "reading": {
            "alpha_nominal": interpret_alpha(alpha_nominal, n_units),
            "alpha_nominal_primary": interpret_alpha(alpha_primary, n_units),
            "alpha_masi": interpret_alpha(alpha_masi, n_units),
        },
        "binary_alpha": binary,
        "disagreements": disagreements(set_triples),
    }
    # The interval keys are always there (None without resamples), so readers need no special case.
    for key in ("alpha_nominal", "alpha_nominal_primary", "alpha_masi", "percent_agreement",
                "percent_agreement_primary"):
        report[f"{key}_ci"] = None
    for result in binary.values():
        result["alpha_ci"] = None
    if weights is not None:
        sets = [list(per[c].labels for c in per) for per in codings.values()]
        mains = [[per[c].main for c in per] for per in codings.values()]
        counted = np.array([len(per) >= 2 for per in codings.values()])
        report["alpha_nominal_ci"] = _interval(bootstrap.alpha_resampled(weights, sets), resamples)
        report["alpha_nominal_primary_ci"] = _interval(
            bootstrap.alpha_resampled(weights, mains), resamples)
        report["alpha_masi_ci"] = _interval(bootstrap.alpha_resampled(weights, sets, "masi"), resamples)
        report["percent_agreement_ci"] = _interval(
            bootstrap.mean_resampled(weights, np.array([_pair_share(v) for v in sets]), counted), resamples)
        report["percent_agreement_primary_ci"] = _interval(
            bootstrap.mean_resampled(weights, np.array([_pair_share(v) for v in mains]), counted), resamples)
        if all_labels:
            present = np.array([[sum(label in per[c].labels for c in per) for label in all_labels]
                                for per in codings.values()], dtype=np.float64).reshape(len(codings), len(all_labels))
            n_coders = np.array([len(per) for per in codings.values()], dtype=np.float64)
            alphas = bootstrap.binary_alpha_resampled(weights, present, n_coders)
            for j, label in enumerate(all_labels):
                binary[label]["alpha_ci"] = _interval(alphas[:, j], resamples)
    return report


def _pair_share(values: Sequence[Any]) -> float:
    """Share of agreeing coder pairs on one unit (NaN when it has fewer than two values)."""
    pairs = list(combinations(values, 2))
    return sum(a == b for a, b in pairs) / len(pairs) if pairs else float("nan")


def _codes_in_order(value: Any) -> list[Code]:
    """A coder's codes as an ordered list; a single code passed on its own becomes a list of one."""
    if isinstance(value, Mapping) or (
        isinstance(value, tuple) and len(value) == 3 and all(isinstance(v, str) for v in value)
    ):
        value = [value]
    if isinstance(value, (set, frozenset)):
        # A set carries no main code: order it so the choice is at least the same for every coder.
        return sorted(_as_code(c) for c in value)
    return _ordered_unique(_as_code(c) for c in value)


def agreement_report(
    triples: Iterable[tuple[Hashable, Hashable, Iterable[Any] | None]],
    dimension: str | Sequence[str] = DIMENSIONS,
    labels: Mapping[str, Sequence[str]] | None = None,
    resamples: int = bootstrap.DEFAULT_RESAMPLES,
    seed: int | None = bootstrap.DEFAULT_SEED,
) -> dict[str, Any]:
    """Agreement between coders on code sets, per dimension, as plain JSON-serialisable dicts.

    ``triples`` are ``(coder, unit_id, codes)`` with ``codes`` a list of ``(factor, richting,
    aard)`` codes, main code first (an empty list = coded, no code; ``None`` = not coded). Several
    triples for the same coder and unit are merged (the first triple's first code stays the main
    code). ``dimension`` is one of ``factor``, ``richting``, ``aard`` or a sequence of them; see
    :func:`code_label` for what each compares. ``resamples`` bootstrap resamples of the units
    (0: no intervals) drawn with ``seed`` give the 95% intervals.

    Per dimension:

    - ``n_units``: pairable units (coded by at least two coders): the n of every alpha and of
      the percent agreements;
    - ``percent_agreement``: coder pairs with exactly the same set of labels, averaged over units;
      ``percent_agreement_primary``: the same on the main label only;
    - ``kappa_pairs``: per pair of coders, over the units both coded (``n_units``): Cohen's kappa,
      percent agreement and a confusion matrix on the *main* label (:func:`primary_label`;
      ``geen_code`` when the coder gave none), and ``kappa_verdict`` (Landis & Koch);
    - ``alpha_nominal``: Krippendorff's alpha over all coders with each distinct label set as a
      category (any difference is total disagreement); ``alpha_nominal_primary`` the same on the
      main label; ``alpha_masi``: alpha with MASI distance, so partial overlap counts partly;
    - ``reading``: the reading-guide verdict per alpha (:data:`READING_GUIDE`);
    - ``binary_alpha``: per label (factor, factor+richting or full code), nominal alpha on
      present/absent with ``n_units``, ``n_present`` (units where any coder used it), ``reading``
      and ``alpha_ci``; ``labels`` may name labels per dimension to include even when unused;
    - ``*_ci``: the 95% bootstrap percentile interval ``[low, high]`` of each coefficient, or
      ``None`` (no resamples asked, or the coefficient undefined in most resamples);
    - ``disagreements``: units where the coders' label sets differ, with each coder's set.

    Verdicts are ``too_few`` below :data:`MIN_UNITS_FOR_VERDICT` units. Undefined statistics are
    ``None``.
    """
    dims = (dimension,) if isinstance(dimension, str) else tuple(dimension)
    for dim in dims:
        if dim not in DIMENSIONS:
            raise ValueError(f"unknown dimension {dim!r}; use one of {', '.join(DIMENSIONS)}")

    codes: dict[Hashable, dict[Hashable, list[Code]]] = {}
    for coder, unit, value in triples:
        if value is None or is_missing(value):
            continue
        per = codes.setdefault(unit, {})
        per[coder] = _ordered_unique([*per.get(coder, []), *_codes_in_order(value)])
    coders = sorted({c for per in codes.values() for c in per}, key=_sort_key)
    logger.debug("agreement report: %d coders, %d units", len(coders), len(codes))

    drawn = bootstrap.draw(list(codes), resamples, seed) if resamples > 0 else None
    report: dict[str, Any] = {
        "coders": [str(c) for c in coders],
        "n_units_total": len(codes),
        "reading_guide": dict(READING_GUIDE),
        "kappa_guide": dict(KAPPA_GUIDE),
        "min_units_for_verdict": MIN_UNITS_FOR_VERDICT,
        "bootstrap": {"resamples": resamples if drawn is not None else 0, "seed": seed, "level": bootstrap.LEVEL,
                      "method": "percentile", "unit": "segment"},
        "dimensions": {},
    }
    for dim in dims:
        codings = {u: {c: Coding(frozenset(code_label(code, dim) for code in v),
                                 primary_label([code_label(code, dim) for code in v]))
                       for c, v in per.items()} for u, per in codes.items()}
        report["dimensions"][dim] = _dimension_report(codings, coders, (labels or {}).get(dim), drawn)
    return report
