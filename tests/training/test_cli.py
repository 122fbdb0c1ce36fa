"""The ``codeerhulp`` command as a user runs it: real subprocesses, the stable JSONL contract,
one-line Dutch errors with exit code 2."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRANSCRIPT = (ROOT / "examples" / "startinterview_L7.txt").read_text(encoding="utf-8")
CONTRACT_KEYS = {"id", "text", "codes", "model_version", "codebook_version"}


def run(args, env_extra=None, models_dir=None, stdin=None):
    env = {**os.environ, **(env_extra or {})}
    if models_dir:
        env["CODEERHULP_MODELS_DIR"] = str(models_dir)
    return subprocess.run([sys.executable, "-m", "service.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=ROOT, input=stdin, timeout=600)


def run_inproc(args, capsys):
    """The same command in this process (no interpreter start-up): for the many error cases."""
    from service.cli import main

    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, captured.out, captured.err)


def check_contract(lines, model_dir):
    active = (Path(model_dir) / "codeerhulp" / "ACTIVE").read_text().strip()
    rule = json.loads((Path(model_dir) / "codeerhulp" / active / "manifest.json").read_text())["decision_rule"]
    assert lines
    for record in lines:
        assert CONTRACT_KEYS <= set(record)
        # Never silent: no codes exactly when the no-code detector says so.
        assert 0.0 <= record["no_code_confidence"] <= 1.0
        assert (record["codes"] == []) == (record["no_code_confidence"] >= rule["no_code_threshold"])
        assert record["model_version"] == active and record["codebook_version"]
        conf = [c["confidence"] for c in record["codes"]]
        assert conf == sorted(conf, reverse=True)
        for c in record["codes"]:
            assert {"factor", "richting", "aard", "confidence"} <= set(c)


def test_suggest_txt_follows_the_contract(trained_models_dir, tmp_path):
    out = tmp_path / "out.jsonl"
    done = run(["suggest", ROOT / "examples" / "startinterview_L7.txt", "-o", out], models_dir=trained_models_dir)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    check_contract(records, trained_models_dir)
    assert all(r["meta"]["speaker"] == "L7" for r in records)
    assert any(r["codes"] for r in records)


def test_suggest_docx_jsonl_csv(trained_models_dir, tmp_path):
    import docx

    d = docx.Document()
    for line in TRANSCRIPT.splitlines()[:12]:
        d.add_paragraph(line)
    d.save(tmp_path / "interview.docx")
    (tmp_path / "teksten.jsonl").write_text(
        '{"id": "a", "text": "De schoolleider gaf ons alle ruimte om te experimenteren."}\n'
        '{"id": "b", "text": "We kregen geen uren voor de PLG."}\n', encoding="utf-8")
    (tmp_path / "teksten.csv").write_text('id,text\nx1,"Ik ben gevraagd door mijn teamleider, dus ja."\n', encoding="utf-8")
    for name, n in (("interview.docx", None), ("teksten.jsonl", 2), ("teksten.csv", 1)):
        done = run(["suggest", tmp_path / name], models_dir=trained_models_dir)
        assert done.returncode == 0, done.stderr
        records = [json.loads(line) for line in done.stdout.splitlines()]
        check_contract(records, trained_models_dir)
        if n:
            assert len(records) == n


def test_min_confidence_zero_returns_every_factor(trained_models_dir, tmp_path):
    (tmp_path / "t.jsonl").write_text('{"id": "a", "text": "Ik heb veel vrijheid in mijn lessen."}\n', encoding="utf-8")
    everything = run(["suggest", tmp_path / "t.jsonl", "--min-confidence", "0"], models_dir=trained_models_dir)
    strict = run(["suggest", tmp_path / "t.jsonl", "--min-confidence", "0.99"], models_dir=trained_models_dir)
    assert len(json.loads(everything.stdout)["codes"]) >= 20
    assert json.loads(strict.stdout)["codes"] == []


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("leeg.txt", b"", "het bestand is leeg"),
        ("oud.txt", "co\u00f6rdinatie en re\u00efntegratie".encode("cp1252"), "geen UTF-8-tekst"),
        ("beeld.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "lijkt een binair bestand"),
        ("kapot.jsonl", b'{"id": "a", "text": "x"}\n[1, 2\n', "regel 2 is geen JSON"),
        ("kapot.docx", b"PK\x03\x04 nope", "geen leesbaar Word-bestand"),
        ("verkeerd.csv", b"nummer;tekst\n1;hoi\n", "de kolommen 'id' en 'text' zijn nodig"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(trained_models_dir, tmp_path, capsys, name, content, message):
    (tmp_path / name).write_bytes(content)
    done = run_inproc(["suggest", tmp_path / name, "--models-dir", trained_models_dir], capsys)
    assert done.returncode == 2
    assert done.stderr.startswith("codeerhulp: fout: ") and message in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_huge_input_is_refused(trained_models_dir, tmp_path):
    (tmp_path / "groot.txt").write_text("L1: " + "bla " * 2000, encoding="utf-8")
    done = run(["suggest", tmp_path / "groot.txt"], env_extra={"CODEERHULP_MAX_UPLOAD_BYTES": "4000"},
               models_dir=trained_models_dir)
    assert done.returncode == 2 and "groter dan de grens van" in done.stderr and "Traceback" not in done.stderr


def test_missing_file_and_bad_threshold(trained_models_dir, tmp_path, capsys):
    done = run_inproc(["suggest", tmp_path / "bestaat-niet.txt", "--models-dir", trained_models_dir], capsys)
    assert done.returncode == 2 and "kan niet gelezen worden (bestaat niet)" in done.stderr
    done = run_inproc(["suggest", ROOT / "examples" / "logboek_T21.txt", "--min-confidence", "7",
                       "--models-dir", trained_models_dir], capsys)
    assert done.returncode == 2 and "tussen 0 en 1" in done.stderr


def test_help_for_every_command(capsys):
    done = run(["--help"])
    assert done.returncode == 0 and "suggest" in done.stdout and "train" in done.stdout
    from service.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"train", "suggest", "evaluate", "models"} <= set(commands)
    for command, sub in commands.items():
        text = sub.format_help()
        assert text.startswith(f"gebruik: codeerhulp {command}") and len(text) > 200, command


def test_without_a_model_suggest_stops_and_says_what_to_run(tmp_path):
    """No silent training: a model nobody evaluated must never start suggesting."""
    models = tmp_path / "empty-models"
    done = run(["suggest", ROOT / "examples" / "logboek_T21.txt"], models_dir=models)
    assert done.returncode == 2 and done.stdout == ""
    assert "geen getraind model" in done.stderr and "codeerhulp train" in done.stderr
    assert not (models / "codeerhulp").exists()


def test_models_lists_versions_and_activates(trained_models_dir, capsys):
    done = run_inproc(["models", "--models-dir", trained_models_dir], capsys)
    assert done.returncode == 0 and done.stdout.startswith("* ")
    done = run_inproc(["models", "--activate", "no-such-version", "--models-dir", trained_models_dir], capsys)
    assert done.returncode == 2 and "die versie bestaat niet" in done.stderr


def test_train_then_evaluate_with_peers(tmp_path, small_corpus, small_transcripts):
    """train writes a new active version; evaluate prints the model and the peers in one table."""
    env = {"CODEERHULP_TRAIN_DIR": str(small_corpus["train"]), "CODEERHULP_EVAL_DIR": str(small_corpus["eval"]),
           "CODEERHULP_TRANSCRIPTS_DIR": str(small_transcripts),
           "CODEERHULP_TRAIN_CONFIG": str(ROOT / "training" / "configs" / "lexical.yaml")}
    models = tmp_path / "models"
    done = run(["train"], env_extra=env, models_dir=models)
    assert done.returncode == 0, done.stderr
    assert "geactiveerd" in done.stdout and (models / "codeerhulp" / "ACTIVE").is_file()
    assert "transcripten: kappa" in done.stdout
    # A second version is gated against the first on the transcript split, both scored the same way.
    again = run(["train"], env_extra=env, models_dir=models)
    assert again.returncode == 0, again.stderr
    assert "kappa_primary" in again.stdout and "is niet slechter dan die van het actieve model" in again.stdout
    out = tmp_path / "eval.json"
    done = run(["evaluate", "--folds", "2", "--peers", "keyword,majority", "--json", out], env_extra=env)
    assert done.returncode == 0, done.stderr
    assert "| codeerhulp (model) |" in done.stdout and "| keyword (peer) |" in done.stdout
    results = json.loads(out.read_text())
    model = results["held_out"]["codeerhulp (model)"]["summary"]
    assert model["macro_f1"] > results["held_out"]["majority (peer)"]["summary"]["macro_f1"]
    assert {"ece", "brier"} <= set(model) and results["cross_validation"]["keyword (peer)"]["folds"] == 2
