"""Agreement statistics against published worked examples and two independent implementations."""

from __future__ import annotations

import json
import math
import random

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from training.agreement import (
    NO_CODE,
    agreement_report,
    alpha_from_triples,
    binary_alpha,
    code_label,
    cohen_kappa,
    coincidence_matrix,
    confusion_matrix,
    disagreements,
    interpret_alpha,
    krippendorff_alpha,
    masi_alpha,
    masi_distance,
    percent_agreement,
    primary_label,
    reliability_matrix,
)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers x 12
# units, nominal data with missing values. Published: alpha nominal = 0.743.
K_A = [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None]
K_B = [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3]
K_C = [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None]
K_D = [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None]
KRIPPENDORFF_2011 = [K_A, K_B, K_C, K_D]


def _as_float_array(data: list[list[object]]) -> np.ndarray:
    return np.array([[np.nan if v is None else float(v) for v in row] for row in data], dtype=float)


def _triples(data: list[list[object]]) -> list[tuple[str, int, object]]:
    return [(f"c{i}", u, v) for i, row in enumerate(data) for u, v in enumerate(row)]


# ---------------------------------------------------------------- Krippendorff's alpha


def test_krippendorff_2011_nominal_example() -> None:
    assert round(krippendorff_alpha(KRIPPENDORFF_2011, "nominal"), 3) == 0.743


def test_krippendorff_2011_coincidence_totals() -> None:
    # The paper's coincidence matrix has n.. = 40 pairable values (unit 12 has one value only).
    values, o = coincidence_matrix(list(zip(*KRIPPENDORFF_2011)))
    totals = {v: sum(row) for v, row in zip(values, o)}
    assert math.isclose(sum(totals.values()), 40)
    assert {v: round(t, 3) for v, t in totals.items()} == {1: 9.0, 2: 13.0, 3: 10.0, 4: 5.0, 5: 3.0}


def test_krippendorff_2011_from_triples_matches_matrix() -> None:
    assert round(alpha_from_triples(_triples(KRIPPENDORFF_2011)), 3) == 0.743


def test_wikipedia_example_nominal() -> None:
    # The 3 coders x 15 units example of the Wikipedia article (also in the krippendorff package
    # README): alpha nominal = 0.691.
    rows = [
        "*    *    *    *    *    3    4    1    2    1    1    3    3    *    3",
        "1    *    2    1    3    3    4    3    *    *    *    *    *    *    *",
        "*    *    2    1    3    4    4    *    2    1    1    3    3    *    4",
    ]
    data = [[None if v == "*" else int(v) for v in row.split()] for row in rows]
    assert round(krippendorff_alpha(data), 3) == 0.691


def test_krippendorff_package_agrees_on_paper_example() -> None:
    ours = krippendorff_alpha(KRIPPENDORFF_2011)
    theirs = krippendorff.alpha(reliability_data=_as_float_array(KRIPPENDORFF_2011), level_of_measurement="nominal")
    assert ours == pytest.approx(theirs, abs=1e-9)


@pytest.mark.parametrize("seed", range(25))
def test_krippendorff_package_agrees_on_random_data(seed: int) -> None:
    rng = random.Random(seed)
    n_coders = rng.randint(2, 6)
    n_units = rng.randint(5, 60)
    n_values = rng.randint(2, 6)
    missing = rng.choice([0.0, 0.1, 0.3])
    truth = [rng.randint(1, n_values) for _ in range(n_units)]
    data = [
        [None if rng.random() < missing else (t if rng.random() < 0.7 else rng.randint(1, n_values)) for t in truth]
        for _ in range(n_coders)
    ]
    data[0][0], data[1][0] = 1, 2  # at least two values in the domain, or alpha is undefined in both
    ours = krippendorff_alpha(data)
    theirs = krippendorff.alpha(reliability_data=_as_float_array(data), level_of_measurement="nominal")
    assert ours == pytest.approx(theirs, abs=1e-9)


def test_alpha_undefined_without_variation() -> None:
    assert math.isnan(krippendorff_alpha([[1, 1, 1], [1, 1, 1]]))
    assert math.isnan(krippendorff_alpha([[1, None], [None, 2]]))  # no pairable unit


def test_alpha_perfect_and_nan_missing() -> None:
    assert krippendorff_alpha([[1, 2, float("nan")], [1, 2, 3]]) == pytest.approx(1.0)


# ---------------------------------------------------------------- Cohen's kappa


def test_cohen_kappa_textbook_2x2() -> None:
    # 50 units; both yes 20, a yes / b no 5, a no / b yes 10, both no 15: p_o = .70, p_e = .50.
    a = ["ja"] * 20 + ["ja"] * 5 + ["nee"] * 10 + ["nee"] * 15
    b = ["ja"] * 20 + ["nee"] * 5 + ["ja"] * 10 + ["nee"] * 15
    assert round(cohen_kappa(a, b), 3) == 0.400
    assert confusion_matrix(a, b) == {"labels": ["ja", "nee"], "matrix": [[20, 5], [10, 15]]}


