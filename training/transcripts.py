"""The transcript split: whole interviews and logbooks, segmented by our own segmenter and coded.

It measures how the model transfers to spoken Dutch; nothing is trained or tuned on it except by
writer (leave-one-writer-out). Layout (see ``training/data/transcripts/README.md``)::

    training/data/transcripts/<writer>/<document>.txt           the transcript or logbook as written
    training/data/transcripts/<writer>/<document>.codes.jsonl   one line per segment: id, text, codes

A codes line holds the segment's ``id`` (as ``segment_text`` names it), its ``text`` (checked, so a
change of the segmenter cannot silently shift codes onto other segments) and ``codes`` (a list of
``{factor, richting, aard}``, main code first, ``[]`` for nothing to code).

``python -m training.transcripts skeleton FILE.txt`` prints the lines a writer fills in;
``python -m training.transcripts check [DIR]`` validates the whole split against the codebook.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from . import paths
from .codebook import Codebook, load_codebook
from .data import Example, example_from_row
from .segmenting import read_file

TRANSCRIPTS_DIR = paths.TRANSCRIPTS_DIR

# Document names start with the instrument; the rest is free (respondent id, a number).
INSTRUMENTS = ("startinterview", "eindinterview", "begeleider", "schoolleider", "logboek1", "logboek2", "logboek3")


class TranscriptError(ValueError):
    pass


@dataclass
class TranscriptExample:
    """One coded segment of the transcript split, with where it comes from."""

    example: Example
    writer: str
    document: str
    instrument: str
    position: int  # index of the segment in its document


def follows_previous(rows: list[TranscriptExample]) -> list[bool]:
    """Whether each segment is the respondent's next interview turn after the one before it."""
    return [i > 0 and r.example.kind == "interview" and (rows[i - 1].writer, rows[i - 1].document) == (r.writer, r.document)
            for i, r in enumerate(rows)]


def instrument_of(document: str) -> str:
    for name in INSTRUMENTS:
        if document.startswith(name):
            return name
    raise TranscriptError(f"{document}: the name must start with one of {', '.join(INSTRUMENTS)}")


def _speaker_role(instrument: str) -> str:
    return {"begeleider": "plg_begeleider", "schoolleider": "schoolleider"}.get(instrument, "leraar")


