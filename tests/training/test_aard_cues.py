"""The aard benchmark's context cues and its reader of a coded file kept outside the repository:
the numbers in BENCHMARKS.md (aard) rest on them."""

from __future__ import annotations

import json

import pytest

from benchmarks.bench_aard import answer_cues, load_real
from training.data import CorpusError
from training.text import lemma_string


def cues(answer: str, question: str = "") -> set[str]:
    return set(answer_cues(lemma_string(answer), lemma_string(question) if question else "").split())


def test_short_answer_is_read_with_its_question():
    got = cues("Ja. Een beetje.", "Heb je ruimte ervaren?")
    assert {"A_AFF", "A_HEDGE", "QYESNO", "QYESNO&SAFF", "QYESNO&SHEDGE", "SQ_ruimte"} <= got
    assert not any(t.startswith("QOPEN") for t in got)


def test_open_question_with_a_denial_and_a_negative_question_word():
    got = cues("Nee, nauwelijks.", "Wat vond je lastig aan de bijeenkomsten?")
    assert {"A_NEG", "QOPEN", "QNEG", "QOPEN&NEG", "QNEG&SNEG"} <= got


def test_long_answer_keeps_its_cue_but_not_the_question_words():
    answer = "Ja, dat wel, want ik heb er in de sectie veel over verteld en iedereen wilde het daarna ook proberen."
    got = cues(answer, "Heb je het gedeeld met collega's?")
    assert {"A_AFF", "QYESNO&AFF"} <= got
    assert not any(t.startswith(("SQ_", "ASHORT_")) or "&S" in t for t in got)


def test_no_question_no_question_tokens_and_no_cue_says_so():
    assert not any(t.startswith("Q") for t in cues("Nee."))
    assert cues("Daar heb ik over nagedacht.") == {"NONE"}


def test_real_file_reader_keeps_codes_and_rejects_unknown_factors(tmp_path, codebook):
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"id": "x1", "text": "Er is te weinig tijd.", "report": "R", "rationale": "r",
                                "codes": [{"factor": "facilitering", "richting": "-", "aard": "-"}]}) + "\n\n",
                    encoding="utf-8")
    [example] = load_real(good, codebook)
    assert example.question is None and [(c.factor, c.aard) for c in example.codes] == [("facilitering", "-")]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x2", "text": "Iets.", "codes": [{"factor": "bestaat_niet", "richting": "-",
                                                                      "aard": "+"}]}), encoding="utf-8")
    with pytest.raises(CorpusError, match="bad.jsonl:1"):
        load_real(bad, codebook)
