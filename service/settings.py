"""The one Settings object of Codeerhulp, read from CODEERHULP_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from training import paths
from training.segmenting import MAX_FILE_BYTES, MAX_SEGMENT_CHARS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CODEERHULP_", env_file=None, extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="SQLite file, caches and job logs live here")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/codeerhulp.db")
    models_dir: Path = Field(default=paths.DEFAULT_MODELS_DIR, description="model artifact store")
    shipped_models_dir: Path | None = Field(
        default=None, description="the container's own model versions, kept outside the models volume: "
                                  "`python -m service.container` copies them into a models_dir without any version")
    codebook_path: Path = Field(default=paths.DEFAULT_CODEBOOK, description="the codebook YAML")
    train_config: Path = Field(default=paths.DEFAULT_TRAIN_CONFIG, description="training configuration YAML")
    train_dir: Path = Field(default=paths.TRAIN_DIR, description="the shipped training corpus (JSONL)")
    eval_dir: Path = Field(default=paths.EVAL_DIR, description="the separately written held-out split (JSONL)")
    transcripts_dir: Path | None = Field(default=paths.TRANSCRIPTS_DIR,
                                         description="coded whole transcripts: set the decision rule, gate `codeerhulp train`")
    embedding_cache_dir: Path | None = Field(
        default=None, description="where retraining keeps sentence vectors of confirmed segments (personal data); "
                                  "default <data_dir>/vectors (the shipped corpus' vectors are read from the package)")

    max_upload_bytes: int = Field(default=MAX_FILE_BYTES, description="largest accepted upload or input file")
    max_request_bytes: int = Field(default=2_000_000, gt=0,
                                   description="largest accepted body of any other request (JSON), in bytes")
    max_segment_chars: int = Field(default=MAX_SEGMENT_CHARS, description="longer turns are split below this")
    max_texts_per_request: int = Field(default=200, description="texts in one /suggest request")
    max_codes_per_decision: int = Field(default=20, description="codes in one decision")
    # Micro-batching of suggestions in each worker (service/batching.py).
    suggest_batch_texts: int = Field(default=32, ge=1,
                                     description="texts scored together in one model call, from any number of requests")
    suggest_batch_wait_ms: float = Field(default=5.0, ge=0,
                                         description="how long a batch waits for more requests before it runs")
    suggest_queue_texts: int = Field(default=4000, ge=1,
                                     description="texts a worker lets wait for suggestions; past it a request gets 503")

    # The service (codeerhulp serve).
    retrain_resolution: Literal["consensus", "latest"] = Field(
        default="consensus",
        description="how coders who disagree on a segment become one training label: 'consensus' uses only "
                    "segments where every coder who decided agrees; 'latest' takes the most recent decision")
    retrain_holdout_share: float = Field(default=0.2, ge=0.0, lt=1.0,
                                         description="share of confirmed segments held out for the promotion gate")
    retrain_carry_calibration: bool = Field(
        default=True, description="a retrain keeps the active version's factor calibration and fits each head "
        "once (about half the time) when at least 10 confirmed segments are held out for the gate; refitted out "
        "of fold when fewer, when the model settings differ or when the training set has grown by half since")
    auto_promote: bool = Field(default=True, description="promote a retrained model when it passes the gate")
    promotion_tolerance: float = Field(default=0.0, ge=0.0,
                                       description="macro-F1 a new model may lose against the active one and still pass")
    confirmation_memory: bool = Field(
        default=True, description="blend the confirmed segments closest to a new segment into its suggestions "
                                  "at once, between retrains (docs/service.md, 'The learning loop')")
    blind_coding: bool = Field(
        default=True, description="a coder sees the model's suggestions and their own decisions, not other coders', "
                                  "until an admin opens the document for discussion (docs/service.md, 'Blind coding')")
    model_poll_seconds: float = Field(default=2.0, gt=0,
                                      description="how often each worker checks the database for a newly promoted model")
    auth_cache_seconds: float = Field(default=5.0, ge=0,
                                      description="how long a worker trusts a checked token before asking the "
                                                  "database again (a revoked token works at most this long)")
    # Accounts and the browser (docs/security.md).
    session_hours: float = Field(default=12.0, gt=0,
                                 description="a browser session ends this many hours after sign-in")
    secure_cookies: bool = Field(default=False,
                                 description="always mark the session cookie Secure; without it the cookie is Secure "
                                             "when the request came over HTTPS (directly or per a trusted proxy)")
    signin_failures_per_minute: int = Field(default=5, ge=1,
                                            description="failed sign-ins a client address may make in a minute; "
                                                        "more are refused with 429 (counted per worker process)")
    forwarded_allow_ips: str = Field(default="127.0.0.1",
                                     description="addresses of reverse proxies whose X-Forwarded-For and "
                                                 "X-Forwarded-Proto are believed (comma-separated, '*' for any)")
    job_heartbeat_seconds: float = Field(default=2.0, gt=0, description="how often a running job writes a heartbeat")
    job_stale_seconds: float = Field(default=30.0, gt=0,
                                     description="a job's lease: a running job without a heartbeat for this long is "
                                                 "marked failed and can no longer write or promote")
    worker_nice: int = Field(default=10, ge=0, le=19,
                             description="how much the job worker lowers its CPU priority (os.nice), so that "
                                         "suggestions stay fast while a retrain runs")
    worker_poll_seconds: float = Field(default=1.0, gt=0,
                                       description="how often the job worker looks for a queued job and for a cancel")

    def resolved_vector_cache_dir(self) -> Path:
        return self.embedding_cache_dir or self.data_dir / "vectors"

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'codeerhulp.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
