"""The shipped corpus meets the hard numbers of its brief (training/data/WRITING.md), and the
datasheet script counts what it says it counts."""

from __future__ import annotations

import pytest

from training import paths
from training.data import Code, Example, load_corpus
from training.datasheet import PROVENANCE, corpus_stats, main, read_rows, shared_texts

DIRECTED = ("ervaren_ruimte", "benutten_ruimte", "creeren_ruimte", "intentie")


@pytest.fixture(scope="module")
def train(codebook):
    return load_corpus(paths.TRAIN_DIR, codebook)


@pytest.fixture(scope="module")
def held_out(codebook):
    return load_corpus(paths.EVAL_DIR, codebook)


@pytest.fixture(scope="module")
def train_stats(train, codebook):
    return corpus_stats(train, codebook)


@pytest.fixture(scope="module")
def held_out_stats(held_out, codebook):
    return corpus_stats(held_out, codebook)


def test_at_least_2000_training_segments(train_stats):
    assert train_stats["rows"] >= 2000


def test_at_least_40_training_rows_per_factor(train_stats, codebook):
    small = {f: n for f, n in train_stats["factor_rows"].items() if f in codebook.factor_ids and n < 40}
    assert not small, f"factors with fewer than 40 training rows: {small}"


def test_both_poles_of_every_factor_in_training(train_stats, codebook):
    missing = []
    for f in codebook.factor_ids:
        cells = train_stats["codes"][f]
        for aard in "+-":
            if not sum(n for cell, n in cells.items() if cell.endswith(aard)):
                missing.append(f"{f} {aard}")
    assert not missing, f"poles without a training row: {missing}"


@pytest.mark.parametrize("factor", DIRECTED)
def test_po_and_so_both_present(train_stats, factor):
    cells = train_stats["codes"][factor]
    assert cells["PO+"] + cells["PO-"] > 0, f"{factor}: no PO row"
    assert cells["SO+"] + cells["SO-"] > 0, f"{factor}: no SO row"


def test_10_to_20_percent_without_code(train_stats):
    assert 0.10 <= train_stats["share_no_code"] <= 0.20


@pytest.mark.parametrize("directory", [paths.TRAIN_DIR, paths.EVAL_DIR], ids=["train", "eval"])
def test_every_row_is_synthetic_and_written_for_this_project(directory):
    rows = read_rows(directory)
    assert rows
    wrong = [row.get("id") for row in rows if row.get("provenance") != PROVENANCE]
    assert not wrong, f"rows with another provenance: {wrong[:10]}"


def test_no_text_in_both_splits(train, held_out):
    shared = shared_texts(train, held_out)
    assert not shared, f"{len(shared)} texts occur in both splits, e.g. {next(iter(shared))[:80]!r}"


def test_every_factor_has_8_held_out_rows(held_out_stats, codebook):
    small = {f: held_out_stats["factor_rows"][f] for f in codebook.factor_ids if held_out_stats["factor_rows"][f] < 8}
    assert not small, f"factors with fewer than 8 held-out rows: {small}"


# --- the script itself, on a tiny hand-made corpus --------------------------------------------

def test_corpus_stats_counts(codebook):
    examples = [
        Example("a", "een twee drie", [Code("ervaren_ruimte", "PO", "+"), Code("facilitering", "-", "-")],
                question="Hoe ervaar je dat?", source="p"),
        Example("b", "een twee drie vier vijf", [], kind="logboek", source="p"),
        Example("c", "een", [Code("facilitering", "-", "+"), Code("facilitering", "-", "-")],
                speaker_role="plg_begeleider", source="q"),
    ]
    stats = corpus_stats(examples, codebook)
    assert stats["rows"] == 3
    assert stats["by_pass"] == {"p": 2, "q": 1}
    assert stats["kind"] == {"interview": 2, "logboek": 1}
    assert stats["share_no_code"] == pytest.approx(1 / 3)
    assert stats["share_multi_code"] == pytest.approx(2 / 3)
    assert stats["share_interviews_with_question"] == pytest.approx(1 / 2)
    assert stats["rows_both_poles"] == 1
    assert stats["words"] == {"min": 1, "median": 3, "p90": 5, "max": 5}
    assert stats["codes"]["facilitering"] == {"PO+": 0, "PO-": 0, "SO+": 0, "SO-": 0, "-+": 1, "--": 2}
    assert stats["factor_rows"]["facilitering"] == 2
    assert stats["factor_rows"]["intentie"] == 0


def test_main_prints_the_tables(capsys):
    main([])
    out = capsys.readouterr().out
    assert "### Size and composition" in out and "### Balance per code" in out
    assert "| ervaren_ruimte (veel / weinig) |" in out
