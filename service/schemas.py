"""The shapes of the API (request and response bodies). ORM rows are converted in repository.py."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from training.segmenting import text_problem

Role = Literal["coder", "admin"]
Action = Literal["accept", "correct", "reject", "no_code"]
# What a stored decision can be: a coder's action, or the record that an admin withdrew one (never current).
StoredAction = Literal["accept", "correct", "reject", "no_code", "withdrawn"]
Moment = Literal["start", "eind", "logboek1", "logboek2", "logboek3"]

# Row ids are INTEGER columns, PostgreSQL's 32-bit int: an id past that cannot exist, and the
# database refuses even to compare with it (SQLite past 2^63), so it is refused where it comes in.
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]


def storable(value: Any) -> Any:
    """Refuse a NUL or a lone surrogate in any text, also inside lists and dicts (see text_problem)."""
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            raise ValueError(problem)
    elif isinstance(value, list):
        for item in value:
            storable(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            storable(key)
            storable(item)
    return value


# A query, form or path parameter holding text that will be stored or looked up in the database.
StorableText = Annotated[str, AfterValidator(storable)]


class RequestBody(BaseModel):
    """Every request body: unknown fields refused, and no field may hold text the database cannot store."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return storable(value)


class CodeIn(RequestBody):
    factor: str = Field(min_length=1, max_length=100)
    richting: str = Field(min_length=1, max_length=4, description="PO, SO or - (no direction)")
    aard: str = Field(min_length=1, max_length=4, description="+ or -")


class CodeOut(BaseModel):
    factor: str
    richting: str
    aard: str
    confidence: float | None = None
    richting_confidence: float | None = None
    aard_confidence: float | None = None


class SuggestText(RequestBody):
    id: str | None = Field(default=None, max_length=100)
    text: str
    question: str | None = Field(default=None, description="the interviewer's question before the text, a strong hint")


class SuggestRequest(RequestBody):
    texts: list[SuggestText | str] = Field(description="texts to suggest codes for (strings or objects)")
    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0,
                                         description="keep codes at or above this; default the model's threshold")


class SuggestRecord(BaseModel):
    id: str
    text: str
    codes: list[CodeOut]
    model_version: str
    codebook_version: str
    no_code_confidence: float | None = Field(default=None, description="the model's P(nothing to code here)")
    memory_state: str | None = Field(default=None, description="the confirmation memory consulted: "
                                     "'<confirmed segments>:<digest>'; none when nothing was confirmed yet")
    memory_weight: float | None = Field(default=None, description="the memory's share in these scores "
                                        "(0: no confirmed segment is close enough)")
    meta: dict[str, Any] | None = None


class SuggestResponse(BaseModel):
    model_version: str
    codebook_version: str
    results: list[SuggestRecord]


class DecisionIn(RequestBody):
    segment_id: RowId
    action: Action = Field(description="accept the suggestion, correct it (give the final codes), reject it, "
                                       "or no_code (the segment is about none of the codes)")
    codes: list[CodeIn] | None = Field(default=None, description="the final codes; required for 'correct' only. "
                                                                  "The first is the coder's main code (what kappa "
                                                                  "compares); the order is kept")
    note: str | None = Field(default=None, max_length=2000)
    suggestion_run: RowId | None = Field(
        default=None, description="the suggestion run the client showed (a segment's 'suggestion_run'): 'accept' "
                                  "stores that run's codes, also when a newer run exists; default the latest run")


class DecisionOut(BaseModel):
    id: int
    segment_id: int
    coder: str
    action: StoredAction = Field(description="the coder's action; 'withdrawn' (only in the history) records that "
                                             "an admin withdrew the version before it (codeerhulp users forget)")
    codes: list[CodeIn]
    version: int
    is_current: bool
    suggestion_run: int | None = Field(default=None, description="the suggestion run the decision was made on; "
                                                                 "None for decisions stored before runs were recorded")
    model_version: str | None
    codebook_version: str | None
    note: str | None
    blind: bool | None = Field(default=None, description="made while blind coding hid the other coders' decisions "
                                                         "from this coder; None for decisions stored before this "
                                                         "was recorded")
    created_at: dt.datetime
    created: bool = Field(default=True, description="false when an identical current decision existed already")


class SegmentOut(BaseModel):
    id: int
    ordinal: int
    external_id: str
    text: str
    speaker: str | None
    question: str | None
    line_start: int | None
    line_end: int | None
    char_start: int | None
    char_end: int | None
    suggestions: list[CodeOut] = []
    suggestion_run: int = Field(description="the document's run these suggestions come from; send it with a "
                                            "decision so that 'accept' stores exactly these codes")
    suggestion_model_version: str | None = None
    suggestion_codebook_version: str | None = None
    suggestion_memory_state: str | None = None
    decisions: list[DecisionOut] = []


class DocumentSummary(BaseModel):
    id: int
    name: str
    respondent: str | None
    role: str | None
    moment: str | None
    plg: str | None
    kind: str
    n_segments: int
    uploaded_by: str
    created_at: dt.datetime
    discussion_opened_at: dt.datetime | None = Field(
        default=None, description="when an admin opened the document for discussion; None while it is closed")
    blind: bool = Field(default=True, description="coding of this document is blind now: each coder sees only "
                                                  "their own decisions (setting blind_coding, document not open "
                                                  "for discussion); admins see all")


class DocumentOut(DocumentSummary):
    text: str
    segments: list[SegmentOut]
    others_hidden: bool = Field(default=False, description="other coders' decisions are left out of this answer "
                                                           "for you (blind coding)")


class UserOut(BaseModel):
    id: int
    name: str
    role: Role
    active: bool = Field(default=True, description="false once the token is revoked")


class UserWithToken(UserOut):
    token: str = Field(description="the API token, in this answer only: only its hash is stored")


class ModelVersionOut(BaseModel):
    version: str
    active: bool
    serving: bool = Field(description="this worker serves this version right now")
    status: str | None = Field(description="imported, promoted or rejected (by the gate); None if unknown to the service")
    gate_reason: str | None = None
    created: str | None = None
    codebook_version: str | None = None
    encoder: str | None = None
    metrics: dict[str, Any] = {}
    error: str | None = Field(default=None, description="why the version cannot be read, if so")


class ActivateRequest(RequestBody):
    reason: str | None = Field(default=None, max_length=500)


class JobOut(BaseModel):
    id: int
    kind: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    message: str | None = Field(description="what happened, in Dutch, for the research lead")
    params: dict[str, Any]
    result: dict[str, Any] | None
    phase: str | None = Field(default=None, description="the step a running job is in: collecting, vectors, "
                                                         "training, rule, evaluating, saving, gating, recording")
    progress: float | None = Field(default=None, description="estimated share done, 0..1")
    elapsed_seconds: float | None = Field(default=None, description="time since the job started, or its duration")
    cancel_requested: bool = False
    worker: str | None = Field(default=None, description="host:pid of the process that runs (or ran) the job")
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    heartbeat_at: dt.datetime | None
    lease_expires_at: dt.datetime | None = None


class RetrainRequest(RequestBody):
    resolution: Literal["consensus", "latest"] | None = Field(
        default=None, description="override the retrain_resolution setting for this run")
    promote: bool | None = Field(default=None, description="override auto_promote for this run")


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    model_version: str | None
    active_model_version: str | None
    codebook_version: str | None
    database: bool
    worker_pid: int
    message: str | None = None
