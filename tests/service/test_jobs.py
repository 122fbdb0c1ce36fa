"""Retraining as a job: the queue and its leases, the worker process beside a real ``codeerhulp serve``,
suggestions that never wait for a retrain, a killed job that can no longer promote, cancel, and the
clean-up of unfinished model folders. On SQLite and, when configured, on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update

from service import jobs, repository
from service.cli import main as cli
from service.db import Database, migrate
from service.registry import ModelRegistry
from service.retrain import run_retrain
from service.tables import Job, ModelActivation, ModelVersion, utcnow
from service.worker import run_leased_retrain
from training.artifacts import MODEL_NAME, OWNER_FILE, list_versions, remove_unfinished

from .conftest import add_user, auth, pid_running, settings_env

TEXT = "Ik heb veel ruimte gekregen van de schoolleiding om te experimenteren met formatief evalueren."


def job_of(server, token: str, job_id: int) -> dict:
    return httpx.get(f"{server.url}/api/v1/jobs/{job_id}", headers=auth(token), timeout=30).json()


def wait_until(condition, timeout: float = 240, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(step)
    return value


def pid_of(worker: str) -> int:
    return int(worker.rpartition(":")[2])



@pytest.fixture
def database(settings):
    db = Database(settings.resolved_database_url())
    migrate(db)
    yield db
    db.dispose()


def test_suggestions_do_not_wait_while_a_retrain_runs_in_another_process(settings, server_factory):
    url = settings.resolved_database_url()
    admin, coder = add_user(url, "admin", "admin"), add_user(url, "anna")
    server = server_factory(settings).start()
    http = httpx.Client(base_url=server.url, headers=auth(coder), timeout=60)
    before = http.get("/health").json()
    # The web worker's first suggestion loads the tokenizer (seconds); that is start-up, not waiting.
    assert http.post("/api/v1/suggest", json={"texts": [TEXT]}).status_code == 200
    job = httpx.post(f"{server.url}/api/v1/models/retrain", headers=auth(admin), timeout=30).json()
    assert job["status"] == "queued"

    latencies: list[float] = []
    seen: list[dict] = []
    priorities: dict[str, int] = {}
    done = threading.Event()

    def follow() -> None:  # the research lead's page polls the job meanwhile
        while not done.is_set():
            state = job_of(server, admin, job["id"])
            seen.append(state)
            if state["status"] == "running" and state["phase"] and not priorities:
                try:
                    priorities["job"] = os.getpriority(os.PRIO_PROCESS, pid_of(state["worker"]))
                except ProcessLookupError:
                    pass
            if state["status"] not in jobs.ACTIVE_STATUSES:
                done.set()
            time.sleep(0.3)

    follower = threading.Thread(target=follow)
    follower.start()
    try:
        while not done.is_set():
            started = time.perf_counter()
            r = http.post("/api/v1/suggest", json={"texts": [TEXT]})
            latencies.append(time.perf_counter() - started)
            assert r.status_code == 200, r.text
            time.sleep(0.1)
    finally:
        done.set()
        follower.join()
    running = [s for s in seen if s["status"] == "running"]
    final = seen[-1]
    assert final["status"] == "succeeded", final
    print(f"{len(latencies)} suggestions during the retrain: max {max(latencies):.2f} s, "
          f"median {sorted(latencies)[len(latencies) // 2]:.3f} s; the retrain took {final['elapsed_seconds']} s")
    assert len(latencies) >= 10  # the retrain took long enough for the claim below to mean something
    assert max(latencies) < 2.0, sorted(latencies)[-5:]

    # The retrain ran in a process of its own: not the web worker, and at a lower CPU priority.
    job_pid = pid_of(final["worker"])
    assert job_pid != before["worker_pid"]
    # Claimed by the worker, then run by its child: from the first phase on, the child's pid.
    job_pids = {pid_of(s["worker"]) for s in running if s["phase"]}
    assert job_pids == {job_pid}
    assert priorities["job"] >= os.getpriority(os.PRIO_PROCESS, before["worker_pid"]) + settings.worker_nice
    # Phases in their order, progress that only grows, time that runs.
    phases = [s["phase"] for s in running if s["phase"]]
    order = ["collecting", "training", "rule", "evaluating", "saving", "gating", "recording"]
    assert "training" in phases and [order.index(p) for p in phases] == sorted(order.index(p) for p in phases)
    progress = [s["progress"] for s in running if s["progress"] is not None]
    assert progress == sorted(progress) and 0 <= progress[0] and progress[-1] < 1
    assert final["result"]["promoted"] is True or "niet geactiveerd" in final["message"]
    if final["result"]["promoted"]:  # the web worker picks the promoted version up by itself
        wait_until(lambda: http.get("/health").json()["model_version"] == final["result"]["version"], timeout=30)


def test_a_killed_job_fails_releases_its_lease_and_its_late_promotion_is_refused(settings, server_factory, database):
    url = settings.resolved_database_url()
    admin = add_user(url, "admin", "admin")
    server = server_factory(settings).start()
    served = httpx.get(f"{server.url}/health").json()["model_version"]
    job = httpx.post(f"{server.url}/api/v1/models/retrain", headers=auth(admin), timeout=30).json()
    state = wait_until(lambda: (s := job_of(server, admin, job["id"]))["phase"] == "training" and s)
    token = database.read(lambda s: s.get(Job, job["id"]).lease_token)
    job_pid = pid_of(state["worker"])

    os.kill(job_pid, signal.SIGKILL)
    failed = wait_until(lambda: (s := job_of(server, admin, job["id"]))["status"] != "running" and s, timeout=60)
    assert failed["status"] == "failed", failed
    # Two watchers may notice first, and each says why it knows: the worker that started the job's process
    # (its exit signal) or the reaper (the process no longer exists); both release the lease (below).
    why = failed["message"]
    assert "stopte onverwacht (signaal SIGKILL)" in why or f"({state['worker']}) bestaat niet meer" in why, failed
    assert "actieve model is ongewijzigd" in why
    row = database.read(lambda s: s.get(Job, job["id"]))
    assert row.lease_expires_at is None and row.lease_token > token  # the lease is released and passed on

    # The dead job's late promotion, run as its process would have run it, under its old lease: the
    # whole retrain runs, and its one transaction that would record and activate the model refuses.
    late = jobs.Lease(job["id"], token)
    with pytest.raises(jobs.LeaseLost):
        run_retrain(database, settings, late, state["params"])
    with pytest.raises(jobs.LeaseLost):
        jobs.renew(database, late, settings.job_stale_seconds, phase="training")
    assert jobs.finish(database, late, "succeeded", "te laat") is False
    assert database.read(repository.active_version) == served
    assert database.read(lambda s: s.scalar(select(func.count()).select_from(ModelActivation))) == 1
    assert database.read(lambda s: list(s.scalars(select(ModelVersion.version)))) == [served]
    assert job_of(server, admin, job["id"])["status"] == "failed"

    # The worker itself lives on and takes the next job.
    again = httpx.post(f"{server.url}/api/v1/models/retrain", headers=auth(admin), timeout=30)
    assert again.status_code == 202
    wait_until(lambda: job_of(server, admin, again.json()["id"])["status"] == "running", timeout=60)
    assert httpx.post(f"{server.url}/api/v1/jobs/{again.json()['id']}/cancel", headers=auth(admin)).status_code == 200


def test_a_job_whose_lease_expired_can_write_nothing(settings, database):
    """A frozen job process (its heartbeat silent past the lease) is failed by the reaper; when it
    wakes up, its heartbeat, its result and its promotion are all refused."""
    job = jobs.enqueue_retrain(database, None, {})
    lease = jobs.claim_next(database, "elsewhere:1", lease_seconds=60)
    assert lease == jobs.Lease(job.id, 1)
    assert jobs.fail_lost_jobs(database) == []  # alive: its lease runs
    database.write(lambda s: s.execute(update(Job).where(Job.id == job.id).values(
        lease_expires_at=utcnow() - dt.timedelta(seconds=1))))
    assert jobs.fail_lost_jobs(database) == [job.id]
    row = database.read(lambda s: s.get(Job, job.id))
    assert row.status == "failed" and "geen teken van leven" in row.message and row.lease_expires_at is None
    with pytest.raises(jobs.LeaseLost):
        jobs.renew(database, lease, 60)
    assert jobs.finish(database, lease, "succeeded", "te laat") is False
    # A new retrain gets a lease of its own; the old token means nothing to it either.
    second = jobs.enqueue_retrain(database, None, {})
    lease2 = jobs.claim_next(database, "elsewhere:2", lease_seconds=60)
    assert lease2.job_id == second.id
    assert jobs.finish(database, jobs.Lease(second.id, lease.token + 5), "succeeded", "vals") is False
    assert jobs.finish(database, lease2, "succeeded", "klaar") is True


def test_two_workers_never_claim_the_same_job(settings, database):
    job = jobs.enqueue_retrain(database, None, {})
    claims: list = []
    barrier = threading.Barrier(4)

    def claim(n: int) -> None:
        other = Database(settings.resolved_database_url())
        try:
            barrier.wait()
            claims.append(jobs.claim_next(other, f"host:{n}", 60))
        finally:
            other.dispose()

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    taken = [c for c in claims if c is not None]
    assert taken == [jobs.Lease(job.id, 1)]


def test_cancel_a_queued_and_a_running_retrain(settings, server_factory, database, capsys, monkeypatch):
    url = settings.resolved_database_url()
    admin, coder = add_user(url, "admin", "admin"), add_user(url, "anna")
    queued = jobs.enqueue_retrain(database, None, {})
    assert jobs.request_cancel(database, queued.id, "admin").status == "cancelled"

    server = server_factory(settings).start()
    job = httpx.post(f"{server.url}/api/v1/models/retrain", headers=auth(admin), timeout=30).json()
    assert httpx.post(f"{server.url}/api/v1/jobs/{job['id']}/cancel", headers=auth(coder)).status_code == 403
    state = wait_until(lambda: (s := job_of(server, admin, job["id"]))["phase"] == "training" and s)
    r = httpx.post(f"{server.url}/api/v1/jobs/{job['id']}/cancel", headers=auth(admin))
    assert r.status_code == 200 and r.json()["cancel_requested"] is True
    ended = wait_until(lambda: (s := job_of(server, admin, job["id"]))["status"] != "running" and s, timeout=30)
    assert ended["status"] == "cancelled" and "Geannuleerd tijdens de stap 'trainen'" in ended["message"], ended
    wait_until(lambda: not pid_running(pid_of(state["worker"])), timeout=15)
    assert {m["version"] for m in list_versions(settings.models_dir)} == {httpx.get(f"{server.url}/health").json()[
        "model_version"]}
    # Cancelling what has ended is a clear refusal, from the API and from the command line.
    again = httpx.post(f"{server.url}/api/v1/jobs/{job['id']}/cancel", headers=auth(admin))
    assert again.status_code == 409 and "nothing to cancel" in again.json()["detail"]
    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)
    from service.settings import get_settings

    get_settings.cache_clear()
    try:
        assert cli(["jobs", "cancel", str(job["id"])]) == 2
        assert "is al afgelopen" in capsys.readouterr().err
        assert cli(["jobs", "list"]) == 0
        listed = capsys.readouterr().out
        assert f"{job['id']}\tgeannuleerd" in listed and f"{queued.id}\tgeannuleerd" in listed
    finally:
        get_settings.cache_clear()


def test_unfinished_model_folders_are_removed_when_the_worker_starts(settings, tmp_path):
    root = settings.models_dir / MODEL_NAME
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    from training.processes import process_id

    left = root / ".tmp-20990101-000000-dead01"  # a training killed while it saved
    left.mkdir()
    (left / OWNER_FILE).write_text(process_id(int(dead.stdout)) + "\n")
    (left / "model.skops").write_bytes(b"half a model")
    busy = root / ".tmp-20990101-000000-busy01"  # one being written right now, by this process
    busy.mkdir()
    (busy / OWNER_FILE).write_text(process_id() + "\n")
    versions = {m["version"] for m in list_versions(settings.models_dir)}

    done = subprocess.run([sys.executable, "-m", "service.cli", "worker", "--once"], env=settings_env(settings),
                          capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr
    assert not left.exists() and busy.exists()
    assert "removed the unfinished model folder" in done.stderr
    assert {m["version"] for m in list_versions(settings.models_dir)} == versions
    # Without an owner file a folder is judged by its age.
    old = root / ".tmp-20990101-000000-old001"
    old.mkdir()
    os.utime(old, (time.time() - 7 * 3600,) * 2)
    assert remove_unfinished(settings.models_dir) == [old.name]
    assert busy.exists()


def test_a_retrain_does_not_overwrite_a_version_activated_by_hand_meanwhile(settings, database, monkeypatch):
    """The compare-and-set on the active version: an admin activates another version while the
    retrain is being gated; the retrain's passing gate compared with the old one, so it activates nothing."""
    from training import promotion
    from training.promotion import Decision as GateDecision

    from .test_api import copy_version

    ModelRegistry(database, settings.models_dir).start()  # the first start makes the store's version active
    before = database.read(repository.active_version)
    by_hand = copy_version(settings.models_dir, before, "20990101-000000-byhand")

    def gate_while_an_admin_promotes(new, old, **kwargs):
        database.write(lambda s: repository.activate(s, by_hand, "by hand, during the retrain", None))
        return GateDecision(True, "not worse")

    monkeypatch.setattr(promotion, "gate", gate_while_an_admin_promotes)
    jobs.enqueue_retrain(database, None, {})
    lease = jobs.claim_next(database, jobs.worker_id(), settings.job_stale_seconds)
    params = {"resolution": "consensus", "promote": True, "holdout_share": 0.2, "tolerance": 0.0}
    result = run_leased_retrain(database, settings, lease, params)
    assert result["promoted"] is False
    assert f"tijdens de hertraining is {by_hand} actief gemaakt" in result["message"]
    assert database.read(repository.active_version) == by_hand
    row = database.read(lambda s: s.get(ModelVersion, result["version"]))
    assert row.status == "rejected"
