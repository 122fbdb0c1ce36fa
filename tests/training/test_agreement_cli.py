"""`codeerhulp agreement` on a small fixture whose kappa and alpha are known by hand."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from service.cli import main
from tests.fixtures.batch_material import interview_text
from training.annotate import annotate

A = ("ervaren_ruimte", "PO", "+")
B = ("facilitering", "-", "-")
# Ten segments; the coders differ on two (5 and 10). By hand: p_o = .8, p_e = .5*.5 + .5*.5 = .5,
# kappa = (.8 - .5) / (1 - .5) = .600. Alpha (nominal, 2 coders, 20 values): o_AB = o_BA = 2,
# n_A = n_B = 10, alpha = 1 - 19 * 4 / (2 * 10 * 10) = .620.
ANNE = [A, A, A, A, A, B, B, B, B, B]
BOB = [A, A, A, A, B, B, B, B, B, A]


@pytest.fixture(scope="module")
def material(tmp_path_factory, trained_models_dir) -> tuple[Path, Path, Path, Path]:
    folder = tmp_path_factory.mktemp("in")
    (folder / "L1_start.txt").write_text(interview_text("L1", 10), encoding="utf-8")
    out = tmp_path_factory.mktemp("out")
    assert annotate([folder], out, models_dir=trained_models_dir).exit_code == 0
    files = []
    for coder, codes in (("anne", ANNE), ("bob", BOB)):
        path = out.parent / f"{coder}.jsonl"
        path.write_text("".join(json.dumps({"segment_id": f"L1_start-{i:04d}", "coder": coder, "factor": f,
                                            "richting": r, "aard": a}) + "\n"
                                for i, (f, r, a) in enumerate(codes, 1)), encoding="utf-8")
        files.append(path)
    return out, files[0], files[1], folder


def test_known_kappa_and_alpha(material, tmp_path, capsys):
    out, anne, bob, _ = material
    report_dir = tmp_path / "rapport"
    rc = main(["agreement", str(anne), str(bob), "-o", str(report_dir)])
    stdout = capsys.readouterr().out
    assert rc == 0
    assert "kappa anne ~ bob: 0.600 [" in stdout and "(te weinig fragmenten) op 10 fragmenten" in stdout
    assert "1000 trekkingen" in stdout
    report = json.loads((report_dir / "agreement.json").read_text(encoding="utf-8"))
    factor = report["dimensions"]["factor"]
    # Ten segments: intervals, but no verdict.
    low, high = factor["kappa_pairs"][0]["kappa_ci"]
    assert low < 0.6 < high
    assert factor["reading"]["alpha_nominal"] == "too_few" and factor["kappa_pairs"][0]["kappa_verdict"] == "too_few"
    assert report["bootstrap"]["resamples"] == 1000
    # Every column is explained, in Dutch, with the run's number of resamples.
    assert {"n", "percent_agreement", "percent_agreement_primary", "kappa", "alpha_nominal", "alpha_masi",
            "alpha_nominal_primary", "binary_alpha", "interval", "verdict"} <= set(report["columns"])
    assert "1000 keer" in report["columns"]["interval"]
    assert "hoofdcode" in report["columns"]["percent_agreement_primary"]
    assert factor["n_units"] == 10
    assert factor["percent_agreement"] == pytest.approx(0.8)
    assert factor["kappa_pairs"][0]["kappa"] == pytest.approx(0.600, abs=5e-4)
    assert factor["alpha_nominal"] == pytest.approx(0.620, abs=5e-4)
    assert factor["binary_alpha"]["ervaren_ruimte"]["alpha"] == pytest.approx(0.620, abs=5e-4)
    assert factor["kappa_pairs"][0]["confusion_matrix"] == {"labels": ["ervaren_ruimte", "facilitering"],
                                                            "matrix": [[4, 1], [1, 4]]}
    side = {d["unit"]: d for d in report["side_by_side"]}
    assert set(side) == {"L1_start-0005", "L1_start-0010"}
    assert side["L1_start-0005"]["values"] == {"anne": ["ervaren_ruimte PO/+"], "bob": ["facilitering -/-"]}

    html = (report_dir / "agreement.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 2  # confusion heatmap and alpha per factor
    assert not re.search(r"(src|href)=\"https?:", html)  # self-contained: no CDN, no remote images
    assert "0.600" in html and "0.620" in html
    assert "te weinig fragmenten" in html and "Wat de kolommen betekenen" in html and "% gelijke hoofdcode" in html
    assert "betrouwbaar</span>" not in html  # no verdict on ten segments
    # The command ends by naming what it wrote; a second run replaces the same files.
    assert "geschreven: " in stdout and "agreement.html" in stdout.split("geschreven: ")[1]
    assert main(["agreement", str(anne), str(bob), "-o", str(report_dir), "--resamples", "0"]) == 0
    again = capsys.readouterr().out
    assert "vervangen: " in again and "agreement.json" in again.split("vervangen: ")[1]
    assert json.loads((report_dir / "agreement.json").read_text(encoding="utf-8"))["dimensions"]["factor"][
        "alpha_nominal_ci"] is None


def test_the_report_counts_decisions_made_blind_from_the_decisions_files(material, tmp_path, capsys):
    """A decisions file may say per row whether its coder decided blind; the report counts it, and
    says of how many it is not known (the same sentence the service's page shows)."""
    out, anne, bob, _ = material
    rows = [json.loads(line) for line in anne.read_text(encoding="utf-8").splitlines()]
    marked = tmp_path / "anne_blind.csv"
    marked.write_text("segment_id,coder,factor,richting,aard,blind\n" + "".join(
        f"{r['segment_id']},anne,{r['factor']},{r['richting']},{r['aard']},{'ja' if i < 7 else 'nee'}\n"
        for i, r in enumerate(rows)), encoding="utf-8")
    report_dir = tmp_path / "rapport"
    assert main(["agreement", str(marked), str(bob), "-o", str(report_dir), "--resamples", "0"]) == 0
    report = json.loads((report_dir / "agreement.json").read_text(encoding="utf-8"))
    assert report["blind_decisions"] == {"compared": 20, "blind": 7, "unknown": 10}  # bob's file has no column
    html = (report_dir / "agreement.html").read_text(encoding="utf-8")
    assert "Blind gecodeerd: 7 van 20 vergeleken besluiten (van 10 is het niet bekend)." in html
    assert "Blind gecodeerd: 7 van 20 vergeleken besluiten (van 10 is het niet bekend)" in capsys.readouterr().out

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("segment_id,coder,factor,richting,aard,blind\nL1_start-0001,anne,,,,misschien\n",
                     encoding="utf-8")
    capsys.readouterr()
    assert main(["agreement", str(wrong), str(bob), "-o", str(tmp_path / "x")]) == 2
    assert "wrong.csv: rij 2: blind 'misschien' is geen ja of nee" in capsys.readouterr().err


def test_model_as_a_coder_and_usage_errors(material, tmp_path, capsys):
    out, anne, bob, _ = material
    rc = main(["agreement", str(out), str(anne), "--coders", "anne,model", "-o", str(tmp_path / "r")])
    assert rc == 0
    report = json.loads((tmp_path / "r" / "agreement.json").read_text(encoding="utf-8"))
    assert report["coders"] == ["anne", "model"] and report["dimensions"]["factor"]["n_units"] == 10
    capsys.readouterr()
    assert main(["agreement", str(anne), "-o", str(tmp_path / "r2")]) == 2
    assert "minstens twee codeurs" in capsys.readouterr().err
    assert main(["agreement", str(anne), str(bob), "--coders", "anne,carla", "-o", str(tmp_path / "r3")]) == 2


def test_the_model_is_judged_on_what_it_suggests_not_on_a_lower_cut(material, tmp_path, trained_models_dir, capsys):
    out, anne, _, folder = material
    low = tmp_path / "laag"
    # Annotated with every factor listed: the folder keeps the model's own suggestions apart.
    assert annotate([folder], low,
                    models_dir=trained_models_dir, min_confidence=0.0).exit_code == 0
    records = [json.loads(line) for line in (low / "annotations.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all(len(r["codes"]) > len(r["rule_codes"]) for r in records)
    rc = main(["agreement", str(low), str(anne), "--coders", "anne,model", "-o", str(tmp_path / "r"),
               "--resamples", "0"])
    assert rc == 0
    report = json.loads((tmp_path / "r" / "agreement.json").read_text(encoding="utf-8"))
    normal = json.loads(_model_report(out, anne, tmp_path / "r2"))
    # The same model, the same segments: the same agreement as from a folder annotated at its threshold.
    assert report["dimensions"]["aard"]["alpha_masi"] == normal["dimensions"]["aard"]["alpha_masi"]
    model_main = {d["unit"]: d["values"]["model"] for d in report["side_by_side"]}
    for record in records:
        if record["id"] in model_main and record["rule_codes"]:
            best = record["rule_codes"][0]
            assert model_main[record["id"]][0] == f"{best['factor']} {best['richting']}/{best['aard']}"


def _model_report(out: Path, anne: Path, outdir: Path) -> str:
    assert main(["agreement", str(out), str(anne), "--coders", "anne,model", "-o", str(outdir),
                 "--resamples", "0"]) == 0
    return (outdir / "agreement.json").read_text(encoding="utf-8")
