"""The codebook as data: load and validate the researchers' YAML codebook.

The codebook is owned by researchers, not by code. Every error names the code (factor id) and
the field so the person editing the YAML can fix it without reading Python; a codebook that does not
load is said in Dutch, a code the API refuses in English with a Dutch text beside it (training.messages).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .messages import UserError, os_reason

RICHTING_VALUES = ("PO", "SO", "-")
AARD_VALUES = ("+", "-")
STATUS_VALUES = ("active", "retired")


class CodebookError(UserError, ValueError):
    """The codebook YAML is not valid; the message names the code and field."""


@dataclass(frozen=True)
class Group:
    id: str
    label: str
    description: str = ""


@dataclass(frozen=True)
class Factor:
    id: str
    group: str
    label: str
    definition: str
    richting: tuple[str, ...]
    poles: dict[str, str]
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    indicators: tuple[str, ...] = ()
    status: str = "active"

    @property
    def has_direction(self) -> bool:
        """True when a coder must choose between PO and SO for this factor."""
        return len(self.richting) > 1

    @property
    def default_richting(self) -> str:
        return self.richting[0]

    def description_text(self) -> str:
        """The factor's meaning as one Dutch text, used to embed the code itself."""
        parts = [self.label + ".", self.definition, *self.include, *self.indicators]
        return " ".join(p.strip() for p in parts if p and p.strip())


@dataclass(frozen=True)
class Codebook:
    id: str
    version: str
    language: str
    title: str
    description: str
    groups: tuple[Group, ...]
    factors: tuple[Factor, ...]
    richting_labels: dict[str, str] = field(default_factory=dict)
    sha256: str = ""

    @property
    def active_factors(self) -> tuple[Factor, ...]:
        return tuple(f for f in self.factors if f.status == "active")

    @property
    def factor_ids(self) -> tuple[str, ...]:
        return tuple(f.id for f in self.active_factors)

    def factor(self, factor_id: str) -> Factor:
        for f in self.factors:
            if f.id == factor_id:
                return f
        raise KeyError(f"unknown factor {factor_id!r} in codebook {self.id} {self.version}")

    def group(self, group_id: str) -> Group:
        for g in self.groups:
            if g.id == group_id:
                return g
        raise KeyError(f"unknown group {group_id!r}")

    def validate_code(self, factor: str, richting: str, aard: str) -> None:
        """Raise CodebookError when (factor, richting, aard) is not a code this codebook allows."""
        try:
            f = self.factor(factor)
        except KeyError as exc:
            raise CodebookError(str(exc.args[0]), dutch=f"onbekende factor {factor!r} in codeboek {self.id} "
                                                         f"{self.version}") from None
        if richting not in f.richting:
            raise CodebookError(
                f"code {factor}: richting {richting!r} not allowed (allowed: {', '.join(f.richting)})",
                dutch=f"code {factor}: richting {richting!r} is niet toegestaan (wel: {' of '.join(f.richting)})",
            )
        if aard not in AARD_VALUES:
            raise CodebookError(f"code {factor}: aard {aard!r} must be '+' or '-'",
                                dutch=f"code {factor}: aard {aard!r} moet '+' of '-' zijn")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "language": self.language,
            "title": self.title,
            "description": self.description,
            "richting": dict(self.richting_labels),
            "groups": [g.__dict__ for g in self.groups],
            "factors": [
                {
                    "id": f.id,
                    "group": f.group,
                    "label": f.label,
                    "definition": f.definition,
                    "include": list(f.include),
                    "exclude": list(f.exclude),
                    "richting": list(f.richting),
                    "aard": dict(f.poles),
                    "indicators": list(f.indicators),
                    "status": f.status,
                }
                for f in self.factors
            ],
        }


# How a YAML value's type is named to the researcher who wrote it.
_TYPE_NAMES = {str: "tekst", int: "getal", float: "getal", bool: "ja/nee", list: "lijst", dict: "mapping"}


