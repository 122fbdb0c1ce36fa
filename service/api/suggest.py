"""Ad-hoc suggestions: texts in, codes out, nothing stored."""

from __future__ import annotations

from fastapi import APIRouter

from training.segmenting import Segment

from .. import schemas
from ..repository import Invalid, TooLarge
from .deps import CurrentUser, ServicesDep

router = APIRouter(tags=["suggest"])


@router.post("/suggest", response_model=schemas.SuggestResponse,
             summary="Suggest codes for up to max_texts_per_request texts of up to max_segment_chars characters",
             responses={503: {"description": "this worker's suggestion queue is full; retry after Retry-After seconds"}})
async def suggest(services: ServicesDep, _: CurrentUser, body: schemas.SuggestRequest) -> schemas.SuggestResponse:
    # async: the request waits for its batch on the event loop, not in one of the server's threads,
    # so many concurrent clients do not exhaust the thread pool the other routes need.
    settings = services.settings
    if not body.texts:
        raise Invalid("'texts' is empty; send at least one text")
    if len(body.texts) > settings.max_texts_per_request:
        raise TooLarge(f"{len(body.texts)} texts is over the limit of {settings.max_texts_per_request} per request "
                       "(setting max_texts_per_request); send them in smaller batches")
    segments = []
    for n, item in enumerate(body.texts, 1):
        text, question, seg_id = (item, None, None) if isinstance(item, str) else (item.text, item.question, item.id)
        if not text.strip():
            raise Invalid(f"text {n} is empty")
        for what, value in (("text", text), ("question", question)):
            if value is not None and len(value) > settings.max_segment_chars:
                raise TooLarge(f"the {what} of text {n} has {len(value)} characters, over the limit of "
                               f"{settings.max_segment_chars} (setting max_segment_chars); split it into shorter "
                               "segments, or upload the whole document to POST /api/v1/documents")
        segments.append(Segment(id=seg_id or str(n), text=text, question=question))
    loaded = services.registry.current
    records = await services.registry.suggest_async(segments, body.min_confidence, loaded=loaded)
    return schemas.SuggestResponse(model_version=loaded.version, codebook_version=loaded.codebook_version,
                                   results=[schemas.SuggestRecord(**r) for r in records])
