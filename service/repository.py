"""Domain functions over the database. Each takes a Session and never commits: the caller
(``Database.write``) owns the transaction, so a request is all or nothing and can be retried."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from training.codebook import Codebook, CodebookError
from training.exports import tally_blind
from training.segmenting import Document as ParsedDocument

from . import schemas, sessions
from .security import hash_token, new_token
from .visibility import Viewer, coding_is_blind, decision_is_blind
from .tables import (ROLES, WITHDRAWN, Decision, Document, Job, ModelActivation, ModelVersion, Segment, Suggestion,
                     User, as_utc, utcnow)

log = logging.getLogger(__name__)

MODEL_CODER = "model"  # the name under which the active suggestions take part in agreement


class NotFound(LookupError):
    """404: the message names what is missing."""


class Conflict(RuntimeError):
    """409: the request cannot be done in the current state; the message says why."""


class Invalid(ValueError):
    """422: the request is well-formed but its content is not acceptable; the message says what to change."""


class TooLarge(ValueError):
    """413: over a configured limit; the message names the limit and the setting that sets it."""


# ---------------------------------------------------------------- users


def create_user(session: Session, name: str, role: str) -> tuple[User, str]:
    """A new user and their token; only the token's hash is stored, so it is returned only here."""
    name = name.strip()
    if not name:
        raise Invalid("a user needs a name")
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}")
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise Conflict(f"a user named {name!r} exists already")
    token = new_token()
    user = User(name=name, role=role, token_hash=hash_token(token), active=True)
    session.add(user)
    session.flush()
    return user, token


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def user_by_token(session: Session, token: str) -> User | None:
    user = session.scalar(select(User).where(User.token_hash == hash_token(token)))
    return user if user is not None and user.active else None


def _user_named(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name.strip()))
    if user is None:
        raise NotFound(f"no user named {name!r}")
    return user


def revoke_user(session: Session, name: str) -> User:
    """Revoke a user's token and end their browser sessions. Workers that checked the token in the
    last ``auth_cache_seconds`` may still accept it until then. Revoking twice changes nothing."""
    user = _user_named(session, name)
    user.active = False
    sessions.end_user_sessions(session, user.id)
    session.flush()
    return user


def rotate_token(session: Session, name: str) -> tuple[User, str]:
    """A new token for a user; the old one stops working and their browser sessions end. A revoked
    user is active again afterwards: a new token is how an admin gives access back."""
    user = _user_named(session, name)
    token = new_token()
    user.token_hash = hash_token(token)
    user.active = True
    sessions.end_user_sessions(session, user.id)
    session.flush()
    return user, token


# ---------------------------------------------------------------- documents and suggestions


def _add_suggestions(session: Session, segment_ids: Sequence[int], records: Sequence[dict], run: int) -> None:
    rows = []
    for segment_id, record in zip(segment_ids, records, strict=True):
        for rank, code in enumerate(record["codes"]):
            rows.append(Suggestion(
                segment_id=segment_id, run=run, rank=rank, factor=code["factor"], richting=code["richting"],
                aard=code["aard"], confidence=code["confidence"], richting_confidence=code.get("richting_confidence"),
                aard_confidence=code.get("aard_confidence"), model_version=record["model_version"],
                codebook_version=record["codebook_version"], memory_state=record.get("memory_state")))
    session.add_all(rows)


def _check_fits(parsed: ParsedDocument) -> None:
    """Segment ids and speakers fit their columns: a JSONL or CSV row can hold anything, and a
    transcript's segment ids are made from its file name."""
    for what in ("external_id", "speaker"):
        limit = Segment.__table__.c[what].type.length
        for segment in parsed.segments:
            value = segment.id if what == "external_id" else segment.speaker
            if value is not None and len(value) > limit:
                raise Invalid(f"{parsed.name}: a segment {'id' if what == 'external_id' else what} of {len(value)} "
                              f"characters ({value[:30]!r}...) is over the limit of {limit}; shorten it (a "
                              "transcript's segment ids are made from its file name)")


