"""The README's sample output is what the README's first command really prints."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .test_cli import run

ROOT = Path(__file__).resolve().parents[2]


def shortened(sample: str, real: str) -> bool:
    """The README shortens long texts with ' ...'; the rest must be the real text's start."""
    return real.startswith(sample.removesuffix(" ...")) if sample.endswith(" ...") else sample == real


def test_the_readme_sample_is_what_suggest_prints():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    sample = json.loads(re.search(r"```json\n(.*?)\n```", readme, re.S).group(1))
    done = run(["suggest", ROOT / "examples" / "startinterview_L7.txt"])  # the shipped model and codebook
    assert done.returncode == 0, done.stderr
    real = {r["id"]: r for r in map(json.loads, done.stdout.splitlines())}[sample["id"]]
    assert set(sample) == set(real)
    assert shortened(sample["text"], real["text"])
    assert (sample["model_version"], sample["codebook_version"]) == (real["model_version"], real["codebook_version"])
    # Codes, poles and directions exactly; confidences to two decimals (int8 kernels differ a little by CPU).
    assert [(c["factor"], c["richting"], c["aard"]) for c in sample["codes"]] == \
        [(c["factor"], c["richting"], c["aard"]) for c in real["codes"]]
    for mine, theirs in zip(sample["codes"], real["codes"]):
        for key in ("confidence", "richting_confidence", "aard_confidence"):
            assert abs(mine[key] - theirs[key]) < 0.02, key
    assert abs(sample["no_code_confidence"] - real["no_code_confidence"]) < 0.02
    assert {k: v for k, v in sample["meta"].items() if k != "question"} == \
        {k: v for k, v in real["meta"].items() if k != "question"}
    assert shortened(sample["meta"]["question"], real["meta"]["question"])


def test_the_readme_console_samples_are_what_the_commands_print():
    """Every ```console block: each '$ codeerhulp ...' line is run, and what it prints (standard
    output and error) must be the lines below it."""
    import shlex

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```console\n(.*?)\n```", readme, re.S)
    assert blocks
    for block in blocks:
        for command, expected in re.findall(r"^\$ codeerhulp (.*)\n((?:(?!\$ ).*\n?)*)", block + "\n", re.M):
            done = run(shlex.split(command))
            assert done.returncode != 0 or "fout" not in expected
            assert (done.stdout + done.stderr).rstrip("\n") == expected.rstrip("\n"), command
