"""Agreement between coders and/or the model, as a self-contained HTML report and a JSON file.

The statistics come from :func:`training.agreement.agreement_report` (tested against published
worked examples); this module only gathers the codings, adds the segments' text to the
disagreements and draws the plots. The HTML has no external resources (plots are inline PNG), so
it can be mailed or archived with the data.

Units are segments. A coder's codes on a segment come from the decisions files (a "no code" row
is the empty set, itself a judgement); the model's from an annotate output folder, under the coder
name ``model``. When human coders are present the model is compared on the segments they coded
only, since agreement is about the same segments.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .agreement import RELIABLE, TENTATIVE, agreement_report
from .annotate import MODEL_CODER, load_annotations
from .codebook import Codebook
from .exports import check_segments, decision_sets, model_sets, read_all_decisions

log = logging.getLogger(__name__)

HTML_FILE = "agreement.html"
JSON_FILE = "agreement.json"
TEXT_CHARS = 400


def gather_triples(codebook: Codebook, *, annotations_dir: str | Path | None = None,
                   decisions_files: Sequence[str | Path] = (),
                   coders: Sequence[str] | None = None) -> tuple[list[tuple[str, str, frozenset]], dict[str, dict]]:
    """(coder, segment, code set) triples and segment info (text, document, lines) by segment id."""
    human = [c for c in coders if c != MODEL_CODER] if coders is not None else None
    want_model = annotations_dir is not None and (coders is None or MODEL_CODER in coders)
    if coders is not None and MODEL_CODER in coders and annotations_dir is None:
        raise ValueError("coder 'model' needs the annotate output folder as an INPUT")
    decisions = read_all_decisions(decisions_files, codebook, human)
    annotations = load_annotations(annotations_dir) if annotations_dir is not None else None
    if annotations is not None:
        check_segments(decisions, annotations)
    sets = decision_sets(decisions)
    triples: list[tuple[str, str, frozenset]] = [(c, seg, codes) for seg, per in sets.items()
                                                 for c, codes in per.items()]
    info: dict[str, dict] = {}
    if annotations is not None:
        for record in annotations.records:
            meta = record.get("meta", {})
            info[record["id"]] = {"text": record["text"], "document": meta.get("document"),
                                  "respondent": meta.get("respondent"), "line_start": meta.get("line_start"),
                                  "line_end": meta.get("line_end")}
    if want_model and annotations is not None:
        suggested = model_sets(annotations)
        units = sets.keys() if sets else suggested.keys()
        triples += [(MODEL_CODER, seg, suggested[seg]) for seg in units if seg in suggested]
    found = sorted({c for c, _, _ in triples})
    if coders is not None:
        missing = [c for c in coders if c not in found]
        if missing:
            raise ValueError(f"coder(s) {', '.join(missing)} have no codings here (found: {', '.join(found) or 'none'})")
    if len(found) < 2:
        raise ValueError(f"agreement needs at least two coders (found: {', '.join(found) or 'none'}); give decisions "
                         "files of two coders, or one plus the annotate output folder for the model")
    return triples, info


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def confusion_plot(pair: dict) -> str:
    """A heatmap of one pair's confusion matrix (primary factor per segment)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = pair["confusion_matrix"]["labels"]
    matrix = pair["confusion_matrix"]["matrix"]
    size = max(3.5, 0.42 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel(pair["coders"][1])
    ax.set_ylabel(pair["coders"][0])
    top = max((max(row) for row in matrix), default=0)
    for i, row in enumerate(matrix):
        for j, n in enumerate(row):
            if n:
                ax.text(j, i, str(n), ha="center", va="center", fontsize=8,
                        color="white" if n > top / 2 else "black")
    kappa = "-" if pair["kappa"] is None else f"{pair['kappa']:.3f}"
    ax.set_title(f"{pair['coders'][0]} vs {pair['coders'][1]}: kappa {kappa}, n = {pair['n_units']}", fontsize=9)
    return _png(fig)


def alpha_plot(binary: dict[str, dict]) -> str | None:
    """Binary alpha per factor against the .667 and .80 reading-guide lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = [(label, r["alpha"], r["n_present"]) for label, r in binary.items() if r["n_present"]]
    if not items:
        return None
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.32 * len(items) + 1)))
    names = [f"{label} (n={n})" for label, _, n in items]
    values = [0.0 if a is None else a for _, a, _ in items]
    colours = ["#bbbbbb" if a is None else "#2ca02c" if a >= RELIABLE else "#ff7f0e" if a >= TENTATIVE
               else "#d62728" for _, a, _ in items]
    ax.barh(range(len(items)), values, color=colours)
    ax.set_yticks(range(len(items)), names, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(TENTATIVE, color="#ff7f0e", linestyle="--", linewidth=1, label=".667 tentative")
    ax.axvline(RELIABLE, color="#2ca02c", linestyle="--", linewidth=1, label=".80 reliable")
    ax.set_xlim(min(-0.1, min(values) - 0.05), 1.0)
    for i, (_, a, _) in enumerate(items):
        ax.text(max(0.0, a or 0.0) + 0.01, i, "undefined" if a is None else f"{a:.2f}", va="center", fontsize=7)
    ax.set_xlabel("Krippendorff's alpha (present/absent per factor)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(fig)


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Agreement report</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;vertical-align:top;font-size:.9em}
th{background:#f3f3f3}.num{text-align:right}.reliable{color:#2ca02c}.tentative{color:#c66a00}.unreliable{color:#d62728}
.text{max-width:420px}.small{color:#666;font-size:.85em}
</style></head><body>
<h1>Agreement report</h1>
<p>Coders: {{ report.coders|join(", ") }}{% if model_versions %} (model = {{ model_versions|join(", ") }}){% endif %}.
{{ report.dimensions.factor.n_units }} segments coded by at least two coders. Created {{ created }}.</p>
<p class="small">Reading guide (Krippendorff): alpha &ge; .800 reliable; &ge; .667 tentative conclusions only; below
that unreliable. Dimensions: <b>factor</b> compares factors only; <b>richting</b> factor and richting; <b>aard</b> the
full code. Kappa and the confusion matrix use each segment's primary label (the first of its sorted codes,
<code>geen_code</code> when it has none); alpha nominal treats each set of codes as one category, alpha MASI counts
partial overlap partly.</p>
<h2>Summary</h2>
<table><tr><th>dimension</th><th>n</th><th>% agreement</th><th>alpha nominal</th><th>alpha MASI</th><th>alpha nominal (primary)</th></tr>
{% for dim, r in report.dimensions.items() %}
<tr><td>{{ dim }}</td><td class="num">{{ r.n_units }}</td><td class="num">{{ fmt(r.percent_agreement) }}</td>
<td class="num {{ r.reading.alpha_nominal }}">{{ fmt(r.alpha_nominal) }} ({{ r.reading.alpha_nominal }})</td>
<td class="num {{ r.reading.alpha_masi }}">{{ fmt(r.alpha_masi) }} ({{ r.reading.alpha_masi }})</td>
<td class="num">{{ fmt(r.alpha_nominal_primary) }}</td></tr>
{% endfor %}</table>
<h2>Cohen's kappa per pair</h2>
<table><tr><th>coders</th><th>dimension</th><th>n</th><th>% agreement</th><th>kappa</th></tr>
{% for dim, r in report.dimensions.items() %}{% for p in r.kappa_pairs %}
<tr><td>{{ p.coders|join(" ~ ") }}</td><td>{{ dim }}</td><td class="num">{{ p.n_units }}</td>
<td class="num">{{ fmt(p.percent_agreement) }}</td><td class="num">{{ fmt(p.kappa) }}</td></tr>
{% endfor %}{% endfor %}</table>
<h2>Confusion matrix (factor)</h2>
{% for img in confusion_images %}<img src="{{ img }}" alt="confusion matrix"> {% endfor %}
<h2>Alpha per factor</h2>
{% if alpha_image %}<img src="{{ alpha_image }}" alt="binary alpha per factor">{% else %}<p>No factor was used.</p>{% endif %}
<table><tr><th>factor</th><th>segments where used</th><th>n</th><th>alpha</th></tr>
{% for label, r in report.dimensions.factor.binary_alpha.items() if r.n_present %}
<tr><td>{{ label }}</td><td class="num">{{ r.n_present }}</td><td class="num">{{ r.n_units }}</td>
<td class="num {{ r.reading }}">{{ fmt(r.alpha) }} ({{ r.reading }})</td></tr>{% endfor %}</table>
<h2>Disagreements ({{ disagreements|length }} segments, full codes)</h2>
<table><tr><th>segment</th><th class="text">text</th>{% for c in report.coders %}<th>{{ c }}</th>{% endfor %}</tr>
{% for d in disagreements %}<tr><td>{{ d.unit }}<br><span class="small">{{ d.where }}</span></td>
<td class="text">{{ d.text }}</td>{% for c in report.coders %}<td>{% if c in d["values"] %}{% for v in d["values"][c] %}{{ v }}<br>{% endfor %}{% else %}(not coded){% endif %}</td>{% endfor %}</tr>
{% endfor %}</table>
</body></html>
"""


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.3f}"


