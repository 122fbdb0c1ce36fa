"""argparse in Dutch: the one place where argparse's own words (usage, error, options, the messages
about missing or wrong arguments) are translated for the ``codeerhulp`` command.

argparse looks every one of its texts up through ``gettext`` under the names ``argparse._`` and
``argparse.ngettext``. Python ships no Dutch catalogue for them, and installing one for the default
gettext domain would translate every other library in the process too. So ``DutchArgumentParser``
points those two names at the table below only while one of its own methods runs, and restores
them afterwards: other parsers in the same process (tests, tools) keep English. Not thread-safe,
which a command line parsing its arguments once at start does not need.

Descriptions and option help are written in Dutch where each command registers itself
(``service/commands/*``).
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# argparse 3.11's message ids, as its source writes them; a text missing here stays English, which
# tests/training/test_cli_dutch.py catches for the messages a user meets.
ARGPARSE_NL: dict[str, str] = {
    "usage: ": "gebruik: ",
    "positional arguments": "argumenten",
    "options": "opties",
    "subcommands": "opdrachten",
    "show this help message and exit": "deze hulp tonen en stoppen",
    "%(prog)s: error: %(message)s\n": "%(prog)s: fout: %(message)s\n",
    "the following arguments are required: %s": "deze argumenten ontbreken: %s",
    "unrecognized arguments: %s": "onbekende argumenten: %s",
    "argument %(argument_name)s: %(message)s": "%(argument_name)s: %(message)s",
    "invalid choice: %(value)r (choose from %(choices)s)": "ongeldige keuze %(value)r (kies uit %(choices)s)",
    "invalid %(type)s value: %(value)r": "ongeldige waarde %(value)r (%(type)s)",
    "expected one argument": "hier hoort één waarde achter",
    "expected at most one argument": "hier hoort hoogstens één waarde achter",
    "expected at least one argument": "hier hoort minstens één waarde achter",
    "ambiguous option: %(option)s could match %(matches)s": "optie %(option)s is niet eenduidig: %(matches)s",
    "not allowed with argument %s": "niet samen met %s",
    "one of the arguments %s is required": "één van %s is nodig",
    "ignored explicit argument %r": "waarde %r hoort niet bij deze optie",
    "unknown parser %(parser_name)r (choices: %(choices)s)":
        "onbekende opdracht %(parser_name)r (kies uit %(choices)s)",
    "can't open '%(filename)s': %(error)s": "kan '%(filename)s' niet openen: %(error)s",
    "unexpected option string: %s": "onverwachte optie: %s",
}
ARGPARSE_NL_PLURAL: dict[tuple[str, str], tuple[str, str]] = {
    ("expected %s argument", "expected %s arguments"): ("hier hoort %s waarde achter", "hier horen %s waarden achter"),
}


def _gettext(message: str) -> str:
    return ARGPARSE_NL.get(message, message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    one, many = ARGPARSE_NL_PLURAL.get((singular, plural), (singular, plural))
    return one if n == 1 else many


@contextmanager
def _dutch_argparse() -> Iterator[None]:
    saved = argparse._, argparse.ngettext  # type: ignore[attr-defined]
    argparse._, argparse.ngettext = _gettext, _ngettext  # type: ignore[attr-defined]
    try:
        yield
    finally:
        argparse._, argparse.ngettext = saved  # type: ignore[attr-defined]


def _in_dutch(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _dutch_argparse():
            return method(*args, **kwargs)

    return wrapper


def whole_number(text: str) -> int:
    """``type=int`` in Dutch: argparse would name the type 'int'."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is geen geheel getal") from None


def number(text: str) -> float:
    """``type=float`` in Dutch (a decimal comma is read as a point: 0,5 is 0.5)."""
    try:
        return float(text.replace(",", "."))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is geen getal") from None


class DutchArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser that speaks Dutch, also in the parsers its subcommands add (they inherit
    the class). ``type=int`` and ``type=float`` get Dutch messages too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        with _dutch_argparse():
            super().__init__(*args, **kwargs)
        self.register("type", int, whole_number)
        self.register("type", float, number)

    add_subparsers = _in_dutch(argparse.ArgumentParser.add_subparsers)
    parse_args = _in_dutch(argparse.ArgumentParser.parse_args)
    parse_known_args = _in_dutch(argparse.ArgumentParser.parse_known_args)
    format_usage = _in_dutch(argparse.ArgumentParser.format_usage)
    format_help = _in_dutch(argparse.ArgumentParser.format_help)
    error = _in_dutch(argparse.ArgumentParser.error)
