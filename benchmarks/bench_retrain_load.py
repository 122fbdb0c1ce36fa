"""Suggestions while a retrain runs: /api/v1/suggest latency before and during a retrain, against a
real ``codeerhulp serve`` (one web worker and the job worker it starts) on loopback.

Before retrains moved to their own process (issue #13) a suggestion waited up to 93 s for the
retrain's lock. Writes its section into BENCHMARKS.md between ``<!-- retrain-load:start -->`` and
``<!-- retrain-load:end -->``.

    python benchmarks/bench_retrain_load.py [--models-dir models] [--config training/configs/lexical.yaml]

The served model is the model store's active one (default: the shipped model); the retrain uses
``--config`` (default lexical: the default e5 config takes many minutes on 2 shared cores) on the
shipped corpus. Fresh temporary data: a SQLite file and a copy of the model store.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import git_commit, machine, write_section  # noqa: E402
from benchmarks.bench_service import TEXTS, Server, add_users, percentile  # noqa: E402
from service.settings import Settings  # noqa: E402
from training import paths  # noqa: E402


def measure(http: httpx.Client, until) -> list[float]:  # noqa: ANN001 - a predicate
    """One client, one text per request, a pause of 0.1 s between requests (a coder's pace is slower)."""
    latencies = []
    i = 0
    while not until(i):
        started = time.perf_counter()
        http.post("/api/v1/suggest", json={"texts": [TEXTS[i % len(TEXTS)]]}).raise_for_status()
        latencies.append(time.perf_counter() - started)
        i += 1
        time.sleep(0.1)
    return latencies


def row(name: str, latencies: list[float]) -> str:
    return (f"| {name} | {len(latencies)} | {percentile(latencies, .5) * 1000:.0f} | "
            f"{percentile(latencies, .99) * 1000:.0f} | {max(latencies) * 1000:.0f} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models-dir", type=Path, default=paths.DEFAULT_MODELS_DIR, help="model store to serve from")
    ap.add_argument("--config", type=Path, default=paths.PACKAGE_DIR / "configs" / "lexical.yaml",
                    help="training config of the retrain")
    ap.add_argument("--baseline", type=int, default=200, help="suggestions measured before the retrain")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-retrain-load-"))
    try:
        models = tmp / "models"
        shutil.copytree(args.models_dir, models)
        for p in models.rglob("*"):
            p.chmod(0o755 if p.is_dir() else 0o644)
        settings = Settings(data_dir=tmp / "data", models_dir=models, train_config=args.config)
        admin, coder = add_users(settings.resolved_database_url(), [("admin", "admin"), ("anna", "coder")])
        server = Server(settings, 1, tmp / "server.log")
        try:
            http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {coder}"}, timeout=300)
            measure(http, lambda i: i >= 20)  # warm-up: the first suggestions load the encoder and tokenizer
            before = measure(http, lambda i: i >= args.baseline)
            job = httpx.post(f"{server.url}/api/v1/models/retrain", headers={"Authorization": f"Bearer {admin}"},
                             timeout=60).json()
            state: dict = {}

            def ended(i: int) -> bool:
                if i % 5 == 0:
                    state.update(http.get(f"/api/v1/jobs/{job['id']}").json())
                return state.get("status") in ("succeeded", "failed", "cancelled")

            during = measure(http, ended)
            web_pid = http.get("/health").json()["worker_pid"]
        finally:
            server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    config = args.config.relative_to(ROOT) if args.config.is_relative_to(ROOT) else args.config
    load = os.getloadavg()[0]
    body = "\n".join([
        "## Suggestions while a retrain runs (`benchmarks/bench_retrain_load.py`)",
        "",
        f"`python benchmarks/bench_retrain_load.py` (commit {git_commit()}) on {machine()}; load average "
        f"{load:.1f} at the end (the machine was shared, so treat these as upper bounds). Real `codeerhulp serve` "
        "with one web worker and its job worker; the shipped model serves; the retrain trains "
        f"`{config}` on the shipped corpus in the job worker's own process (nice "
        f"{settings.worker_nice}, pid {state.get('worker', '?').rpartition(':')[2]}; the web worker's pid is "
        f"{web_pid}). One client, one text a request, 0.1 s between requests. Before this release a "
        "suggestion waited for the retrain's lock, up to 93 s.",
        "",
        "| | suggestions | p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|",
        row("before the retrain", before),
        row("during the retrain", during),
        "",
        f"The retrain took {state.get('elapsed_seconds')} s and ended `{state.get('status')}`: {state.get('message')}",
    ])
    write_section("retrain-load", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
