"""Documents: upload (segmented and suggested by the active model), list, read, suggest again, and
open or close one for discussion (blind coding, service/visibility.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile, status

from training.segmenting import read_bytes, text_problem

from .. import repository, schemas
from ..repository import Invalid
from ..tables import Document
from ..visibility import Viewer, coding_is_blind
from .deps import AdminUser, CurrentUser, RowIdPath, ServicesDep

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
    viewer = Viewer.of(user, services.settings.blind_coding)
    return services.db.read(lambda s: repository.get_document(s, document.id, viewer))


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
    blind_coding = services.settings.blind_coding
    return services.db.read(lambda s: repository.list_documents(s, limit, offset, blind_coding=blind_coding))


@router.get("/documents/{document_id}", response_model=schemas.DocumentOut,
            summary="A document with its segments, the latest suggestions and the current decisions you may see "
                    "(while it is coded blind, a coder's own only)")
def get_document(services: ServicesDep, user: CurrentUser, document_id: RowIdPath) -> schemas.DocumentOut:
    viewer = Viewer.of(user, services.settings.blind_coding)
    return services.db.read(lambda s: repository.get_document(s, document_id, viewer))


@router.post("/documents/{document_id}/suggestions", response_model=schemas.DocumentOut,
             summary="Suggest the document again with the active model (a new run; earlier runs are kept)")
def resuggest_document(services: ServicesDep, user: CurrentUser, document_id: RowIdPath) -> schemas.DocumentOut:
    from training.segmenting import Segment

    def read(session):  # noqa: ANN001, ANN202
        return repository.document_segments(session, document_id), session.get(Document, document_id)

    rows, document = services.db.read(read)
    segments = [Segment(id=r.external_id, text=r.text, question=r.question, speaker=r.speaker) for r in rows]
    # The new run is shown to every coder: while the document is blind, its own confirmations must
    # not steer it, or one coder's codes would reach the others through the suggestions.
    blind = coding_is_blind(services.settings.blind_coding, document.discussion_opened_at)
    records = services.registry.suggest(segments, memory_without_document=document_id if blind else None)
    services.db.write(lambda s: repository.add_suggestion_run(s, document_id, [r.id for r in rows], records))
    viewer = Viewer.of(user, services.settings.blind_coding)
    return services.db.read(lambda s: repository.get_document(s, document_id, viewer))


@router.post("/documents/{document_id}/discussion", response_model=schemas.DocumentSummary,
             summary="Open a document for discussion: every coder sees every decision on it (admins only)")
def open_discussion(services: ServicesDep, _: AdminUser, document_id: RowIdPath) -> schemas.DocumentSummary:
    return _set_discussion(services, document_id, opened=True)


@router.delete("/documents/{document_id}/discussion", response_model=schemas.DocumentSummary,
               summary="Close a document's discussion: its coding is blind again (admins only)")
def close_discussion(services: ServicesDep, _: AdminUser, document_id: RowIdPath) -> schemas.DocumentSummary:
    return _set_discussion(services, document_id, opened=False)


def _set_discussion(services: ServicesDep, document_id: int, opened: bool) -> schemas.DocumentSummary:
    blind_coding = services.settings.blind_coding

    def change(session):  # noqa: ANN001, ANN202 - one transaction: the answer shows the state just stored
        repository.set_discussion(session, document_id, opened)
        return repository.document_summary(session, document_id, blind_coding=blind_coding)

    return services.db.write(change)
