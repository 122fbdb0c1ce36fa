import pytest

from training.segmenting import InputError, read_bytes, segment_text

TRANSCRIPT = """Startinterview L7

I: Hoe ben je bij de PLG terechtgekomen?
L7: Nou, eh, de teamleider vroeg het eigenlijk.
Ik twijfelde eerst wel.
[00:12:31] I: En wat verwacht je ervan?
[00:12:40] L7: Dat ik nieuwe werkvormen leer, zeg maar.
Interviewer: Dank je.
Marieke: Graag gedaan hoor.
Marieke: Nog één ding: de koffie was lekker.
"""


def test_turns_keep_speaker_question_lines_and_offsets():
    doc = segment_text(TRANSCRIPT, "L7.txt")
    assert [s.speaker for s in doc.segments] == ["L7", "L7", "Marieke", "Marieke"]
    first, second = doc.segments[:2]
    assert first.question == "Hoe ben je bij de PLG terechtgekomen?"
    assert (first.line_start, first.line_end) == (4, 5)
    assert second.question == "En wat verwacht je ervan?"
    assert second.text.startswith("Dat ik nieuwe werkvormen")
    for s in doc.segments:
        assert doc.text[s.char_start:s.char_end] == s.text


def test_a_colon_inside_prose_is_not_a_speaker():
    doc = segment_text("I: Vraag?\nL3: Antwoord.\nBijvoorbeeld: dit is geen spreker.\n", "x.txt")
    assert len(doc.segments) == 1 and "Bijvoorbeeld" in doc.segments[0].text


def test_logbook_prompts_become_questions():
    doc = segment_text("Welke situatie was betekenisvol?\nDe les over cellen.\n\nWat heb je geleerd?\n\nPlannen.\n", "T21.txt")
    assert [(s.question, s.text) for s in doc.segments] == [
        ("Welke situatie was betekenisvol?", "De les over cellen."),
        ("Wat heb je geleerd?", "Plannen."),
    ]
    assert doc.kind == "logboek"


def test_long_turns_are_split_below_the_maximum():
    long = "L1: " + " ".join(f"Dit is zin nummer {i} van een heel lang antwoord." for i in range(200))
    doc = segment_text("I: Vertel?\n" + long + "\n", "lang.txt", max_segment_chars=500)
    assert len(doc.segments) > 5
    assert all(len(s.text) <= 500 for s in doc.segments)
    assert all(s.text.endswith(".") for s in doc.segments)


def test_crlf_sources_have_lf_text_and_the_same_segments():
    lf = read_bytes(TRANSCRIPT.encode(), "a.txt")
    crlf = read_bytes(TRANSCRIPT.replace("\n", "\r\n").encode(), "a.txt")
    assert [s.text for s in lf.segments] == [s.text for s in crlf.segments]
    assert "\r" not in crlf.text


@pytest.mark.parametrize(
    "raw, name, message, dutch",
    [
        (b"", "leeg.txt", "the file is empty", "het bestand is leeg"),
        ("caf\u00e9 met sch\u00e8ma".encode("cp1252"), "oud.txt", "not UTF-8", "geen UTF-8-tekst"),
        (b"\x00\x01\x02binary\x00", "data.txt", "binary", "lijkt een binair bestand"),
        (b"not a zip", "kapot.docx", "not a readable .docx", "geen leesbaar Word-bestand"),
        (b'{"id": 1, "text": "a"}\n{oops\n', "x.jsonl", "line 2 is not JSON", "regel 2 is geen JSON"),
        (b"id,tekst\n1,hallo\n", "x.csv", "needs the columns 'id' and 'text'", "de kolommen 'id' en 'text' zijn nodig"),
        (b"hallo", "x.pdf", "unsupported file type .pdf", "bestandstype .pdf wordt niet gelezen"),
    ],
)
def test_bad_input_gives_one_line_errors(raw, name, message, dutch):
    """English for the API (str), Dutch for a researcher (.dutch), both one line; both survive the
    pickling that carries an error back from annotate's worker processes."""
    import pickle

    with pytest.raises(InputError) as err:
        read_bytes(raw, name)
    assert message in str(err.value) and dutch in err.value.dutch
    assert "\n" not in str(err.value) and "\n" not in err.value.dutch
    again = pickle.loads(pickle.dumps(err.value))
    assert (str(again), again.dutch) == (str(err.value), err.value.dutch)


def test_size_limit_is_enforced():
    with pytest.raises(InputError, match="over the limit"):
        read_bytes(b"a" * 2000, "groot.txt", max_bytes=1000)
