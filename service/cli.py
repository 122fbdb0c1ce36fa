"""The ``codeerhulp`` command. Each group of subcommands lives in ``service/commands/`` and
registers itself here, so the commands of the model, the service and batch work stay apart."""

from __future__ import annotations

import argparse
import logging
import sys

from training.artifacts import ArtifactError
from training.codebook import CodebookError
from training.data import CorpusError
from training.encoders import EncoderError
from training.segmenting import InputError

# Errors a researcher can act on: one line and exit code 2, never a traceback.
USER_ERRORS = (InputError, CodebookError, CorpusError, ArtifactError, EncoderError, ValueError, FileNotFoundError)
from .errors import CliError


def build_parser() -> argparse.ArgumentParser:
    from .commands import batch, documents, model, server

    parser = argparse.ArgumentParser(
        prog="codeerhulp",
        description=(
            "Codeerhulp suggests codes of the PLG codebook (factor, richting, aard) for Dutch interview "
            "transcripts and logbooks, learns from coders' decisions, and measures agreement. "
            "Everything runs on this machine; nothing is sent anywhere."
        ),
        epilog="Run 'codeerhulp COMMAND --help' for the options of a command.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show progress and debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (model, batch, server, documents):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    try:
        return int(args.handler(args) or 0)
    except CliError as exc:
        print(f"codeerhulp: error: {exc}", file=sys.stderr)
        return 2
    except USER_ERRORS as exc:
        print(f"codeerhulp: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("codeerhulp: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