def _require(mapping: dict, key: str, where: str, kind: type | tuple = str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping or mapping[key] in (None, ""):
        raise CodebookError(f"{where}: veld {key!r} ontbreekt")
    value = mapping[key]
    if not isinstance(value, kind):
        kind_name = _TYPE_NAMES.get(type(value), type(value).__name__)
        raise CodebookError(f"{where}: veld {key!r} heeft het verkeerde type ({kind_name})")
    return value


def _string_list(mapping: dict, key: str, where: str) -> tuple[str, ...]:
    value = mapping.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise CodebookError(f"{where}: veld {key!r} moet een lijst niet-lege teksten zijn")
    return tuple(v.strip() for v in value)


def parse_codebook(data: Any, sha256: str = "") -> Codebook:
    """Validate a parsed YAML document and build a Codebook."""
    if not isinstance(data, dict):
        raise CodebookError("codeboek: het bestand moet bovenaan een mapping (sleutel: waarde) bevatten")
    where = "codeboek"
    cb_id = _require(data, "id", where)
    version = str(_require(data, "version", where, (str, int, float)))
    groups_raw = _require(data, "groups", where, list)
    factors_raw = _require(data, "factors", where, list)

    groups = []
    for i, g in enumerate(groups_raw):
        gwhere = f"groep #{i + 1}"
        gid = _require(g, "id", gwhere)
        groups.append(Group(id=gid, label=_require(g, "label", f"groep {gid}"), description=g.get("description", "")))
    group_ids = {g.id for g in groups}
    if len(group_ids) != len(groups):
        raise CodebookError("codeboek: twee groepen hebben hetzelfde id")

    richting_labels = {}
    for key, value in (data.get("richting") or {}).items():
        if str(key) not in RICHTING_VALUES:
            raise CodebookError(f"codeboek: richting {key!r} is niet een van {', '.join(RICHTING_VALUES)}")
        richting_labels[str(key)] = value.get("label", str(key)) if isinstance(value, dict) else str(value)

    factors: list[Factor] = []
    seen: set[str] = set()
    for i, f in enumerate(factors_raw):
        fid = _require(f, "id", f"factor #{i + 1}")
        fwhere = f"code {fid}"
        if fid in seen:
            raise CodebookError(f"{fwhere}: het id komt twee keer voor")
        seen.add(fid)
        group = _require(f, "group", fwhere)
        if group not in group_ids:
            raise CodebookError(f"{fwhere}: veld 'group' noemt een onbekende groep {group!r}")
        richting = _require(f, "richting", fwhere, list)
        for r in richting:
            if r not in RICHTING_VALUES:
                raise CodebookError(f"{fwhere}: veld 'richting' bevat {r!r}; toegestaan zijn PO, SO, -")
        if "-" in richting and len(richting) > 1:
            raise CodebookError(f"{fwhere}: veld 'richting' combineert '-' met PO/SO")
        poles = _require(f, "aard", fwhere, dict)
        if set(map(str, poles)) != set(AARD_VALUES):
            raise CodebookError(f"{fwhere}: veld 'aard' moet precies de polen '+' en '-' noemen")
        status = f.get("status", "active")
        if status not in STATUS_VALUES:
            raise CodebookError(f"{fwhere}: veld 'status' moet active of retired zijn, niet {status!r}")
        factors.append(
            Factor(
                id=fid,
                group=group,
                label=_require(f, "label", fwhere),
                definition=_require(f, "definition", fwhere),
                richting=tuple(richting),
                poles={str(k): str(v) for k, v in poles.items()},
                include=_string_list(f, "include", fwhere),
                exclude=_string_list(f, "exclude", fwhere),
                indicators=_string_list(f, "indicators", fwhere),
                status=status,
            )
        )
    if not any(f.status == "active" for f in factors):
        raise CodebookError("codeboek: geen actieve codes")
    return Codebook(
        id=cb_id,
        version=version,
        language=str(data.get("language", "nl")),
        title=str(data.get("title", cb_id)),
        description=str(data.get("description", "")),
        groups=tuple(groups),
        factors=tuple(factors),
        richting_labels=richting_labels,
        sha256=sha256,
    )


def load_codebook(path: str | Path) -> Codebook:
    """Read and validate a codebook YAML file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CodebookError(f"codeboek {path}: kan niet gelezen worden ({os_reason(exc)})") from None
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CodebookError(f"codeboek {path}: geen geldige UTF-8-YAML ({str(exc).splitlines()[0]})") from None
    return parse_codebook(data, sha256=hashlib.sha256(raw).hexdigest())
