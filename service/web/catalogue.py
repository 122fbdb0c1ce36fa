"""The Dutch interface strings of the pages and of the messages a research lead reads (job results),
from one catalogue file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

CATALOGUE = Path(__file__).resolve().parent / "catalogue_nl.yaml"


@lru_cache
def catalogue() -> dict[str, Any]:
    return yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))
