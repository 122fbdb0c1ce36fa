"""Benchmark of ``codeerhulp annotate``: 100 generated transcripts of about 150 segments each.

Transcripts are built from the shipped corpus (``training/data/``): each is 150 I:/L<n>: turn pairs,
the interviewer asking a corpus question and the teacher answering with a corpus text, written as
UTF-8 .txt into a temporary folder. The run uses the active (or newest) model in ``--models-dir``;
when there is none, a lexical model is trained on the corpus first (in ``--fallback-models-dir``,
reused by later runs), and the report says so.

Measured: wall time of the annotate run (model already loaded, so model loading is reported
apart), segments per second, the same run on a 2-worker Dask ``LocalCluster`` on 127.0.0.1
(``annotate --cluster``; its workers load the model in a warm-up run first, and the two datasets are
compared), where the time goes (the encoder's CPU time per text, measured on a sample), peak resident memory of the main process (``resource.getrusage``;
the workers' own peak is not reported, because a spawned child's maximum RSS includes the moment
before exec, when it still shares the parent's pages), and the time of a rerun that skips every file. Optionally
(``--tracemalloc``) the peak of Python allocations in the main process, which slows the run.

The result replaces the section between ``<!-- annotate:start -->`` and ``<!-- annotate:end -->``
in BENCHMARKS.md (created when missing; other sections are kept).

    python benchmarks/bench_annotate.py [--transcripts 100] [--segments 150] [--workers 2] [--cluster-workers 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training import paths  # noqa: E402
from training.annotate import _load_model, annotate  # noqa: E402
from training.segmenting import segment_text  # noqa: E402
from training.suggest import ensure_model, suggest_segments  # noqa: E402

START, END = "<!-- annotate:start -->", "<!-- annotate:end -->"
log = logging.getLogger("bench_annotate")


def corpus_pairs() -> list[tuple[str, str]]:
    pairs = []
    for path in sorted(paths.TRAIN_DIR.glob("*.jsonl")) + sorted(paths.EVAL_DIR.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                if row.get("kind", "interview") == "interview" and row.get("question"):
                    pairs.append((" ".join(row["question"].split()), " ".join(row["text"].split())))
    return pairs


def generate(folder: Path, transcripts: int, segments: int, seed: int = 11) -> int:
    """Write the transcripts; returns the number of characters written."""
    rng = random.Random(seed)
    pairs = corpus_pairs()
    chars = 0
    for n in range(1, transcripts + 1):
        teacher = f"L{(n - 1) % 24 + 1}"
        moment = "start" if n % 2 else "eind"
        lines = [f"Interview {teacher}, {moment}interview (gegenereerd uit het corpus)", ""]
        for question, answer in rng.sample(pairs, min(segments, len(pairs))):
            lines.append(f"I: {question}")
            lines.append(f"{teacher}: {answer}")
        text = "\n".join(lines) + "\n"
        (folder / f"{n:03d}_{teacher}_{moment}.txt").write_text(text, encoding="utf-8")
        chars += len(text)
    return chars


def model_for_benchmark(models_dir: Path, fallback_dir: Path) -> tuple[Path, str, float]:
    """(models dir, note, load seconds): the shipped/active model, else a lexical one trained on the corpus."""
    from training.artifacts import ArtifactError, load_model, set_active
    from training.suggest import active_or_default

    for directory, note in ((models_dir, "the active model of {d}"),
                            (fallback_dir, "a lexical model trained on the shipped corpus (no model was active)")):
        version = active_or_default(directory)
        if version:
            try:
                t0 = time.perf_counter()
                load_model(directory, version)
                # Name the directory relative to the project: no local paths in BENCHMARKS.md.
                shown = directory.resolve().relative_to(ROOT) if directory.resolve().is_relative_to(ROOT) else directory
                return directory, note.format(d=f"`{shown}/`") + f", version {version}", time.perf_counter() - t0
            except ArtifactError as exc:
                log.warning("%s", exc)
    from training.train import TrainConfig, train_version

    log.warning("no usable model: training a lexical model on the corpus into %s (minutes)", fallback_dir)
    config = TrainConfig.load(paths.PACKAGE_DIR / "configs" / "lexical.yaml")
    loaded = train_version(models_dir=fallback_dir, codebook_path=paths.DEFAULT_CODEBOOK, config=config, cache_dir=None)
    set_active(fallback_dir, loaded.version)
    t0 = time.perf_counter()
    load_model(fallback_dir, loaded.version)
    return (fallback_dir, f"a lexical model trained on the shipped corpus (no model was active), version "
                          f"{loaded.version}", time.perf_counter() - t0)


def encoder_share(loaded, folder: Path, wall: float, n_segments: int, sample: int = 200) -> dict:
    """The encoder's CPU time per text on a sample of the run's answers and questions, and in all."""
    from training.segmenting import read_file
    from training.text import normalise

    encoded = 0  # texts the run encodes: each file's distinct answers and questions (deduplicated per call)
    pool: set[str] = set()
    for path in sorted(folder.glob("*.txt")):
        texts = set()
        for seg in read_file(path).segments:
            texts |= {normalise(seg.text)} | ({normalise(seg.question)} if seg.question else set())
        encoded += len(texts)
        pool |= texts
    distinct = sorted(pool)
    picked = random.Random(3).sample(distinct, min(sample, len(distinct)))
    encoder = loaded.model.encoder_
    c = time.process_time()
    encoder.encode(picked)
    cpu_ms = (time.process_time() - c) / len(picked) * 1000
    words = sorted(len(t.split()) for t in picked)
    return {"cpu_ms": cpu_ms, "sample": len(picked), "texts": encoded,
            "encoder_cpu_s": cpu_ms * encoded / 1000, "median_words": words[len(words) // 2]}


def run_on_cluster(folder: Path, local_out: Path, work: Path, models_dir: Path, n_workers: int) -> dict:
    """The same annotate run on a LocalCluster of n_workers single-thread processes."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        warm = work / "warm"
        warm.mkdir()
        first = sorted(folder.glob("*.txt"))[0]
        (warm / first.name).write_bytes(first.read_bytes())
        warm_result = annotate([warm], work / "warm-out", models_dir=models_dir, cluster=cluster.scheduler_address)
        out = work / "cluster-out"
        t0 = time.perf_counter()
        result = annotate([folder], out, models_dir=models_dir, cluster=cluster.scheduler_address, progress=False)
        wall = time.perf_counter() - t0
        assert not result.failed, result.failed
        with Client(cluster.scheduler_address, set_as_default=False) as client:
            rss = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    same = all((out / name).read_bytes() == (local_out / name).read_bytes()
               for name in ("dataset.csv", "annotations.jsonl"))
    return {"wall": wall, "worker_rss": max(rss.values()), "same": same,
            "loads": ", ".join(str(v) for v in result.worker_model_loads.values()),
            "warm_workers": len(warm_result.worker_model_loads)}


