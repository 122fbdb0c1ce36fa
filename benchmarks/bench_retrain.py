"""A retrain as the service runs it, on the shipped corpus plus confirmed segments, phase by phase;
writes BENCHMARKS.md (retrain) when the machine is quiet enough to time (load average < 1.5 at the start).

    python benchmarks/bench_retrain.py [--confirmed 1000] [--config training/configs/default.yaml]

The confirmed segments are drawn (fixed seed) from the coded transcript split, plus the share the service
holds out for the gate (20 %). The retrain runs in fresh temporary folders, as service/retrain.py runs it;
phases as the job reports them: vectors, training (features and heads), rule, evaluating, saving, gating
(the active shipped model against the new one on the held-out segments). The transcript split's vectors
are in the shipped cache, so the vectors phase finds them all; what a first retrain pays for segments that
are not cached yet is measured apart: the confirmed segments encoded anew by the bare encoder. Wall and
CPU seconds (this process and its worker processes) per phase, the load average and the CPU's model and flags are
printed with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT, cpu_flags, git_commit, machine, write_section  # noqa: E402
from training import paths  # noqa: E402
from training.artifacts import load_model, read_active  # noqa: E402
from training.codebook import load_codebook  # noqa: E402
from training.encoders import make_encoder  # noqa: E402
from training.data import load_corpus  # noqa: E402
from training.promotion import compare_for_promotion  # noqa: E402
from training.train import CONFIRMED, TrainConfig, train_version  # noqa: E402
from training.text import normalise  # noqa: E402
from training.transcripts import load_transcripts  # noqa: E402

MAX_LOAD_TO_WRITE = 1.5
HOLDOUT_SHARE = 0.2  # the service's default (Settings.retrain_holdout_share)
FLAGS_OF_INTEREST = ("avx", "avx2", "avx512f", "avx512_vnni", "avx_vnni", "fma", "f16c", "sse4_2")


def flags_of_interest() -> str:
    have = cpu_flags(FLAGS_OF_INTEREST)
    if have is None:
        return "unknown"
    return " ".join(have) or "none of " + ", ".join(FLAGS_OF_INTEREST)


def cpu_seconds() -> float:
    """CPU seconds of this process and its live children: the heads are fitted in worker processes
    (joblib's loky workers, which stay alive between fits). Without psutil (it comes with the cluster
    extra), this process's alone."""
    own = time.process_time()
    try:
        import psutil
    except ImportError:
        return own
    total = own
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


