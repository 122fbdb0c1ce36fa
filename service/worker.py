"""The job worker: a process beside the web workers that takes jobs from the database queue.

``codeerhulp serve`` starts one (``codeerhulp worker`` runs one by itself, for instance on another
machine or in another container). It lowers its CPU priority (``worker_nice``), removes the
unfinished model folders a killed training left behind, and then, one job at a time:

1. claims the oldest queued job (service/jobs.py: a lease and a fencing token);
2. runs it in a child process of its own, which renews the lease with a heartbeat, writes its
   phase and progress, and ends the job itself: promotion included, under the lease;
3. watches that child: an admin's cancel request or a lost lease stops it at once (SIGTERM,
   then SIGKILL), and a child that dies is recorded as failed with the reason and its lease
   released, after which its unfinished model folder is removed.

A child, not a thread: a training can be stopped without stopping the worker, a crash in it
(memory, a native library) fails one job and not the worker, and the web workers never share a
lock or a CPU priority with it. Every process here dies with its parent (Linux: the kernel's
parent-death signal; elsewhere a watcher thread), so a killed ``serve`` leaves no worker behind
that could go on to promote a model.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
from typing import Any

from sqlalchemy import select

from training.artifacts import remove_unfinished
from training.messages import in_dutch

from . import jobs
from .db import Database, migrate
from .retrain import Progress, previous_phase_seconds, run_retrain
from .settings import Settings
from .tables import Job

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
# How long a child gets to stop after SIGTERM before SIGKILL.
STOP_GRACE_SECONDS = 5.0


def die_with_parent(parent_pid: int | None) -> None:
    """End this process when ``parent_pid`` (its parent) ends, whatever way that ends."""
    if not parent_pid:
        return
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            log.warning("cannot ask the kernel to end this process with its parent; watching it instead")
    if os.getppid() != parent_pid:  # the parent ended before the line above took effect
        os._exit(1)

    def watch() -> None:  # elsewhere, and as a second line on Linux
        while True:
            threading.Event().wait(1.0)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def configure_logging(settings_level: str | None = None) -> None:
    logging.basicConfig(level=settings_level or os.environ.get("CODEERHULP_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s")


# ---------------------------------------------------------------- the job process


class Heartbeat:
    """Renews the job's lease every ``job_heartbeat_seconds`` with its phase and progress."""

    def __init__(self, db: Database, lease: jobs.Lease, settings: Settings, progress: Progress) -> None:
        self.db, self.lease, self.settings, self.progress = db, lease, settings, progress
        self.stop = threading.Event()
        self.lost = threading.Event()
        # The heartbeat thread and a new phase both write the phase: one at a time, each writing what
        # it read under this lock, so a beat that read the old phase cannot commit after the new one.
        self._write = threading.Lock()
        self.thread = threading.Thread(target=self._run, name=f"heartbeat-{lease.job_id}", daemon=True)

    def beat(self) -> None:
        """One renewal now; raises jobs.LeaseLost when the lease is gone."""
        try:
            with self._write:
                jobs.renew(self.db, self.lease, self.settings.job_stale_seconds, phase=self.progress.phase,
                           progress=self.progress.value())
        except jobs.LeaseLost:
            self.lost.set()
            raise

    def _run(self) -> None:
        while not self.stop.wait(self.settings.job_heartbeat_seconds):
            try:
                self.beat()
            except jobs.LeaseLost:
                log.warning("job %d: the lease is lost; the worker stops this process", self.lease.job_id)
                return
            except Exception as exc:  # a missed beat is not fatal; a lease that expires is, elsewhere
                log.warning("job %d: heartbeat failed: %s", self.lease.job_id, exc)


def run_leased_retrain(db: Database, settings: Settings, lease: jobs.Lease, params: dict[str, Any]) -> dict[str, Any]:
    """A retrain under its lease: the heartbeat renews it, each phase is written as it starts."""
    progress = Progress(previous_phase_seconds(db))
    heartbeat = Heartbeat(db, lease, settings, progress)

    def on_phase(phase: str) -> None:
        heartbeat.beat()  # the new phase at once; a lost lease stops the run here
        log.info("job %d: %s", lease.job_id, phase)

    heartbeat.thread.start()
    try:
        return run_retrain(db, settings, lease, params, progress, on_phase)
    finally:
        heartbeat.stop.set()


def job_process(settings: Settings, lease: jobs.Lease, params: dict[str, Any], parent_pid: int) -> None:
    """The entry point of the child process that runs one retrain."""
    die_with_parent(parent_pid)
    configure_logging()
    db = Database(settings.resolved_database_url())
    try:
        result = run_leased_retrain(db, settings, lease, params)
        log.info("job %d: %s", lease.job_id, result["message"])
    except jobs.LeaseLost as exc:
        log.warning("job %d stopped without writing anything: %s", lease.job_id, exc)
        sys.exit(3)
    except Exception as exc:
        log.exception("job %d failed", lease.job_id)
        # The message is the lead's, on the Dutch admin page: a model, codebook or encoder error in Dutch.
        message = jobs.messages()["error"].format(error=f"{type(exc).__name__}: {in_dutch(exc)}")
        jobs.finish(db, lease, "failed", message)
        sys.exit(1)
    finally:
        db.dispose()


