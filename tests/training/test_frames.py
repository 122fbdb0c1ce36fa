"""The batch outputs as pandas DataFrames, and the notebook-style example in docs/."""

from __future__ import annotations

import runpy
from pathlib import Path

import pandas as pd
import pytest

from tests.fixtures.batch_material import interview_text
from training.agreement_report import run_agreement
from training.annotate import annotate, load_annotations
from training.frames import agreement_frame, annotations_frame, decisions_frame

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run(tmp_path_factory, trained_models_dir) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("in")
    (folder / "L1_start.txt").write_text(interview_text("L1", 8), encoding="utf-8")
    (folder / "L1_eind.txt").write_text(interview_text("L1", 4), encoding="utf-8")
    out = tmp_path_factory.mktemp("out")
    assert annotate([folder], out, models_dir=trained_models_dir).exit_code == 0
    decisions = out.parent / "anne.csv"
    decisions.write_text("segment_id,coder,factor,richting,aard\n"
                         "L1_start-0001,anne,sfeer_plg,-,veilig-constructief\n"
                         "L1_start-0001,anne,ervaren_ruimte,PO,+\n"
                         "L1_start-0002,anne,,,\n"
                         "L1_eind-0001,anne,dagelijkse_praktijk,PO,-\n", encoding="utf-8")
    return {"out": out, "decisions": decisions}


def test_annotations_frame(run, codebook):
    df = annotations_frame(run["out"], codebook)
    records = load_annotations(run["out"]).records
    assert len(df) == sum(max(1, len(r["codes"])) for r in records)
    # Codebook labels as categoricals in codebook order; richting and aard as their own columns.
    assert list(df["factor"].cat.categories) == [f.id for f in codebook.factors]
    assert list(df["group"].cat.categories) == [g.label for g in codebook.groups]
    assert list(df["richting"].cat.categories) == ["PO", "SO", "-"] and list(df["aard"].cat.categories) == ["+", "-"]
    assert list(df["moment"].cat.categories)[0] == "startinterview"
    first = records[0]
    rows = df[df["segment_id"] == first["id"]]
    assert list(rows["factor"].astype(object)) == [c["factor"] for c in first["codes"]] or first["codes"] == []
    # Rank 0 is the most confident code of each segment.
    coded = df[df["factor"].notna()]
    top = coded.loc[coded.groupby("segment_id")["confidence"].idxmax()]
    assert (top["rank"] == 0).all()
    labels = {f.id: f.label for f in codebook.factors}
    assert all(labels[f] == lab for f, lab in zip(coded["factor"], coded["factor_label"]))
    assert set(df["moment"].dropna()) == {"startinterview", "eindinterview"}
    # Categories make counts list every factor, also unused ones, in codebook order.
    assert len(df["factor"].value_counts(sort=False)) == len(codebook.factors)


def test_decisions_frame(run, codebook):
    df = decisions_frame(run["decisions"], codebook)
    assert len(df) == 4
    first = df[df["segment_id"] == "L1_start-0001"]
    assert list(first["factor"].astype(str)) == ["sfeer_plg", "ervaren_ruimte"] and list(first["rank"]) == [0, 1]
    assert list(first["aard_label"]) == ["veilig-constructief", "veel"]
    assert list(first["aard"].astype(str)) == ["+", "+"]
    no_code = df[df["segment_id"] == "L1_start-0002"].iloc[0]
    assert pd.isna(no_code["factor"]) and no_code["coder"] == "anne"
    assert df.loc[df["segment_id"] == "L1_eind-0001", "group"].iloc[0] == "Impact op professionele ontwikkeling"


def test_agreement_frame(run, codebook, tmp_path):
    report, paths = run_agreement(tmp_path / "r", codebook, annotations_dir=run["out"],
                                  decisions_files=[run["decisions"]], resamples=100)
    df = agreement_frame(tmp_path / "r")
    kappa = df[(df["statistic"] == "kappa") & (df["dimension"] == "factor")].iloc[0]
    pair = report["dimensions"]["factor"]["kappa_pairs"][0]
    assert kappa["coders"] == "anne ~ model" and kappa["value"] == pytest.approx(pair["kappa"])
    assert kappa["n"] == pair["n_units"] and kappa["verdict"] == "too_few"
    alpha = df[(df["statistic"] == "alpha_masi") & (df["dimension"] == "aard")].iloc[0]
    assert [alpha["ci_low"], alpha["ci_high"]] == report["dimensions"]["aard"]["alpha_masi_ci"]
    binary = df[(df["statistic"] == "binary_alpha") & (df["dimension"] == "factor")]
    assert set(binary["label"]) == set(report["dimensions"]["factor"]["binary_alpha"])
    assert agreement_frame(paths["json"]).equals(df)


def test_the_notebook_example_runs_and_makes_a_table_and_a_plot(run, tmp_path, capsys):
    example = runpy.run_path(str(ROOT / "docs" / "analyse_met_pandas.py"))
    plot = tmp_path / "codes.png"
    table = example["main"](str(run["out"]), str(plot))
    assert plot.stat().st_size > 1000 and plot.read_bytes()[:4] == b"\x89PNG"
    # One count per segment with a suggested code: its main code.
    coded = sum(1 for r in load_annotations(run["out"]).records if r["codes"])
    assert int(table.values.sum()) == coded > 0
    assert set(table.columns) <= {"startinterview", "eindinterview"}
    assert "fragmenten" in capsys.readouterr().out
