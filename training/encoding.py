"""Reading text files that are not UTF-8, for the batch commands: say what was read, do not refuse.

Word and Notepad on a Dutch Windows machine save "ANSI" text, which is Windows-1252; older tools
and some transcription services write Latin-1 (ISO-8859-1); Word's "Unicode text" is UTF-16 with
a byte-order mark. Refusing such a file made researchers convert dozens of files by hand, so the
batch commands read them and print a notice naming the encoding, so that a wrong guess is seen.

How the encoding is decided, in this order:

1. UTF-8 (with or without BOM) when the bytes are valid UTF-8: the normal case.
2. UTF-16 when the file starts with a UTF-16 byte-order mark.
3. Windows-1252 when the file holds bytes 0x80-0x9F (curly quotes, dashes, the euro sign, the
   ellipsis in Windows-1252) and all of them are characters in Windows-1252.
4. Latin-1 (ISO-8859-1) otherwise. It decodes any byte; for the accented letters of Dutch text
   (0xA0-0xFF) it is the same as Windows-1252, so nothing is lost by the choice.

A NUL byte in the first 8 KB (after ruling out UTF-16) means a binary file, refused as before.
The service's uploads keep the strict UTF-8 reader (:func:`training.segmenting.decode_text`): an
API client can send UTF-8 and is told so.
"""

from __future__ import annotations

import codecs

from .segmenting import InputError

UTF8 = "utf-8"
UTF16 = "utf-16"
CP1252 = "windows-1252"
LATIN1 = "latin-1"
ENCODING_NAMES = {UTF8: "UTF-8", UTF16: "UTF-16", CP1252: "Windows-1252 (ANSI)", LATIN1: "Latin-1 (ISO-8859-1)"}
_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")


def detect_encoding(raw: bytes) -> str:
    """One of ``utf-8``, ``utf-16``, ``windows-1252``, ``latin-1`` (see the module docstring)."""
    try:
        raw.decode("utf-8-sig")
        return UTF8
    except UnicodeDecodeError:
        pass
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return UTF16
    high_controls = {b for b in raw if 0x80 <= b <= 0x9F}
    if high_controls and not high_controls & _CP1252_UNDEFINED:
        return CP1252
    return LATIN1


def decode_legacy_text(raw: bytes, name: str) -> tuple[str, str]:
    """(text with LF line endings, encoding) of a text file in any of the encodings above.

    Raises InputError (in Dutch, naming the file) for an empty or binary file.
    """
    if not raw.strip():
        raise InputError(f"{name}: het bestand is leeg")
    encoding = detect_encoding(raw)
    if encoding != UTF16 and b"\x00" in raw[:8192]:
        raise InputError(f"{name}: lijkt een binair bestand, geen tekst")
    codec = {UTF8: "utf-8-sig", UTF16: "utf-16"}.get(encoding, encoding)
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as exc:  # only a damaged UTF-16 file gets here
        raise InputError(f"{name}: geen leesbare tekst in {ENCODING_NAMES[encoding]} (byte {exc.start})") from None
    return text.replace("\r\n", "\n").replace("\r", "\n"), encoding


def encoding_notice(name: str, encoding: str) -> str:
    """The notice a researcher reads when a file was not UTF-8."""
    return (f"{name}: gelezen als {ENCODING_NAMES.get(encoding, encoding)}, niet als UTF-8; controleer de "
            "letters met accenten (ë, é) in de uitvoer, of sla het bestand op als UTF-8")