# ---------------------------------------------------------------- the worker


def _how(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"signaal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"signaal {-exitcode}"
    return f"afsluitcode {exitcode}"


class Worker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.resolved_database_url())
        self.stopping = threading.Event()
        self.id = jobs.worker_id()

    def clean_up(self) -> None:
        removed = remove_unfinished(self.settings.models_dir)
        if removed:
            log.info("removed %d unfinished model folder(s): %s", len(removed), ", ".join(removed))
        jobs.fail_lost_jobs(self.db)

    def run(self, once: bool = False) -> None:
        migrate(self.db)  # a no-op when serve migrated already; a worker may start on its own
        self.clean_up()
        log.info("job worker %s ready (nice %d)", self.id, os.nice(0))
        while not self.stopping.is_set():
            lease = jobs.claim_next(self.db, self.id, self.settings.job_stale_seconds)
            if lease is None:
                if once:
                    return
                self.stopping.wait(self.settings.worker_poll_seconds)
                jobs.fail_lost_jobs(self.db)
                continue
            self.supervise(lease)
            if once:
                return

    def _job_row(self, job_id: int) -> tuple[str, int, bool, str | None]:
        return self.db.read(lambda s: s.execute(
            select(Job.status, Job.lease_token, Job.cancel_requested, Job.phase).where(Job.id == job_id)).one())

    def supervise(self, lease: jobs.Lease) -> None:
        params = self.db.read(lambda s: s.get(Job, lease.job_id).params)
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no engine or threads inherited
        child = context.Process(target=job_process, args=(self.settings, lease, params, os.getpid()),
                                name=f"codeerhulp-job-{lease.job_id}")
        child.start()
        log.info("job %d: running in process %d (lease token %d)", lease.job_id, child.pid, lease.token)
        try:
            # From here the job's process is the child: the reaper checks its pid, not ours.
            jobs.renew(self.db, lease, self.settings.job_stale_seconds, worker=jobs.worker_id(child.pid))
        except jobs.LeaseLost:
            self._stop(child)
        while child.is_alive():
            child.join(self.settings.worker_poll_seconds)
            if not child.is_alive():
                break
            status, token, cancel, phase = self._job_row(lease.job_id)
            if status != "running" or token != lease.token:
                log.warning("job %d: the lease passed on (status %s); stopping process %d", lease.job_id, status,
                            child.pid)
                self._stop(child)
            elif cancel:
                self._stop(child)
                phase_nl = self._phase_label(phase)
                if jobs.finish(self.db, lease, "cancelled", jobs.messages()["cancelled_running"].format(phase=phase_nl)):
                    log.info("job %d cancelled during %s", lease.job_id, phase)
            elif self.stopping.is_set():
                self._stop(child)
                jobs.finish(self.db, lease, "failed",
                            jobs.messages()["failed"].format(why=jobs.messages()["worker_stopped"]))
            elif phase is None:
                # The child is still starting (a fresh interpreter imports for a few seconds): keep
                # its lease until its own heartbeat takes over.
                try:
                    jobs.renew(self.db, lease, self.settings.job_stale_seconds)
                except jobs.LeaseLost:
                    self._stop(child)
        child.join()
        if child.exitcode != 0:
            why = jobs.messages()["process_ended"].format(how=_how(child.exitcode))
            if jobs.finish(self.db, lease, "failed", jobs.messages()["failed"].format(why=why)):
                log.error("job %d failed: its process %d ended with %s", lease.job_id, child.pid, _how(child.exitcode))
        self.clean_up()

    @staticmethod
    def _phase_label(phase: str | None) -> str:
        from .web.catalogue import catalogue

        return catalogue()["admin"]["phases"].get(phase or "", phase or "–")

    @staticmethod
    def _stop(child: multiprocessing.process.BaseProcess) -> None:
        if not child.is_alive():
            return
        child.terminate()
        child.join(STOP_GRACE_SECONDS)
        if child.is_alive():
            child.kill()
            child.join()

    def close(self) -> None:
        self.db.dispose()


def run_worker(settings: Settings, parent_pid: int | None = None, once: bool = False) -> int:
    """``codeerhulp worker``: run jobs until SIGTERM/SIGINT (or, with ``once``, one job or none)."""
    die_with_parent(parent_pid)
    if settings.worker_nice:
        os.nice(settings.worker_nice)  # the children inherit it
    worker = Worker(settings)

    def stop(signum: int, _frame: Any) -> None:
        log.info("job worker: %s received; stopping", signal.Signals(signum).name)
        worker.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        worker.run(once=once)
    finally:
        worker.close()
    return 0