def create_document(session: Session, parsed: ParsedDocument, records: Sequence[dict], uploader: User,
                    respondent: str | None, role: str | None, moment: str | None, plg: str | None) -> Document:
    """Store a parsed document, its segments and the active model's suggestions for them."""
    _check_fits(parsed)
    document = Document(name=parsed.name, respondent=respondent, role=role, moment=moment, plg=plg,
                        kind=parsed.kind, text=parsed.text, uploaded_by=uploader.id, suggestion_run=1)
    session.add(document)
    session.flush()
    segments = [
        Segment(document_id=document.id, ordinal=i, external_id=s.id, text=s.text, speaker=s.speaker,
                question=s.question, line_start=s.line_start, line_end=s.line_end, char_start=s.char_start,
                char_end=s.char_end)
        for i, s in enumerate(parsed.segments, 1)
    ]
    session.add_all(segments)
    session.flush()
    _add_suggestions(session, [s.id for s in segments], records, run=1)
    return document


def document_segments(session: Session, document_id: int) -> list[Segment]:
    if session.get(Document, document_id) is None:
        raise NotFound(f"document {document_id} does not exist")
    return list(session.scalars(select(Segment).where(Segment.document_id == document_id).order_by(Segment.ordinal)))


def add_suggestion_run(session: Session, document_id: int, segment_ids: Sequence[int], records: Sequence[dict]) -> int:
    """Store a new run of suggestions (e.g. after a new model was promoted); earlier runs are kept."""
    document = session.get(Document, document_id, with_for_update=True)
    if document is None:
        raise NotFound(f"document {document_id} does not exist")
    current = list(session.scalars(select(Segment.id).where(Segment.document_id == document_id)
                                   .order_by(Segment.ordinal)))
    if current != list(segment_ids):
        raise Conflict(f"document {document_id} changed while it was being suggested; try again")
    document.suggestion_run += 1
    _add_suggestions(session, segment_ids, records, run=document.suggestion_run)
    return document.suggestion_run


def _n_segments(session: Session, document_ids: Iterable[int]) -> dict[int, int]:
    ids = list(document_ids)
    if not ids:
        return {}
    rows = session.execute(select(Segment.document_id, func.count()).where(Segment.document_id.in_(ids))
                           .group_by(Segment.document_id))
    return {doc_id: n for doc_id, n in rows}


def _summary(document: Document, n_segments: int, uploader: str, blind_coding: bool) -> dict[str, Any]:
    return {"id": document.id, "name": document.name, "respondent": document.respondent, "role": document.role,
            "moment": document.moment, "plg": document.plg, "kind": document.kind, "n_segments": n_segments,
            "uploaded_by": uploader, "created_at": as_utc(document.created_at),
            "discussion_opened_at": as_utc(document.discussion_opened_at),
            "blind": coding_is_blind(blind_coding, document.discussion_opened_at)}


def list_documents(session: Session, limit: int = 100, offset: int = 0, *,
                   blind_coding: bool) -> list[schemas.DocumentSummary]:
    rows = session.execute(select(Document, User.name).join(User, User.id == Document.uploaded_by)
                           .order_by(Document.id).limit(limit).offset(offset)).all()
    counts = _n_segments(session, (d.id for d, _ in rows))
    return [schemas.DocumentSummary(**_summary(d, counts.get(d.id, 0), name, blind_coding)) for d, name in rows]


def document_summary(session: Session, document_id: int, *, blind_coding: bool) -> schemas.DocumentSummary:
    row = session.execute(select(Document, User.name).join(User, User.id == Document.uploaded_by)
                          .where(Document.id == document_id)).first()
    if row is None:
        raise NotFound(f"document {document_id} does not exist")
    counts = _n_segments(session, [document_id])
    return schemas.DocumentSummary(**_summary(row[0], counts.get(document_id, 0), row[1], blind_coding))


def set_discussion(session: Session, document_id: int, opened: bool) -> Document:
    """Open a document for discussion (every coder sees every decision on it) or close it again
    (blind once more). Opening an open document keeps when it was first opened."""
    document = session.get(Document, document_id, with_for_update=True)
    if document is None:
        raise NotFound(f"document {document_id} does not exist")
    if not opened:
        document.discussion_opened_at = None
    elif document.discussion_opened_at is None:
        document.discussion_opened_at = utcnow()
    session.flush()
    log.info("document %d %s for discussion", document_id, "opened" if opened else "closed")
    return document


