"""The container's entrypoint without Docker: an empty models volume gets the shipped model, a
filled one is left alone, and a volume it cannot write to gives a clear Dutch message.

Docker builds the image from the Dockerfile; these tests run the entrypoint the image runs
(``python -m service.container``) in a subprocess with the environment the Dockerfile sets.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from service.container import SeedError, seed_models_dir
from training.artifacts import list_versions, read_active

ROOT = Path(__file__).resolve().parents[2]


def run_entrypoint(tmp_path: Path, models_dir: Path, shipped: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CODEERHULP_DATA_DIR": str(tmp_path / "data"), "CODEERHULP_MODELS_DIR": str(models_dir),
           "CODEERHULP_SHIPPED_MODELS_DIR": str(shipped)}
    return subprocess.run([sys.executable, "-m", "service.container", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_an_empty_models_volume_gets_the_shipped_model(tmp_path, trained_models_dir):
    volume = tmp_path / "volume"
    volume.mkdir()  # what an empty bind mount or a fresh named volume looks like
    shipped = read_active(trained_models_dir)
    done = run_entrypoint(tmp_path, volume, trained_models_dir, "models")
    assert done.returncode == 0, done.stderr
    assert read_active(volume) == shipped
    assert [m["version"] for m in list_versions(volume)] == [m["version"] for m in list_versions(trained_models_dir)]
    assert shipped in done.stdout  # `codeerhulp models` lists the copied version
    assert "was leeg" in done.stderr and shipped in done.stderr  # says what it did, in Dutch
    assert not list((volume / "codeerhulp").glob(".tmp-*"))

    again = run_entrypoint(tmp_path, volume, trained_models_dir, "models")  # the next start copies nothing
    assert again.returncode == 0 and "was leeg" not in again.stderr


def test_a_models_volume_with_a_version_is_left_alone(tmp_path, trained_models_dir):
    import shutil

    own = tmp_path / "own"
    shutil.copytree(trained_models_dir, own)
    version = read_active(own)
    (own / "codeerhulp" / "ACTIVE").unlink()  # even without an active version it is the group's store
    assert seed_models_dir(own, ROOT / "models") == []
    assert [m["version"] for m in list_versions(own)] == [version] and read_active(own) is None


def test_the_shipped_repository_models_seed_a_missing_folder(tmp_path):
    target = tmp_path / "not" / "yet"
    copied = seed_models_dir(target, ROOT / "models")
    assert copied and read_active(target) == read_active(ROOT / "models")
    assert seed_models_dir(tmp_path / "other", None) == []  # outside a container: nothing to do


def test_a_volume_that_cannot_take_the_model_gets_a_clear_message(tmp_path, trained_models_dir):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with pytest.raises(SeedError, match="geen model"):
        seed_models_dir(blocked / "models", trained_models_dir)
    done = run_entrypoint(tmp_path, blocked / "models", trained_models_dir, "models")
    assert done.returncode == 2 and done.stderr.startswith("codeerhulp: fout: de modelmap") and "Traceback" not in done.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere: the permission check needs a normal user")
def test_a_read_only_volume_names_the_fix(tmp_path, trained_models_dir):
    volume = tmp_path / "ro"
    volume.mkdir()
    volume.chmod(0o555)
    try:
        with pytest.raises(SeedError, match="chown -R 10001"):
            seed_models_dir(volume, trained_models_dir)
    finally:
        volume.chmod(0o755)


def test_the_dockerfile_runs_this_entrypoint_with_the_shipped_model_outside_the_volume():
    """Docker is not available where the tests run: check that the image is wired to what is tested here."""
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert 'ENTRYPOINT ["python", "-m", "service.container"]' in dockerfile
    shipped = re.search(r"CODEERHULP_SHIPPED_MODELS_DIR=(\S+)", dockerfile).group(1)
    models = re.search(r"CODEERHULP_MODELS_DIR=(\S+)", dockerfile).group(1)
    assert f"COPY models/ {shipped.removeprefix('/app/')}/" in dockerfile and shipped != models
    assert f'VOLUME ["/data", "{models}"]' in dockerfile
    assert "HEALTHCHECK" in dockerfile and "/health/ready" in dockerfile
