"""Documents: upload (segmented and suggested by the active model), list, read, suggest again."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile, status

from training.segmenting import read_bytes, text_problem

from .. import repository, schemas
from ..repository import Invalid
from ..tables import Document
from .deps import CurrentUser, RowIdPath, ServicesDep

router = APIRouter(tags=["documents"])

RespondentRole = Literal["leraar", "begeleider", "schoolleider"]
MAX_NAME_CHARS = Document.__table__.c.name.type.length  # the column the file name is stored in


@router.post("/documents", status_code=status.HTTP_201_CREATED, response_model=schemas.DocumentOut,
             summary="Upload a transcript or logbook (.txt, .docx, .csv, .xlsx, .jsonl)")
def upload_document(
    services: ServicesDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File(description="the transcript or logbook; limit: setting max_upload_bytes")],
    respondent: Annotated[schemas.StorableText | None,
                          Form(max_length=50, description="respondent id, e.g. L7")] = None,
    role: Annotated[RespondentRole | None, Form()] = None,
    moment: Annotated[schemas.Moment | None, Form()] = None,
    plg: Annotated[schemas.StorableText | None, Form(max_length=100)] = None,
) -> schemas.DocumentOut:
    limit = services.settings.max_upload_bytes
    raw = file.file.read(limit + 1)
    if len(raw) > limit:
        raise HTTPException(413, f"the file is over the upload limit of {limit} bytes (setting max_upload_bytes); "
                                 "split it into smaller files")
    parsed = read_bytes(raw, _file_name(file.filename), max_bytes=limit, respondent=respondent,
                        max_segment_chars=services.settings.max_segment_chars)
    # Suggest before the transaction: the model takes a while and needs no database lock.
    records = services.registry.suggest(parsed.segments)
    document = services.db.write(lambda s: repository.create_document(s, parsed, records, user, respondent, role,
                                                                       moment, plg))
    return services.db.read(lambda s: repository.get_document(s, document.id))


def _file_name(name: str | None) -> str:
    """The upload's file name as it will be stored (a column of 255 characters)."""
    name = name or "upload.txt"
    problem = text_problem(name)
    if problem:
        raise Invalid(f"the file name {problem}; rename the file")
    if len(name) > MAX_NAME_CHARS:
        raise Invalid(f"the file name has {len(name)} characters, over the limit of {MAX_NAME_CHARS}; rename the file")
    return name


@router.get("/documents", response_model=list[schemas.DocumentSummary])
def list_documents(services: ServicesDep, _: CurrentUser, limit: int = 100,
                   offset: Annotated[int, Query(ge=0, le=schemas.MAX_ROW_ID)] = 0) -> list[schemas.DocumentSummary]:
    limit = max(1, min(limit, 1000))
    return services.db.read(lambda s: repository.list_documents(s, limit, offset))


@router.get("/documents/{document_id}", response_model=schemas.DocumentOut,
            summary="A document with its segments, the latest suggestions and every coder's current decision")
def get_document(services: ServicesDep, _: CurrentUser, document_id: RowIdPath) -> schemas.DocumentOut:
    return services.db.read(lambda s: repository.get_document(s, document_id))


@router.post("/documents/{document_id}/suggestions", response_model=schemas.DocumentOut,
             summary="Suggest the document again with the active model (a new run; earlier runs are kept)")
def resuggest_document(services: ServicesDep, _: CurrentUser, document_id: RowIdPath) -> schemas.DocumentOut:
    from training.segmenting import Segment

    rows = services.db.read(lambda s: repository.document_segments(s, document_id))
    segments = [Segment(id=r.external_id, text=r.text, question=r.question, speaker=r.speaker) for r in rows]
    records = services.registry.suggest(segments)
    services.db.write(lambda s: repository.add_suggestion_run(s, document_id, [r.id for r in rows], records))
    return services.db.read(lambda s: repository.get_document(s, document_id))
