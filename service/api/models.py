"""Model versions, retraining jobs, promotion and rollback (the last three for admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from training.artifacts import ArtifactError, list_versions

from .. import jobs, repository, schemas
from ..repository import Invalid
from .deps import AdminUser, CurrentUser, RowIdPath, ServicesDep

router = APIRouter(tags=["models"])


def _versions(services: ServicesDep) -> list[schemas.ModelVersionOut]:
    rows, active = services.db.read(lambda s: (repository.model_version_rows(s), repository.active_version(s)))
    serving = services.registry.version
    out = []
    for m in list_versions(services.settings.models_dir):
        row = rows.get(m["version"])
        out.append(schemas.ModelVersionOut(
            version=m["version"], active=m["version"] == active, serving=m["version"] == serving,
            status=row.status if row else None, gate_reason=row.gate_reason if row else None,
            created=m.get("created"), codebook_version=m.get("codebook", {}).get("version"),
            encoder=m.get("encoder"), metrics={**m.get("metrics", {}), **((row.metrics or {}) if row else {})},
            error=m.get("error")))
    return out


@router.get("/models", response_model=list[schemas.ModelVersionOut],
            summary="Model versions, oldest first, with their metrics and which one is active")
def list_models(services: ServicesDep, _: CurrentUser) -> list[schemas.ModelVersionOut]:
    return _versions(services)


@router.post("/models/retrain", response_model=schemas.JobOut, status_code=status.HTTP_202_ACCEPTED,
             summary="Queue a retrain for the job worker (one at a time); poll GET /jobs/{id} for phase and progress")
def retrain(services: ServicesDep, admin: AdminUser, body: schemas.RetrainRequest | None = None) -> schemas.JobOut:
    body = body or schemas.RetrainRequest()
    settings = services.settings
    params = {"resolution": body.resolution or settings.retrain_resolution,
              "promote": settings.auto_promote if body.promote is None else body.promote,
              "holdout_share": settings.retrain_holdout_share, "tolerance": settings.promotion_tolerance,
              "carry_calibration": settings.retrain_carry_calibration}
    return repository.job_out(jobs.enqueue_retrain(services.db, admin.id, params))


def _activate(services: ServicesDep, admin: AdminUser, version: str, reason: str) -> schemas.ModelVersionOut:
    try:
        services.registry.check_loadable(version)
    except ArtifactError as exc:
        raise Invalid(f"version {version} cannot be made active: {exc}") from None
    services.db.write(lambda s: repository.activate(s, version, reason, admin.id))
    services.registry.sync()
    found = next((v for v in _versions(services) if v.version == version), None)
    if found is None:  # loadable but listed under another name (a copied directory): answer minimally
        found = schemas.ModelVersionOut(version=version, active=True, serving=services.registry.version == version,
                                        status=None)
    return found


@router.post("/models/{version}/promote", response_model=schemas.ModelVersionOut,
             summary="Make a version the active one in every worker (within model_poll_seconds)")
def promote(services: ServicesDep, admin: AdminUser, version: Annotated[schemas.StorableText, Path(max_length=64)],
            body: schemas.ActivateRequest | None = None) -> schemas.ModelVersionOut:
    reason = (body.reason if body and body.reason else None) or f"promoted by {admin.name}"
    return _activate(services, admin, version, reason)


@router.post("/models/rollback", response_model=schemas.ModelVersionOut,
             summary="Make the version that was active before the current one active again")
def rollback(services: ServicesDep, admin: AdminUser, body: schemas.ActivateRequest | None = None
             ) -> schemas.ModelVersionOut:
    target = services.db.read(repository.rollback_target)
    reason = (body.reason if body and body.reason else None) or f"rolled back by {admin.name}"
    return _activate(services, admin, target, reason)


@router.get("/jobs", response_model=list[schemas.JobOut])
def list_jobs(services: ServicesDep, _: CurrentUser) -> list[schemas.JobOut]:
    return [repository.job_out(j) for j in services.db.read(repository.list_jobs)]


@router.get("/jobs/{job_id}", response_model=schemas.JobOut,
            summary="A job's status, phase, progress (0..1), time so far and, when done, its result")
def get_job(services: ServicesDep, _: CurrentUser, job_id: RowIdPath) -> schemas.JobOut:
    return repository.job_out(services.db.read(lambda s: repository.get_job(s, job_id)))


@router.post("/jobs/{job_id}/cancel", response_model=schemas.JobOut,
             summary="Cancel a job: a queued one at once, a running one within a few seconds (its process is stopped)")
def cancel_job(services: ServicesDep, admin: AdminUser, job_id: RowIdPath) -> schemas.JobOut:
    return repository.job_out(jobs.request_cancel(services.db, job_id, admin.name))
