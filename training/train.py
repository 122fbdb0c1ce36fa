"""Train a model version: frozen inputs (codebook, corpus, config) in, an immutable artifact out."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from . import paths
from .artifacts import LoadedModel, load_model, save_model
from .codebook import Codebook, load_codebook
from .data import Example, corpus_hash, load_corpus
from .encoders import CachedEncoder, make_encoder
from .estimator import CodeSuggester, ModelConfig, Predictions
from .features import Inputs
from .messages import os_reason
from .text import normalise

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    source: str = "built-in defaults"

    @classmethod
    def load(cls, path: str | Path | None = None) -> "TrainConfig":
        path = Path(path) if path else paths.DEFAULT_TRAIN_CONFIG
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ValueError(f"trainingsconfiguratie {path}: kan niet gelezen worden ({os_reason(exc)})") from None
        except yaml.YAMLError as exc:
            raise ValueError(f"trainingsconfiguratie {path}: geen geldige YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(data, dict) or set(data) - {"model"}:
            raise ValueError(f"trainingsconfiguratie {path}: verwacht een mapping met alleen de sleutel 'model'")
        try:
            source = path.resolve()
            # Relative to the project when it is the project's own config: no local paths in manifests.
            source = source.relative_to(paths.PROJECT_DIR) if source.is_relative_to(paths.PROJECT_DIR) else source
            return cls(model=ModelConfig.from_dict(data.get("model") or {}), source=str(source))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"trainingsconfiguratie {path}: {exc}") from None


def inputs_of(examples: list[Example]) -> list[Inputs]:
    return [Inputs(e.text, e.question) for e in examples]


def build_encoder(spec: str, cache_dir: str | Path | None = paths.EMBEDDING_CACHE_DIR):
    encoder = make_encoder(spec)
    return CachedEncoder(encoder, cache_dir) if encoder is not None else None


def encode_once(encoder, examples: list[Example]) -> int:
    """Encode, in one pass through the vector cache, every sentence (segment and question) that training,
    the decision rule, the evaluation and the gate will ask for: each is encoded once, and every later
    step finds it in the cache. Returns the number of distinct sentences."""
    texts = dict.fromkeys(normalise(t) for e in examples for t in (e.text, e.question) if t)
    encoder.encode(list(texts))
    return len(texts)


CONFIRMED = "confirmed"  # Example.source of a segment a coder confirmed (service retrain, bench_loop)


def sample_weights(examples: list[Example], config: ModelConfig) -> np.ndarray | None:
    """Each example's weight in training: ``config.confirmed_weight`` for confirmed segments, 1 for the
    corpus; None when all weigh the same (the fit is then exactly the unweighted one)."""
    if config.confirmed_weight == 1.0 or not any(e.source == CONFIRMED for e in examples):
        return None
    return np.array([config.confirmed_weight if e.source == CONFIRMED else 1.0 for e in examples])


def fit_model(examples: list[Example], codebook: Codebook, config: ModelConfig, encoder=None,
              calibration_from: CodeSuggester | None = None) -> CodeSuggester:
    if encoder is None and config.encoder != "none":
        encoder = build_encoder(config.encoder)
    model = CodeSuggester(config).fit(inputs_of(examples), [e.codes for e in examples], codebook, encoder,
                                      calibration_from, sample_weights(examples, config))
    if isinstance(encoder, CachedEncoder):
        encoder.save()
    return model


def load_split(codebook: Codebook, transcripts_dir: str | Path | None) -> list:
    """The coded transcript split, or [] when there is none."""
    from .transcripts import load_transcripts

    if not transcripts_dir or not any(Path(transcripts_dir).glob("*/*.txt")):
        return []
    return load_transcripts(transcripts_dir, codebook)


def set_rule_from_transcripts(model: CodeSuggester, split: list) -> Predictions | None:
    """Choose the model's decision rule and aard priors on the transcript split (other writers, real
    speech), not on the corpus' own folds. Returns the split's predictions when the rule left them as
    they are (no confidence map, no aard offsets), so scoring the split after it need not predict
    again; None otherwise, and without a detector or split."""
    from .decision import fit_decision
    from .transcripts import follows_previous

    if not model.has_no_code_detector or not split:
        return None
    examples = [t.example for t in split]
    pred = model.predictions(inputs_of(examples))
    decision = fit_decision(model, pred, examples, follows_previous(split))
    writers = len({t.writer for t in split})
    model.set_decision_rule(decision.rule.no_code_threshold, decision.rule.threshold,
                            f"chosen on the transcript split ({len(examples)} segments, {writers} writers)",
                            decision.context_weight, decision.calibration)
    if decision.aard_offsets is not None:
        model.set_aard_offsets(decision.aard_offsets)
    unchanged = decision.calibration is None and decision.aard_offsets is None
    return pred if unchanged else None


# A carried calibration is refitted once the training set has grown by more than half since the version
# whose folds fitted it: by then the heads' score scale may have moved.
CARRY_GROWTH_LIMIT = 1.5


def calibration_record(source: LoadedModel | None, config: ModelConfig, n_examples: int) -> dict | None:
    """The manifest's record of a calibration carried from ``source``, or None when it must be refitted:
    no source, other model settings, or a training set grown too far since the calibration was fitted."""
    if source is None:
        return None
    if not config.heads_match(ModelConfig.from_dict(source.manifest["config"])):
        log.info("calibration not carried from %s: its model settings differ", source.version)
        return None
    before = source.manifest.get("calibration", {})
    origin = before.get("carried_from", source.version)
    fitted_on = before.get("fitted_on") or source.manifest.get("training_data", {}).get("n_examples", 0)
    if not fitted_on or n_examples > CARRY_GROWTH_LIMIT * fitted_on:
        log.info("calibration refitted: %d examples now, %d when %s fitted it", n_examples, fitted_on, origin)
        return None
    return {"carried_from": origin, "fitted_on": fitted_on, "via": source.version}


def train_version(
    models_dir: str | Path = paths.DEFAULT_MODELS_DIR,
    codebook_path: str | Path = paths.DEFAULT_CODEBOOK,
    config: TrainConfig | None = None,
    train_dir: str | Path = paths.TRAIN_DIR,
    eval_dir: str | Path | None = paths.EVAL_DIR,
    extra_examples: list[Example] | None = None,
    extra_manifest: dict | None = None,
    cache_dir: str | Path | None = paths.EMBEDDING_CACHE_DIR,
    transcripts_dir: str | Path | None = paths.TRANSCRIPTS_DIR,
    progress: Callable[[str], None] | None = None,
    also_encode: list[Example] | None = None,
    calibration_from: LoadedModel | None = None,
) -> LoadedModel:
    """Train on the corpus (plus confirmed examples), evaluate on the held-out split, save a version.

    ``progress`` is told each step as it starts: "vectors" (with an encoder), "training", "rule", "evaluating",
    "saving" (a service job shows them to the research lead; it may also raise to stop the training there).
    ``also_encode``: segments a later step will score (the gate's held-out confirmed segments), encoded with
    the rest; the returned model keeps the training's cached encoder, so scoring them encodes nothing.
    ``calibration_from``: a version (the active one, at a retrain) whose factor calibrations are carried
    over, so the heads are fitted once each instead of once per calibration fold; the manifest says so.
    """
    from .evaluate import evaluate_model, evaluate_on_transcripts  # evaluate imports train's helpers

    step = progress or (lambda _phase: None)
    config = config or TrainConfig.load()
    codebook = load_codebook(codebook_path)
    examples = load_corpus(train_dir, codebook) + list(extra_examples or [])
    held_out = load_corpus(eval_dir, codebook) if eval_dir and Path(eval_dir).is_dir() else []
    split = load_split(codebook, transcripts_dir)
    encoder = build_encoder(config.model.encoder, cache_dir) if config.model.encoder != "none" else None
    started = time.perf_counter()
    if encoder is not None:
        step("vectors")
        encode_once(encoder, examples + held_out + [t.example for t in split] + list(also_encode or []))
    calibration = calibration_record(calibration_from, config.model, len(examples))
    if calibration is None:
        calibration_from = None
    step("training")
    model = fit_model(examples, codebook, config.model, encoder,
                      calibration_from.model if calibration_from is not None else None)
    if split and model.has_no_code_detector:
        step("rule")
    split_pred = set_rule_from_transcripts(model, split)
    seconds = time.perf_counter() - started
    metrics: dict = {"train_seconds": round(seconds, 1), "n_train": len(examples)}
    step("evaluating")
    if held_out:
        metrics["held_out"] = evaluate_model(model, held_out)["summary"]
    if split:  # the same split set the rule: comparable between versions, optimistic in absolute terms
        metrics["transcripts"] = evaluate_on_transcripts(model, split, split_pred)["summary"]
    if isinstance(encoder, CachedEncoder):
        encoder.save()
    manifest = {
        "codebook": {"id": codebook.id, "version": codebook.version, "sha256": codebook.sha256},
        "training_data": {
            "sha256": corpus_hash(examples),
            "n_examples": len(examples),
            "n_confirmed": len(extra_examples or []),
            "corpus": str(Path(train_dir).name),
        },
        "config": config.model.to_dict(),
        "config_source": config.source,
        # Where the factor heads' calibration came from: their own out-of-fold folds, or a version's.
        "calibration": calibration or {"out_of_fold": config.model.calibration_cv, "fitted_on": len(examples)},
        "metrics": metrics,
        **(extra_manifest or {}),
    }
    step("saving")
    path = save_model(model, models_dir, manifest)
    loaded = load_model(models_dir, path.name)
    if encoder is not None:
        loaded.model.encoder_ = encoder  # with its cache: the gate's sentences are in it already
    return loaded
