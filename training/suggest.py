"""Suggestions for segments in the stable output shape shared by the CLI, batch runs and the API.

One record per segment: ``{"id", "text", "codes": [{"factor", "richting", "aard", "confidence",
...}], "model_version", "codebook_version"}``, codes sorted by confidence. The record may carry
``no_code_confidence`` (the detector's P(nothing to code)) and a ``meta`` object (speaker, line
numbers, the interviewer's question); consumers ignore what they do not know.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from . import paths
# active_or_default moved to artifacts (the light start of a command needs it); callers still find it here.
from .artifacts import ArtifactError, LoadedModel, active_or_default, list_versions, load_model  # noqa: F401
from .estimator import Predictions
from .features import Inputs
from .memory import ConfirmationMemory
from .messages import in_dutch
from .segmenting import Segment

log = logging.getLogger(__name__)

BATCH = 256  # segments per encoder call: bounded memory on a whole folder


def follows_previous(segments: list[Segment]) -> list[bool]:
    """Whether each segment continues the previous one: the same speaker's next interview turn."""
    return [i > 0 and seg.kind == "interview" == segments[i - 1].kind and seg.speaker is not None
            and seg.speaker == segments[i - 1].speaker for i, seg in enumerate(segments)]


def predict_segments(model, inputs: list[Inputs]) -> Predictions:
    """Every head's scores for the inputs, in chunks of ``BATCH`` (bounded memory on a whole folder).

    Each row depends only on its own input (the encoder runs texts one by one, see
    ``training/e5_onnx.py``), so scores of several requests computed together are the scores each
    would get alone: what lets the service batch requests of different clients."""
    parts = [model.predictions(inputs[start:start + BATCH]) for start in range(0, len(inputs), BATCH)]
    if not parts:
        return model.predictions([])
    if len(parts) == 1:
        return parts[0]
    return concat_predictions(parts)


def concat_predictions(parts: list[Predictions]) -> Predictions:
    return Predictions(*(None if parts[0][k] is None else np.concatenate([p[k] for p in parts]) for k in range(4)))


def slice_predictions(pred: Predictions, start: int, stop: int) -> Predictions:
    return Predictions(*(None if a is None else a[start:stop] for a in pred))


def segment_inputs(segments: list[Segment]) -> list[Inputs]:
    return [Inputs(s.text, s.question) for s in segments]


def records_from(loaded: LoadedModel, segments: list[Segment], pred: Predictions, min_confidence: float | None = None,
                 memory: ConfirmationMemory | None = None, with_rule_codes: bool = False) -> list[dict]:
    """The records of one document's segments from their scores: the decision runs over the whole
    document, so a turn's context never stops at a chunk (or batch) boundary; see ``suggest_segments``."""
    model = loaded.model
    pred = model.in_context(pred, follows_previous(segments))
    shares = None
    if memory is not None and memory.size:
        pred, shares = memory.blend(pred, model.memory_vectors([s.text for s in segments]))
    suggestions = model.suggest_from(pred, min_confidence)
    by_rule = model.suggest_from(pred) if with_rule_codes and min_confidence is not None else None
    records = []
    for pos, (seg, codes) in enumerate(zip(segments, suggestions)):
        meta = {k: v for k, v in (("speaker", seg.speaker), ("respondent", seg.respondent),
                                  ("question", seg.question), ("line_start", seg.line_start),
                                  ("line_end", seg.line_end)) if v is not None}
        record = {
            "id": seg.id,
            "text": seg.text,
            "codes": [c.to_dict() for c in codes],
            "model_version": loaded.version,
            "codebook_version": loaded.codebook_version,
        }
        if shares is not None:
            record["memory_state"] = memory.state
            record["memory_weight"] = round(float(shares[pos]), 4)
        if by_rule is not None:
            record["rule_codes"] = [c.to_dict() for c in by_rule[pos]]
        if pred.no_code_p is not None:  # the detector's P(nothing to code here)
            record["no_code_confidence"] = round(float(pred.no_code_p[pos]), 4)
        if meta:
            record["meta"] = meta
        records.append(record)
    return records


def suggest_segments(loaded: LoadedModel, segments: list[Segment], min_confidence: float | None = None,
                     memory: ConfirmationMemory | None = None, with_rule_codes: bool = False) -> list[dict]:
    """Records for the segments of one document. With ``memory`` (the coders' confirmed segments,
    ``training.memory``) the scores are blended with those of close confirmed segments, and each
    record names the memory state and its share (``memory_weight``) beside the model version.

    ``with_rule_codes``: when ``min_confidence`` replaces the model's own decision rule, each record
    also gets ``rule_codes``, the codes the model would suggest by its rule, so agreement can judge
    the model on what it suggests rather than on every code above an arbitrary cut.
    """
    if not segments:
        return []
    pred = predict_segments(loaded.model, segment_inputs(segments))
    return records_from(loaded, segments, pred, min_confidence, memory, with_rule_codes)


def ensure_model(models_dir: str | Path = paths.DEFAULT_MODELS_DIR, version: str | None = None,
                 announce=log.warning) -> LoadedModel:
    """The requested version, else the active one; never trains or activates anything.

    When the active version fails its checks, the newest other version that passes them serves,
    with a warning that says so; when none does, the error says what to run."""
    if version:
        return load_model(models_dir, version)
    chosen = active_or_default(models_dir)
    if not chosen:
        raise ArtifactError(f"no trained model in {models_dir}: run 'codeerhulp train' first (a few minutes)",
                            dutch=f"geen getraind model in {models_dir}: draai eerst 'codeerhulp train' (een paar "
                                  "minuten)")
    try:
        return load_model(models_dir, chosen)
    except ArtifactError as exc:
        problem = exc
    for manifest in reversed(list_versions(models_dir)):
        other = manifest.get("version")
        if not other or other == chosen or "error" in manifest:
            continue
        try:
            loaded = load_model(models_dir, other)
        except ArtifactError:
            continue
        # Said to the person running the command (the CLI passes its own announce).
        announce(f"{in_dutch(problem)}; daarom stelt de laatste goede versie {other} voor (maak die actief met "
                 f"'codeerhulp models --activate {other}')")
        return loaded
    raise ArtifactError(f"{problem}; no other version passes its checks: run 'codeerhulp train', "
                        "or restore the models folder",
                        dutch=f"{in_dutch(problem)}; geen andere versie doorstaat de controles: draai 'codeerhulp "
                              "train', of zet de modelmap terug")
