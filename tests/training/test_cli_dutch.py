"""The command line speaks Dutch to the person who runs it: argparse's own words, the help of every
command, and the errors, from a real ``codeerhulp`` process. Machine output (JSONL) is untouched."""

from __future__ import annotations

import argparse

import pytest

from service.argparse_nl import ARGPARSE_NL, DutchArgumentParser

from .test_cli import ROOT, run

# What argparse says in English when a text is not translated.
ENGLISH_ARGPARSE = ("usage:", "error:", "the following arguments are required", "options:", "positional arguments",
                    "show this help message and exit", "invalid choice", "unrecognized arguments",
                    "expected one argument", "invalid int value", "invalid float value")


def assert_dutch(text: str) -> None:
    found = [words for words in ENGLISH_ARGPARSE if words in text]
    assert not found, f"English argparse words {found} in:\n{text}"
    # A sentence in English almost always has "the" in it; Dutch never does.
    assert " the " not in f" {text.lower()} ", text


def every_command() -> dict[str, argparse.ArgumentParser]:
    from service.cli import build_parser

    found: dict[str, argparse.ArgumentParser] = {}

    def walk(prefix: str, parser: argparse.ArgumentParser) -> None:
        found[prefix] = parser
        if parser._subparsers is not None:
            for action in parser._subparsers._group_actions:
                for name, sub in action.choices.items():
                    walk(f"{prefix} {name}", sub)

    walk("codeerhulp", build_parser())
    return found


def test_help_of_the_program_is_dutch():
    done = run(["--help"])
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("gebruik: codeerhulp")
    assert "opties:" in done.stdout and "opdrachten:" in done.stdout and "deze hulp tonen en stoppen" in done.stdout
    assert_dutch(done.stdout)


def test_help_of_every_command_is_dutch():
    commands = every_command()
    assert {"codeerhulp suggest", "codeerhulp users add", "codeerhulp jobs cancel"} <= set(commands)
    for name, parser in commands.items():
        text = parser.format_help()
        assert text.startswith(f"gebruik: {name}"), name
        assert_dutch(text)


def test_a_missing_argument_is_named_in_dutch():
    done = run(["suggest"])
    assert done.returncode == 2 and done.stdout == ""
    assert "codeerhulp suggest: fout: deze argumenten ontbreken: BESTAND" in done.stderr
    assert done.stderr.startswith("gebruik: codeerhulp suggest")
    assert_dutch(done.stderr)


def test_wrong_values_are_refused_in_dutch(capsys):
    """In this process (each interpreter start costs seconds): argparse stops with SystemExit(2)."""
    from service.cli import main

    for args, said in ((["vertaal"], "ongeldige keuze 'vertaal' (kies uit 'train'"),
                       (["serve", "--port", "acht"], "--port: 'acht' is geen geheel getal"),
                       (["suggest", "x.txt", "--min-confidence", "half"], "--min-confidence: 'half' is geen getal"),
                       (["export", "--format", "pdf"], "ongeldige keuze 'pdf'"),
                       (["models", "--onbekend"], "onbekende argumenten: --onbekend"),
                       (["suggest", "x.txt", "-o"], "-o/--output: hier hoort één waarde achter")):
        with pytest.raises(SystemExit) as stopped:
            main(args)
        err = capsys.readouterr().err
        assert stopped.value.code == 2, args
        assert said in err, (args, err)
        assert_dutch(err)


def test_a_missing_file_is_one_dutch_line():
    done = run(["suggest", "bestaat-niet.txt"])
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "codeerhulp: fout: bestaat-niet.txt: kan niet gelezen worden (bestaat niet)\n"


def test_an_unknown_model_version_is_named_with_what_to_do():
    done = run(["suggest", ROOT / "examples" / "logboek_T21.txt", "--model-version", "20000101-000000-geen"])
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("codeerhulp: fout: model codeerhulp/20000101-000000-geen: die versie bestaat niet")
    assert "'codeerhulp models' toont de versies" in done.stderr and done.stderr.count("\n") == 1
    done = run(["models", "--activate", "20000101-000000-geen"])
    assert done.returncode == 2 and "die versie bestaat niet" in done.stderr


def test_a_broken_codebook_is_named_in_dutch(tmp_path):
    (tmp_path / "codeboek.yaml").write_text("id: x\nversion: 1\nfactors: []\n", encoding="utf-8")
    done = run(["tables", tmp_path, "--codebook", tmp_path / "codeboek.yaml"])
    assert done.returncode == 2
    assert done.stderr == "codeerhulp: fout: codeboek: veld 'groups' ontbreekt\n"


def test_other_parsers_in_the_process_keep_english():
    """The translation is active only inside our parser's own methods."""
    dutch = DutchArgumentParser(prog="nl")
    english = argparse.ArgumentParser(prog="en")
    assert dutch.format_usage().startswith("gebruik: nl")
    assert english.format_usage().startswith("usage: en")
    assert "show this help message and exit" in english.format_help()


def test_every_translation_keeps_the_placeholders():
    """A Dutch text that drops or renames a %-placeholder would crash argparse at the worst moment."""
    import re

    for english, dutch in ARGPARSE_NL.items():
        assert sorted(re.findall(r"%(?:\(\w+\))?[rsd]", english)) == sorted(re.findall(r"%(?:\(\w+\))?[rsd]", dutch)), \
            english


@pytest.mark.parametrize("text, value", [("3", 3), ("-1", -1)])
def test_dutch_integer_type_still_reads_numbers(text, value):
    parser = DutchArgumentParser(prog="nl")
    parser.add_argument("--n", type=int)
    parser.add_argument("--x", type=float)
    assert parser.parse_args(["--n", text, "--x", "0,5"]).n == value
    assert parser.parse_args(["--x", "0,5"]).x == 0.5


def test_the_usage_lines_in_the_docs_are_the_real_ones(monkeypatch):
    """docs/batch.md quotes each batch command's 'gebruik:' as --help prints it at 100 columns."""
    import re

    monkeypatch.setenv("COLUMNS", "100")
    commands = every_command()
    doc = (ROOT / "docs" / "batch.md").read_text(encoding="utf-8")
    quoted = re.findall(r"```\n(gebruik: (codeerhulp \w+).*?)\n```", doc, re.S)
    assert {name for _, name in quoted} == {f"codeerhulp {c}" for c in ("annotate", "export", "tables", "agreement",
                                                                      "import")}
    for text, name in quoted:
        assert commands[name].format_usage().rstrip("\n") == text, name


def test_a_wrong_or_unreachable_database_is_one_dutch_line(tmp_path):
    """No SQLAlchemy traceback for the admin who mistyped CODEERHULP_DATABASE_URL; no password shown."""
    done = run(["users", "list"], env_extra={"CODEERHULP_DATABASE_URL": "onzin",
                                             "CODEERHULP_DATA_DIR": str(tmp_path)})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("codeerhulp: fout: CODEERHULP_DATABASE_URL is geen database-URL")
    # Port 1 on this machine: refused at once, nothing leaves the machine.
    url = "postgresql+psycopg://codeur:geheim@127.0.0.1:1/codeerhulp"
    done = run(["users", "list"], env_extra={"CODEERHULP_DATABASE_URL": url, "CODEERHULP_DATA_DIR": str(tmp_path)})
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert done.stderr.startswith("codeerhulp: fout: de database postgresql+psycopg://codeur:***@127.0.0.1:1/"
                                  "codeerhulp is niet bereikbaar")
    assert "geheim" not in done.stderr
