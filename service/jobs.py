"""Background jobs (retraining), run in a thread of the worker that accepted them.

The job row is the shared truth: its status (queued -> running -> succeeded | failed), a heartbeat
written every ``job_heartbeat_seconds`` while it runs, and the host:pid of its worker. A partial
unique index lets only one retrain be queued or running across all workers. A job whose worker
died (``kill -9``, a crash, a reboot) is marked failed: at startup when its pid is gone on this
host, and by any worker once its heartbeat is older than ``job_stale_seconds``.

A thread, not a subprocess, on purpose: a job must die with its server, so that a killed server
can never promote a model behind the back of the one that replaced it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
import traceback
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from training.artifacts import ArtifactError, load_model
from training.codebook import load_codebook
from training.data import Code, Example, load_corpus
from training.evaluate import evaluate_model
from training.promotion import gate
from training.train import TrainConfig, train_version

from . import repository
from .db import Database
from .registry import ModelRegistry
from .settings import Settings
from .tables import Job, as_utc, utcnow

log = logging.getLogger(__name__)

RETRAIN = "retrain"


def worker_id() -> str:
    # Computed on call: uvicorn forks workers after import, so the pid at import time may be the parent's.
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(worker: str | None) -> bool | None:
    """True/False when the worker ran on this host, None when it ran elsewhere (we cannot tell)."""
    if not worker or ":" not in worker:
        return None
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_stale_jobs(db: Database, stale_seconds: float, at_startup: bool = False) -> list[int]:
    """Mark queued/running jobs whose worker is gone as failed; returns their ids."""
    now = utcnow()

    def run(session: Session) -> list[int]:
        failed = []
        for job in session.scalars(select(Job).where(Job.status.in_(("queued", "running")))):
            beat = as_utc(job.heartbeat_at or job.started_at or job.created_at)
            age = (now - beat).total_seconds() if beat else float("inf")
            alive = _pid_alive(job.worker)
            if job.worker == worker_id() and not at_startup:
                continue  # our own job: its thread writes the heartbeat
            if alive is False or age > stale_seconds:
                why = (f"the server process running it ({job.worker}) is gone" if alive is False
                       else f"no heartbeat for {age:.0f} s")
                job.status = "failed"
                job.finished_at = now
                job.message = f"failed: {why}; the server stopped during the job. The active model is unchanged."
                failed.append(job.id)
        return failed

    failed = db.write(run)
    for job_id in failed:
        log.warning("job %d marked failed: its worker stopped during the job", job_id)
    return failed


class JobRunner:
    """Starts jobs in background threads of this worker and keeps their heartbeat."""

    def __init__(self, db: Database, registry: ModelRegistry, settings: Settings) -> None:
        self.db = db
        self.registry = registry
        self.settings = settings
        self._threads: list[threading.Thread] = []

    def start_retrain(self, user_id: int, resolution: str | None = None, promote: bool | None = None) -> Job:
        params = {"resolution": resolution or self.settings.retrain_resolution,
                  "promote": self.settings.auto_promote if promote is None else promote,
                  "holdout_share": self.settings.retrain_holdout_share,
                  "tolerance": self.settings.promotion_tolerance}

        def create(session: Session) -> Job:
            job = Job(kind=RETRAIN, status="queued", params=params, created_by=user_id, worker=worker_id(),
                      message="queued")
            session.add(job)
            session.flush()
            return job

        try:
            # Not db.write: a unique violation here is the answer (one retrain at a time), not a race to retry.
            with self.db.session(write=True) as session:
                job = create(session)
                session.commit()
        except IntegrityError:
            running = self.db.read(lambda s: s.scalar(select(Job.id).where(
                Job.kind == RETRAIN, Job.status.in_(("queued", "running")))))
            raise repository.Conflict(f"a retrain is already queued or running (job {running}); "
                                      "wait for it to finish (GET /api/v1/jobs/{id})") from None
        thread = threading.Thread(target=self._run, args=(job.id, params), name=f"job-{job.id}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return job

    def _set(self, job_id: int, **values: Any) -> None:
        self.db.write(lambda s: s.execute(update(Job).where(Job.id == job_id).values(**values)))

    def _heartbeat(self, job_id: int, stop: threading.Event) -> None:
        while not stop.wait(self.settings.job_heartbeat_seconds):
            try:
                self._set(job_id, heartbeat_at=utcnow())
            except Exception as exc:  # a missed beat is not fatal; a stale one fails the job elsewhere
                log.warning("job %d: heartbeat failed: %s", job_id, exc)

    def _run(self, job_id: int, params: dict[str, Any]) -> None:
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job_id, stop), daemon=True)
        try:
            self._set(job_id, status="running", started_at=utcnow(), heartbeat_at=utcnow(), message="training")
            beat.start()
            result = retrain(self.db, self.registry, self.settings, job_id, params)
            stop.set()
            # Serve the promoted model here before the job reads as done; other workers follow by polling.
            if result["promoted"] and self.registry.sync():
                log.info("job %d: this worker now serves %s", job_id, self.registry.version)
            self._set(job_id, status="succeeded", finished_at=utcnow(), result=result, message=result["message"])
            log.info("job %d: %s", job_id, result["message"])
        except Exception as exc:
            stop.set()
            log.error("job %d failed: %s\n%s", job_id, exc, traceback.format_exc())
            try:
                self._set(job_id, status="failed", finished_at=utcnow(), message=f"failed: {type(exc).__name__}: {exc}")
            except Exception:
                log.exception("job %d: could not record the failure", job_id)
        finally:
            stop.set()

    def join(self, timeout: float | None = None) -> None:
        for thread in self._threads:
            thread.join(timeout)


def _held_out(segment_id: int, share: float) -> bool:
    """Deterministic hold-out: the same segment is always on the same side, run after run."""
    digest = hashlib.sha256(f"segment-{segment_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


def _examples(confirmed: list[repository.Confirmed]) -> list[Example]:
    return [Example(id=f"confirmed-{c.segment_id}", text=c.text, question=c.question,
                    codes=[Code(x["factor"], x["richting"], x["aard"]) for x in c.codes], source="confirmed")
            for c in confirmed]


def retrain(db: Database, registry: ModelRegistry, settings: Settings, job_id: int | None,
            params: dict[str, Any]) -> dict[str, Any]:
    """Train on the shipped corpus plus confirmed decisions, gate against the active model, maybe promote.

    The gate compares both models on the same data: the synthetic held-out split plus the share of
    confirmed segments held out from training (never trained on by the new model; the active model
    may have seen them in an earlier retrain, which favours it, so the gate errs on keeping it).
    """
    started = time.perf_counter()
    resolution = params["resolution"]
    confirmed, stats = db.read(lambda s: repository.confirmed_segments(s, resolution))
    train_part = [c for c in confirmed if not _held_out(c.segment_id, params["holdout_share"])]
    held_part = [c for c in confirmed if _held_out(c.segment_id, params["holdout_share"])]
    config = TrainConfig.load(settings.train_config)
    codebook = load_codebook(settings.codebook_path)
    active_before = registry.version
    loaded = train_version(
        models_dir=settings.models_dir, codebook_path=settings.codebook_path, config=config,
        train_dir=settings.train_dir, eval_dir=settings.eval_dir, extra_examples=_examples(train_part),
        extra_manifest={"service": {"job_id": job_id, "resolution": resolution, "n_confirmed_train": len(train_part),
                                    "n_confirmed_held_out": len(held_part), **stats}},
        cache_dir=settings.embedding_cache_dir, transcripts_dir=settings.transcripts_dir)
    gate_set = load_corpus(settings.eval_dir, codebook) if settings.eval_dir and settings.eval_dir.is_dir() else []
    gate_set += _examples(held_part)
    factor_ids = list(codebook.factor_ids)
    new_summary = evaluate_model(loaded.model, gate_set, factor_ids)["summary"] if gate_set else None
    old_summary = None
    old_version = db.read(repository.active_version)
    if old_version and gate_set:
        try:
            old = registry.current if registry.version == old_version else load_model(settings.models_dir, old_version)
            old_summary = registry.evaluate(old, gate_set, factor_ids)["summary"]
        except ArtifactError as exc:
            log.error("job %s: the active model %s cannot be loaded for the gate: %s", job_id, old_version, exc)
    decision = gate(new_summary, old_summary, tolerance=params["tolerance"])
    promote = decision.promote and params["promote"]
    metrics = {"gate_set": {"n": len(gate_set), "n_confirmed": len(held_part), "new": new_summary, "old": old_summary},
               **loaded.manifest.get("metrics", {})}

    def record(session: Session) -> None:
        status = "promoted" if promote else "rejected"
        repository.record_model_version(session, loaded.version, status, metrics, decision.reason, job_id)
        if promote:
            repository.activate(session, loaded.version, f"retrain job {job_id}: {decision.reason}", None)

    db.write(record)
    if promote:
        message = f"promoted {loaded.version}: {decision.reason}"
    elif not decision.promote:
        message = f"kept {old_version}: the new version {loaded.version} was not promoted because {decision.reason}"
    else:
        message = f"trained {loaded.version} ({decision.reason}); not promoted because promotion was turned off"
    return {
        "message": message,
        "version": loaded.version,
        "promoted": promote,
        "previous_version": old_version,
        "active_when_started": active_before,
        "reason": decision.reason,
        "resolution": resolution,
        "n_confirmed_train": len(train_part),
        "n_confirmed_held_out": len(held_part),
        **stats,
        "gate": metrics["gate_set"],
        "seconds": round(time.perf_counter() - started, 1),
    }
