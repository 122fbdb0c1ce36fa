"""The job queue in the database, and the leases by which a worker process holds a job.

A job row goes queued -> running -> succeeded | failed | cancelled. The web workers only enqueue
and read; a separate worker process (service/worker.py) claims a queued job and runs it. Claiming
gives the job a *lease*: an expiry time that its process renews with every heartbeat, and a
*fencing token*, a number that grows at every claim and every release. Every write of a running
job (heartbeat, phase, the final result and the promotion of its model) is a compare-and-set on
(job id, token, status 'running'), so a process that lost its lease (it froze, its heartbeat went
stale, another process declared it dead or an admin cancelled it) can write nothing, least of all
promote a model.

A partial unique index lets only one retrain be queued or running at a time.

Why not a queue library: see docs/service.md ("Why no queue library"). In short, none of the
maintained ones both runs on SQLite and PostgreSQL without a broker and fences the job's own writes
in the application's tables; one job kind, one at a time, needs one table and the functions below.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from training.processes import process_alive, process_id

from . import repository
from .db import Database
from .tables import Job, as_utc, utcnow
from .web.catalogue import catalogue

log = logging.getLogger(__name__)

RETRAIN = "retrain"
ACTIVE_STATUSES = ("queued", "running")
FINAL_STATUSES = ("succeeded", "failed", "cancelled")


class LeaseLost(RuntimeError):
    """This process no longer holds the job's lease: it must stop and write nothing more."""


@dataclass(frozen=True)
class Lease:
    job_id: int
    token: int


def worker_id(pid: int | None = None) -> str:
    return process_id(pid)


def messages() -> dict[str, str]:
    """The Dutch job messages a research lead reads (the catalogue's 'jobs' section)."""
    return catalogue()["jobs"]


def enqueue_retrain(db: Database, user_id: int | None, params: dict[str, Any]) -> Job:
    """Queue a retrain; Conflict when one is queued or running already."""
    try:
        # Not db.write: a unique violation here is the answer (one retrain at a time), not a race to retry.
        with db.session(write=True) as session:
            job = Job(kind=RETRAIN, status="queued", params=params, created_by=user_id, message=messages()["queued"],
                      lease_token=0, cancel_requested=False)
            session.add(job)
            session.commit()
            return job
    except IntegrityError:
        running = db.read(lambda s: s.scalar(select(Job.id).where(Job.kind == RETRAIN,
                                                                  Job.status.in_(ACTIVE_STATUSES))))
        raise repository.Conflict(f"a retrain is already queued or running (job {running}); "
                                  "wait for it to finish (GET /api/v1/jobs/{id}) or cancel it") from None


def _fenced(lease: Lease):  # noqa: ANN202 - a SQLAlchemy UPDATE
    return update(Job).where(Job.id == lease.job_id, Job.lease_token == lease.token, Job.status == "running")


def claim_next(db: Database, worker: str, lease_seconds: float) -> Lease | None:
    """Take the oldest queued job: running, leased to ``worker`` under a new fencing token."""

    def run(session: Session) -> Lease | None:
        job_id = session.scalar(select(Job.id).where(Job.status == "queued").order_by(Job.id).limit(1))
        if job_id is None:
            return None
        now = utcnow()
        # The status in the WHERE makes this a compare-and-set: of two workers that saw the same
        # queued job, the second updates nothing (PostgreSQL re-reads the row after the first commits).
        taken = session.execute(
            update(Job).where(Job.id == job_id, Job.status == "queued")
            .values(status="running", worker=worker, started_at=now, heartbeat_at=now,
                    lease_expires_at=now + dt.timedelta(seconds=lease_seconds), lease_token=Job.lease_token + 1,
                    message=messages()["started"])).rowcount
        if taken != 1:
            return None
        return Lease(job_id, session.scalar(select(Job.lease_token).where(Job.id == job_id)))

    return db.write(run)


def renew(db: Database, lease: Lease, lease_seconds: float, **values: Any) -> bool:
    """Heartbeat: extend the lease (and write phase/progress/worker given as values).

    Returns whether an admin asked to cancel the job; raises LeaseLost when the lease is not ours.
    """
    now = utcnow()

    def run(session: Session) -> bool:
        changed = session.execute(_fenced(lease).values(
            heartbeat_at=now, lease_expires_at=now + dt.timedelta(seconds=lease_seconds), **values)).rowcount
        if changed != 1:
            raise LeaseLost(f"job {lease.job_id}: the lease with token {lease.token} is no longer held")
        return bool(session.scalar(select(Job.cancel_requested).where(Job.id == lease.job_id)))

    return db.write(run)


def finish_fenced(session: Session, lease: Lease, status: str, message: str, result: dict | None = None) -> None:
    """Within the caller's transaction: end the job and release its lease, or raise LeaseLost.

    Run first in the transaction that also records the job's outcome: the row it updates stays
    locked until commit, so nothing can take the lease between this check and the outcome.
    """
    changed = session.execute(_fenced(lease).values(
        status=status, message=message, result=result, finished_at=utcnow(), lease_expires_at=None,
        lease_token=Job.lease_token + 1)).rowcount
    if changed != 1:
        raise LeaseLost(f"job {lease.job_id}: the lease with token {lease.token} is no longer held")


def finish(db: Database, lease: Lease, status: str, message: str, result: dict | None = None) -> bool:
    """End the job when we still hold its lease; False (and nothing written) when we do not."""
    try:
        db.write(lambda s: finish_fenced(s, lease, status, message, result))
        return True
    except LeaseLost:
        return False


def _release(job: Job, status: str, message: str) -> None:
    job.status = status
    job.message = message
    job.finished_at = utcnow()
    job.lease_expires_at = None
    job.lease_token = (job.lease_token or 0) + 1  # the lease passes on: the old token can never write again


def request_cancel(db: Database, job_id: int, user_name: str) -> Job:
    """Cancel a queued job now; ask the worker to stop a running one (it does within a second or so)."""

    def run(session: Session) -> Job:
        job = repository.get_job(session, job_id)
        if job.status == "queued":
            _release(job, "cancelled", messages()["cancelled"].format(user=user_name))
        elif job.status == "running":
            job.cancel_requested = True
            job.message = messages()["cancel_requested"].format(user=user_name)
        else:
            raise repository.Conflict(f"job {job_id} has ended already ({job.status}); there is nothing to cancel")
        session.flush()
        return job

    return db.write(run)


def fail_lost_jobs(db: Database) -> list[int]:
    """Fail running jobs whose lease has expired or whose process is gone from this host; release them.

    Run by every web worker's poll and by the job worker. Queued jobs wait for a worker, whoever queued them.
    """
    now = utcnow()

    def run(session: Session) -> list[int]:
        failed = []
        for job in session.scalars(select(Job).where(Job.status == "running").with_for_update()):
            expires = as_utc(job.lease_expires_at)
            gone = process_alive(job.worker) is False
            if gone:
                why = messages()["process_gone"].format(worker=job.worker)
            elif expires is None or expires < now:
                beat = as_utc(job.heartbeat_at)
                silent = (now - beat).total_seconds() if beat else float("inf")
                why = messages()["lease_expired"].format(seconds=f"{silent:.0f}")
            else:
                continue
            _release(job, "failed", messages()["failed"].format(why=why))
            failed.append(job.id)
        return failed

    failed = db.write(run)
    for job_id in failed:
        log.warning("job %d failed: its process stopped or its lease expired; the lease is released", job_id)
    return failed