def load_document(text_path: Path, codebook: Codebook) -> list[TranscriptExample]:
    codes_path = text_path.with_suffix(".codes.jsonl")
    if not codes_path.is_file():
        raise TranscriptError(f"{text_path}: no codes file {codes_path.name}")
    document = read_file(text_path)
    rows = [json.loads(line) for line in codes_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_id = {row.get("id"): row for row in rows}
    if len(by_id) != len(rows):
        raise TranscriptError(f"{codes_path}: duplicate ids")
    seg_ids = [s.id for s in document.segments]
    if set(by_id) != set(seg_ids):
        missing = sorted(set(seg_ids) - set(by_id))[:5]
        extra = sorted(set(by_id) - set(seg_ids))[:5]
        raise TranscriptError(f"{codes_path}: ids do not match the segments (missing {missing}, unknown {extra})")
    instrument = instrument_of(text_path.stem)
    out = []
    for position, seg in enumerate(document.segments):
        row = by_id[seg.id]
        if " ".join(str(row.get("text", "")).split()) != " ".join(seg.text.split()):
            raise TranscriptError(f"{codes_path}: {seg.id}: the text differs from the segment's")
        if not isinstance(row.get("codes"), list):
            raise TranscriptError(f"{codes_path}: {seg.id}: 'codes' must be a list ([] for no code)")
        example = example_from_row(
            {"id": f"{text_path.parent.name}/{seg.id}", "text": seg.text, "codes": row["codes"],
             "question": seg.question, "kind": "logboek" if instrument.startswith("logboek") else "interview",
             "speaker_role": _speaker_role(instrument)},
            f"{codes_path}: {seg.id}", codebook)
        out.append(TranscriptExample(example, text_path.parent.name, text_path.stem, instrument, position))
    return out


def load_transcripts(root: str | Path = TRANSCRIPTS_DIR, codebook: Codebook | None = None) -> list[TranscriptExample]:
    """Every coded segment of every document under ``root``, in writer, document and segment order."""
    root = Path(root)
    codebook = codebook or load_codebook(paths.DEFAULT_CODEBOOK)
    out: list[TranscriptExample] = []
    # The whole split (writer folders under root), or one writer's folder.
    for text_path in sorted(root.glob("*.txt")) or sorted(root.glob("*/*.txt")):
        out.extend(load_document(text_path, codebook))
    if not out:
        raise TranscriptError(f"{root}: no coded documents")
    return out


def skeleton(text_path: Path) -> list[dict]:
    """The codes lines a writer fills in for a document: every segment with ``codes: null``."""
    document = read_file(text_path)
    return [{"id": s.id, "line_start": s.line_start, "line_end": s.line_end, "question": s.question,
             "text": s.text, "codes": None} for s in document.segments]


def split_stats(rows: list[TranscriptExample]) -> dict:
    """The numbers the datasheet states (README.md in the split's folder); a test recomputes them."""
    from collections import Counter

    words = sorted(len(r.example.text.split()) for r in rows)
    coded = [r for r in rows if r.example.codes]
    main = Counter(r.example.primary_factor for r in coded)
    return {
        "writers": len({r.writer for r in rows}),
        "documents": len({(r.writer, r.document) for r in rows}),
        "documents_per_instrument": dict(sorted(Counter(i for _, _, i in {(r.writer, r.document, r.instrument) for r in rows}).items())),
        "segments": len(rows),
        "segments_per_writer": dict(sorted(Counter(r.writer for r in rows).items())),
        "coded": len(coded),
        "no_code": len(rows) - len(coded),
        "multi_code": sum(1 for r in coded if len(r.example.factors) > 1),
        "words_median": words[len(words) // 2],
        "words_p90": words[min(len(words) - 1, int(0.9 * len(words)))],
        "short_turns": sum(1 for n in words if n <= 5),
        "main_factors": dict(sorted(main.items(), key=lambda kv: (-kv[1], kv[0]))),
        "aard": dict(sorted(Counter(c.aard for r in coded for c in r.example.codes).items())),
        "richting": dict(sorted(Counter(c.richting for r in coded for c in r.example.codes).items())),
    }


def render_stats(stats: dict) -> str:
    """The datasheet's numbers as Markdown (pasted between the stats markers of README.md)."""
    pct = lambda n: f"{n} ({100 * n / stats['segments']:.0f}%)"  # noqa: E731
    lines = [
        "| | |", "|---|---|",
        f"| writers | {stats['writers']} |",
        f"| documents | {stats['documents']}: " + ", ".join(f"{k} {v}" for k, v in stats["documents_per_instrument"].items()) + " |",
        f"| segments | {stats['segments']}: " + ", ".join(f"{k} {v}" for k, v in stats["segments_per_writer"].items()) + " |",
        f"| with a code | {pct(stats['coded'])}; with two or more codes: {stats['multi_code']} |",
        f"| without a code | {pct(stats['no_code'])} |",
        f"| words per segment | median {stats['words_median']}, p90 {stats['words_p90']}; turns of at most 5 words: {pct(stats['short_turns'])} |",
        "| aard of all codes | " + ", ".join(f"{k} {v}" for k, v in stats["aard"].items()) + " |",
        "| richting of all codes | " + ", ".join(f"{k} {v}" for k, v in stats["richting"].items()) + " |",
        "",
        "Main code (the first code of a coded segment), most frequent first:",
        "",
        "| factor | segments |", "|---|---:|",
    ]
    lines += [f"| {f} | {n} |" for f, n in stats["main_factors"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.transcripts")
    sub = parser.add_subparsers(dest="command", required=True)
    sk = sub.add_parser("skeleton", help="print the codes lines to fill in for a document")
    sk.add_argument("file", type=Path)
    ck = sub.add_parser("check", help="validate the split against the codebook and print its size")
    ck.add_argument("root", type=Path, nargs="?", default=TRANSCRIPTS_DIR)
    st = sub.add_parser("stats", help="print the datasheet's numbers as Markdown")
    st.add_argument("root", type=Path, nargs="?", default=TRANSCRIPTS_DIR)
    args = parser.parse_args(argv)
    if args.command == "skeleton":
        for row in skeleton(args.file):
            print(json.dumps(row, ensure_ascii=False))
        return 0
    try:
        rows = load_transcripts(args.root)  # check and stats
    except (TranscriptError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "stats":
        print(render_stats(split_stats(rows)))
        return 0
    docs = {(r.writer, r.document) for r in rows}
    coded = sum(1 for r in rows if r.example.codes)
    print(f"{len(docs)} documents, {len(rows)} segments, {coded} coded, {len(rows) - coded} without a code")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