def write_section(section: str, path: Path) -> None:
    block = f"{START}\n{section.rstrip()}\n{END}"
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        if START in text and END in text:
            head, rest = text.split(START, 1)
            text = head + block + rest.split(END, 1)[1]
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
    else:
        text = "# Benchmarks\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transcripts", type=int, default=100)
    parser.add_argument("--segments", type=int, default=150)
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--models-dir", type=Path, default=paths.DEFAULT_MODELS_DIR)
    parser.add_argument("--fallback-models-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "codeerhulp-bench-models")
    parser.add_argument("--cluster-workers", type=int, default=2,
                        help="workers of the LocalCluster run (one thread each; 0 skips it)")
    parser.add_argument("--tracemalloc", action="store_true", help="also measure Python allocations (slower)")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print the section only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    load_start = os.getloadavg()[0]
    models_dir, note, load_seconds = model_for_benchmark(args.models_dir, args.fallback_models_dir)
    work = Path(tempfile.mkdtemp(prefix="codeerhulp-bench-"))
    try:
        folder, out = work / "in", work / "out"
        folder.mkdir()
        chars = generate(folder, args.transcripts, args.segments)
        # Load (and warm up) the model before timing, so the time is the annotation itself.
        loaded = _load_model(models_dir, None, paths.DEFAULT_CODEBOOK, log.warning, ensure_model)

        suggest_segments(loaded, segment_text("I: Hoe gaat het?\nL1: Goed, veel ruimte.\n").segments)
        if args.tracemalloc:
            tracemalloc.start()
        t0 = time.perf_counter()
        result = annotate([folder], out, models_dir=models_dir, workers=args.workers, progress=False)
        wall = time.perf_counter() - t0
        traced = tracemalloc.get_traced_memory()[1] if args.tracemalloc else None
        if args.tracemalloc:
            tracemalloc.stop()
        t1 = time.perf_counter()
        rerun = annotate([folder], out, models_dir=models_dir, workers=args.workers, progress=False)
        rerun_wall = time.perf_counter() - t1
        main_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert not result.failed, result.failed
        assert len(rerun.skipped) == args.transcripts
        n = result.n_segments
        share = encoder_share(loaded, folder, wall, n)
        cluster = run_on_cluster(folder, out, work, models_dir, args.cluster_workers) if args.cluster_workers else None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_end = os.getloadavg()[0]

    section = f"""## Batch annotation (`codeerhulp annotate`)

{args.transcripts} generated transcripts (I:/L<n>: turns built from the shipped corpus texts), {n} segments,
{chars / 1e6:.1f} million characters; {args.workers} reading workers; model: {note}
(encoder `{loaded.manifest.get('encoder', '?')}`).

| measure | value |
|---|---|
| wall time, annotate (model loaded) | {wall:.1f} s |
| segments per second | {n / wall:.0f} |
| files per second | {args.transcripts / wall:.1f} |
| model load (once per run) | {load_seconds:.1f} s |
| rerun, every file skipped | {rerun_wall:.1f} s |
| peak memory, main process (max RSS) | {main_rss:.0f} MB |
""" + (f"| peak Python allocations, main process (tracemalloc) | {traced / 1e6:.0f} MB |\n" if traced else "")
    if cluster:
        section += f"""
**On a Dask cluster** (`annotate --cluster`): a `LocalCluster` of {args.cluster_workers} worker processes with one
thread each on 127.0.0.1, this same machine, so the cluster has the same {os.cpu_count()} cores as the local run.
The workers loaded the model in a warm-up run on one file first; model loads per worker after both runs: {cluster['loads']}.

| measure | local | cluster | cluster / local |
|---|---:|---:|---:|
| wall time | {wall:.1f} s | {cluster['wall']:.1f} s | {cluster['wall'] / wall:.2f} |
| segments per second | {n / wall:.0f} | {n / cluster['wall']:.0f} | {wall / cluster['wall']:.2f} |
| peak memory | main process {main_rss:.0f} MB | largest worker {cluster['worker_rss']:.0f} MB | |

Same dataset (`dataset.csv` and `annotations.jsonl` byte for byte): **{'yes' if cluster['same'] else 'NO'}**.
Both runs have the same cores. Locally, reading processes segment while the main process suggests (the encoder
using every core); on the cluster each worker reads and suggests whole files and every file and its records
travel between processes. More cores come only with workers on more machines (docs/batch.md).
"""
    target = 180
    per_100 = wall * 100 / args.transcripts  # the target is stated for 100 interviews
    scaled = "" if args.transcripts == 100 else f", {per_100:.0f} s scaled to 100 interviews ({args.transcripts} were run)"
    section += f"""
Target (100 interviews of ~150 segments in < 3 minutes on 2 cores): **{'reached' if per_100 < target else 'not reached'}**
locally ({wall:.0f} s{scaled}). Where the time goes: the e5-small encoder needs {share['cpu_ms']:.1f} ms of CPU per text
(measured on {share['sample']} of these texts); a run encodes every answer and its question, {share['texts']} texts
in all, so the encoder alone needs {share['encoder_cpu_s']:.0f} CPU-seconds, {share['encoder_cpu_s'] / os.cpu_count():.0f} s
of wall time on {os.cpu_count()} cores busy with nothing else: {share['encoder_cpu_s'] / os.cpu_count() / wall:.0%} of the run.
(Answers and questions of these generated interviews together: median {share['median_words']} words.)

Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()};
measured {time.strftime('%Y-%m-%d')} with `python benchmarks/bench_annotate.py --workers {args.workers}`,
load average {load_start:.1f} at the start and {load_end:.1f} at the end"""
    section += (" (other work ran on the machine at the same time, so the times are upper bounds; the ratio is "
                "measured in one run)." if max(load_start, load_end) > 1.5 else " (the machine was otherwise quiet).")
    section += """ The outputs (dataset CSV/XLSX, JSONL) are rebuilt from every file's result at the end of each run;
that is included in the wall time.
"""
    print(section)
    if not args.no_write:
        write_section(section, args.output)
        print(f"written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