@pytest.mark.parametrize("seed", range(25))
def test_cohen_kappa_matches_sklearn(seed: int) -> None:
    rng = random.Random(seed)
    labels = [f"code_{i}" for i in range(rng.randint(2, 7))]
    a = [rng.choice(labels) for _ in range(rng.randint(10, 200))]
    b = [x if rng.random() < 0.6 else rng.choice(labels) for x in a]
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b), abs=1e-9)


def test_cohen_kappa_undefined_and_length_check() -> None:
    assert math.isnan(cohen_kappa(["x", "x"], ["x", "x"]))
    with pytest.raises(ValueError):
        cohen_kappa(["x"], ["x", "y"])


# ---------------------------------------------------------------- MASI


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ({"a", "b"}, {"a", "b"}, 0.0),  # identical
        ({"a"}, {"a", "b"}, 0.667),  # subset: J = 1/2, M = 2/3
        ({"a", "b"}, {"b", "c"}, 0.889),  # overlap: J = 1/3, M = 1/3
        ({"a", "b", "c"}, {"a"}, 0.778),  # subset: J = 1/3, M = 2/3
        ({"a"}, {"b"}, 1.0),  # disjoint
        (set(), set(), 0.0),
        (set(), {"a"}, 1.0),
    ],
)
def test_masi_distance_hand_cases(a: set[str], b: set[str], expected: float) -> None:
    assert round(masi_distance(a, b), 3) == expected
    assert masi_distance(a, b) == masi_distance(b, a)


def test_masi_alpha_hand_case() -> None:
    # Units: ({a},{a}), ({a,b},{a}), ({b},{c}). Within-unit distances 0, 2/3, 1 (sum over ordered
    # pairs 10/3); over all 6 pooled values the ordered-pair distances sum to 64/3; n = 6.
    # alpha = 1 - 5 * (10/3) / (64/3) = 0.21875.
    triples = [("x", 1, {"a"}), ("y", 1, {"a"}), ("x", 2, {"a", "b"}), ("y", 2, {"a"}), ("x", 3, {"b"}), ("y", 3, {"c"})]
    assert masi_alpha(triples) == pytest.approx(0.21875)
    # Nominal alpha on whole sets counts the subset as total disagreement, so it is lower.
    assert alpha_from_triples(triples, "nominal") < masi_alpha(triples)


def test_masi_alpha_equals_nominal_on_singletons() -> None:
    sets = [[{v} if v is not None else None for v in row] for row in KRIPPENDORFF_2011]
    assert krippendorff_alpha(sets, "masi") == pytest.approx(krippendorff_alpha(KRIPPENDORFF_2011))


# ---------------------------------------------------------------- simple statistics


def test_percent_agreement_and_disagreements() -> None:
    triples = [("a", 1, "x"), ("b", 1, "x"), ("a", 2, "x"), ("b", 2, "y"), ("a", 3, "z")]
    assert percent_agreement(triples) == pytest.approx(0.5)  # unit 3 is not pairable
    assert disagreements(triples) == [{"unit": 2, "values": {"a": "x", "b": "y"}}]
    three = [("a", 1, "x"), ("b", 1, "x"), ("c", 1, "y")]
    assert percent_agreement(three) == pytest.approx(1 / 3)


def test_reliability_matrix_and_duplicates() -> None:
    coders, units, matrix = reliability_matrix([("b", "u1", 1), ("a", "u2", 2), ("a", "u1", 1)])
    assert coders == ["a", "b"] and units == ["u1", "u2"]
    assert matrix == [[1, 2], [1, None]]
    with pytest.raises(ValueError):
        reliability_matrix([("a", "u1", 1), ("a", "u1", 2)])


def test_binary_alpha_matches_package() -> None:
    rng = random.Random(7)
    labels = ["p", "q", "r"]
    triples = []
    for unit in range(40):
        base = {lab for lab in labels if rng.random() < 0.4}
        for coder in ("a", "b", "c"):
            if rng.random() < 0.1:
                continue
            triples.append((coder, unit, {lab for lab in labels if (lab in base) != (rng.random() < 0.15)}))
    for label in labels:
        result = binary_alpha(triples, label)
        coders, units, matrix = reliability_matrix(triples)
        data = [[np.nan if v is None else float(label in v) for v in row] for row in matrix]
        expected = krippendorff.alpha(reliability_data=np.array(data), level_of_measurement="nominal")
        assert result["alpha"] == pytest.approx(expected, abs=1e-9)
        assert result["reading"] == interpret_alpha(expected)


def test_reading_guide_thresholds() -> None:
    assert interpret_alpha(0.80) == "reliable"
    assert interpret_alpha(0.7999) == "tentative"
    assert interpret_alpha(0.667) == "tentative"
    assert interpret_alpha(0.6669) == "unreliable"
    assert interpret_alpha(float("nan")) == "undefined"
    assert interpret_alpha(None) == "undefined"


# ---------------------------------------------------------------- the report


