"""Cost of the agreement report's bootstrap intervals on a study-sized set of segments.

The transcript split's gold codes (3,478 segments) stand for a first coder; two more coders are
made from it by changing a share of the codes at random (seeded), so the coefficients are in a
realistic range. Timed: the report without intervals and with 1,000 resamples (the default of
the command and of the service's page), all three dimensions. Writes the section ``agreement``
of BENCHMARKS.md.

    python -m benchmarks.bench_agreement
"""

from __future__ import annotations

import json
import os
import random
import time

from benchmarks._common import git_commit, machine, write_section
from training import paths
from training.agreement import agreement_report


def coded_segments() -> list[tuple[str, list[tuple[str, str, str]]]]:
    out = []
    for path in sorted(paths.TRANSCRIPTS_DIR.glob("*/*.codes.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                out.append((row["id"], [(c["factor"], c["richting"], c["aard"]) for c in row["codes"]]))
    return out


def triples(segments, seed: int = 5) -> list:
    rng = random.Random(seed)
    codes = sorted({c for _, cs in segments for c in cs})
    out = []
    for unit, gold in segments:
        out.append(("gold", unit, gold))
        for coder, p_change in (("anne", 0.2), ("bob", 0.35)):
            mine = [rng.choice(codes) if rng.random() < p_change else c for c in gold]
            if rng.random() < p_change / 2:
                mine = mine + [rng.choice(codes)] if rng.random() < 0.5 or not mine else mine[1:]
            out.append((coder, unit, mine))
    return out


def timed(data, resamples: int, repeats: int = 3) -> tuple[float, dict]:
    best, report = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        report = agreement_report(data, resamples=resamples)
        best = min(best, time.perf_counter() - start)
    return best, report


def main() -> None:
    load = os.getloadavg()[0]
    segments = coded_segments()
    data = triples(segments)
    rows = []
    for resamples in (0, 1000):
        seconds, report = timed(data, resamples)
        rows.append((resamples, seconds, report))
    full = rows[-1][2]["dimensions"]
    example = full["factor"]
    pair = next(p for p in example["kappa_pairs"] if p["coders"] == ["anne", "gold"])
    body = [
        "## Agreement report: bootstrap intervals (`benchmarks/bench_agreement.py`)",
        "",
        f"{len(segments)} segments (the transcript split's gold codes and two coders derived from them), 3 coders, "
        f"3 dimensions. {machine()}; commit {git_commit()}; load average {load:.1f} at the start (the cores are "
        "shared). Best of 3 runs of `agreement_report`.",
        "",
        "| resamples | seconds |",
        "|---:|---:|",
        *(f"| {r} | {s:.2f} |" for r, s, _ in rows),
        "",
        f"For scale, factor dimension with 1,000 resamples: kappa anne ~ gold {pair['kappa']:.3f} "
        f"[{pair['kappa_ci'][0]:.3f}; {pair['kappa_ci'][1]:.3f}] on {pair['n_units']} segments; alpha nominal "
        f"{example['alpha_nominal']:.3f} [{example['alpha_nominal_ci'][0]:.3f}; {example['alpha_nominal_ci'][1]:.3f}], "
        f"alpha MASI {example['alpha_masi']:.3f} "
        f"[{example['alpha_masi_ci'][0]:.3f}; {example['alpha_masi_ci'][1]:.3f}].",
    ]
    write_section("agreement", "\n".join(body))
    print("\n".join(body))


if __name__ == "__main__":
    main()
