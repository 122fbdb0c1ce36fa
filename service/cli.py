"""The ``codeerhulp`` command. Each group of subcommands lives in ``service/commands/`` and
registers itself here, so the commands of the model, the service and batch work stay apart.

Everything it says to a person is Dutch: argparse through ``argparse_nl``, errors from ``training``
through their Dutch text (``training.messages``). Log records stay English."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from training.artifacts import ArtifactError
from training.codebook import CodebookError
from training.data import CorpusError
from training.encoders import EncoderError
from training.messages import in_dutch, os_reason
from training.segmenting import InputError

from .argparse_nl import DutchArgumentParser
from .errors import CliError

# Errors a researcher can act on: one line and exit code 2, never a traceback.
USER_ERRORS = (CliError, InputError, CodebookError, CorpusError, ArtifactError, EncoderError, ValueError,
               FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def describe(exc: BaseException) -> str:
    """The one line a researcher reads about ``exc``, in Dutch."""
    if isinstance(exc, OSError) and exc.filename:  # an output file that cannot be written, a missing input
        return f"{exc.filename}: {os_reason(exc)}"
    return in_dutch(exc)


def build_parser() -> argparse.ArgumentParser:
    from .commands import batch, documents, model, server

    parser = DutchArgumentParser(
        prog="codeerhulp",
        description=(
            "Codeerhulp stelt codes uit het PLG-codeboek voor (factor, richting, aard) voor transcripten van "
            "interviews en logboeken, leert van de besluiten van codeurs en meet de overeenstemming. Alles "
            "draait op deze computer; er wordt niets verstuurd."
        ),
        epilog="'codeerhulp OPDRACHT --help' toont de opties van een opdracht.",
    )
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="voortgang en debuglogging tonen (logregels in het Engels)")
    sub = parser.add_subparsers(dest="command", metavar="OPDRACHT", title="opdrachten")
    for module in (model, batch, server, documents):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None, exit_when_done: bool = False) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    try:
        code = int(args.handler(args) or 0)
        if exit_when_done and getattr(args, "exit_when_done", False):
            _exit_now(code)
        return code
    except USER_ERRORS as exc:
        print(f"codeerhulp: fout: {describe(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("codeerhulp: onderbroken", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _exit_now(code: int) -> None:
    """End the process without tearing the interpreter down: after a one-shot command's output is
    written, freeing the model, the ONNX session and spaCy object by object took ~1 s more (measured
    with the 150-segment interview, BENCHMARKS.md, start-up). Commands opt in (``exit_when_done``)
    when nothing of theirs is left to clean up at exit."""
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def run() -> None:
    """The entry point of the installed ``codeerhulp`` command and of ``python -m service.cli``."""
    sys.exit(main(exit_when_done=True))


if __name__ == "__main__":  # pragma: no cover
    run()
