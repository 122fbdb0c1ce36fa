"""Bounded load benchmark of the coding service against a real uvicorn on loopback.

Measures: /api/v1/suggest latency (p50/p95/p99) and throughput at 1, 8 and 32 concurrent clients;
decisions/s with 32 concurrent coders on SQLite and on PostgreSQL; the time of one retrain on the
shipped corpus plus 1,000 confirmed segments. Writes its section into BENCHMARKS.md between
``<!-- service:start -->`` and ``<!-- service:end -->``, keeping the rest of the file.

    python benchmarks/bench_service.py [--config training/configs/lexical.yaml]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test] [--requests 400] [--decisions 3000]

Every run uses fresh temporary data (a SQLite file, a PostgreSQL schema dropped afterwards, a copy
of the model store), so it never touches a real installation.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service import repository  # noqa: E402
from service.db import Database, migrate  # noqa: E402
from service.settings import Settings  # noqa: E402
from training import paths  # noqa: E402
from training.artifacts import set_active  # noqa: E402
from training.train import TrainConfig, train_version  # noqa: E402

START, END = "<!-- service:start -->", "<!-- service:end -->"
LEXICAL_NOTE = ("The lexical config is the default here because the default config (e5 sentence encoder) makes "
                "training the served model and the retrain take many minutes on 2 shared cores; pass --config "
                "to measure another.")
SUGGEST_NOTE = ("Each worker predicts one request at a time (a lock: encoders are not documented as thread-safe), "
                "so throughput levels off at about workers x 1/latency. The ~48 ms floor with one client is "
                "mostly not the model; it looks like TCP delayed-ACK between the client and uvicorn on loopback "
                "and was not investigated further.")
TEXTS = [
    "Ik heb dit jaar veel ruimte gekregen van de schoolleiding om in mijn eigen lessen te experimenteren.",
    "In de sectie is er eigenlijk geen tijd om samen iets te ontwikkelen, dat remt me af.",
    "De begeleider van de PLG stelde goede vragen waardoor ik mijn eigen leerdoelen scherper kreeg.",
    "Nou ja, ik ben er zelf voor gekozen om mee te doen, niemand heeft me gevraagd.",
]


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    k = (len(values) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, settings: Settings, workers: int, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CODEERHULP_")}
        for key, value in settings.model_dump().items():
            if value is not None:
                env[f"CODEERHULP_{key.upper()}"] = str(value)
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(self.port), "--workers", str(workers),
             "--no-access-log", "--log-level", "warning"], env=env, stdout=self.log, stderr=subprocess.STDOUT,
            cwd=ROOT)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited; see {log_path}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"server did not start; see {log_path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def run_clients(n_clients: int, jobs: list, fn) -> tuple[list[float], float, int]:
    """Run fn(client, job) for every job over n_clients threads; latencies, wall seconds, errors."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    shares = [jobs[i::n_clients] for i in range(n_clients)]

    def worker(share: list) -> None:
        with httpx.Client(timeout=120) as client:
            for job in share:
                t = time.perf_counter()
                try:
                    ok = fn(client, job)
                except httpx.HTTPError:
                    ok = False
                dt = time.perf_counter() - t
                with lock:
                    latencies.append(dt)
                    if not ok:
                        errors[0] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(s,)) for s in shares]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - started, errors[0]


def transcript(n: int, offset: int = 0) -> bytes:
    lines = []
    for i in range(offset, offset + n):
        lines.append(f"I: Vraag {i}: hoe ervaar je de ruimte in je school?")
        lines.append(f"L1: {TEXTS[i % len(TEXTS)]} Dat geldt ook voor onderwerp {i}.")
    return ("\n".join(lines) + "\n").encode()


def make_database(kind: str, tmp: Path, postgres: str | None) -> tuple[str, callable]:
    if kind == "sqlite":
        return f"sqlite:///{tmp / f'bench-{secrets.token_hex(3)}.db'}", lambda: None
    from sqlalchemy import create_engine, text

    schema = f"bench_{secrets.token_hex(5)}"
    admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    sep = "&" if "?" in postgres else "?"
    return f"{postgres}{sep}options={quote(f'-csearch_path={schema}')}", drop


