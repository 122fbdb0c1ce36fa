"""Against a real ``codeerhulp serve`` (uvicorn) on loopback: concurrent coders, several workers
following a promotion, and ``kill -9`` during a retrain."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter

import httpx
import pytest
from sqlalchemy import func, select, text

from service import repository
from service.db import Database
from service.tables import Decision, Job, ModelActivation, ModelVersion
from training.artifacts import list_versions

from .conftest import add_user, auth, pid_running
from .test_api import copy_version


N_DECISIONS = 5000
N_CLIENTS = 32


def transcript(n_turns: int) -> bytes:
    lines = []
    for i in range(n_turns):
        lines.append(f"I: Vraag {i}: hoeveel ruimte ervaar je om dat te doen?")
        lines.append(f"L1: Nou, bij onderwerp {i} heb ik best veel ruimte gekregen van de schoolleiding, "
                     f"maar de sectie remt soms af omdat er weinig tijd is.")
    return ("\n".join(lines) + "\n").encode("utf-8")


@pytest.mark.parametrize("workers", [2])
def test_32_concurrent_coders_5000_decisions(settings, server_factory, workers):
    url = settings.resolved_database_url()
    admin = add_user(url, "admin", "admin")
    coders = [add_user(url, f"coder{i:02d}") for i in range(N_CLIENTS)]
    server = server_factory(settings, workers=workers).start()

    n_segments = -(-N_DECISIONS // N_CLIENTS)  # each coder decides on its share of segments
    r = httpx.post(f"{server.url}/api/v1/documents", headers=auth(admin), timeout=120,
                   files={"file": ("lang.txt", transcript(n_segments))})
    assert r.status_code == 201, r.text
    segment_ids = [s["id"] for s in r.json()["segments"]]
    assert len(segment_ids) >= n_segments

    work = [(coders[i % N_CLIENTS], segment_ids[i // N_CLIENTS], i) for i in range(N_DECISIONS)]
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        mine = [w for w in work if w[0] == coders[k]]
        with httpx.Client(base_url=server.url, timeout=60) as http:
            for token, segment, i in mine:
                body = {"segment_id": segment, "action": "no_code"} if i % 3 == 0 else \
                    {"segment_id": segment, "action": "correct",
                     "codes": [{"factor": "ervaren_ruimte", "richting": "PO", "aard": "+" if i % 2 else "-"}]}
                try:
                    response = http.post("/api/v1/decisions", headers=auth(token), json=body)
                    # Every tenth decision is sent twice, as a client retrying after a timeout would.
                    repeat = http.post("/api/v1/decisions", headers=auth(token), json=body) if i % 10 == 0 else None
                except httpx.HTTPError as exc:
                    with lock:
                        errors.append(repr(exc))
                    continue
                with lock:
                    statuses[response.status_code] += 1
                    if repeat is not None:
                        statuses[repeat.status_code + 1000] += 1  # 1200: the idempotent answer

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(N_CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    print(f"{N_DECISIONS} decisions from {N_CLIENTS} clients in {seconds:.1f} s ({N_DECISIONS / seconds:.0f}/s)")

    assert not errors, errors[:5]
    assert statuses[201] == N_DECISIONS, statuses
    assert statuses[1200] == N_DECISIONS // 10, statuses
    assert not any(code % 1000 >= 500 for code in statuses), statuses
    db = Database(url)
    try:
        total = db.read(lambda s: s.scalar(select(func.count()).select_from(Decision)))
        pairs = db.read(lambda s: s.execute(select(Decision.segment_id, Decision.coder_id, func.count())
                                            .group_by(Decision.segment_id, Decision.coder_id)).all())
    finally:
        db.dispose()
    assert total == N_DECISIONS
    assert len(pairs) == N_DECISIONS and all(n == 1 for _, _, n in pairs)

    # Every worker follows a promotion within a few seconds (its poll); each logs the switch with its pid.
    old = httpx.get(f"{server.url}/health").json()["model_version"]
    new = copy_version(settings.models_dir, old, "20990101-000000-multiw")
    assert httpx.post(f"{server.url}/api/v1/models/{new}/promote", headers=auth(admin), timeout=60).status_code == 200
    deadline = time.monotonic() + 15
    pattern = re.compile(rf"\[(\d+)\]: now serving model {new}")
    while time.monotonic() < deadline and len(set(pattern.findall(server.log()))) < workers:
        time.sleep(0.1)
    assert len(set(pattern.findall(server.log()))) == workers, server.log()[-3000:]
    assert httpx.get(f"{server.url}/health").json()["model_version"] == new


def test_kill_9_during_retrain(settings, server_factory):
    url = settings.resolved_database_url()
    admin = add_user(url, "admin", "admin")
    coder = add_user(url, "anna")
    server = server_factory(settings, name="before").start()
    r = httpx.post(f"{server.url}/api/v1/documents", headers=auth(coder), timeout=60,
                   files={"file": ("t.txt", transcript(10))})
    segments = [s["id"] for s in r.json()["segments"]]
    for s in segments:
        httpx.post(f"{server.url}/api/v1/decisions", headers=auth(coder), json={"segment_id": s, "action": "accept"}
                   ).raise_for_status()
    served = httpx.get(f"{server.url}/health").json()["model_version"]
    versions_before = {m["version"] for m in list_versions(settings.models_dir)}

    job = httpx.post(f"{server.url}/api/v1/models/retrain", headers=auth(admin)).json()
    deadline = time.monotonic() + 120
    while (state := httpx.get(f"{server.url}/api/v1/jobs/{job['id']}", headers=auth(admin)).json())["phase"] != "training":
        assert time.monotonic() < deadline, state
        time.sleep(0.1)
    job_pid = int(state["worker"].rpartition(":")[2])
    server.kill()
    # The job worker and the job's process die with serve: nothing is left that could promote later.
    deadline = time.monotonic() + 15
    while pid_running(job_pid):
        assert time.monotonic() < deadline, "the job's process outlived the killed server"
        time.sleep(0.1)

    restarted = server_factory(settings, name="after").start()
    health = httpx.get(f"{restarted.url}/health").json()
    assert health["model_version"] == served == health["active_model_version"]
    after = httpx.get(f"{restarted.url}/api/v1/jobs/{job['id']}", headers=auth(admin)).json()
    assert after["status"] == "failed" and "bestaat niet meer" in after["message"], after
    assert f"job {job['id']} failed: its process stopped or its lease expired" in restarted.log()
    assert {m["version"] for m in list_versions(settings.models_dir)} == versions_before

    db = Database(url)
    try:
        assert db.read(lambda s: s.scalar(select(func.count()).select_from(Decision))) == len(segments)
        # Only the model imported at first start is known; the killed retrain recorded nothing.
        assert db.read(lambda s: list(s.scalars(select(ModelVersion.version)))) == [served]
        assert db.read(lambda s: s.scalar(select(func.count()).select_from(ModelActivation))) == 1
        assert db.read(lambda s: s.scalar(select(func.count()).select_from(Job).where(
            Job.status.in_(("queued", "running"))))) == 0
        assert db.read(repository.active_version) == served
        if db.sqlite:
            assert db.read(lambda s: s.execute(text("PRAGMA integrity_check")).scalar()) == "ok"
            assert db.read(lambda s: s.execute(text("PRAGMA foreign_key_check")).all()) == []
    finally:
        db.dispose()
    # The service still works: suggestions come from the previous model.
    # The first suggestion of a restarted server opens its encoder: seconds on a busy machine, hence the timeout.
    r = httpx.post(f"{restarted.url}/api/v1/suggest", headers=auth(coder), json={"texts": ["Ik heb veel ruimte."]},
                   timeout=120)
    assert r.status_code == 200 and r.json()["model_version"] == served


def test_serve_fails_clearly_without_a_model(settings, server_factory, tmp_path):
    settings = settings.model_copy(update={"models_dir": tmp_path / "empty-models"})
    server = server_factory(settings, name="nomodel")
    with pytest.raises(RuntimeError, match="server exited"):
        server.start()
    assert "no model version in" in server.log() and "codeerhulp train" in server.log()


