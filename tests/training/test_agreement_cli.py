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
def material(tmp_path_factory, trained_models_dir) -> tuple[Path, Path, Path]:
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
    return out, files[0], files[1]


def test_known_kappa_and_alpha(material, tmp_path, capsys):
    out, anne, bob = material
    report_dir = tmp_path / "rapport"
    rc = main(["agreement", str(anne), str(bob), "-o", str(report_dir)])
    stdout = capsys.readouterr().out
    assert rc == 0
    assert "kappa anne ~ bob: 0.600 on 10 segments" in stdout
    report = json.loads((report_dir / "agreement.json").read_text(encoding="utf-8"))
    factor = report["dimensions"]["factor"]
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


def test_model_as_a_coder_and_usage_errors(material, tmp_path, capsys):
    out, anne, bob = material
    rc = main(["agreement", str(out), str(anne), "--coders", "anne,model", "-o", str(tmp_path / "r")])
    assert rc == 0
    report = json.loads((tmp_path / "r" / "agreement.json").read_text(encoding="utf-8"))
    assert report["coders"] == ["anne", "model"] and report["dimensions"]["factor"]["n_units"] == 10
    capsys.readouterr()
    assert main(["agreement", str(anne), "-o", str(tmp_path / "r2")]) == 2
    assert "at least two coders" in capsys.readouterr().err
    assert main(["agreement", str(anne), str(bob), "--coders", "anne,carla", "-o", str(tmp_path / "r3")]) == 2