def add_users(url: str, names: list[tuple[str, str]]) -> list[str]:
    db = Database(url)
    migrate(db)
    tokens = [db.write(lambda s, n=n, r=r: repository.create_user(s, n, r))[1] for n, r in names]
    db.dispose()
    return tokens


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, default=paths.PACKAGE_DIR / "configs" / "lexical.yaml",
                    help="training config of the served and retrained model (default: lexical, fast)")
    ap.add_argument("--models-dir", type=Path, help="use this model store's active model instead of training one")
    ap.add_argument("--postgres", default=os.environ.get("CODEERHULP_TEST_POSTGRES_URL"),
                    help="PostgreSQL URL for the decisions benchmark (skipped when absent)")
    ap.add_argument("--requests", type=int, default=400, help="suggest requests per concurrency level")
    ap.add_argument("--decisions", type=int, default=3000, help="decisions per database")
    ap.add_argument("--confirmed", type=int, default=1000, help="confirmed segments for the retrain timing")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-retrain", action="store_true")
    ap.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-service-"))
    results: dict = {"config": str(args.config.relative_to(ROOT) if args.config.is_relative_to(ROOT) else args.config)}
    config = TrainConfig.load(args.config)
    models = tmp / "models"
    if args.models_dir:
        shutil.copytree(args.models_dir, models)
    else:
        print("training the served model on the shipped corpus...", file=sys.stderr)
        loaded = train_version(models_dir=models, config=config)
        set_active(models, loaded.version)
    base = Settings(data_dir=tmp / "data", models_dir=models, train_config=args.config,
                    embedding_cache_dir=paths.EMBEDDING_CACHE_DIR if config.model.encoder != "none" else None)

    # ---- suggest latency and throughput (SQLite; the database is only touched for the token check)
    url, drop = make_database("sqlite", tmp, None)
    (token,) = add_users(url, [("bench", "coder")])
    server = Server(base.model_copy(update={"database_url": url}), args.workers, tmp / "suggest.log")
    try:
        headers = {"Authorization": f"Bearer {token}"}

        def suggest(client: httpx.Client, i: int) -> bool:
            r = client.post(f"{server.url}/api/v1/suggest", headers=headers, json={"texts": [TEXTS[i % len(TEXTS)]]})
            return r.status_code == 200

        run_clients(4, list(range(40)), suggest)  # warm-up
        results["suggest"] = []
        for n in (1, 8, 32):
            lat, wall, errors = run_clients(n, list(range(args.requests)), suggest)
            results["suggest"].append({"clients": n, "requests": len(lat), "p50_ms": percentile(lat, .5) * 1000,
                                       "p95_ms": percentile(lat, .95) * 1000, "p99_ms": percentile(lat, .99) * 1000,
                                       "per_s": len(lat) / wall, "errors": errors})
            print(results["suggest"][-1], file=sys.stderr)
    finally:
        server.stop()
        drop()

    # ---- decisions/s with 32 coders, per database
    results["decisions"] = []
    for kind in ("sqlite", "postgres"):
        if kind == "postgres" and not args.postgres:
            continue
        url, drop = make_database(kind, tmp, args.postgres)
        tokens = add_users(url, [(f"coder{i:02d}", "coder") for i in range(32)])
        server = Server(base.model_copy(update={"database_url": url}), args.workers, tmp / f"decisions-{kind}.log")
        try:
            per_coder = -(-args.decisions // 32)
            r = httpx.post(f"{server.url}/api/v1/documents", headers={"Authorization": f"Bearer {tokens[0]}"},
                           files={"file": ("bench.txt", transcript(per_coder))}, timeout=300)
            r.raise_for_status()
            segments = [s["id"] for s in r.json()["segments"]]
            jobs = [(tokens[i % 32], segments[i // 32]) for i in range(args.decisions)]

            def decide(client: httpx.Client, job: tuple[str, int]) -> bool:
                r = client.post(f"{server.url}/api/v1/decisions", headers={"Authorization": f"Bearer {job[0]}"},
                                json={"segment_id": job[1], "action": "accept"})
                return r.status_code in (200, 201)

            # run_clients deals jobs[k::32] to thread k: exactly coder k's decisions.
            lat, wall, errors = run_clients(32, jobs, decide)
            results["decisions"].append({"database": kind, "decisions": len(lat), "per_s": len(lat) / wall,
                                         "p50_ms": percentile(lat, .5) * 1000, "p99_ms": percentile(lat, .99) * 1000,
                                         "errors": errors})
            print(results["decisions"][-1], file=sys.stderr)
        finally:
            server.stop()
            drop()

    # ---- retrain: shipped corpus + N confirmed segments, timed in-process (what the job runs)
    if not args.skip_retrain:
        from service import jobs
        from service.registry import ModelRegistry
        from service.worker import run_leased_retrain

        url, drop = make_database("sqlite", tmp, None)
        (admin,) = add_users(url, [("admin", "admin")])
        settings = base.model_copy(update={"database_url": url})
        db = Database(url)
        registry = ModelRegistry(db, models)
        registry.start()
        from training.segmenting import segment_text

        parsed = segment_text(transcript(args.confirmed).decode(), "confirmed.txt")
        records = registry.suggest(parsed.segments)
        user = db.read(lambda s: repository.list_users(s)[0])
        doc = db.write(lambda s: repository.create_document(s, parsed, records, user, "L1", "leraar", "start", None))
        from service import schemas

        segment_ids = [s.id for s in db.read(lambda s: repository.document_segments(s, doc.id))]
        codebook = __import__("training.codebook", fromlist=["load_codebook"]).load_codebook(settings.codebook_path)
        for i, sid in enumerate(segment_ids):
            body = schemas.DecisionIn(segment_id=sid, action="accept" if i % 4 else "no_code")
            db.write(lambda s, b=body: repository.record_decision(s, user, b, codebook, 20))
        params = {"resolution": "consensus", "promote": False, "holdout_share": 0.2, "tolerance": 0.0}
        jobs.enqueue_retrain(db, None, params)
        lease = jobs.claim_next(db, jobs.worker_id(), settings.job_stale_seconds)
        started = time.perf_counter()
        result = run_leased_retrain(db, settings, lease, params)
        results["retrain"] = {"seconds": time.perf_counter() - started, "confirmed": len(segment_ids),
                              "n_train": result["n_confirmed_train"], "n_held_out": result["n_confirmed_held_out"],
                              "gate": result["reason"]}
        print(results["retrain"], file=sys.stderr)
        db.dispose()
        drop()

    write_section(args.output, results, args)
    (tmp / "results.json").write_text(json.dumps(results, indent=2))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def write_section(path: Path, results: dict, args: argparse.Namespace) -> None:
    cpu = os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        START,
        "## Service (HTTP, `benchmarks/bench_service.py`)",
        "",
        f"Real `codeerhulp serve` (uvicorn, {args.workers} workers) on 127.0.0.1; model config "
        f"`{results['config']}`; Python {platform.python_version()}, {cpu} CPU cores, load average "
        f"{load:.1f} at the end of the run (other jobs shared the machine, so treat the numbers as lower bounds). "
        "Clients are threads in one Python process on the same machine. Reproduce with "
        "`python benchmarks/bench_service.py`. " + LEXICAL_NOTE,
        "",
        "### Suggest: one text per request",
        "",
        SUGGEST_NOTE,
        "",
        "| concurrent clients | requests | p50 ms | p95 ms | p99 ms | requests/s | errors |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results.get("suggest", []):
        lines.append(f"| {r['clients']} | {r['requests']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} "
                     f"| {r['per_s']:.1f} | {r['errors']} |")
    lines += ["", "### Decisions: 32 concurrent coders, each on their own segments", "",
              "| database | decisions | decisions/s | p50 ms | p99 ms | errors |", "|---|---:|---:|---:|---:|---:|"]
    for r in results.get("decisions", []):
        lines.append(f"| {r['database']} | {r['decisions']} | {r['per_s']:.1f} | {r['p50_ms']:.1f} | "
                     f"{r['p99_ms']:.1f} | {r['errors']} |")
    if "retrain" in results:
        r = results["retrain"]
        lines += ["", "### Retrain", "",
                  f"Shipped corpus plus {r['confirmed']} confirmed segments ({r['n_train']} trained on, "
                  f"{r['n_held_out']} held out for the gate), config `{results['config']}`: "
                  f"**{r['seconds']:.0f} s** for train + held-out evaluation + gate (the background job's work). "
                  f"Gate: {r['gate']}."]
    lines.append(END)
    section = "\n".join(lines)
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if START in old and END in old:
        new = old[:old.index(START)] + section + old[old.index(END) + len(END):]
    else:
        new = old.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