class PhaseClock:
    """Wall and CPU (this process and its worker processes) seconds of each phase, as ``progress`` names them."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._phase: str | None = None
        self._since = (0.0, 0.0)

    def __call__(self, phase: str | None) -> None:
        now = (time.perf_counter(), cpu_seconds())
        if self._phase is not None:
            self.wall[self._phase] = self.wall.get(self._phase, 0.0) + now[0] - self._since[0]
            self.cpu[self._phase] = self.cpu.get(self._phase, 0.0) + now[1] - self._since[1]
        self._phase, self._since = phase, now


def retrain(confirmed, held, cache_dir: Path, config: TrainConfig, codebook, carry: bool) -> dict:
    """One retrain as service/retrain.py runs it (train_version, then the gate), timed per phase; ``carry``:
    the active version's calibration is carried over (the service's default), else refitted out of fold."""
    clock = PhaseClock()
    with tempfile.TemporaryDirectory(prefix="bench-retrain-") as tmp:
        models = Path(tmp) / "models"
        shutil.copytree(paths.DEFAULT_MODELS_DIR, models)
        active = load_model(models, read_active(models)) if carry else None
        loaded = train_version(models_dir=models, config=config, extra_examples=confirmed, cache_dir=cache_dir,
                               progress=clock, also_encode=held, calibration_from=active)
        clock("gating")
        old = load_model(models, read_active(models)).model
        synthetic = load_corpus(paths.EVAL_DIR, codebook)
        decision, info = compare_for_promotion(loaded.model, old, synthetic, held, list(codebook.factor_ids))
        clock(None)
    return {"wall": {k: round(v, 1) for k, v in clock.wall.items()}, "cpu": {k: round(v, 1) for k, v in clock.cpu.items()},
            "total_wall": round(sum(clock.wall.values()), 1), "total_cpu": round(sum(clock.cpu.values()), 1),
            "n_train": loaded.manifest["training_data"]["n_examples"], "gate": decision.reason,
            "gate_paired": info["paired"],
            "held_out_macro_f1": loaded.manifest["metrics"].get("held_out", {}).get("macro_f1"),
            "transcripts": {k: loaded.manifest["metrics"].get("transcripts", {}).get(k)
                            for k in ("kappa_primary", "kappa_top1", "hit1", "hit3", "coverage")},
            "calibration": loaded.manifest["calibration"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--confirmed", type=int, default=1000, help="confirmed segments trained on")
    parser.add_argument("--config", type=Path, default=paths.DEFAULT_TRAIN_CONFIG)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    codebook = load_codebook(paths.DEFAULT_CODEBOOK)
    config = TrainConfig.load(args.config)
    split = load_transcripts(codebook=codebook)
    n_held = round(args.confirmed * HOLDOUT_SHARE / (1 - HOLDOUT_SHARE))
    # Marked as the service marks them, so they carry the config's confirmed_weight in training.
    drawn = [replace(t.example, source=CONFIRMED)
             for t in random.Random(11).sample(split, min(len(split), args.confirmed + n_held))]
    confirmed, held = drawn[:args.confirmed], drawn[args.confirmed:]
    runs = {}
    with tempfile.TemporaryDirectory(prefix="bench-retrain-vectors-") as cache:
        for name, carry in (("retrain, calibration carried", True), ("retrain, calibration refitted", False)):
            load_before = os.getloadavg()[0]
            runs[name] = retrain(confirmed, held, Path(cache), config, codebook, carry)
            runs[name]["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
            print(name, json.dumps(runs[name]), file=sys.stderr, flush=True)
    encoder = make_encoder(config.model.encoder) if config.model.encoder != "none" else None
    uncached = None
    if encoder is not None:
        texts = list(dict.fromkeys(normalise(t) for e in confirmed + held for t in (e.text, e.question) if t))
        load_before = os.getloadavg()[0]
        wall, cpu = time.perf_counter(), time.process_time()
        encoder.encode(texts)
        uncached = {"sentences": len(texts), "wall": round(time.perf_counter() - wall, 1),
                    "cpu": round(time.process_time() - cpu, 1),
                    "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
        print("uncached", json.dumps(uncached), file=sys.stderr, flush=True)
    # Quiet means quiet when the first retrain starts: the load after that includes the retrains' own use of both
    # cores (the second retrain and the uncached encoding start right after one, so their start shows its load).
    load = next(iter(runs.values()))["load_average"][0]
    out = {"confirmed": len(confirmed), "held_out": len(held), "config": str(args.config), "runs": runs,
           "uncached_vectors": uncached, "cpu": machine(), "flags": flags_of_interest()}
    (ROOT / "benchmarks" / "results").mkdir(exist_ok=True)
    (ROOT / "benchmarks" / "results" / "retrain.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    command = f"python benchmarks/bench_retrain.py --confirmed {args.confirmed}"
    if args.no_write:
        return 0
    if load >= MAX_LOAD_TO_WRITE:
        print(f"load average {load:.1f} >= {MAX_LOAD_TO_WRITE}: BENCHMARKS.md not written; run `{command}` on a "
              "quiet machine", file=sys.stderr)
        return 0
    phases = list(dict.fromkeys(p for r in runs.values() for p in r["wall"]))
    body = ["## Retrain with confirmed segments", "",
            f"Measured by `{command}` (commit {git_commit()}) on {machine()}; CPU flags: {out['flags']}; "
            f"load average {load:.2f} at the start. The shipped corpus plus {len(confirmed)} confirmed segments of the "
            f"transcript split ({next(iter(runs.values()))['n_train']} trained on; {len(held)} more held out for the gate), "
            f"default config ({args.config.name}). Wall seconds per phase; CPU seconds of this process and its worker "
            "processes in the last columns.", "",
            "| run | " + " | ".join(phases) + " | total wall s | total CPU s |", "|---|" + "---:|" * (len(phases) + 2)]
    for name, r in runs.items():
        body.append(f"| {name} | " + " | ".join(f"{r['wall'].get(p, 0):.1f}" for p in phases)
                    + f" | {r['total_wall']:.1f} | {r['total_cpu']:.1f} |")
    body += ["", "The same retrains' scores: on the held-out confirmed segments (the gate's paired F1, the active shipped "
             "model's beside it), on the transcript split (which set the decision rule and holds the confirmed "
             "segments too: compare rows, not absolute values) and on the synthetic held-out split.", "",
             "| run | held-out confirmed F1 (active) | transcripts kappa | hit@1 | hit@3 | synthetic macro-F1 |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, r in runs.items():
        p, t = r["gate_paired"] or {}, r["transcripts"]
        body.append(f"| {name} | {p.get('new', float('nan')):.3f} ({p.get('old', float('nan')):.3f}) | "
                    f"{t['kappa_primary']} | {t['hit1']} | {t['hit3']} | {r['held_out_macro_f1']} |")
    if uncached:
        body += ["", f"Vectors not cached yet (a project's first retrain: the web workers keep theirs in memory): "
                 f"encoding the {uncached['sentences']} sentences of the confirmed segments took {uncached['wall']} s "
                 f"wall, {uncached['cpu']} s CPU; each is encoded once and kept in the data folder's vector cache."]
    write_section("retrain", "\n".join(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
