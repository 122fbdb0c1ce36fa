"""The retrain: train on the shipped corpus plus confirmed decisions, gate against the active model,
and promote under the job's lease. Runs in the job process the worker starts (service/worker.py).

The gate compares both models on the same data: the most recently confirmed share of the confirmed
segments is held out from training (never trained on by the new model; the active model may have
seen them in an earlier retrain, which favours it, so the gate errs on keeping it). With at least
MIN_PAIRED of them the gate decides on those alone: per segment F1 of what each model suggests,
the paired difference with a bootstrap interval (issue #11); with fewer, on macro-F1 over the
synthetic held-out split plus those segments.
Promotion is one transaction that first checks the job's lease (fencing token) and then that the
active version is still the one the gate compared with; a job that lost its lease, or whose
comparison is out of date, promotes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from training.artifacts import ArtifactError, load_model
from training.codebook import load_codebook
from training.data import Code, Example, load_corpus
from training.promotion import MIN_PAIRED, compare_for_promotion
from training.train import CONFIRMED, TrainConfig, train_version

from . import jobs, repository
from .db import Database
from .settings import Settings
from .tables import Job

log = logging.getLogger(__name__)

# The steps of a retrain in order, with their share of a typical run's time; a run uses the
# measured durations of the previous successful run instead, when there is one.
PHASES: dict[str, float] = {"collecting": 0.05, "vectors": 0.05, "training": 0.45, "rule": 0.15, "evaluating": 0.1,
                            "saving": 0.02, "gating": 0.15, "recording": 0.03}


class Progress:
    """Where a retrain is: its phase, and an estimate of the share done (0..1) that moves within a
    phase by the time the same phase took last time, never past the phase's end."""

    def __init__(self, expected_seconds: dict[str, float] | None = None) -> None:
        weights = {p: float((expected_seconds or {}).get(p) or 0.0) for p in PHASES}
        if sum(weights.values()) <= 0:
            weights = dict(PHASES)
        total = sum(weights.values())
        self.share = {p: w / total for p, w in weights.items()}
        self.expected = {p: float((expected_seconds or {}).get(p) or 0.0) for p in PHASES}
        self.phase: str | None = None
        self.started: dict[str, float] = {}
        self.seconds: dict[str, float] = {}

    def start(self, phase: str) -> None:
        now = time.monotonic()
        if self.phase is not None:
            self.seconds[self.phase] = round(now - self.started[self.phase], 2)
        self.phase = phase
        self.started[phase] = now

    def end(self) -> None:
        if self.phase is not None and self.phase not in self.seconds:
            self.seconds[self.phase] = round(time.monotonic() - self.started[self.phase], 2)

    def value(self) -> float:
        if self.phase is None:
            return 0.0
        order = list(PHASES)
        done = sum(self.share[p] for p in order[:order.index(self.phase)])
        within = 0.0
        if self.expected[self.phase] > 0:
            within = min(0.9, (time.monotonic() - self.started[self.phase]) / self.expected[self.phase])
        return round(min(0.99, done + within * self.share[self.phase]), 3)


def previous_phase_seconds(db: Database) -> dict[str, float] | None:
    """How long each phase took in the last successful retrain (for the progress estimate)."""
    result = db.read(lambda s: s.scalar(select(Job.result).where(Job.kind == jobs.RETRAIN, Job.status == "succeeded")
                                        .order_by(Job.id.desc()).limit(1)))
    return (result or {}).get("phase_seconds")


def split_recent(confirmed: list[repository.Confirmed], share: float
                 ) -> tuple[list[repository.Confirmed], list[repository.Confirmed]]:
    """(train, held out): the most recently confirmed ``share`` is held out. The newest decisions are
    the team's current transcripts and coding, the data the next suggestions must serve."""
    ordered = sorted(confirmed, key=lambda c: (c.decision_id, c.segment_id))
    n_held = int(round(share * len(ordered)))
    return ordered[:len(ordered) - n_held], ordered[len(ordered) - n_held:]


def _examples(confirmed: list[repository.Confirmed]) -> list[Example]:
    return [Example(id=f"confirmed-{c.segment_id}", text=c.text, question=c.question,
                    codes=[Code(x["factor"], x["richting"], x["aard"]) for x in c.codes], source=CONFIRMED)
            for c in confirmed]


def _nl(value: float | None) -> str:
    """A metric as a Dutch reader writes it: three decimals, a decimal comma."""
    return "–" if value is None else f"{value:.3f}".replace(".", ",")


def outcome_message(version: str, gate_info: dict[str, Any], promoted: bool, passed: bool,
                    previous: str | None, active_changed_to: str | None = None) -> str:
    """The Dutch sentence a research lead reads about a finished retrain."""
    t = jobs.messages()
    values = {"version": version, "new": _nl(gate_info.get("new_value")), "active": _nl(gate_info.get("active_value")),
              "n": gate_info.get("n", 0), "previous": previous or "–"}
    if active_changed_to is not None:
        return t["active_changed"].format(now=active_changed_to, before=previous or "–", **values)
    if gate_info.get("new_value") is None:
        return t["not_scored"].format(**values)
    paired = gate_info.get("paired")
    if paired:
        values.update(new=_nl(paired["new"]), active=_nl(paired["old"]), n=paired["n"],
                      difference=("+" if paired["difference"] >= 0 else "") + _nl(paired["difference"]),
                      low=_nl(paired["low"]), high=_nl(paired["high"]))
    suffix = "_paired" if paired else ""
    if promoted:
        return (t["promoted_first"] if gate_info.get("active_value") is None else t["promoted" + suffix]).format(**values)
    if passed:
        return t["promotion_off" + suffix].format(**values)
    return t["kept" + suffix].format(**values)


