"""Coders' decisions on segments: one current decision per (segment, coder), every version kept."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from .. import repository, schemas
from ..visibility import Viewer
from .deps import CurrentUser, RowIdPath, ServicesDep

router = APIRouter(tags=["decisions"])


@router.post("/decisions", response_model=schemas.DecisionOut, status_code=status.HTTP_201_CREATED,
             summary="Record a decision: 201 for a new version, 200 when the identical decision is current already",
             responses={200: {"description": "identical to the current decision; nothing stored"}})
def post_decision(services: ServicesDep, user: CurrentUser, body: schemas.DecisionIn,
                  response: Response) -> schemas.DecisionOut:
    settings = services.settings
    result = services.db.write(lambda s: repository.record_decision(s, user, body, services.codebook,
                                                                    settings.max_codes_per_decision,
                                                                    settings.blind_coding))
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return result.decision


@router.get("/segments/{segment_id}/decisions", response_model=list[schemas.DecisionOut])
def segment_decisions(services: ServicesDep, user: CurrentUser, segment_id: RowIdPath,
                      history: bool = False) -> list[schemas.DecisionOut]:
    """Current decisions on a segment; ``history=true`` adds the earlier versions. While the
    segment's document is coded blind a coder gets only their own (docs/service.md, 'Blind coding')."""
    viewer = Viewer.of(user, services.settings.blind_coding)
    return services.db.read(lambda s: repository.segment_decisions(s, segment_id, viewer, history))
