"""The container's entrypoint: ``python -m service.container COMMAND ...`` runs ``codeerhulp COMMAND ...``
after giving an empty models volume the model the image ships.

A volume mounted at the models dir (``-v "$PWD/models:/app/models"`` with an empty host folder, or a
fresh named volume) hides whatever the image holds there, so the service would start without a
model. The image therefore keeps its shipped versions outside the volume, in
``CODEERHULP_SHIPPED_MODELS_DIR``, and this entrypoint copies them into the models dir when that
holds no model version yet. A models dir that holds any version is never touched: it is the
research group's store, with their retrained versions and their choice of the active one.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import sys
from pathlib import Path

from training.artifacts import MODEL_NAME, list_versions, read_active, set_active

from . import cli
from .settings import get_settings

log = logging.getLogger(__name__)


class SeedError(Exception):
    """The models dir is empty and the shipped versions cannot be copied into it."""


def seed_models_dir(models_dir: Path, shipped_dir: Path | None, name: str = MODEL_NAME) -> list[str]:
    """Copy the shipped versions (and which one is active) into a models dir without any version.

    Returns the versions copied; [] when there was nothing to do. Each version is copied to a
    hidden temporary folder first and renamed into place, so a second container starting on the
    same volume never sees half a version.
    """
    if shipped_dir is None or not shipped_dir.is_dir() or list_versions(models_dir, name):
        return []
    shipped = [m["version"] for m in list_versions(shipped_dir, name) if "error" not in m]
    if not shipped:
        return []
    target_root = models_dir / name
    copied = []
    try:
        target_root.mkdir(parents=True, exist_ok=True)
        for version in shipped:
            target = target_root / version
            if target.exists():
                continue
            tmp = target_root / f".tmp-{secrets.token_hex(4)}"
            shutil.copytree(shipped_dir / name / version, tmp)
            try:
                tmp.rename(target)
            except OSError:  # another container got there first
                shutil.rmtree(tmp, ignore_errors=True)
                continue
            copied.append(version)
        active = read_active(shipped_dir, name)
        if active and read_active(models_dir, name) is None:
            set_active(models_dir, active, name)  # verifies the copied files against the manifest first
    except OSError as exc:  # not writable for the container's user, or not a folder at all
        raise SeedError(
            f"de modelmap {models_dir} bevat geen model en het meegeleverde model kon er niet in worden gezet "
            f"({exc.strerror or exc}): geef gebruiker 10001 schrijfrecht op de map die je koppelt "
            f"(chown -R 10001 MAP), of koppel een map waarin al een model staat") from exc
    log.info("copied the shipped model versions %s into the empty models dir %s", copied, models_dir)
    return copied


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    try:
        copied = seed_models_dir(settings.models_dir, settings.shipped_models_dir)
    except SeedError as exc:
        print(f"codeerhulp: fout: {exc}", file=sys.stderr)
        return 2
    if copied:
        print(f"codeerhulp: de modelmap {settings.models_dir} was leeg; het meegeleverde model is erin gezet "
              f"({', '.join(copied)})", file=sys.stderr)
    return cli.main(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