def run_retrain(db: Database, settings: Settings, lease: jobs.Lease, params: dict[str, Any],
                progress: Progress | None = None, on_phase: Callable[[str], None] = lambda _phase: None
                ) -> dict[str, Any]:
    """The whole retrain of one job; ``progress`` follows its phases and ``on_phase(phase)`` is
    called as each starts (the job process writes it to the job row there).

    Ends the job (succeeded, with its result) in the same transaction that records the new version
    and, when it passes, activates it; raises jobs.LeaseLost, having written nothing, when the job's
    lease is no longer held at that moment.
    """
    progress = progress or Progress()

    def step(phase: str) -> None:
        progress.start(phase)
        on_phase(phase)

    started = time.perf_counter()
    step("collecting")
    resolution = params["resolution"]
    confirmed, stats = db.read(lambda s: repository.confirmed_segments(s, resolution))
    train_part, held_part = split_recent(confirmed, params["holdout_share"])
    config = TrainConfig.load(settings.train_config)
    codebook = load_codebook(settings.codebook_path)
    active_before = db.read(repository.active_version)
    calibration_from = None
    # Carried only when the gate will judge the result on the team's own held-out segments: on them a
    # carried calibration scored as a refitted one (F1 0.567 vs 0.565 on 250), on the synthetic split
    # alone it lost a little (macro-F1 0.745 vs 0.754), enough to tip a gate that compares on it.
    if params.get("carry_calibration") and active_before and len(held_part) >= MIN_PAIRED:
        try:
            calibration_from = load_model(settings.models_dir, active_before)
        except ArtifactError as exc:  # refitted out of fold then; the gate below reports a broken active model
            log.warning("job %s: calibration not carried from %s: %s", lease.job_id, active_before, exc)
    loaded = train_version(
        models_dir=settings.models_dir, codebook_path=settings.codebook_path, config=config,
        train_dir=settings.train_dir, eval_dir=settings.eval_dir, extra_examples=_examples(train_part),
        extra_manifest={"service": {"job_id": lease.job_id, "resolution": resolution,
                                    "n_confirmed_train": len(train_part), "n_confirmed_held_out": len(held_part),
                                    **stats}},
        cache_dir=settings.resolved_vector_cache_dir(), transcripts_dir=settings.transcripts_dir, progress=step,
        also_encode=_examples(held_part), calibration_from=calibration_from)

    step("gating")
    synthetic = load_corpus(settings.eval_dir, codebook) if settings.eval_dir and settings.eval_dir.is_dir() else []
    gated_against = db.read(repository.active_version)
    old_model = None
    if calibration_from is not None and gated_against == calibration_from.version:
        old_model = calibration_from.model
    elif gated_against:
        try:
            # Loaded here, in the job's own process: the web workers' models and locks are not touched.
            old_model = load_model(settings.models_dir, gated_against).model
        except ArtifactError as exc:
            log.error("job %s: the active model %s cannot be loaded for the gate: %s", lease.job_id, gated_against, exc)
    decision, gate_info = compare_for_promotion(loaded.model, old_model, synthetic, _examples(held_part),
                                                list(codebook.factor_ids), params["tolerance"])
    metrics = {"gate_set": gate_info, **loaded.manifest.get("metrics", {})}
    step("recording")
    result = {
        "version": loaded.version,
        "previous_version": gated_against,
        "active_when_started": active_before,
        "reason": decision.reason,
        "resolution": resolution,
        "n_confirmed_train": len(train_part),
        "n_confirmed_held_out": len(held_part),
        **stats,
        "gate": gate_info,
        "calibration": loaded.manifest.get("calibration"),
    }

    def record(session: Session) -> dict[str, Any]:
        # The fence first: the job row stays locked to this transaction from here to the commit.
        progress.end()
        out = dict(result, seconds=round(time.perf_counter() - started, 1), phase_seconds=dict(progress.seconds))
        repository.lock_activations(session)
        active_now = repository.active_version(session)
        changed = active_now if active_now != gated_against else None
        promote = decision.promote and params["promote"] and changed is None
        out["promoted"] = promote
        out["message"] = outcome_message(loaded.version, gate_info, promote, decision.promote, gated_against, changed)
        jobs.finish_fenced(session, lease, "succeeded", out["message"], out)
        repository.record_model_version(session, loaded.version, "promoted" if promote else "rejected", metrics,
                                        out["message"], lease.job_id)
        if promote:
            repository.activate(session, loaded.version, f"retrain job {lease.job_id}: {decision.reason}", None)
        return out

    return db.write(record)