def _suggestion_out(s: Suggestion) -> dict[str, Any]:
    return {"factor": s.factor, "richting": s.richting, "aard": s.aard, "confidence": s.confidence,
            "richting_confidence": s.richting_confidence, "aard_confidence": s.aard_confidence}


def current_suggestions(session: Session, segment_ids: Sequence[int]) -> dict[int, list[Suggestion]]:
    """The suggestions of each segment's document's latest run, by segment, best first."""
    if not segment_ids:
        return {}
    rows = session.scalars(
        select(Suggestion).join(Segment, Segment.id == Suggestion.segment_id)
        .join(Document, Document.id == Segment.document_id)
        .where(Suggestion.segment_id.in_(segment_ids), Suggestion.run == Document.suggestion_run)
        .order_by(Suggestion.segment_id, Suggestion.rank))
    out: dict[int, list[Suggestion]] = {}
    for s in rows:
        out.setdefault(s.segment_id, []).append(s)
    return out


def run_suggestions(session: Session, segment_id: int, run: int) -> list[Suggestion]:
    """The suggestions of one run for one segment, best first (none when no code reached the threshold)."""
    return list(session.scalars(select(Suggestion).where(Suggestion.segment_id == segment_id, Suggestion.run == run)
                                .order_by(Suggestion.rank)))


def run_provenance(session: Session, document_id: int, run: int) -> tuple[str | None, str | None]:
    """The model and codebook version of a document's run, from any segment it gave a code."""
    row = session.execute(select(Suggestion.model_version, Suggestion.codebook_version)
                          .join(Segment, Segment.id == Suggestion.segment_id)
                          .where(Segment.document_id == document_id, Suggestion.run == run).limit(1)).first()
    return (row[0], row[1]) if row else (None, None)


def get_document(session: Session, document_id: int, viewer: Viewer) -> schemas.DocumentOut:
    """A document with its segments, the latest suggestions and the current decisions the viewer may see."""
    row = session.execute(select(Document, User.name).join(User, User.id == Document.uploaded_by)
                          .where(Document.id == document_id)).first()
    if row is None:
        raise NotFound(f"document {document_id} does not exist")
    document, uploader = row
    segments = document_segments(session, document_id)
    ids = [s.id for s in segments]
    suggestions = current_suggestions(session, ids)
    decisions: dict[int, list[schemas.DecisionOut]] = {}
    if ids:
        for d, name in session.execute(select(Decision, User.name).join(User, User.id == Decision.coder_id)
                                       .where(Decision.segment_id.in_(ids), Decision.is_current)
                                       .order_by(Decision.segment_id, User.name)):
            if viewer.may_see(document, d.coder_id):
                decisions.setdefault(d.segment_id, []).append(decision_out(d, name))
    run = document.suggestion_run
    out_segments = []
    for s in segments:
        sugg = suggestions.get(s.id, [])
        # A run with no code above the threshold leaves no rows; its version is that of any segment of the run.
        out_segments.append(schemas.SegmentOut(
            id=s.id, ordinal=s.ordinal, external_id=s.external_id, text=s.text, speaker=s.speaker,
            question=s.question, line_start=s.line_start, line_end=s.line_end, char_start=s.char_start,
            char_end=s.char_end, suggestions=[schemas.CodeOut(**_suggestion_out(x)) for x in sugg], suggestion_run=run,
            suggestion_model_version=sugg[0].model_version if sugg else None,
            suggestion_codebook_version=sugg[0].codebook_version if sugg else None,
            suggestion_memory_state=sugg[0].memory_state if sugg else None,
            decisions=decisions.get(s.id, [])))
    log.debug("document %d read (run %d, %d segments)", document_id, run, len(segments))
    return schemas.DocumentOut(**_summary(document, len(segments), uploader, viewer.blind_coding),
                               text=document.text, segments=out_segments,
                               others_hidden=not viewer.sees_others_on(document))


# ---------------------------------------------------------------- decisions


