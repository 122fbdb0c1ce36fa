"""What the browser session costs per request, against the API token, on a real uvicorn.

A token is checked once and then trusted for ``auth_cache_seconds``; a browser session is looked
up in the database on every request (so that sign-out and revoke end it at once in every worker).
This measures the price of that choice: the same requests from concurrent clients, once with
``Authorization: Bearer`` and once with the session cookie and ``X-CSRF-Token``, on SQLite:
``GET /api/v1/users/me`` (almost nothing but the authentication) and ``POST /api/v1/decisions``.
Writes its section into BENCHMARKS.md between ``<!-- sessions:start -->`` and ``<!-- sessions:end -->``.

    python benchmarks/bench_sessions.py [--clients 8] [--requests 800] [--workers 2]

Uses fresh temporary data and a copy of the shipped model store; never touches a real installation.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import git_commit, machine, write_section  # noqa: E402
from benchmarks.bench_service import Server, add_users, percentile, run_clients, transcript  # noqa: E402
from service.settings import Settings  # noqa: E402
from training import paths  # noqa: E402


def sign_in(url: str, token: str) -> dict[str, str]:
    """A browser's sign-in: the headers of its later requests (the session cookie and the CSRF token)."""
    with httpx.Client(base_url=url, timeout=60) as client:
        form = client.get("/aanmelden").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        assert client.post("/aanmelden", data={"token": token, "csrf_token": csrf}).status_code == 303
        page = client.get("/documenten").text
        csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)
        return {"Cookie": f"codeerhulp_session={client.cookies['codeerhulp_session']}", "X-CSRF-Token": csrf}


def measure(url: str, credentials: list[dict[str, str]], segment_ids: list[int], n_requests: int) -> dict:
    """users/me and decisions, one credential (request headers) per client thread; latencies in ms."""
    n_clients = len(credentials)
    out = {}
    jobs = [(c, None) for c in range(n_clients) for _ in range(n_requests // n_clients)]

    def me(client: httpx.Client, job) -> bool:  # noqa: ANN001
        return client.get(f"{url}/api/v1/users/me", headers=credentials[job[0]]).status_code == 200

    # Each client (one coder) decides its own share of segments once: every request writes a row.
    decide_jobs = [(c, s) for c in range(n_clients) for s in segment_ids[:n_requests // n_clients]]

    def decide(client: httpx.Client, job) -> bool:  # noqa: ANN001
        r = client.post(f"{url}/api/v1/decisions", json={"segment_id": job[1], "action": "no_code"},
                        headers=credentials[job[0]])
        return r.status_code == 201

    for name, fn, work in (("users/me", me, jobs), ("decisions", decide, decide_jobs)):
        # Same client thread per credential: run_clients deals jobs round robin, so group them per client.
        by_client = [[j for j in work if j[0] == c] for c in range(n_clients)]
        ordered = [job for group in zip(*by_client) for job in group]
        latencies, wall, errors = run_clients(n_clients, ordered, fn)
        out[name] = {"n": len(latencies), "per_s": len(latencies) / wall, "p50": percentile(latencies, 0.5) * 1000,
                     "p95": percentile(latencies, 0.95) * 1000, "errors": errors}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=800, help="requests per kind and mode")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-sessions-"))
    try:
        models = tmp / "models"
        shutil.copytree(paths.DEFAULT_MODELS_DIR, models)
        settings = Settings(data_dir=tmp / "data", models_dir=models, embedding_cache_dir=None,
                            signin_failures_per_minute=1000)
        url_db = settings.resolved_database_url()
        names = [(f"b{i}", "coder") for i in range(args.clients)] + [(f"s{i}", "coder") for i in range(args.clients)]
        tokens = add_users(url_db, names)
        server = Server(settings, args.workers, tmp / "server.log")
        try:
            n_segments = -(-args.requests // args.clients)
            r = httpx.post(f"{server.url}/api/v1/documents", headers={"Authorization": f"Bearer {tokens[0]}"},
                           files={"file": ("bench_L1.txt", transcript(n_segments))}, timeout=600)
            r.raise_for_status()
            segment_ids = [s["id"] for s in r.json()["segments"]]
            bearer = [{"Authorization": f"Bearer {t}"} for t in tokens[:args.clients]]
            browser = [sign_in(server.url, t) for t in tokens[args.clients:]]
            results = {"token": measure(server.url, bearer, segment_ids, args.requests),
                       "session": measure(server.url, browser, segment_ids, args.requests)}
        finally:
            server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    load = os.getloadavg()[0]
    rows = ["| request | credential | requests | requests/s | p50 ms | p95 ms | errors |",
            "|---|---|---:|---:|---:|---:|---:|"]
    for kind in ("users/me", "decisions"):
        for mode, label in (("token", "API token (cached check)"), ("session", "session cookie + CSRF")):
            m = results[mode][kind]
            rows.append(f"| `{kind}` | {label} | {m['n']} | {m['per_s']:.1f} | {m['p50']:.1f} | {m['p95']:.1f} "
                        f"| {m['errors']} |")
    body = "\n".join([
        "## Browser sessions against API tokens (`benchmarks/bench_sessions.py`)", "",
        f"Real `codeerhulp serve` ({args.workers} workers) on 127.0.0.1 with SQLite, {args.clients} concurrent "
        f"clients (threads in one process), commit {git_commit()}; {machine()}; load average {load:.1f} at the end "
        "(other jobs shared the machine). A token is checked in the database once per `auth_cache_seconds`; a "
        "session is looked up on every request, so that sign-out and revocation take effect at once. "
        f"Reproduce with `python benchmarks/bench_sessions.py --clients {args.clients} --requests {args.requests}`.",
        "", *rows])
    write_section("sessions", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
