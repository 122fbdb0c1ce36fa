"""The batch outputs as pandas DataFrames, for the researcher's own analysis (in Jupyter, say).

Three readers, one per kind of output:

- :func:`annotations_frame`: an annotate output folder, one row per segment and suggested code;
- :func:`decisions_frame`: decisions files, one row per segment, coder and code;
- :func:`agreement_frame`: an agreement run (``agreement.json``), one row per coefficient.

Conventions shared by the first two:

- ``factor`` is a categorical whose categories are the codebook's factor ids in codebook order
  (so ``value_counts`` and ``crosstab`` list every factor, also those nobody used, in the order of
  the codebook); ``factor_label`` and ``group`` are the codebook's Dutch label and group label,
  also categoricals in codebook order.
- ``richting`` (``PO``, ``SO``, ``-``) and ``aard`` (``+``, ``-``) are columns of their own, as
  categoricals; ``aard_label`` is the pole as the codebook names it (``veel``, ``weinig``).
- ``rank`` is the code's place in the segment's codes: 0 is the main code (a coder's first
  choice, the model's most confident code). A segment without a code has one row with ``rank``
  0 and an empty (NaN) factor, so "no code" stays countable.

Example::

    from training.codebook import load_codebook
    from training.frames import annotations_frame

    df = annotations_frame("annotaties", load_codebook("codebook/codebook.yaml"))
    df[df["rank"] == 0].groupby("moment", observed=True)["factor_label"].value_counts()
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from .annotate import META_KEYS, load_annotations
from .codebook import Codebook
from .exports import decision_sets, read_all_decisions
from .tables import MATRIX_MOMENTS

RICHTING_CATEGORIES = ("PO", "SO", "-")
AARD_CATEGORIES = ("+", "-")
CODE_COLUMNS = ("rank", "factor", "factor_label", "group", "richting", "aard", "aard_label")


def _with_codebook(frame: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Labels, group and pole from the codebook, and the code columns as ordered categoricals."""
    factors = {f.id: f for f in codebook.factors}
    groups = {g.id: g.label for g in codebook.groups}
    frame["factor_label"] = frame["factor"].map(lambda f: factors[f].label if f in factors else None)
    frame["group"] = frame["factor"].map(lambda f: groups.get(factors[f].group) if f in factors else None)
    frame["aard_label"] = [factors[f].poles.get(a) if f in factors else None
                           for f, a in zip(frame["factor"], frame["aard"])]
    frame["factor"] = pd.Categorical(frame["factor"], categories=[f.id for f in codebook.factors])
    frame["factor_label"] = pd.Categorical(frame["factor_label"],
                                           categories=list(dict.fromkeys(f.label for f in codebook.factors)))
    frame["group"] = pd.Categorical(frame["group"], categories=[g.label for g in codebook.groups])
    frame["richting"] = pd.Categorical(frame["richting"], categories=RICHTING_CATEGORIES)
    frame["aard"] = pd.Categorical(frame["aard"], categories=AARD_CATEGORIES)
    frame["rank"] = frame["rank"].astype("int64")
    return frame


def _code_rows(codes: Sequence[tuple[str, str, str]]) -> Iterable[dict]:
    """One row per code with its rank; one empty row when there is no code."""
    if not codes:
        yield {"rank": 0, "factor": None, "richting": None, "aard": None}
    for rank, (factor, richting, aard) in enumerate(codes):
        yield {"rank": rank, "factor": factor, "richting": richting, "aard": aard}


def annotations_frame(outdir: str | Path, codebook: Codebook) -> pd.DataFrame:
    """An annotate output folder as one row per segment and suggested code.

    Columns: ``segment_id``, the segment's metadata (``file, document, kind, respondent, role,
    moment, plg, speaker, question, line_start, line_end, char_start, char_end``), ``text``, the
    code columns (module docstring), ``confidence``, ``no_code_confidence``, ``model_version``,
    ``codebook_version``. ``moment`` is a categorical in the order of the school year.
    """
    rows = []
    for record in load_annotations(outdir).records:
        meta = record.get("meta", {})
        base = {"segment_id": record["id"], **{k: meta.get(k) for k in META_KEYS}, "text": record["text"],
                "no_code_confidence": record.get("no_code_confidence"), "model_version": record.get("model_version"),
                "codebook_version": record.get("codebook_version")}
        codes = record.get("codes") or []
        for row, code in zip(_code_rows([(c["factor"], c["richting"], c["aard"]) for c in codes]),
                             codes or [{}]):
            rows.append({**base, **row, "confidence": code.get("confidence")})
    columns = ["segment_id", *META_KEYS, "text", *CODE_COLUMNS, "confidence", "no_code_confidence", "model_version",
               "codebook_version"]
    frame = _with_codebook(pd.DataFrame(rows, columns=columns), codebook)
    frame["moment"] = pd.Categorical(frame["moment"], categories=MATRIX_MOMENTS)
    for column in ("line_start", "line_end", "char_start", "char_end"):
        frame[column] = frame[column].astype("Int64")
    return frame[columns]


