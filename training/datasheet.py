"""The numbers of the corpus datasheet (``training/data/README.md``).

``corpus_stats`` counts one split; ``main`` prints the datasheet's Markdown tables for the
training and the held-out split side by side, so the README can be refreshed after data is
added::

    python -m training.datasheet > /tmp/tables.md
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

from . import paths
from .codebook import Codebook, load_codebook
from .data import Example, corpus_files, load_corpus

#: The six cells of the balance tables: richting x aard.
CELLS = ("PO+", "PO-", "SO+", "SO-", "-+", "--")
PROVENANCE = "synthetic, written for this project"


def word_count(text: str) -> int:
    return len(text.split())


def _percentile(sorted_values: Sequence[int], q: float) -> int:
    """Nearest-rank percentile: the smallest value with at least q of the values at or below it."""
    if not sorted_values:
        return 0
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def corpus_stats(examples: Iterable[Example], codebook: Codebook) -> dict:
    """Size, composition and code balance of one split.

    Counts are over rows; a code counts once per row. Shares are fractions (0..1). ``codes``
    maps every active factor of the codebook to its counts per cell of ``CELLS`` (zero where no
    row carries it), ``factor_rows`` to the number of rows carrying the factor with any richting
    or aard.
    """
    examples = list(examples)
    n = len(examples)
    words = sorted(word_count(e.text) for e in examples)
    interviews = [e for e in examples if e.kind == "interview"]

    codes: dict[str, Counter] = {f: Counter({c: 0 for c in CELLS}) for f in codebook.factor_ids}
    factor_rows: Counter = Counter({f: 0 for f in codebook.factor_ids})
    both_poles = 0
    for e in examples:
        for c in e.codes:
            codes.setdefault(c.factor, Counter({cell: 0 for cell in CELLS}))[c.richting + c.aard] += 1
        for f in e.factors:
            factor_rows[f] += 1
        plus = {c.factor for c in e.codes if c.aard == "+"}
        minus = {c.factor for c in e.codes if c.aard == "-"}
        if plus & minus:
            both_poles += 1

    return {
        "rows": n,
        "by_pass": dict(sorted(Counter(e.source for e in examples).items())),
        "kind": dict(Counter(e.kind for e in examples).most_common()),
        "speaker_role": dict(Counter(e.speaker_role for e in examples).most_common()),
        "share_with_question": _share(sum(1 for e in examples if e.question), n),
        "share_interviews_with_question": _share(sum(1 for e in interviews if e.question), len(interviews)),
        "share_no_code": _share(sum(1 for e in examples if not e.codes), n),
        "share_multi_code": _share(sum(1 for e in examples if len(e.codes) >= 2), n),
        "share_coded_multi_code": _share(sum(1 for e in examples if len(e.codes) >= 2),
                                         sum(1 for e in examples if e.codes)),
        "rows_both_poles": both_poles,
        "words": {
            "min": words[0] if words else 0,
            "median": statistics.median(words) if words else 0,
            "p90": _percentile(words, 0.9),
            "max": words[-1] if words else 0,
        },
        "words_median_by_pass": {
            source: statistics.median(word_count(e.text) for e in examples if e.source == source)
            for source in sorted({e.source for e in examples})
        },
        "words_median_by_kind": {
            kind: statistics.median(word_count(e.text) for e in examples if e.kind == kind)
            for kind in sorted({e.kind for e in examples})
        },
        "factor_rows": dict(factor_rows),
        "codes": {f: dict(c) for f, c in codes.items()},
    }


# --- checks on the raw rows (fields the loader does not keep) -------------------------------

def read_rows(directory: str | Path) -> list[dict]:
    """The raw JSON objects of every .jsonl file in ``directory``."""
    rows = []
    for path in corpus_files(directory):
        with open(path, encoding="utf-8") as handle:
            rows.extend(json.loads(line) for line in handle if line.strip())
    return rows


def normalized_text(text: str) -> str:
    """Text compared for overlap between splits: case and whitespace do not make a new text."""
    return re.sub(r"\s+", " ", text).strip().casefold()


def shared_texts(a: Iterable[Example], b: Iterable[Example]) -> set[str]:
    """Normalised texts that occur in both collections."""
    return {normalized_text(e.text) for e in a} & {normalized_text(e.text) for e in b}


# --- Markdown ------------------------------------------------------------------------------

def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _counts(counter: dict, n: int) -> str:
    return ", ".join(f"{k} {v} ({_pct(_share(v, n))})" for k, v in counter.items())


def size_table(train: dict, held_out: dict) -> str:
    def words(s: dict) -> str:
        w = s["words"]
        return f"{w['min']} / {w['median']:g} / {w['p90']} / {w['max']}"

    def medians(s: dict, key: str) -> str:
        return ", ".join(f"{k} {v:g}" for k, v in s[key].items())

    def smallest_factor(s: dict) -> str:
        factor, count = min(s["factor_rows"].items(), key=lambda kv: (kv[1], kv[0]))
        return f"{count} ({factor})"

    rows = [
        ("rows", train["rows"], held_out["rows"]),
        ("writing passes", ", ".join(f"{k} {v}" for k, v in train["by_pass"].items()),
         ", ".join(f"{k} {v}" for k, v in held_out["by_pass"].items())),
        ("kind", _counts(train["kind"], train["rows"]), _counts(held_out["kind"], held_out["rows"])),
        ("speaker role", _counts(train["speaker_role"], train["rows"]),
         _counts(held_out["speaker_role"], held_out["rows"])),
        ("with the interviewer's question (all rows)", _pct(train["share_with_question"]),
         _pct(held_out["share_with_question"])),
        ("with the interviewer's question (interview rows)", _pct(train["share_interviews_with_question"]),
         _pct(held_out["share_interviews_with_question"])),
        ("without a code", _pct(train["share_no_code"]), _pct(held_out["share_no_code"])),
        ("with 2+ codes (all rows)", _pct(train["share_multi_code"]), _pct(held_out["share_multi_code"])),
        ("with 2+ codes (coded rows)", _pct(train["share_coded_multi_code"]),
         _pct(held_out["share_coded_multi_code"])),
        ("with both poles of one factor", train["rows_both_poles"], held_out["rows_both_poles"]),
        ("words: min / median / p90 / max", words(train), words(held_out)),
        ("words: median by kind", medians(train, "words_median_by_kind"), medians(held_out, "words_median_by_kind")),
        ("words: median by pass", medians(train, "words_median_by_pass"), medians(held_out, "words_median_by_pass")),
        ("rows of the smallest factor", smallest_factor(train), smallest_factor(held_out)),
    ]
    return _table(("", "training", "held-out"), rows)


def balance_tables(train: dict, held_out: dict, codebook: Codebook) -> str:
    """One table per codebook group; per factor a line per allowed richting, + and - side by side."""
    parts = []
    for group in codebook.groups:
        factors = [f for f in codebook.active_factors if f.group == group.id]
        if not factors:
            continue
        rows = []
        for f in factors:
            tc, hc = train["codes"].get(f.id, {}), held_out["codes"].get(f.id, {})
            for i, r in enumerate(f.richting):
                first = i == 0
                rows.append((
                    f"{f.id} ({f.poles['+']} / {f.poles['-']})" if first else "",
                    f"{train['factor_rows'].get(f.id, 0)} / {held_out['factor_rows'].get(f.id, 0)}" if first else "",
                    r, tc.get(r + "+", 0), tc.get(r + "-", 0), hc.get(r + "+", 0), hc.get(r + "-", 0),
                ))
        parts.append(f"**{group.label}**\n\n"
                     + _table(("factor (+ / -)", "rows train / held-out", "richting", "train +", "train -",
                               "held-out +", "held-out -"), rows))
    return "\n\n".join(parts)


def render(train: dict, held_out: dict, codebook: Codebook) -> str:
    return "\n\n".join([
        "### Size and composition", size_table(train, held_out),
        "### Balance per code", balance_tables(train, held_out, codebook),
    ]) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m training.datasheet",
                                     description="Print the datasheet tables of the training and held-out corpus.")
    parser.add_argument("--train-dir", type=Path, default=paths.TRAIN_DIR)
    parser.add_argument("--eval-dir", type=Path, default=paths.EVAL_DIR)
    parser.add_argument("--codebook", type=Path, default=paths.DEFAULT_CODEBOOK)
    args = parser.parse_args(argv)
    codebook = load_codebook(args.codebook)
    train = corpus_stats(load_corpus(args.train_dir, codebook), codebook)
    held_out = corpus_stats(load_corpus(args.eval_dir, codebook), codebook)
    print(render(train, held_out, codebook), end="")


if __name__ == "__main__":
    main()
