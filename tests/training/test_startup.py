"""Start-up of the command line: what it imports, and that making it fast changed no output."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Each of these takes from a few tenths of a second (SQLAlchemy) to ~3 s (skops, which imports all of
# scikit-learn); none is needed to print help or to define the CLI's errors.
HEAVY = ("fastapi", "sqlalchemy", "matplotlib", "skops", "sklearn", "pandas", "spacy", "onnxruntime")


def imported_after(code: str) -> set[str]:
    """Top-level packages in sys.modules after running ``code`` in a fresh interpreter."""
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("code", [
    "import service.cli",
    "import service.cli\ntry:\n    service.cli.main(['--help'])\nexcept SystemExit:\n    pass",
    "import service.cli\ntry:\n    service.cli.main(['suggest', '--help'])\nexcept SystemExit:\n    pass",
    "from training.artifacts import ArtifactError, read_manifest, list_versions",
])
def test_help_and_the_cli_module_import_nothing_heavy(code):
    loaded = imported_after(code)
    assert not loaded & set(HEAVY), f"imported: {sorted(loaded & set(HEAVY))}"