def decisions_frame(paths: str | Path | Sequence[str | Path], codebook: Codebook) -> pd.DataFrame:
    """Decisions files (CSV or JSONL) as one row per segment, coder and code.

    Columns: ``segment_id``, ``coder`` and the code columns (module docstring); a coder's "no
    code" is a row with an empty factor. Rows are checked against the codebook as the commands do.
    """
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    rows = [{"segment_id": segment, "coder": coder, **row}
            for segment, per in decision_sets(read_all_decisions(paths, codebook)).items()
            for coder, codes in per.items() for row in _code_rows(codes)]
    columns = ["segment_id", "coder", *CODE_COLUMNS]
    return _with_codebook(pd.DataFrame(rows, columns=columns), codebook)[columns]


def agreement_frame(run: str | Path) -> pd.DataFrame:
    """An agreement run (its folder or ``agreement.json``) as one row per coefficient.

    Columns: ``dimension`` (factor, richting, aard), ``statistic`` (``percent_agreement``,
    ``percent_agreement_primary``, ``alpha_nominal``, ``alpha_nominal_primary``, ``alpha_masi``,
    ``kappa``, ``percent_agreement_pair``, ``binary_alpha``), ``coders`` (the pair for kappa,
    otherwise all coders joined by ", "), ``label`` (the factor or code of a binary alpha), ``value``,
    ``ci_low``, ``ci_high`` (the 95% bootstrap interval), ``n`` (segments it rests on) and ``verdict``.
    """
    path = Path(run)
    if path.is_dir():
        path = path / "agreement.json"
    report = json.loads(path.read_text(encoding="utf-8"))
    everyone = ", ".join(report["coders"])
    rows = []

    def add(dimension: str, statistic: str, coders: str, label: str | None, value: float | None,
            interval: list[float] | None, n: int, verdict: str | None) -> None:
        low, high = interval if interval else (None, None)
        rows.append({"dimension": dimension, "statistic": statistic, "coders": coders, "label": label,
                     "value": value, "ci_low": low, "ci_high": high, "n": n, "verdict": verdict})

    for dimension, dim in report["dimensions"].items():
        for statistic in ("percent_agreement", "percent_agreement_primary"):
            add(dimension, statistic, everyone, None, dim[statistic], dim.get(f"{statistic}_ci"), dim["n_units"], None)
        for statistic in ("alpha_nominal", "alpha_nominal_primary", "alpha_masi"):
            add(dimension, statistic, everyone, None, dim[statistic], dim.get(f"{statistic}_ci"), dim["n_units"],
                dim["reading"][statistic])
        for pair in dim["kappa_pairs"]:
            coders = " ~ ".join(pair["coders"])
            add(dimension, "kappa", coders, None, pair["kappa"], pair.get("kappa_ci"), pair["n_units"],
                pair.get("kappa_verdict"))
            add(dimension, "percent_agreement_pair", coders, None, pair["percent_agreement"],
                pair.get("percent_agreement_ci"), pair["n_units"], None)
        for label, result in dim["binary_alpha"].items():
            add(dimension, "binary_alpha", everyone, label, result["alpha"], result.get("alpha_ci"), result["n_units"],
                result["reading"])
    frame = pd.DataFrame(rows, columns=["dimension", "statistic", "coders", "label", "value", "ci_low", "ci_high", "n",
                                        "verdict"])
    frame["dimension"] = pd.Categorical(frame["dimension"], categories=["factor", "richting", "aard"])
    frame["value"] = frame["value"].astype("float64")
    return frame
