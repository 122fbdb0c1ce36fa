"""Speed of the model in-process: batch throughput on 1,000 unseen segments, single-segment
latency, a 150-segment interview end to end (reading, segmenting, suggesting), training time and
peak memory, for the default and the lexical-only configurations; writes BENCHMARKS.md (speed).

    python benchmarks/bench_speed.py

Models are trained here from the shipped corpus (embeddings come from the shipped cache, as in
`codeerhulp train`); the texts timed are new recombinations of held-out sentences, so no cache helps.
"""

from __future__ import annotations

import random
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT, git_commit, machine, write_section  # noqa: E402
from training import paths  # noqa: E402
from training.codebook import load_codebook  # noqa: E402
from training.data import load_corpus  # noqa: E402
from training.encoders import make_encoder  # noqa: E402
from training.features import Inputs  # noqa: E402
from training.segmenting import read_file  # noqa: E402
from training.train import TrainConfig, fit_model  # noqa: E402


def unseen_segments(n: int, seed: int = 5) -> list[str]:
    """New texts of 2-6 held-out sentences each, in a random order: none occurs in any cache."""
    codebook = load_codebook(paths.DEFAULT_CODEBOOK)
    sentences = [s for e in load_corpus(paths.EVAL_DIR, codebook) for s in re.split(r"(?<=[.!?])\s+", e.text) if len(s) > 20]
    rng = random.Random(seed)
    return [" ".join(rng.sample(sentences, rng.randint(2, 6))) for _ in range(n)]


def interview_file(directory: Path, turns: int = 150) -> Path:
    texts = unseen_segments(turns, seed=11)
    lines = []
    for i, text in enumerate(texts):
        lines += [f"I: Vraag {i + 1}, kun je daar iets meer over vertellen?", f"L4: {text}"]
    path = directory / "interview_150.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def measure(config_path: Path, label: str, texts: list[str], interview: Path) -> dict:
    codebook = load_codebook(paths.DEFAULT_CODEBOOK)
    config = TrainConfig.load(config_path)
    train = load_corpus(paths.TRAIN_DIR, codebook)
    started = time.perf_counter()
    model = fit_model(train, codebook, config.model)
    train_seconds = time.perf_counter() - started
    # Serve with a plain (uncached) encoder, as a loaded artifact does.
    model.encoder_ = make_encoder(config.model.encoder)
    inputs = [Inputs(t) for t in texts]
    model.suggest(inputs[:5])  # warm-up: first-call allocations
    started = time.perf_counter()
    model.suggest(inputs)
    batch_seconds = time.perf_counter() - started
    latencies = []
    for x in inputs[:200]:
        t0 = time.perf_counter()
        model.suggest([x])
        latencies.append(time.perf_counter() - t0)
    started = time.perf_counter()
    document = read_file(interview)
    model.suggest([Inputs(s.text, s.question) for s in document.segments])
    interview_seconds = time.perf_counter() - started
    encoder_seconds = None
    if model.encoder_ is not None:
        t0 = time.perf_counter()
        model.encoder_.encode(texts)
        encoder_seconds = time.perf_counter() - t0
    return {
        "label": label,
        "train_seconds": train_seconds,
        "throughput": len(texts) / batch_seconds,
        "batch_seconds": batch_seconds,
        "p50_ms": float(np.percentile(latencies, 50) * 1000),
        "p95_ms": float(np.percentile(latencies, 95) * 1000),
        "interview_segments": len(document.segments),
        "interview_seconds": interview_seconds,
        "encoder_seconds": encoder_seconds,
    }


def main() -> None:
    texts = unseen_segments(1000)
    words = [len(t.split()) for t in texts]
    with tempfile.TemporaryDirectory() as tmp:
        interview = interview_file(Path(tmp))
        results = [measure(paths.DEFAULT_TRAIN_CONFIG, "default (lexical + e5-small, e5onnx)", texts, interview),
                   measure(paths.PACKAGE_DIR / "configs" / "lexical.yaml", "lexical-only", texts, interview)]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        "## Speed of the model (in-process)",
        "",
        f"`python benchmarks/bench_speed.py` (commit {git_commit()}) on {machine()}. 1,000 unseen segments "
        f"(median {int(np.median(words))} words, max {max(words)}); latency over 200 single-segment calls; "
        "the interview is a 150-turn transcript file read, segmented and suggested (process start excluded).",
        "",
        "| configuration | batch throughput (segments/s) | single p50 (ms) | single p95 (ms) | 150-segment interview (s) | training on the corpus (s) |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['label']} | {r['throughput']:.0f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
                     f"{r['interview_seconds']:.2f} | {r['train_seconds']:.0f} |")
    default = results[0]
    if default["encoder_seconds"]:
        share = default["encoder_seconds"] / default["batch_seconds"]
        lines += ["", f"Where the time goes (default): the e5-small encoder takes {default['encoder_seconds']:.1f} s "
                  f"of the {default['batch_seconds']:.1f} s for 1,000 segments ({share:.0%}); everything else "
                  "(tokenising, lemmatising, n-grams, the linear heads) is the lexical-only time. The encoder "
                  "is e5-small (12 layers) run by our int8 ONNX Runtime engine (`e5onnx`, see the encoder "
                  "section); its cost grows with segment length."]
    lines += ["", "The whole command `codeerhulp suggest` on the 150-segment interview (process start, imports, "
              "model load included): see the start-up section (`benchmarks/bench_startup.py`), which times it "
              "stage by stage against another revision in the same run."]
    lines += ["", f"Peak resident memory of the benchmark process (both models trained and loaded): {peak_mb:.0f} MB. "
              "Training time includes embedding only texts missing from the shipped vector cache."]
    write_section("speed", "\n".join(lines))
    for r in results:
        print(r)


if __name__ == "__main__":
    main()
