"""Small inline SVG plots drawn on the server: no JavaScript library, nothing fetched, and the
page prints and reads (text is real text) without a browser plugin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

# Colour-blind-safe (Okabe-Ito); the first is for the alpha over everyone.
PALETTE = ("#000000", "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442")
RELIABLE, TENTATIVE = 0.8, 0.667


def _fmt(value: float) -> str:
    return f"{value:.2f}".replace(".", ",")  # Dutch decimal comma


def line_chart(versions: Sequence[str], series: Mapping[str, Sequence[float | None]], title: str) -> Markup:
    """One line per series over the model versions (categorical x), with the reading-guide bands."""
    width, height, left, right, top, bottom = 720, 300, 48, 170, 16, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for vals in series.values() for v in vals if v is not None]
    y_min = min([0.0, *values])
    y_min = -1.0 if y_min < -0.5 else (-0.5 if y_min < 0 else 0.0)

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - y_min) / (1 - y_min))

    def x(i: int) -> float:
        return left + (plot_w * (i + 0.5) / max(1, len(versions)))

    parts = [f'<svg class="plot" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
             f'<rect x="{left}" y="{y(1):.1f}" width="{plot_w}" height="{y(RELIABLE) - y(1):.1f}" class="band-good"/>',
             f'<rect x="{left}" y="{y(RELIABLE):.1f}" width="{plot_w}" height="{y(TENTATIVE) - y(RELIABLE):.1f}" '
             'class="band-mid"/>']
    tick = y_min
    while tick <= 1.0001:
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" class="tick" text-anchor="end">{_fmt(tick)}</text>')
        tick += 0.25 if y_min >= -0.5 else 0.5
    for i, version in enumerate(versions):
        parts.append(f'<text x="{x(i):.1f}" y="{top + plot_h + 18}" class="tick" text-anchor="middle">'
                     f'{escape(version)}</text>')
    for n, (name, vals) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        points = [(x(i), y(v), v) for i, v in enumerate(vals) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for px, py, v in points:
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4" fill="{colour}">'
                         f'<title>{escape(name)}: {_fmt(v)}</title></circle>')
        ly = top + 14 + 20 * n
        parts.append(f'<rect x="{width - right + 14}" y="{ly - 9}" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{width - right + 32}" y="{ly + 1}" class="legend">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _cell_class(value: float | None) -> str:
    if value is None:
        return "cell-none"
    return "cell-good" if value >= RELIABLE else ("cell-mid" if value >= TENTATIVE else "cell-bad")


def heatmap(versions: Sequence[str], rows: Sequence[tuple[str, Sequence[tuple[float | None, int]]]],
            title: str) -> Markup:
    """Rows (factors) by columns (model versions); each cell shows alpha and n, coloured by the guide."""
    label_w, cell_w, cell_h, head = 300, 150, 34, 28
    width = label_w + cell_w * max(1, len(versions))
    height = head + cell_h * len(rows) + 4
    # Drawn at its natural size (width and height attributes, class "natural" in app.css): stretched to
    # the page width, a two-version map would have huge text. No style attribute: the CSP forbids it.
    parts = [f'<svg class="plot natural" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for j, version in enumerate(versions):
        parts.append(f'<text x="{label_w + cell_w * j + cell_w / 2}" y="18" class="tick" text-anchor="middle">'
                     f'{escape(version)}</text>')
    for i, (label, cells) in enumerate(rows):
        ry = head + cell_h * i
        parts.append(f'<text x="{label_w - 8}" y="{ry + cell_h / 2 + 4}" class="legend" text-anchor="end">'
                     f'{escape(label[:44])}</text>')
        for j, (value, n) in enumerate(cells):
            cx = label_w + cell_w * j
            shown = "–" if value is None else _fmt(value)
            parts.append(f'<rect x="{cx + 2}" y="{ry + 2}" width="{cell_w - 4}" height="{cell_h - 4}" '
                         f'class="{_cell_class(value)}"><title>{escape(label)}: {shown} (n={n})</title></rect>'
                         f'<text x="{cx + cell_w / 2}" y="{ry + 16}" class="cell-text" text-anchor="middle">{shown}</text>'
                         f'<text x="{cx + cell_w / 2}" y="{ry + 28}" class="cell-n" text-anchor="middle">n={n}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
