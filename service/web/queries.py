"""Read-only queries the pages need and the JSON API does not offer: progress per coder, the
review order, and agreement over model versions. Like repository.py, each takes a Session."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from training.agreement import agreement_report

from .. import repository, schemas
from ..tables import Decision, Segment, Suggestion, User
from ..visibility import Viewer

# "leerzaam" needs the served model (ModelRegistry.most_instructive_first); the others only stored data.
ORDERS = ("document", "zekerheid", "onenigheid", "leerzaam")


def progress(session: Session, document_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per document, per coder: how many segments have a current decision (any action)."""
    if not document_ids:
        return {}
    rows = session.execute(
        select(Segment.document_id, User.name, func.count())
        .join(Decision, Decision.segment_id == Segment.id).join(User, User.id == Decision.coder_id)
        .where(Segment.document_id.in_(document_ids), Decision.is_current)
        .group_by(Segment.document_id, User.name).order_by(User.name))
    out: dict[int, dict[str, int]] = defaultdict(dict)
    for document_id, name, n in rows:
        out[document_id][name] = n
    return dict(out)


def _code_set(codes: Sequence[Any]) -> frozenset[tuple[str, str, str]]:
    return frozenset((c.factor, c.richting, c.aard) for c in codes)


def top_confidence(segment: schemas.SegmentOut) -> float:
    # No stored suggestion means no code reached the model's threshold: the model was unsure of all.
    return max((s.confidence or 0.0 for s in segment.suggestions), default=0.0)


def disagreement(segment: schemas.SegmentOut) -> int:
    """How many different answers the model and the coders gave, minus one (0 = all agree).

    A rejection counts as its own answer: it says the model was wrong, so it disagrees with it.
    """
    answers: set[Any] = {_code_set(segment.suggestions)}
    for d in segment.decisions:
        answers.add("reject" if d.action == "reject" else _code_set(d.codes))
    return len(answers) - 1


def order_segments(segments: Sequence[schemas.SegmentOut], order: str) -> list[schemas.SegmentOut]:
    """Document order, lowest top confidence first, or most disagreement first (then least confident).

    Both uncertain orders put the segments where a decision teaches the model most up front.
    """
    if order == "zekerheid":
        return sorted(segments, key=lambda s: (top_confidence(s), s.ordinal))
    if order == "onenigheid":
        return sorted(segments, key=lambda s: (-disagreement(s), top_confidence(s), s.ordinal))
    return sorted(segments, key=lambda s: s.ordinal)


def _model_triples_by_version(session: Session, document_id: int | None
                              ) -> dict[str, list[tuple[str, int, list[tuple[str, str, str]]]]]:
    """For each model version that suggested documents: its codes on every segment of its latest
    run per document, as ``model`` triples. Segments with no stored code count as no code."""
    query = (select(Segment.document_id, Suggestion.run, Suggestion.model_version, Suggestion.segment_id,
                    Suggestion.factor, Suggestion.richting, Suggestion.aard, Suggestion.created_at)
             .join(Segment, Segment.id == Suggestion.segment_id))
    seg_query = select(Segment.document_id, Segment.id)
    if document_id is not None:
        query = query.where(Segment.document_id == document_id)
        seg_query = seg_query.where(Segment.document_id == document_id)
    run_version: dict[tuple[int, int], str] = {}
    codes: dict[tuple[int, int], list[tuple[str, str, str]]] = defaultdict(list)  # (run, segment) -> codes
    first_seen: dict[str, Any] = {}
    for doc, run, version, segment_id, factor, richting, aard, created in session.execute(query):
        run_version[(doc, run)] = version
        codes[(run, segment_id)].append((factor, richting, aard))
        if version not in first_seen or created < first_seen[version]:
            first_seen[version] = created
    segments_of: dict[int, list[int]] = defaultdict(list)
    for doc, segment_id in session.execute(seg_query):
        segments_of[doc].append(segment_id)
    out: dict[str, list[tuple[str, int, list[tuple[str, str, str]]]]] = {}
    for version in sorted(first_seen, key=lambda v: first_seen[v]):
        triples = []
        for doc, segment_ids in segments_of.items():
            runs = [run for (d, run), v in run_version.items() if d == doc and v == version]
            if runs:
                latest = max(runs)
                triples.extend((repository.MODEL_CODER, sid, codes.get((latest, sid), [])) for sid in segment_ids)
        out[version] = triples
    return out


def agreement_over_versions(session: Session, viewer: Viewer, document_id: int | None = None) -> list[dict[str, Any]]:
    """Agreement on factors between the coders' current decisions (those the viewer may see) and
    each model version, oldest first.

    Each item: version, alpha (all coders and the model), kappa per coder against the model, alpha
    per factor (present or not) with its n, and the number of shared segments.
    """
    humans = repository.all_coder_names(session, viewer)
    if not humans:
        return []
    human_triples = repository.agreement_triples(session, humans, viewer, document_id)
    out = []
    for version, model_triples in _model_triples_by_version(session, document_id).items():
        # Only the values are drawn over versions: no intervals, so the page stays quick with many versions.
        report = agreement_report(human_triples + model_triples, ("factor",), resamples=0)["dimensions"]["factor"]
        kappas = {}
        for pair in report.get("kappa_pairs", []):
            a, b = pair["coders"]
            if repository.MODEL_CODER in (a, b):
                kappas[b if a == repository.MODEL_CODER else a] = pair["kappa"]
        out.append({"version": version, "alpha": report.get("alpha_nominal"), "n_units": report.get("n_units", 0),
                    "kappa": kappas, "per_factor": report.get("binary_alpha", {})})
    return out