def canonical_codes(codes: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    """Codes without duplicates, in the order given: the first is the main code (the coder's first
    choice in the picker, the model's most confident suggestion), which kappa compares. The JSON
    column keeps the order, so no schema change is needed. Decisions stored before this rule have
    their codes in alphabetical order, so their "main code" is the alphabetically first."""
    unique = dict.fromkeys((c["factor"], c["richting"], c["aard"]) for c in codes)
    return [{"factor": f, "richting": r, "aard": a} for f, r, a in unique]


def validate_codes(codebook: Codebook, codes: Iterable[schemas.CodeIn]) -> list[dict[str, str]]:
    out = []
    for n, code in enumerate(codes, 1):
        try:
            factor = codebook.factor(code.factor)
        except KeyError:
            raise Invalid(f"code {n}: unknown factor {code.factor!r}; GET /api/v1/codebook lists the factors") from None
        if factor.status != "active":
            raise Invalid(f"code {n}: factor {code.factor!r} is retired in codebook {codebook.version}")
        try:
            codebook.validate_code(code.factor, code.richting, code.aard)
        except CodebookError as exc:
            raise Invalid(f"code {n}: {exc}") from None
        out.append(code.model_dump())
    return canonical_codes(out)


def decision_out(d: Decision, coder: str, created: bool = True) -> schemas.DecisionOut:
    return schemas.DecisionOut(id=d.id, segment_id=d.segment_id, coder=coder, action=d.action,  # type: ignore[arg-type]
                               codes=[schemas.CodeIn(**c) for c in d.codes], version=d.version,
                               is_current=d.is_current, suggestion_run=d.suggestion_run, model_version=d.model_version,
                               codebook_version=d.codebook_version, note=d.note, blind=d.blind,
                               created_at=as_utc(d.created_at), created=created)  # type: ignore[arg-type]


@dataclass
class DecisionResult:
    decision: schemas.DecisionOut
    created: bool


def record_decision(session: Session, coder: User, body: schemas.DecisionIn, codebook: Codebook,
                    max_codes: int, blind_coding: bool) -> DecisionResult:
    """Store a coder's decision as the new current version, or return the identical current one.

    The decision is made on a suggestion run: the one the client names (what the coder saw, also
    when a newer run exists since), else the document's latest. ``accept`` stores that run's codes,
    and the run with its model and codebook version is recorded on the decision.

    Re-posting the same decision is a no-op (a client may retry after a timeout); a different
    decision retires the current version and adds the next. One coder's decisions are made one at a
    time (a lock on their user row; SQLite's writer lock does the same), so a client's retry racing
    its first attempt in another worker waits for it instead of colliding on the unique keys, while
    different coders never wait for each other.

    Whether the decision is made blind (``service.visibility``) is recorded from the setting and
    the document's discussion state now.
    """
    # FOR NO KEY UPDATE: it does not block reading the user (auth) or rows that only reference it.
    session.get(User, coder.id, with_for_update={"key_share": True})
    segment = session.get(Segment, body.segment_id)
    if segment is None:
        raise NotFound(f"segment {body.segment_id} does not exist")
    latest, opened_at = session.execute(select(Document.suggestion_run, Document.discussion_opened_at)
                                        .where(Document.id == segment.document_id)).one()
    run = body.suggestion_run or latest
    if run > latest:
        raise NotFound(f"suggestion run {run} of document {segment.document_id} does not exist; the latest is run "
                       f"{latest} (GET /api/v1/documents/{segment.document_id})")
    suggestions = run_suggestions(session, segment.id, run)
    run_version, run_codebook = run_provenance(session, segment.document_id, run)
    if body.action == "correct":
        if not body.codes:
            raise Invalid("action 'correct' needs the final codes in 'codes' (use 'no_code' for a segment without code)")
        if len(body.codes) > max_codes:
            raise TooLarge(f"{len(body.codes)} codes is over the limit of {max_codes} per decision "
                           "(setting max_codes_per_decision)")
        codes = validate_codes(codebook, body.codes)
    elif body.codes:
        raise Invalid(f"action {body.action!r} takes no 'codes': 'accept' takes the suggested codes, "
                      "'reject' and 'no_code' none; send action 'correct' to give codes")
    elif body.action == "accept":
        codes = canonical_codes(_suggestion_out(s) for s in suggestions)
    else:
        codes = []
    current = session.scalar(select(Decision).where(Decision.segment_id == segment.id, Decision.coder_id == coder.id,
                                                    Decision.is_current))
    if (current is not None and current.action == body.action and current.codes == codes
            and current.note == body.note and current.suggestion_run == run):
        return DecisionResult(decision_out(current, coder.name, created=False), created=False)
    if current is None:
        # No current version: the first decision, or one after a withdrawal, whose versions (the
        # withdrawal's too) keep their numbers. Otherwise the current version is the newest row.
        version = 1 + (session.scalar(select(func.max(Decision.version)).where(
            Decision.segment_id == segment.id, Decision.coder_id == coder.id)) or 0)
    else:
        version = current.version + 1
        # Retire the old version first: the unique index allows one current row per (segment, coder).
        session.execute(update(Decision).where(Decision.id == current.id).values(is_current=False))
        session.flush()
    decision = Decision(segment_id=segment.id, coder_id=coder.id, action=body.action, codes=codes, version=version,
                        is_current=True, suggestion_run=run, model_version=run_version,
                        codebook_version=run_codebook or codebook.version, note=body.note,
                        blind=decision_is_blind(blind_coding, opened_at, coder))
    session.add(decision)
    session.flush()
    return DecisionResult(decision_out(decision, coder.name), created=True)


@dataclass
class Withdrawn:
    """What withdrawing a coder's decisions did: how many, on how many documents."""

    coder: str
    n_decisions: int
    n_documents: int


def withdraw_decisions(session: Session, name: str, note: str) -> Withdrawn:
    """Withdraw every current decision of the coder ``name``: each is retired and a ``withdrawn``
    version after it, never current, records when and ``note`` (who, how). Nothing is deleted. From
    then on the decisions reach no reader of current decisions: the memory (its marker changes),
    retraining, agreement, the pages. In the caller's one transaction, so a failure writes nothing.
    The coder's later decisions start from the next version number; withdrawing twice withdraws
    nothing the second time."""
    coder = _user_named(session, name)
    # The lock record_decision takes: a decision of this coder arriving meanwhile waits, and is then
    # a decision made after the withdrawal (kept), never one half-withdrawn.
    session.get(User, coder.id, with_for_update={"key_share": True})
    mine = (Decision.coder_id == coder.id, Decision.is_current)
    current = session.execute(select(Decision, Segment.document_id).join(Segment, Segment.id == Decision.segment_id)
                              .where(*mine).order_by(Decision.id)).all()
    # Retired by condition, not by a list of ids: a coder may have more decisions than SQLite takes parameters.
    session.execute(update(Decision).where(*mine).values(is_current=False))
    session.add_all([Decision(segment_id=d.segment_id, coder_id=coder.id, action=WITHDRAWN, codes=[],
                              version=d.version + 1, is_current=False, suggestion_run=d.suggestion_run,
                              model_version=d.model_version, codebook_version=d.codebook_version, note=note,
                              blind=d.blind) for d, _ in current])
    session.flush()
    log.info("withdrew %d current decisions of user %d", len(current), coder.id)
    return Withdrawn(coder.name, len(current), len({document_id for _, document_id in current}))


def segment_decisions(session: Session, segment_id: int, viewer: Viewer,
                      history: bool = False) -> list[schemas.DecisionOut]:
    """The decisions on a segment the viewer may see: the current ones, or every version."""
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound(f"segment {segment_id} does not exist")
    query = (select(Decision, User.name).join(User, User.id == Decision.coder_id)
             .where(Decision.segment_id == segment_id))
    if not viewer.sees_others_on(session.get(Document, segment.document_id)):
        query = query.where(Decision.coder_id == viewer.user_id)
    if not history:
        query = query.where(Decision.is_current)
    return [decision_out(d, name) for d, name in session.execute(query.order_by(User.name, Decision.version))]


def count_decisions(session: Session, current_only: bool = False) -> int:
    query = select(func.count()).select_from(Decision)
    if current_only:
        query = query.where(Decision.is_current)
    return int(session.scalar(query) or 0)


@dataclass
class Confirmed:
    """A segment with the code set the coders settled on, ready to become a training example."""

    segment_id: int
    text: str
    question: str | None
    codes: list[dict[str, str]]
    n_coders: int
    decision_id: int = 0  # the newest decision behind it: the order in which segments were confirmed
    document_id: int = 0


def confirmed_segments(session: Session, resolution: str) -> tuple[list[Confirmed], dict[str, int]]:
    """Current human decisions resolved to one code set per segment.

    ``reject`` says the suggestion was wrong but not what is right, so it is no label and does not
    count. ``consensus``: every coder with a usable decision gave the same set; ``latest``: the
    most recent decision wins. Returns the segments and counts of what was skipped and why.
    """
    rows = session.execute(
        select(Decision.segment_id, Decision.action, Decision.codes, Decision.created_at, Decision.id,
               Segment.text, Segment.question, Segment.document_id)
        .join(Segment, Segment.id == Decision.segment_id)
        .where(Decision.is_current, Decision.action != "reject")
        .order_by(Decision.segment_id, Decision.created_at, Decision.id))
    per: dict[int, list[Any]] = {}
    for row in rows:
        per.setdefault(row.segment_id, []).append(row)
    out: list[Confirmed] = []
    stats = {"segments_decided": len(per), "skipped_disagreement": 0}
    for segment_id, decisions in per.items():
        sets = {tuple(sorted((c["factor"], c["richting"], c["aard"]) for c in d.codes)) for d in decisions}
        if resolution == "consensus" and len(sets) > 1:
            stats["skipped_disagreement"] += 1
            continue
        chosen = decisions[-1]
        out.append(Confirmed(segment_id, chosen.text, chosen.question, canonical_codes(chosen.codes), len(decisions),
                             max(d.id for d in decisions), chosen.document_id))
    return out, stats


def _compared_decisions(session: Session, humans: Sequence[str], document_id: int | None,
                        viewer: Viewer):  # noqa: ANN202 - a Select of four columns
    """The query of the human decisions agreement compares: current, not rejections, of the named
    coders, on one document or all, and only those the viewer may see (blind coding)."""
    known = set(session.scalars(select(User.name).where(User.name.in_(humans)))) if humans else set()
    unknown = [c for c in humans if c not in known]
    if unknown:
        raise NotFound(f"unknown coder(s): {', '.join(unknown)}")
    query = (select(User.name, Decision.segment_id, Decision.codes, Decision.blind)
             .join(User, User.id == Decision.coder_id).join(Segment, Segment.id == Decision.segment_id)
             .join(Document, Document.id == Segment.document_id)
             .where(Decision.is_current, Decision.action != "reject", User.name.in_(humans)))
    if document_id is not None:
        query = query.where(Segment.document_id == document_id)
    visible = viewer.decisions_filter()
    return query if visible is None else query.where(visible)


def agreement_triples(session: Session, coders: Sequence[str], viewer: Viewer, document_id: int | None = None
                      ) -> list[tuple[str, int, list[tuple[str, str, str]]]]:
    """(coder, segment, codes) for the named coders' current decisions the viewer may see and, as
    ``model``, the active suggestions. Rejections are missing values: they say what is wrong, not
    what is right."""
    return agreement_input(session, coders, viewer, document_id)[0]


def agreement_input(session: Session, coders: Sequence[str], viewer: Viewer, document_id: int | None = None
                    ) -> tuple[list[tuple[str, int, list[tuple[str, str, str]]]], dict[str, int]]:
    """The triples of :func:`agreement_triples` and, from the same rows, how many of the compared human
    decisions were made blind and of how many that is not known (stored before migration 0007)."""
    humans = [c for c in coders if c != MODEL_CODER]
    triples: list[tuple[str, int, list[tuple[str, str, str]]]] = []
    blind_flags: list[bool | None] = []
    if humans:
        for name, segment_id, codes, blind in session.execute(
                _compared_decisions(session, humans, document_id, viewer)):
            triples.append((name, segment_id, [(c["factor"], c["richting"], c["aard"]) for c in codes]))
            blind_flags.append(blind)
    if MODEL_CODER in coders:
        # The model "coded" every segment of the latest run, also those without a code above its threshold.
        seg_query = select(Segment.id).join(Document, Document.id == Segment.document_id)
        if document_id is not None:
            seg_query = seg_query.where(Segment.document_id == document_id)
        segment_ids = list(session.scalars(seg_query))
        suggestions = current_suggestions(session, segment_ids)
        for segment_id in segment_ids:
            triples.append((MODEL_CODER, segment_id,
                            [(s.factor, s.richting, s.aard) for s in suggestions.get(segment_id, [])]))
    return triples, tally_blind(blind_flags)


def all_coder_names(session: Session, viewer: Viewer) -> list[str]:
    """The coders with a current decision the viewer may see (one whose decisions were all withdrawn
    has nothing to compare)."""
    query = (select(User.name).join(Decision, Decision.coder_id == User.id)
             .join(Segment, Segment.id == Decision.segment_id).join(Document, Document.id == Segment.document_id)
             .where(Decision.is_current))
    visible = viewer.decisions_filter()
    if visible is not None:
        query = query.where(visible)
    return list(session.scalars(query.distinct().order_by(User.name)))


# ---------------------------------------------------------------- models and the active version


def active_version(session: Session) -> str | None:
    return session.scalar(select(ModelActivation.version).order_by(ModelActivation.id.desc()).limit(1))


def activation_history(session: Session, limit: int = 50) -> list[ModelActivation]:
    return list(session.scalars(select(ModelActivation).order_by(ModelActivation.id.desc()).limit(limit)))


# Any fixed number: the PostgreSQL advisory lock that makes "read the active version, then activate"
# one step across workers (SQLite's BEGIN IMMEDIATE already lets one writer in at a time).
_ACTIVATION_LOCK_KEY = 727_002


def lock_activations(session: Session) -> None:
    """Hold the activation lock until this transaction ends, so the active version read next stays so."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ACTIVATION_LOCK_KEY})


def activate(session: Session, version: str, reason: str, user_id: int | None) -> ModelActivation:
    lock_activations(session)
    previous = active_version(session)
    row = ModelActivation(version=version, previous_version=previous, reason=reason, activated_by=user_id)
    session.add(row)
    existing = session.get(ModelVersion, version)
    if existing is None:
        session.add(ModelVersion(version=version, status="imported", metrics={}))
    elif existing.status == "rejected":
        existing.status = "promoted"
        existing.gate_reason = (existing.gate_reason or "") + f" (promoted by hand: {reason})"
    session.flush()
    return row


def rollback_target(session: Session) -> str:
    latest = session.scalar(select(ModelActivation).order_by(ModelActivation.id.desc()).limit(1))
    if latest is None or not latest.previous_version:
        raise Conflict("there is no earlier active model to roll back to")
    return latest.previous_version


def model_version_rows(session: Session) -> dict[str, ModelVersion]:
    return {m.version: m for m in session.scalars(select(ModelVersion))}


def record_model_version(session: Session, version: str, status: str, metrics: dict[str, Any], gate_reason: str,
                         job_id: int | None) -> None:
    """Record a trained version's gate result. An admin may have promoted the version by hand while
    its job was still gating it (``activate`` then recorded it as imported): the job's result
    completes that row instead of colliding with its key."""
    existing = session.get(ModelVersion, version, with_for_update=True)
    if existing is None:
        session.add(ModelVersion(version=version, status=status, metrics=metrics, gate_reason=gate_reason,
                                 job_id=job_id))
    else:  # only ``activate`` adds rows otherwise: the version was made active, whatever the gate says
        existing.status = "promoted"
        existing.metrics, existing.job_id = metrics, job_id
        existing.gate_reason = f"{gate_reason} (made active by hand before its job recorded it)"
    session.flush()


# ---------------------------------------------------------------- jobs


def get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"job {job_id} does not exist")
    return job


def list_jobs(session: Session, limit: int = 50) -> list[Job]:
    return list(session.scalars(select(Job).order_by(Job.id.desc()).limit(limit)))


def job_out(job: Job) -> schemas.JobOut:
    started, finished = as_utc(job.started_at), as_utc(job.finished_at)
    # Measured by the server, so that a page shows the time so far whatever the browser's clock says.
    elapsed = round(((finished or utcnow()) - started).total_seconds(), 1) if started else None
    return schemas.JobOut(id=job.id, kind=job.kind, status=job.status, message=job.message,  # type: ignore[arg-type]
                          params=job.params or {}, result=job.result, phase=job.phase, progress=job.progress,
                          elapsed_seconds=elapsed, cancel_requested=bool(job.cancel_requested), worker=job.worker,
                          created_at=as_utc(job.created_at),  # type: ignore[arg-type]
                          started_at=started, finished_at=finished, heartbeat_at=as_utc(job.heartbeat_at),
                          lease_expires_at=as_utc(job.lease_expires_at))
