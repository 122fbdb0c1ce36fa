"""Agreement between coders and/or the model, as a self-contained HTML report and a JSON file.

The statistics come from :func:`training.agreement.agreement_report` (tested against published
worked examples); this module only gathers the codings, adds the segments' text to the
disagreements and draws the plots. The HTML has no external resources (plots are inline PNG), so
it can be mailed or archived with the data.

Units are segments. A coder's codes on a segment come from the decisions files, in the order of
the rows (the first is the coder's main code; a "no code" row is the empty set, itself a
judgement); the model's from an annotate output folder, under the coder name ``model``: the codes
its own decision rule suggests, most confident first, also when the folder was annotated with a
lower ``--min-confidence``. When human coders are present the model is compared on the segments
they coded only, since agreement is about the same segments.

What a research lead reads (the HTML, the explanations in the JSON) is Dutch; the texts live in
``agreement_nl.yaml`` so the service's page says the same.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import io
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import bootstrap
from .agreement import MIN_UNITS_FOR_VERDICT, RELIABLE, TENTATIVE, agreement_report, code_label
from .annotate import MODEL_CODER, load_annotations
from .codebook import Codebook
from .exports import blind_counts, check_segments, decision_sets, model_sets, read_all_decisions

log = logging.getLogger(__name__)

TEXTS_FILE = Path(__file__).with_name("agreement_nl.yaml")
HTML_FILE = "agreement.html"
JSON_FILE = "agreement.json"
TEXT_CHARS = 400


def gather_triples(codebook: Codebook, *, annotations_dir: str | Path | None = None,
                   decisions_files: Sequence[str | Path] = (),
                   coders: Sequence[str] | None = None
                   ) -> tuple[list[tuple[str, str, frozenset]], dict[str, dict], dict[str, int]]:
    """(coder, segment, code set) triples, segment info (text, document, lines) by segment id, and
    how many of the human decisions were made blind (:func:`training.exports.blind_counts`)."""
    human = [c for c in coders if c != MODEL_CODER] if coders is not None else None
    want_model = annotations_dir is not None and (coders is None or MODEL_CODER in coders)
    if coders is not None and MODEL_CODER in coders and annotations_dir is None:
        raise ValueError("codeur 'model' heeft de uitvoermap van annotate als INVOER nodig")
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
            raise ValueError(f"codeur(s) {', '.join(missing)} hebben hier geen coderingen (gevonden: "
                             f"{', '.join(found) or 'geen'})")
    if len(found) < 2:
        raise ValueError(f"overeenstemming vraagt minstens twee codeurs (gevonden: {', '.join(found) or 'geen'}); geef "
                         "besluitenbestanden van twee codeurs, of één plus de uitvoermap van annotate voor het model")
    return triples, info, blind_counts(decisions)


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
    ax.set_title(f"{pair['coders'][0]} ~ {pair['coders'][1]}: kappa {kappa}, n = {pair['n_units']}", fontsize=9)
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
    ax.axvline(TENTATIVE, color="#ff7f0e", linestyle="--", linewidth=1, label="0,667 voorlopig")
    ax.axvline(RELIABLE, color="#2ca02c", linestyle="--", linewidth=1, label="0,80 betrouwbaar")
    ax.set_xlim(min(-0.1, min(values) - 0.05), 1.0)
    for i, (_, a, _) in enumerate(items):
        ax.text(max(0.0, a or 0.0) + 0.01, i, "niet te berekenen" if a is None else f"{a:.2f}", va="center",
                fontsize=7)
    ax.set_xlabel("Krippendorffs alfa (factor gegeven of niet)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(fig)


_TEMPLATE = """<!DOCTYPE html>
<html lang="nl"><head><meta charset="utf-8"><title>Overeenstemming</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;vertical-align:top;font-size:.9em}
th{background:#f3f3f3}.num{text-align:right}.reliable,.almost_perfect,.substantial{color:#2ca02c}
.tentative,.moderate{color:#c66a00}.unreliable,.poor,.slight,.fair{color:#d62728}.too_few,.undefined{color:#666}
.text{max-width:420px}.small{color:#666;font-size:.85em}.ci{color:#555;font-size:.85em;white-space:nowrap}
dl.columns dt{font-weight:600;margin-top:.5em}dl.columns dd{margin-left:1.2em}
</style></head><body>
<h1>Overeenstemming</h1>
<p>Codeurs: {{ report.coders|join(", ") }}{% if model_versions %} (model = {{ model_versions|join(", ") }}){% endif %}.
{{ report.dimensions.factor.n_units }} fragmenten zijn door minstens twee codeurs gecodeerd. Gemaakt {{ created }}.
{% if report.bootstrap.resamples %}Tussen haken het 95%-bootstrapinterval ({{ report.bootstrap.resamples }} trekkingen van
fragmenten, seed {{ report.bootstrap.seed }}).{% else %}Zonder intervallen (0 trekkingen gevraagd).{% endif %}
Een oordeel pas vanaf {{ report.min_units_for_verdict }} fragmenten.</p>
{% set b = report.blind_decisions %}{% if b.compared %}<p id="blind-count">
{{- texts.blind.count|replace("{blind}", b.blind)|replace("{compared}", b.compared) }}
{%- if b.unknown %} {{ texts.blind.unknown|replace("{unknown}", b.unknown) }}{% endif %}.</p>{% endif %}
<p class="small">Dimensies: <b>factor</b>: {{ texts.dimensions.factor }}; <b>richting</b>: {{ texts.dimensions.richting }};
<b>aard</b>: {{ texts.dimensions.aard }}. Wat elke kolom betekent staat onderaan.</p>
<h2>Samenvatting</h2>
<table><tr><th>dimensie</th><th>n</th><th>% gelijke codes</th><th>% gelijke hoofdcode</th><th>alfa nominaal</th>
<th>alfa MASI</th><th>alfa op de hoofdcode</th></tr>
{% for dim, r in report.dimensions.items() %}
<tr><td>{{ dim }}</td><td class="num">{{ r.n_units }}</td>
<td class="num">{{ pct(r.percent_agreement) }} <span class="ci">{{ ci(r.percent_agreement_ci, True) }}</span></td>
<td class="num">{{ pct(r.percent_agreement_primary) }} <span class="ci">{{ ci(r.percent_agreement_primary_ci, True) }}</span></td>
<td class="num">{{ fmt(r.alpha_nominal) }} <span class="ci">{{ ci(r.alpha_nominal_ci) }}</span><br>
<span class="{{ r.reading.alpha_nominal }}">{{ verdict(r.reading.alpha_nominal) }}</span></td>
<td class="num">{{ fmt(r.alpha_masi) }} <span class="ci">{{ ci(r.alpha_masi_ci) }}</span><br>
<span class="{{ r.reading.alpha_masi }}">{{ verdict(r.reading.alpha_masi) }}</span></td>
<td class="num">{{ fmt(r.alpha_nominal_primary) }} <span class="ci">{{ ci(r.alpha_nominal_primary_ci) }}</span><br>
<span class="{{ r.reading.alpha_nominal_primary }}">{{ verdict(r.reading.alpha_nominal_primary) }}</span></td></tr>
{% endfor %}</table>
<h2>Cohens kappa per paar (op de hoofdcode)</h2>
<table><tr><th>codeurs</th><th>dimensie</th><th>n</th><th>% gelijke hoofdcode</th><th>kappa</th><th>oordeel</th></tr>
{% for dim, r in report.dimensions.items() %}{% for p in r.kappa_pairs %}
<tr><td>{{ p.coders|join(" ~ ") }}</td><td>{{ dim }}</td><td class="num">{{ p.n_units }}</td>
<td class="num">{{ pct(p.percent_agreement) }} <span class="ci">{{ ci(p.percent_agreement_ci, True) }}</span></td>
<td class="num">{{ fmt(p.kappa) }} <span class="ci">{{ ci(p.kappa_ci) }}</span></td>
<td class="{{ p.kappa_verdict }}">{{ verdict(p.kappa_verdict) }}</td></tr>
{% endfor %}{% endfor %}</table>
<h2>Verwarringsmatrix (factor, hoofdcode)</h2>
{% for img in confusion_images %}<img src="{{ img }}" alt="verwarringsmatrix"> {% endfor %}
<h2>Alfa per factor</h2>
{% if alpha_image %}<img src="{{ alpha_image }}" alt="alfa per factor">{% else %}<p>Geen factor gebruikt.</p>{% endif %}
<table><tr><th>factor</th><th>fragmenten met de factor</th><th>n</th><th>alfa</th><th>oordeel</th></tr>
{% for label, r in report.dimensions.factor.binary_alpha.items() if r.n_present %}
<tr><td>{{ label }}</td><td class="num">{{ r.n_present }}</td><td class="num">{{ r.n_units }}</td>
<td class="num">{{ fmt(r.alpha) }} <span class="ci">{{ ci(r.alpha_ci) }}</span></td>
<td class="{{ r.reading }}">{{ verdict(r.reading) }}</td></tr>{% endfor %}</table>
<h2>Verschillen ({{ disagreements|length }} fragmenten, volledige codes; hoofdcode eerst)</h2>
<table><tr><th>fragment</th><th class="text">tekst</th>{% for c in report.coders %}<th>{{ c }}</th>{% endfor %}</tr>
{% for d in disagreements %}<tr><td>{{ d.unit }}<br><span class="small">{{ d.where }}</span></td>
<td class="text">{{ d.text }}</td>{% for c in report.coders %}<td>{% if c in d["values"] %}{% for v in d["values"][c] %}{{ v }}<br>{% endfor %}{% else %}(niet gecodeerd){% endif %}</td>{% endfor %}</tr>
{% endfor %}</table>
<h2>Wat de kolommen betekenen</h2>
<dl class="columns">{% for key, text in report.columns.items() %}<dt>{{ key }}</dt><dd>{{ text }}</dd>{% endfor %}</dl>
</body></html>
"""


@functools.cache
def _texts() -> dict:
    import yaml

    return yaml.safe_load(TEXTS_FILE.read_text(encoding="utf-8"))


def agreement_texts(resamples: int, seed: int | None) -> dict[str, Any]:
    """The Dutch verdicts, dimension names and column explanations, filled in for one run."""
    texts = _texts()
    values = {"resamples": resamples, "seed": seed, "min_units": MIN_UNITS_FOR_VERDICT}

    def fill(text: str) -> str:
        # Plain replacement, not str.format: the texts hold braces of their own ("{A, B}").
        for key, value in values.items():
            text = text.replace("{" + key + "}", str(value))
        return " ".join(text.split())

    return {"verdicts": dict(texts["verdicts"]), "dimensions": dict(texts["dimensions"]),
            "columns": {key: fill(text) for key, text in texts["columns"].items()}, "blind": dict(texts["blind"])}


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.3f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _ci(interval: list[float] | None, percent: bool = False) -> str:
    if not interval:
        return ""
    low, high = interval
    return f"[{100 * low:.0f}-{100 * high:.0f}%]" if percent else f"[{low:.3f}; {high:.3f}]"


def run_agreement(outdir: str | Path, codebook: Codebook, *, annotations_dir: str | Path | None = None,
                  decisions_files: Sequence[str | Path] = (),
                  coders: Sequence[str] | None = None, resamples: int = bootstrap.DEFAULT_RESAMPLES,
                  seed: int | None = bootstrap.DEFAULT_SEED) -> tuple[dict, dict[str, Path]]:
    """Compute the report, write ``agreement.json`` and ``agreement.html``; returns (report, paths).

    The JSON holds, next to the numbers, ``columns``: what every column means, in Dutch, as in the HTML.
    """
    import jinja2

    triples, info, blind = gather_triples(codebook, annotations_dir=annotations_dir, decisions_files=decisions_files,
                                          coders=coders)
    report = agreement_report(triples, labels={"factor": list(codebook.factor_ids)}, resamples=resamples, seed=seed)
    report["blind_decisions"] = blind
    texts = agreement_texts(report["bootstrap"]["resamples"], seed)
    report["columns"] = texts["columns"]
    model_versions = sorted(load_annotations(annotations_dir).model_versions) if annotations_dir else []
    # Side by side, each coder's codes in their own order: main code first.
    ordered: dict[tuple[str, str], list[str]] = {}
    for coder, unit, codes in triples:
        ordered.setdefault((coder, unit), [])
        ordered[(coder, unit)] += [code_label(code, "aard") for code in codes
                                   if code_label(code, "aard") not in ordered[(coder, unit)]]
    disagreements = []
    for d in report["dimensions"]["aard"]["disagreements"]:
        seg = info.get(d["unit"], {})
        text = " ".join((seg.get("text") or "").split())
        where = " ".join(str(x) for x in (seg.get("document"), seg.get("respondent")) if x)
        if seg.get("line_start"):
            where += f" r. {seg['line_start']}-{seg['line_end']}"
        disagreements.append({"unit": d["unit"], "where": where.strip(),
                              "text": text if len(text) <= TEXT_CHARS else text[: TEXT_CHARS - 1] + "…",
                              "values": {c: ordered.get((c, d["unit"]), v) or ["geen code"]
                                         for c, v in d["values"].items()}})
    report["side_by_side"] = disagreements
    report["model_versions"] = model_versions
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    json_path = outdir / JSON_FILE
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    pairs = report["dimensions"]["factor"]["kappa_pairs"]
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    html = env.from_string(_TEMPLATE).render(
        report=report, fmt=_fmt, pct=_pct, ci=_ci, texts=texts,
        verdict=lambda key: texts["verdicts"].get(key, key),
        created=dt.datetime.now().isoformat(timespec="minutes"),
        model_versions=model_versions, disagreements=disagreements,
        # One heatmap per pair, at most six: with many coders the tables above carry the rest.
        confusion_images=[confusion_plot(p) for p in pairs[:6] if p["n_units"]],
        alpha_image=alpha_plot(report["dimensions"]["factor"]["binary_alpha"]),
    )
    html_path = outdir / HTML_FILE
    html_path.write_text(html, encoding="utf-8")
    log.info("agreement report written to %s", html_path)
    return report, {"json": json_path, "html": html_path}
