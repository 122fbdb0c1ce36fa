"""Suggestions for segments in the stable output shape shared by the CLI, batch runs and the API.

One record per segment: ``{"id", "text", "codes": [{"factor", "richting", "aard", "confidence",
...}], "model_version", "codebook_version"}``, codes sorted by confidence. The record may carry a
``meta`` object (speaker, line numbers, the interviewer's question); consumers ignore what they do
not know.
"""

from __future__ import annotations

import logging
from pathlib import Path

from . import paths
from .artifacts import ArtifactError, LoadedModel, list_versions, load_model, read_active, set_active
from .features import Inputs
from .segmenting import Segment

log = logging.getLogger(__name__)

BATCH = 256  # segments per encoder call: bounded memory on a whole folder


def suggest_segments(loaded: LoadedModel, segments: list[Segment], min_confidence: float | None = None) -> list[dict]:
    records = []
    for start in range(0, len(segments), BATCH):
        chunk = segments[start:start + BATCH]
        suggestions, no_code_p = loaded.model.suggest([Inputs(s.text, s.question) for s in chunk], min_confidence,
                                                      with_no_code=True)
        for pos, (seg, codes) in enumerate(zip(chunk, suggestions)):
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
            if no_code_p is not None:  # the detector's P(nothing to code here)
                record["no_code_confidence"] = round(float(no_code_p[pos]), 4)
            if meta:
                record["meta"] = meta
            records.append(record)
    return records


def active_or_default(models_dir: str | Path = paths.DEFAULT_MODELS_DIR) -> str | None:
    """The ACTIVE version, else the newest readable version (e.g. the shipped one), else None."""
    active = read_active(models_dir)
    if active:
        return active
    versions = [m["version"] for m in list_versions(models_dir) if "error" not in m]
    return versions[-1] if versions else None


def ensure_model(models_dir: str | Path = paths.DEFAULT_MODELS_DIR, version: str | None = None,
                 codebook_path: str | Path = paths.DEFAULT_CODEBOOK, announce=log.warning,
                 config_path: str | Path | None = None, train_dir: str | Path = paths.TRAIN_DIR,
                 eval_dir: str | Path | None = paths.EVAL_DIR) -> LoadedModel:
    """Load the requested or active model; on a first run with no model at all, train one."""
    if version:
        return load_model(models_dir, version)
    chosen = active_or_default(models_dir)
    if chosen:
        try:
            return load_model(models_dir, chosen)
        except ArtifactError as exc:
            announce(f"{exc}; training a new model instead")
    else:
        announce(f"no trained model in {models_dir}: training the default model once (a few minutes)...")
    from .train import TrainConfig, train_version

    loaded = train_version(models_dir=models_dir, codebook_path=codebook_path, config=TrainConfig.load(config_path),
                           train_dir=train_dir, eval_dir=eval_dir)
    set_active(models_dir, loaded.version)
    announce(f"trained and activated model {loaded.version}")
    return loaded
