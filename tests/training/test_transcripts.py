"""The transcript split: every document segments to its codes file, and the datasheet's numbers are
the split's own."""

from __future__ import annotations

import re

import pytest

from training import paths
from training.data import load_corpus
from training.transcripts import INSTRUMENTS, TranscriptError, load_document, load_transcripts, render_stats, split_stats


@pytest.fixture(scope="module")
def split(codebook):
    return load_transcripts(paths.TRANSCRIPTS_DIR, codebook)


def test_split_is_large_varied_and_from_several_writers(split):
    stats = split_stats(split)
    assert stats["documents"] >= 40 and stats["segments"] >= 2500 and stats["writers"] >= 6
    assert set(stats["documents_per_instrument"]) == set(INSTRUMENTS)
    assert 0.15 <= stats["no_code"] / stats["segments"] <= 0.45  # whole transcripts: much is not codable


def test_datasheet_states_the_splits_numbers(split):
    readme = (paths.TRANSCRIPTS_DIR / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- stats:start -->\n(.*?)\n<!-- stats:end -->", readme, re.S)
    assert block, "README.md has no stats block"
    assert block.group(1).strip() == render_stats(split_stats(split)).strip(), \
        "rerun `python -m training.transcripts stats` and paste its output into README.md"


def test_no_transcript_segment_occurs_in_the_training_corpus(split, codebook):
    train = {" ".join(e.text.split()) for e in load_corpus(paths.TRAIN_DIR, codebook)}
    shared = [t.example.id for t in split if len(t.example.text) > 40 and " ".join(t.example.text.split()) in train]
    assert not shared, f"segments of the transcript split occur in the training corpus: {shared[:5]}"


def test_a_codes_file_that_no_longer_matches_its_document_is_refused(tmp_path, codebook):
    doc = tmp_path / "w0" / "startinterview_L99.txt"
    doc.parent.mkdir()
    doc.write_text("I: Hoe gaat het?\nL99: Goed hoor.\nI: En de PLG?\nL99: Veel geleerd.\n", encoding="utf-8")
    codes = doc.with_suffix(".codes.jsonl")
    codes.write_text('{"id": "startinterview_L99-0001", "text": "Goed hoor.", "codes": []}\n'
                     '{"id": "startinterview_L99-0002", "text": "Iets anders.", "codes": []}\n', encoding="utf-8")
    with pytest.raises(TranscriptError, match="text differs"):
        load_document(doc, codebook)
    codes.write_text('{"id": "startinterview_L99-0001", "text": "Goed hoor.", "codes": []}\n', encoding="utf-8")
    with pytest.raises(TranscriptError, match="ids do not match"):
        load_document(doc, codebook)
