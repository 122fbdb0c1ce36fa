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
    # Five segments are too few for a verdict, whatever the value.
    assert factor["reading"]["alpha_nominal"] == "too_few"
    assert factor["kappa_pairs"][0]["kappa_verdict"] == "too_few"
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
    assert dim["binary_alpha"]["secties"] == {"alpha": None, "n_units": 1, "n_present": 0, "reading": "undefined",
                                              "alpha_ci": None}
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


# ---------------------------------------------------------------- main code, intervals, verdicts


def test_primary_is_the_main_code_not_the_alphabetically_first() -> None:
    rol = ("rol_schoolleiding", "-", "+")
    er = ("ervaren_ruimte", "PO", "+")
    # Both coders give the same two codes; anne chose rol_schoolleiding first, bob ervaren_ruimte.
    triples = [("anne", 1, [rol, er]), ("bob", 1, [er, rol]), ("anne", 2, [er]), ("bob", 2, [er])]
    dim = agreement_report(triples, dimension="factor", resamples=0)["dimensions"]["factor"]
    assert dim["percent_agreement"] == 1.0  # the sets agree
    assert dim["percent_agreement_primary"] == 0.5  # the main codes do not on unit 1
    pair = dim["kappa_pairs"][0]
    assert pair["percent_agreement"] == 0.5
    matrix = pair["confusion_matrix"]
    rows = {label: row for label, row in zip(matrix["labels"], matrix["matrix"])}
    # anne's main code on unit 1 is rol_schoolleiding (row), bob's ervaren_ruimte (column).
    assert rows["rol_schoolleiding"][matrix["labels"].index("ervaren_ruimte")] == 1
    assert primary_label(["rol_schoolleiding", "ervaren_ruimte"]) == "rol_schoolleiding"
    # A second triple for the same coder and unit adds codes but keeps the first main code.
    merged = agreement_report([("a", 1, [rol]), ("a", 1, [er]), ("b", 1, [rol])], "factor", resamples=0)
    assert merged["dimensions"]["factor"]["kappa_pairs"][0]["percent_agreement"] == 1.0


def _coded_units(n: int, seed: int = 3) -> list[tuple[str, int, list]]:
    """Two coders and the model on n units with realistic partial agreement."""
    rng = random.Random(seed)
    factors = [("ervaren_ruimte", "PO", "+"), ("facilitering", "-", "-"), ("sfeer_plg", "-", "+"),
               ("secties", "-", "-")]
    triples = []
    for unit in range(n):
        truth = rng.choice(factors)
        for coder, p_right in (("anne", 0.85), ("bob", 0.75), ("model", 0.6)):
            code = truth if rng.random() < p_right else rng.choice(factors)
            extra = [rng.choice(factors)] if rng.random() < 0.2 else []
            triples.append((coder, unit, [code, *extra]))
    return triples


def test_every_coefficient_has_n_and_a_bootstrap_interval() -> None:
    report = agreement_report(_coded_units(60), resamples=300, seed=11)
    assert report["bootstrap"] == {"resamples": 300, "seed": 11, "level": 0.95, "method": "percentile",
                                   "unit": "segment"}
    json.dumps(report, allow_nan=False)
    for dim in report["dimensions"].values():
        assert dim["n_units"] == 60
        for key in ("percent_agreement", "percent_agreement_primary", "alpha_nominal", "alpha_nominal_primary",
                    "alpha_masi"):
            low, high = dim[f"{key}_ci"]
            assert low <= dim[key] <= high and low < high, key
        for pair in dim["kappa_pairs"]:
            assert pair["n_units"] == 60
            for key in ("kappa", "percent_agreement"):
                low, high = pair[f"{key}_ci"]
                assert low <= pair[key] <= high and low < high
        used = [r for r in dim["binary_alpha"].values() if r["n_present"]]
        assert used and all(r["alpha_ci"] is not None for r in used)
    # The same seed gives the same intervals; another seed other ones.
    again = agreement_report(_coded_units(60), dimension="factor", resamples=300, seed=11)["dimensions"]["factor"]
    other = agreement_report(_coded_units(60), dimension="factor", resamples=300, seed=12)["dimensions"]["factor"]
    assert again["alpha_nominal_ci"] == report["dimensions"]["factor"]["alpha_nominal_ci"]
    assert other["alpha_nominal_ci"] != again["alpha_nominal_ci"]
    # More units, a narrower interval.
    wide = agreement_report(_coded_units(40), "factor", resamples=300)["dimensions"]["factor"]["alpha_nominal_ci"]
    narrow = agreement_report(_coded_units(400), "factor", resamples=300)["dimensions"]["factor"]["alpha_nominal_ci"]
    assert narrow[1] - narrow[0] < wide[1] - wide[0]


