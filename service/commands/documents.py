"""Document subcommands for the research lead: ``documents list``, ``documents discuss ID`` and
``documents close ID``, which open a document for discussion or make its coding blind again
(the same as the admin's button on the documents page; docs/service.md, 'Blind coding')."""

from __future__ import annotations

import argparse
import sys

from ..errors import CliError
from ..settings import get_settings
from .server import open_database  # the one way the commands open the database


def register(sub) -> None:  # noqa: ANN001 - argparse's private subparsers type
    p = sub.add_parser("documents", help="documenten tonen, en openzetten voor bespreking of weer sluiten",
                       description="Blind coderen: een codeur ziet alleen de suggesties van het model en de eigen "
                                   "besluiten, tot een document openstaat voor bespreking. Dan ziet iedereen "
                                   "alle besluiten op dat document.")
    actions = p.add_subparsers(dest="documents_command", metavar="ACTIE", title="acties")
    lst = actions.add_parser("list", help="de documenten met hun aantal fragmenten en of ze blind zijn")
    lst.set_defaults(handler=cmd_documents_list)
    discuss = actions.add_parser("discuss", help="een document openzetten voor bespreking",
                                 description="Alle codeurs zien daarna elkaars besluiten op dit document; wat ze "
                                             "daarna beslissen telt niet meer als blind gecodeerd.")
    discuss.add_argument("document_id", type=int, metavar="ID", help="het nummer uit 'codeerhulp documents list'")
    discuss.set_defaults(handler=cmd_documents_discuss)
    close = actions.add_parser("close", help="de bespreking sluiten: het document is weer blind")
    close.add_argument("document_id", type=int, metavar="ID", help="het nummer uit 'codeerhulp documents list'")
    close.set_defaults(handler=cmd_documents_close)
    p.set_defaults(handler=lambda args: p.print_help() or 0)


def _blind_coding_note() -> None:
    if not get_settings().blind_coding:
        print("let op: blind coderen staat uit (CODEERHULP_BLIND_CODING=false): iedereen ziet alle besluiten, "
              "ook op documenten die niet openstaan voor bespreking", file=sys.stderr)


def cmd_documents_list(args: argparse.Namespace) -> int:
    from .. import repository

    blind_coding = get_settings().blind_coding
    db = open_database()
    try:
        documents = db.read(lambda s: repository.list_documents(s, limit=100_000, blind_coding=blind_coding))
    finally:
        db.dispose()
    for d in documents:
        if d.discussion_opened_at is not None:
            state = f"open voor bespreking sinds {d.discussion_opened_at:%Y-%m-%d %H:%M} UTC"
        else:
            state = "blind" if blind_coding else "niet open voor bespreking"
        print(f"{d.id}\t{d.name}\t{d.n_segments} fragmenten\t{state}")
    if not documents:
        print("nog geen documenten; upload er een via de API (POST /api/v1/documents)", file=sys.stderr)
    _blind_coding_note()
    return 0


def _set_discussion(document_id: int, opened: bool):  # noqa: ANN202
    from .. import repository

    db = open_database()
    try:
        return db.write(lambda s: repository.set_discussion(s, document_id, opened))
    except repository.NotFound:
        raise CliError(f"document {document_id} bestaat niet; 'codeerhulp documents list' toont de documenten") \
            from None
    finally:
        db.dispose()


def cmd_documents_discuss(args: argparse.Namespace) -> int:
    document = _set_discussion(args.document_id, opened=True)
    print(f"document {document.id} ({document.name}) staat open voor bespreking: alle codeurs zien nu elkaars "
          "besluiten erop. Weer blind maken: codeerhulp documents close " + str(document.id), file=sys.stderr)
    _blind_coding_note()
    return 0


def cmd_documents_close(args: argparse.Namespace) -> int:
    document = _set_discussion(args.document_id, opened=False)
    print(f"bespreking van document {document.id} ({document.name}) gesloten: codeurs zien weer alleen hun eigen "
          "besluiten erop", file=sys.stderr)
    _blind_coding_note()
    return 0
