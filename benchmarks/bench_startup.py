"""`codeerhulp suggest` on a 150-turn interview as a whole command: wall time cold and warm, and
where the time goes (stage by stage, from the command's own timings), optionally against another
git revision in the same run; writes BENCHMARKS.md (startup) only on a quiet machine.

    python benchmarks/bench_startup.py [--runs 5] [--compare main] [--write]

Every run is a fresh process, started here; the stages come from ``codeerhulp -v`` (lines
``stage NAME START END`` of ``training.timing``), placed on a time line that starts when this
script starts the process. "Cold" is the first run with a new data dir (only the encoder engine
copied in, so no derived cache such as simplemma's decoded dictionary exists) after asking the
kernel to drop its page cache (with ``--drop-caches``, when this process may); "warm" are the
runs after it. ``--compare REF`` exports REF with ``git archive`` and runs its command in turns
with this checkout's, so both see the same load; the ratio of medians is what to read when the
machine is shared. The section is written only with ``--write`` and a load average <= 1.5 at the
start (the load at the end is printed, not judged: the benchmark's own runs keep both cores busy and
raise it by themselves); otherwise the numbers are printed and the command to rerun is shown.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import git_commit, machine, write_section  # noqa: E402
from benchmarks.bench_encoder import cpu_description  # noqa: E402
from benchmarks.bench_speed import interview_file  # noqa: E402

QUIET_LOAD = 1.5
STAGE_ORDER = ("interpreter and light imports", "segmenting", "imports", "model load", "lexical features",
               "scoring", "output", "exit")
BACKGROUND = ("encoder load (background)", "encoding (background)")


def run_command(checkout: Path, interview: Path, data_dir: Path, verbose: bool) -> dict:
    """One run of the command of ``checkout`` with its own shipped models (or CODEERHULP_MODELS_DIR)."""
    env = {**os.environ, "CODEERHULP_DATA_DIR": str(data_dir), "PYTHONPATH": str(checkout)}
    args = [sys.executable, "-m", "service.cli", *(["-v"] if verbose else []), "suggest", str(interview)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.time()
    out = subprocess.run(args, capture_output=True, text=True, cwd=checkout, env=env)
    ended = time.time()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if out.returncode != 0:
        raise SystemExit(f"{checkout}: the command failed:\n{out.stderr[-2000:]}")
    stages: dict[str, tuple[float, float, float]] = {}
    for line in out.stderr.splitlines():
        if " stage " in line and line.startswith("DEBUG codeerhulp.timing"):
            name, start, end, thread_cpu = line.split(" stage ", 1)[1].rsplit(" ", 3)
            stages.setdefault(name, (float(start) - started, float(end) - started, float(thread_cpu)))
    return {"wall": ended - started, "cpu": cpu, "stages": stages, "output": out.stdout}


def thread_cpu(run: dict) -> dict[str, float]:
    """CPU seconds of the thread that ran each stage."""
    return {name: cpu for name, (_, _, cpu) in run["stages"].items()}


def durations(run: dict) -> dict[str, float]:
    """Seconds per stage of the main thread, plus the background ones (which overlap them)."""
    s, wall = run["stages"], run["wall"]
    out = {}
    if "command start" in s:
        out["interpreter and light imports"] = s["command start"][0]
    for name in STAGE_ORDER[1:-1] + BACKGROUND:
        if name in s:
            out[name] = s[name][1] - s[name][0]
    if "output" in s:
        out["exit"] = wall - s["output"][1]
    if "encoding (background)" in s and "scoring" in s:
        # How long the main thread waited for vectors: the background's end past the scoring's start.
        out["waiting for vectors"] = max(0.0, s["encoding (background)"][1] - s["scoring"][0])
    return out


def drop_page_cache() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def export_revision(ref: str, target: Path) -> Path:
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", ref], capture_output=True, cwd=ROOT, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def suggestions(jsonl: str) -> list[dict]:
    """The records without their model version: two checkouts may ship the same model under two versions."""
    return [{k: v for k, v in json.loads(line).items() if k != "model_version"} for line in jsonl.splitlines()]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="warm runs per checkout")
    parser.add_argument("--compare", metavar="REF", help="also run this git revision, in turns with this checkout")
    parser.add_argument("--write", action="store_true", help="write BENCHMARKS.md (only on a quiet machine)")
    parser.add_argument("--drop-caches", action="store_true",
                        help="drop the kernel's page cache before the cold run (needs root; slows every other "
                             "process on the machine for a moment)")
    args = parser.parse_args()

    cpu, flags = cpu_description()
    load_before = os.getloadavg()
    print(f"CPU: {cpu}; flags: {', '.join(flags) or 'none'}; cores: {os.cpu_count()}; "
          f"load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    user_data = Path(os.environ.get("CODEERHULP_DATA_DIR", "data"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        interview = interview_file(tmp)
        checkouts = {"this checkout": ROOT}
        if args.compare:
            checkouts[args.compare] = export_revision(args.compare, tmp / "compare")
        # The engine is built once per machine (BENCHMARKS.md, encoder): copy it, or build it now.
        engines = user_data / "engines"
        if not engines.is_dir():
            print("building the encoder engine once (not part of start-up) ...")
            run_command(ROOT, interview, user_data, verbose=False)
        data = {}
        for label in checkouts:
            data[label] = tmp / f"data-{len(data)}"
            shutil.copytree(engines, data[label] / "engines")

        dropped = args.drop_caches and drop_page_cache()
        cold = {label: run_command(path, interview, data[label], verbose=True)
                for label, path in checkouts.items()}
        warm = {label: [] for label in checkouts}
        for _ in range(args.runs):  # in turns: neighbouring runs see about the same load
            for label, path in checkouts.items():
                warm[label].append(run_command(path, interview, data[label], verbose=False))
        verbose = {label: [run_command(path, interview, data[label], verbose=True)
                           for _ in range(max(1, args.runs // 2))] for label, path in checkouts.items()}
        outputs = {label: runs[-1]["output"] for label, runs in warm.items()}
        help_wall = []
        for _ in range(3):
            started = time.time()
            subprocess.run([sys.executable, "-m", "service.cli", "--help"], capture_output=True, cwd=ROOT, check=True)
            help_wall.append(time.time() - started)
    load_after = os.getloadavg()
    n_segments = outputs["this checkout"].count("\n")

    lines = [
        "## Start-up: `codeerhulp suggest` on a 150-segment interview, as a whole command",
        "",
        f"`python benchmarks/bench_startup.py --runs {args.runs}"
        + (f" --compare {args.compare}" if args.compare else "") + f"` (commit {git_commit()}) on {machine()}; "
        f"CPU `{cpu}` with {', '.join(flags) or 'none of the listed flags'}. Load average {load_before[0]:.2f} at the "
        f"start and {load_after[0]:.2f} at the end. The interview: 150 turns of new recombinations of held-out "
        f"sentences, each with its question ({n_segments} segments). Each checkout's shipped active model; "
        "the encoder engine "
        "already built (as after a first use). Cold: a new data dir"
        + (", the page cache dropped" if dropped else ", the page cache not dropped") + ".",
        "",
        "| checkout | cold (s) | warm, median (s) | warm, best (s) | CPU per warm run, median (s) | warm runs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label in checkouts:
        walls = [r["wall"] for r in warm[label]]
        cpu_s = median([r["cpu"] for r in warm[label]])
        lines.append(f"| {label} | {cold[label]['wall']:.2f} | {median(walls):.2f} | {min(walls):.2f} | {cpu_s:.2f} | "
                     f"{len(walls)} |")
    if args.compare:
        ratio = median([r["wall"] for r in warm["this checkout"]]) / median([r["wall"] for r in warm[args.compare]])
        same = suggestions(outputs["this checkout"]) == suggestions(outputs[args.compare])
        cpu_ratio = median([r["cpu"] for r in warm["this checkout"]]) / median([r["cpu"] for r in warm[args.compare]])
        lines += ["", f"This checkout against {args.compare}: {ratio:.2f}x the warm median wall time, {cpu_ratio:.2f}x "
                  f"the CPU time; the suggestions are {'the same' if same else 'DIFFERENT'} "
                  "(every field but the model version)."]
    # The target and how far the machine lets us go: a command that spends C CPU seconds cannot end in
    # less than C / cores seconds, however well its parts overlap.
    warm_wall = median([r["wall"] for r in warm["this checkout"]])
    warm_cpu_s = median([r["cpu"] for r in warm["this checkout"]])
    cores = os.cpu_count() or 1
    lines += ["", f"Target (< 3 s warm, #12): **{'reached' if warm_wall < 3 else 'not reached'}** ({warm_wall:.2f} s). "
              f"The machine's limit for this much work: {warm_cpu_s:.2f} s of CPU on {cores} cores cannot finish in "
              f"less than {warm_cpu_s / cores:.2f} s; the warm run is {warm_wall / (warm_cpu_s / cores):.2f}x that "
              "bound. Most of the CPU is the encoder (the 150 answers and their questions) and importing "
              "scikit-learn, skops and spaCy; under 3 s needs less of either (a smaller encoder changes the vectors)."]
    lines += ["", "Where the time goes (this checkout, median seconds of the verbose runs; the background stages "
              "run at the same time as the main thread's imports and model load):", "",
              "| stage | cold (s) | warm (s) | warm, CPU of its thread (s) |", "|---|---:|---:|---:|"]
    cold_d = durations(cold["this checkout"])
    warm_d = [durations(r) for r in verbose["this checkout"]]
    warm_cpu = [thread_cpu(r) for r in verbose["this checkout"]]
    for name in STAGE_ORDER + BACKGROUND + ("waiting for vectors",):
        if name in cold_d or any(name in d for d in warm_d):
            cpu_s = median([c[name] for c in warm_cpu if name in c])
            lines.append(f"| {name} | {cold_d.get(name, float('nan')):.2f} | "
                         f"{median([d[name] for d in warm_d if name in d]):.2f} | "
                         + ("" if cpu_s != cpu_s else f"{cpu_s:.2f}") + " |")
    lines += ["", "The CPU column counts the stage's own thread only: the encoding's CPU is spent in ONNX Runtime's "
              "calls on the encoder's worker threads, which the process total above includes."]
    lines += ["", f"`codeerhulp --help`: median {median(help_wall):.2f} s over 3 runs."]
    text = "\n".join(lines)
    print(text)
    quiet = load_before[0] <= QUIET_LOAD  # the end's load includes our own runs (see the docstring)
    if args.write and quiet:
        write_section("startup", text)
        print("BENCHMARKS.md (startup) written")
    elif args.write:
        print(f"NOT written: load average {load_before[0]:.2f} at the start is above {QUIET_LOAD}; rerun "
              f"on a quiet machine: python benchmarks/bench_startup.py --runs {args.runs}"
              + (f" --compare {args.compare}" if args.compare else "") + " --write")


if __name__ == "__main__":
    main()