def test_resampled_formulas_equal_the_point_estimates_on_the_original_sample() -> None:
    from training import bootstrap

    triples = _coded_units(50)
    sets = {}
    for coder, unit, codes in triples:
        sets.setdefault(unit, {})[coder] = frozenset(c[0] for c in codes)
    units = list(sets)
    once = np.ones((1, len(units)))  # every unit exactly once: the original sample
    values = [list(sets[u].values()) for u in units]
    set_triples = [(c, u, v) for u in units for c, v in sets[u].items()]
    assert bootstrap.alpha_resampled(once, values, masi_distance)[0] == pytest.approx(masi_alpha(set_triples))
    assert bootstrap.alpha_resampled(once, values, "masi")[0] == pytest.approx(masi_alpha(set_triples))
    some = [frozenset(), frozenset({"a"}), frozenset({"a", "b"}), frozenset({"b", "c"}), frozenset({"c"})]
    assert bootstrap.masi_matrix(some) == pytest.approx(np.array([[masi_distance(x, y) for y in some] for x in some]))
    from training.agreement import nominal_distance
    assert bootstrap.alpha_resampled(once, values, nominal_distance)[0] == pytest.approx(
        alpha_from_triples(set_triples))
    assert bootstrap.alpha_resampled(once, values)[0] == pytest.approx(alpha_from_triples(set_triples))  # shortcut
    present = np.array([[sum("secties" in v for v in sets[u].values())] for u in units], dtype=float)
    coders = np.array([len(sets[u]) for u in units], dtype=float)
    assert bootstrap.binary_alpha_resampled(once, present, coders)[0, 0] == pytest.approx(
        binary_alpha(set_triples, "secties")["alpha"])
    a = [sorted(sets[u]["anne"])[0] for u in units]
    b = [sorted(sets[u]["model"])[0] for u in units]
    kappa, share = bootstrap.kappa_resampled(once, a, b)
    assert kappa[0] == pytest.approx(cohen_kappa_score(a, b))
    assert share[0] == pytest.approx(np.mean([x == y for x, y in zip(a, b)]))


def test_no_verdict_below_thirty_segments() -> None:
    few = agreement_report(_coded_units(29), resamples=0)
    enough = agreement_report(_coded_units(30), resamples=0)
    for dim in few["dimensions"].values():
        assert set(dim["reading"].values()) == {"too_few"}
        assert {p["kappa_verdict"] for p in dim["kappa_pairs"]} == {"too_few"}
        assert {r["reading"] for r in dim["binary_alpha"].values()} <= {"too_few", "undefined"}
    for dim in enough["dimensions"].values():
        assert "too_few" not in dim["reading"].values()
        assert {p["kappa_verdict"] for p in dim["kappa_pairs"]} <= {
            "poor", "slight", "fair", "moderate", "substantial", "almost_perfect"}
    assert "te weinig fragmenten" in few["reading_guide"]["too_few"]


def test_landis_koch_bands() -> None:
    from training.agreement import interpret_kappa

    assert [interpret_kappa(k, 100) for k in (-0.1, 0.0, 0.2, 0.21, 0.4, 0.41, 0.6, 0.61, 0.8, 0.81, 1.0)] == [
        "poor", "slight", "slight", "fair", "fair", "moderate", "moderate", "substantial", "substantial",
        "almost_perfect", "almost_perfect"]
    assert interpret_kappa(0.9, 29) == "too_few" and interpret_kappa(None, 100) == "undefined"
    assert interpret_alpha(0.9, 29) == "too_few" and interpret_alpha(0.9, 30) == "reliable"
