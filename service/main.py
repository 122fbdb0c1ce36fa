"""The FastAPI app: ``create_app(settings)``; the lifespan owns the database engine and the model.

Nothing heavy happens at import. ``uvicorn --factory service.main:app_factory`` (what
``codeerhulp serve`` runs) builds the app from the environment's Settings in each worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from training.codebook import load_codebook

from . import repository, schemas
from .api import decisions, documents, misc, models, suggest
from .api.deps import Services, ServicesDep
from .api.errors import add_error_handlers
from .batching import SuggestBatcher
from .db import Database, migrate
from .headers import SecurityHeaders
from .jobs import fail_lost_jobs
from .limits import BodyLimit
from .memory import MemoryKeeper
from .registry import ModelRegistry
from .settings import Settings, get_settings
from .signin_limit import SigninLimiter
from .web import routes as web

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


async def _poll(services: Services) -> None:
    """Follow the active model in the database, and fail jobs whose process died or whose lease expired.

    A promotion by the job worker reaches this worker here: the registry loads the new version
    beside the one serving and swaps the reference; no request waits for it.
    """
    settings = services.settings
    ticks = 0
    while True:
        await asyncio.sleep(settings.model_poll_seconds)
        ticks += 1
        try:
            await anyio.to_thread.run_sync(services.registry.sync)
            if ticks * settings.model_poll_seconds >= settings.job_heartbeat_seconds:
                ticks = 0
                await anyio.to_thread.run_sync(fail_lost_jobs, services.db)
        except Exception:  # the loop must survive a database hiccup; the next tick tries again
            log.exception("model poll failed")


def _startup(settings: Settings) -> Services:
    db = Database(settings.resolved_database_url())
    try:
        migrate(db)
        fail_lost_jobs(db)
        memory = MemoryKeeper(db, settings.retrain_resolution) if settings.confirmation_memory else None
        batcher = SuggestBatcher(max_texts=settings.suggest_batch_texts,
                                 wait_seconds=settings.suggest_batch_wait_ms / 1000,
                                 max_queued_texts=settings.suggest_queue_texts)
        registry = ModelRegistry(db, settings.models_dir, memory, batcher)
        registry.start()
        codebook = load_codebook(settings.codebook_path)
    except BaseException:
        db.dispose()
        raise
    return Services(settings=settings, db=db, registry=registry, codebook=codebook,
                    signin_limiter=SigninLimiter(settings.signin_failures_per_minute))


class CodeerhulpApp(FastAPI):
    def build_middleware_stack(self):  # noqa: ANN201 - Starlette's ASGI app type
        # Outside Starlette's own error middleware, so that even an unexpected 500 carries the headers.
        return SecurityHeaders(super().build_middleware_stack())


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = _startup(settings)
        app.state.services = services
        poller = asyncio.create_task(_poll(services))
        log.info("codeerhulp service ready (pid %d, model %s)", os.getpid(), services.registry.version)
        try:
            yield
        finally:
            poller.cancel()
            services.registry.stop()
            services.db.dispose()

    app = CodeerhulpApp(
        title="Codeerhulp",
        version="1",
        summary="Suggests PLG codebook codes for Dutch transcripts, stores coders' decisions, measures agreement, "
                "and retrains on confirmed decisions.",
        lifespan=lifespan,
    )

    # Every body is limited, also a chunked one that announces no length (service/limits.py).
    app.add_middleware(BodyLimit, settings=settings, upload_path=f"{API_PREFIX}/documents")
    # Unknown addresses and other HTTP errors: a Dutch page for a browser, JSON for the API.
    add_error_handlers(app, other_http_errors=web.http_error)

    for module in (documents, suggest, decisions, models, misc):
        app.include_router(module.router, prefix=API_PREFIX)

    # The coders' pages (Dutch HTML) and their own assets; nothing is fetched from elsewhere.
    app.include_router(web.router)
    app.mount("/static", StaticFiles(directory=web.STATIC_DIR), name="web_static")

    @app.get("/health", response_model=schemas.Health, tags=["health"])
    def health(services: ServicesDep) -> JSONResponse:
        """Open without a token: the served model and codebook versions, and whether the database answers."""
        reachable = services.db.ping()
        active = services.db.read(repository.active_version) if reachable else None
        served = services.registry.version
        ok = reachable and served is not None and served == active
        body = schemas.Health(
            status="ok" if ok else "degraded", model_version=served, active_model_version=active,
            codebook_version=services.registry.current.codebook_version if served else None,
            database=reachable, worker_pid=os.getpid(),
            message=None if ok else (services.registry.message or ("database not reachable" if not reachable
                                                                   else "loading the active model")))
        return JSONResponse(body.model_dump(), status_code=200 if reachable else 503)

    @app.get("/health/live", tags=["health"])
    def live() -> dict[str, str]:
        """The process answers (for a container's liveness probe); says nothing about its parts."""
        return {"status": "alive"}

    @app.get("/health/ready", tags=["health"])
    def ready(services: ServicesDep) -> JSONResponse:
        """200 when the database answers and the active model is served; else 503 with the reasons
        (for a load balancer or Docker's HEALTHCHECK: send no coder to a worker that cannot serve)."""
        reasons = []
        reachable = services.db.ping()
        if not reachable:
            reasons.append("database not reachable")
        served = services.registry.version
        if served is None:
            reasons.append(services.registry.message or "no model loaded")
        elif reachable and served != services.db.read(repository.active_version):
            reasons.append("loading the active model")
        body = {"status": "ready" if not reasons else "not ready", "reasons": reasons, "model_version": served}
        return JSONResponse(body, status_code=200 if not reasons else 503)

    return app


def app_factory() -> FastAPI:
    """For ``uvicorn --factory``: settings from the environment (CODEERHULP_*)."""
    logging.basicConfig(level=os.environ.get("CODEERHULP_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s")
    return create_app(get_settings())
