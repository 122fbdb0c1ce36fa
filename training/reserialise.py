"""Write a fitted model again, in the current file layout, as a NEW version of the same model.

Versions are immutable, so a model file in an older layout (for example vocabularies as skops dicts, slow
to load) is never rewritten: the same fitted model is saved as a new version whose manifest keeps the
original's training record (codebook, training data, config, metrics) and says, under ``provenance``,
which version it re-serialises and on which segments its predictions were checked to be identical.

    python -m training.reserialise [VERSION] [--activate]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import skops.io as sio

from . import paths
from .artifacts import (ArtifactError, LoadedModel, MODEL_NAME, load_model, read_active, save_model, set_active,
                        version_dir)
from .codebook import load_codebook
from .data import load_corpus
from .encoders import CachedEncoder
from .estimator import CodeSuggester
from .features import Inputs
from .segmenting import read_file
from .train import inputs_of

log = logging.getLogger(__name__)

EXAMPLE_TRANSCRIPT = paths.PROJECT_DIR / "examples" / "startinterview_L7.txt"
CORPUS_SAMPLE_STEP = 20  # every 20th training segment: ~300 segments of every factor
# What save_model writes itself; everything else of the original manifest is carried over unchanged.
WRITTEN_BY_SAVE = ("name", "version", "created", "encoder", "threshold", "decision_rule", "factors",
                   "untrained_factors", "libraries", "files")


def verification_inputs(codebook_path: str | Path = paths.DEFAULT_CODEBOOK,
                        train_dir: str | Path = paths.TRAIN_DIR) -> tuple[list[Inputs], str]:
    """The example transcript's segments and a fixed sample of the training corpus, with a description."""
    segments = read_file(EXAMPLE_TRANSCRIPT).segments
    corpus = load_corpus(train_dir, load_codebook(codebook_path))[::CORPUS_SAMPLE_STEP]
    inputs = [Inputs(s.text, s.question) for s in segments] + inputs_of(corpus)
    described = (f"{len(segments)} segments of examples/{EXAMPLE_TRANSCRIPT.name} and {len(corpus)} of the "
                 f"training corpus (every {CORPUS_SAMPLE_STEP}th)")
    return inputs, described


def prediction_differences(a: CodeSuggester, b: CodeSuggester, inputs: list[Inputs]) -> dict:
    """How far two models' outputs lie apart on the inputs: the largest absolute difference of each head's
    probabilities, and the number of segments whose suggestions (codes, richting, aard) differ."""
    pa, pb = a.predictions(inputs), b.predictions(inputs)
    largest = {}
    for head, x, y in zip(pa._fields, pa, pb):
        if (x is None) != (y is None) or (x is not None and x.shape != y.shape):
            raise ArtifactError(f"the two models disagree on the shape of {head}")
        largest[head] = 0.0 if x is None else float(np.max(np.abs(x - y), initial=0.0))
    codes = lambda rows: [[(s.factor, s.richting, s.aard) for s in row] for row in rows]  # noqa: E731
    differing = sum(r != s for r, s in zip(codes(a.suggest_from(pa)), codes(b.suggest_from(pb))))
    return {"max_abs_difference": largest, "segments_with_other_suggestions": differing}


def _identical(diff: dict) -> bool:
    return diff["segments_with_other_suggestions"] == 0 and not any(diff["max_abs_difference"].values())


def reserialise(models_dir: str | Path, version: str, name: str = MODEL_NAME,
                inputs: list[Inputs] | None = None, described: str | None = None) -> LoadedModel:
    """Save ``version``'s fitted model again as a new version, after checking that the written form
    predicts exactly what the original does; raises ArtifactError (and keeps nothing) when it does not."""
    if inputs is None:
        inputs, described = verification_inputs()
    original = load_model(models_dir, version, name)
    if original.model.encoder_ is not None:  # both models below share it: each text is encoded once
        original.model.encoder_ = CachedEncoder(original.model.encoder_)
    # The round trip the new file will make, checked before anything is written.
    state = sio.loads(sio.dumps(original.model.state()))
    copy = CodeSuggester.from_state(state, original.model.encoder_)
    diff = prediction_differences(original.model, copy, inputs)
    if not _identical(diff):
        raise ArtifactError(f"model {name}/{version}: the re-serialised model predicts differently ({diff})")
    manifest = {k: v for k, v in original.manifest.items() if k not in WRITTEN_BY_SAVE}
    manifest["provenance"] = {
        "reserialised_from": version,
        "why": "the same fitted model written again in the current file layout (vocabularies as arrays, "
               "so the file loads and saves in well under a second); nothing was refitted: training "
               "data, config and metrics are the original's",
        "verified_on": described or f"{len(inputs)} segments",
        "verified_segments": len(inputs),
        "identical_predictions": True,
        "original_model_sha256": original.manifest["files"]["model.skops"],
    }
    path = save_model(copy, models_dir, manifest, name)
    saved = load_model(models_dir, path.name, name)
    saved.model.encoder_ = original.model.encoder_  # one encoder for both: the check is about the file
    diff = prediction_differences(original.model, saved.model, inputs)
    if not _identical(diff):
        # Never activated or served: a version that is not what its manifest says must not stay.
        shutil.rmtree(version_dir(models_dir, path.name, name), ignore_errors=True)
        raise ArtifactError(f"model {name}/{version}: the saved copy predicts differently ({diff})")
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.reserialise",
                                     description="Schrijf een getraind model opnieuw weg als nieuwe versie, "
                                                 "in het huidige bestandsformaat, met dezelfde voorspellingen.")
    parser.add_argument("version", nargs="?", help="de versie (standaard: de actieve)")
    parser.add_argument("--models-dir", default=str(paths.DEFAULT_MODELS_DIR), help="map met de modellen")
    parser.add_argument("--activate", action="store_true", help="maak de nieuwe versie actief")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    version = args.version or read_active(args.models_dir)
    if not version:
        print(f"Geen actief model in {args.models_dir}: noem een versie.", file=sys.stderr)
        return 2
    try:
        saved = reserialise(args.models_dir, version)
    except ArtifactError as exc:
        print(f"Niet gelukt: {exc}", file=sys.stderr)
        return 1
    print(f"Versie {saved.version} geschreven: hetzelfde model als {version}, "
          f"dezelfde voorspellingen op {saved.manifest['provenance']['verified_on']}.")
    if args.activate:
        set_active(args.models_dir, saved.version)
        print(f"Versie {saved.version} is nu actief.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