def _report_triples() -> list[tuple[str, str, object]]:
    er_po_plus = ("ervaren_ruimte", "PO", "+")
    er_so_plus = ("ervaren_ruimte", "SO", "+")
    rol_min = ("rol_schoolleiding", "-", "-")
    fac_min = ("facilitering", "-", "-")
    return [
        ("anna", "s1", {er_po_plus}), ("bram", "s1", {er_po_plus}), ("model", "s1", {er_po_plus}),
        ("anna", "s2", {er_po_plus, rol_min}), ("bram", "s2", {er_so_plus, rol_min}), ("model", "s2", {rol_min}),
        ("anna", "s3", set()), ("bram", "s3", set()), ("model", "s3", {fac_min}),
        ("anna", "s4", {fac_min}), ("bram", "s4", {fac_min}),
        ("anna", "s5", {rol_min}), ("bram", "s5", {("rol_schoolleiding", "-", "+")}), ("model", "s5", {rol_min}),
        ("anna", "s6", {er_so_plus}),  # only one coder: not pairable
    ]


def test_code_label_and_primary_label() -> None:
    code = ("ervaren_ruimte", "PO", "+")
    assert [code_label(code, d) for d in ("factor", "richting", "aard")] == [
        "ervaren_ruimte", "ervaren_ruimte PO", "ervaren_ruimte PO/+"]
    assert primary_label({"rol_schoolleiding", "ervaren_ruimte"}) == "ervaren_ruimte"
    assert primary_label(set()) == NO_CODE


def test_agreement_report_structure_and_values() -> None:
    report = agreement_report(_report_triples())
    json.dumps(report, allow_nan=False)  # plain JSON, no NaN
    assert report["coders"] == ["anna", "bram", "model"]
    assert report["n_units_total"] == 6
    assert set(report["dimensions"]) == {"factor", "richting", "aard"}

    factor = report["dimensions"]["factor"]
    assert factor["n_units"] == 5
    assert factor["reading"]["alpha_nominal"] == interpret_alpha(factor["alpha_nominal"])
    # On the factor level anna and bram agree on every unit (s2: both ervaren_ruimte + rol_schoolleiding).
    pair = next(p for p in factor["kappa_pairs"] if p["coders"] == ["anna", "bram"])
    assert pair["n_units"] == 5 and pair["percent_agreement"] == 1.0 and pair["kappa"] == pytest.approx(1.0)
    # The report's kappa is sklearn's kappa on the primary labels.
    model_pair = next(p for p in factor["kappa_pairs"] if p["coders"] == ["anna", "model"])
    a = ["ervaren_ruimte", "ervaren_ruimte", NO_CODE, "rol_schoolleiding"]
    m = ["ervaren_ruimte", "rol_schoolleiding", "facilitering", "rol_schoolleiding"]
    assert model_pair["n_units"] == 4
    assert model_pair["kappa"] == pytest.approx(cohen_kappa_score(a, m))
    assert NO_CODE in model_pair["confusion_matrix"]["labels"]

    aard = report["dimensions"]["aard"]
    units_in_dispute = {d["unit"] for d in aard["disagreements"]}
    assert units_in_dispute == {"s2", "s3", "s5"}
    s5 = next(d for d in aard["disagreements"] if d["unit"] == "s5")
    assert s5["values"]["bram"] == ["rol_schoolleiding -/+"]
    assert set(aard["binary_alpha"]) == {
        "ervaren_ruimte PO/+", "ervaren_ruimte SO/+", "facilitering -/-", "rol_schoolleiding -/+", "rol_schoolleiding -/-"}
    fac = report["dimensions"]["factor"]["binary_alpha"]["facilitering"]
    assert fac["n_units"] == 5 and fac["n_present"] == 2
    # MASI gives partial credit for s2 where nominal alpha on whole sets gives none.
    assert aard["alpha_masi"] > aard["alpha_nominal"]


def test_agreement_report_single_dimension_and_undefined() -> None:
    triples = [("a", 1, {("sfeer_plg", "-", "+")}), ("b", 1, {("sfeer_plg", "-", "+")})]
    report = agreement_report(triples, dimension="factor", labels={"factor": ["sfeer_plg", "secties"]})
    dim = report["dimensions"]["factor"]
    assert list(report["dimensions"]) == ["factor"]
    assert dim["alpha_nominal"] is None and dim["reading"]["alpha_nominal"] == "undefined"
    assert dim["percent_agreement"] == 1.0
    assert dim["binary_alpha"]["secties"] == {"alpha": None, "n_units": 1, "n_present": 0, "reading": "undefined"}
    json.dumps(report, allow_nan=False)
    with pytest.raises(ValueError):
        agreement_report(triples, dimension="pool")


def test_agreement_report_merges_and_skips_missing() -> None:
    triples = [
        ("a", 1, [("sfeer_plg", "-", "+")]), ("a", 1, [("secties", "-", "-")]), ("b", 1, None),
        ("b", 1, {("sfeer_plg", "-", "+"), ("secties", "-", "-")}), ("a", 2, ("secties", "-", "+")),
        ("b", 2, {("secties", "-", "+")}),
    ]
    dim = agreement_report(triples, dimension=["aard"])["dimensions"]["aard"]
    assert dim["n_units"] == 2 and dim["percent_agreement"] == 1.0 and dim["disagreements"] == []