def run_agreement(outdir: str | Path, codebook: Codebook, *, annotations_dir: str | Path | None = None,
                  decisions_files: Sequence[str | Path] = (),
                  coders: Sequence[str] | None = None) -> tuple[dict, dict[str, Path]]:
    """Compute the report, write ``agreement.json`` and ``agreement.html``; returns (report, paths)."""
    import jinja2

    triples, info = gather_triples(codebook, annotations_dir=annotations_dir, decisions_files=decisions_files,
                                   coders=coders)
    report = agreement_report(triples, labels={"factor": list(codebook.factor_ids)})
    model_versions = sorted(load_annotations(annotations_dir).model_versions) if annotations_dir else []
    disagreements = []
    for d in report["dimensions"]["aard"]["disagreements"]:
        seg = info.get(d["unit"], {})
        text = " ".join((seg.get("text") or "").split())
        where = " ".join(str(x) for x in (seg.get("document"), seg.get("respondent")) if x)
        if seg.get("line_start"):
            where += f" r. {seg['line_start']}-{seg['line_end']}"
        disagreements.append({"unit": d["unit"], "where": where.strip(),
                              "text": text if len(text) <= TEXT_CHARS else text[: TEXT_CHARS - 1] + "…",
                              "values": {c: (v or ["geen code"]) for c, v in d["values"].items()}})
    report["side_by_side"] = disagreements
    report["model_versions"] = model_versions
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    json_path = outdir / JSON_FILE
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    pairs = report["dimensions"]["factor"]["kappa_pairs"]
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    html = env.from_string(_TEMPLATE).render(
        report=report, fmt=_fmt, created=dt.datetime.now().isoformat(timespec="minutes"),
        model_versions=model_versions, disagreements=disagreements,
        # One heatmap per pair, at most six: with many coders the tables above carry the rest.
        confusion_images=[confusion_plot(p) for p in pairs[:6] if p["n_units"]],
        alpha_image=alpha_plot(report["dimensions"]["factor"]["binary_alpha"]),
    )
    html_path = outdir / HTML_FILE
    html_path.write_text(html, encoding="utf-8")
    log.info("agreement report written to %s", html_path)
    return report, {"json": json_path, "html": html_path}
