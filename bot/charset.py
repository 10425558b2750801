"""Which text encoding an uploaded file is in: decided on evidence, or not at all.

Standard library and charset-normalizer only: no Telegram, no database. :func:`decide` reads
the file a chunk at a time and keeps only a small sample:

1. An encoding the admin named (``encoding=`` in the caption) is used as it is; the whole
   file must be valid in it (:class:`Invalid` names the first line that is not).
2. A byte order mark decides: UTF-8, UTF-16 or UTF-32 (and the whole file must be valid).
3. A file that is valid UTF-8 is UTF-8 (text in another encoding almost never is).
4. Otherwise (a second pass) the candidates are GBK (GB18030 when a character needs it),
   Big5, Windows-1252 and Latin-1, each only if the WHOLE file decodes in it strictly. Strict
   GBK and Big5 accept almost any bytes (Western "façade" in Windows-1252 is valid GBK:
   "fa鏰de"), so a candidate must also pass two tests on a sample (the start of the file,
   then lines that hold non-ASCII bytes):

   - our own: a Chinese candidate must give nearly only CJK characters, its ideographs mostly
     common ones (GB2312's or Big5's first level) and not glued to Latin letters (a Western
     accent read as GBK makes a rare ideograph inside a Latin word); a Western one must give
     Latin letters and common signs, alone or in short runs inside Latin words (Chinese read
     as Windows-1252 makes long runs such as "½ñÌìÌìÆø"), and no C1 control characters.
   - charset-normalizer's: its mess detector must not reject the candidate's reading.

   One candidate left, or one clearly less messy than the others (by charset-normalizer's
   measure): it is the encoding. Otherwise :class:`Unsure`, with the first line that holds
   non-ASCII bytes as each candidate reads it, for the admin to choose; :class:`Unreadable`
   if no candidate reads that line as text at all.

Windows-1252 and Latin-1 read every byte outside 0x80-0x9F alike, as GBK and GB18030 read every
GBK byte sequence alike: such a file gets the first name (Windows-1252, GBK).
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Final

import charset_normalizer

__all__ = [
    "AUTO_CANDIDATES",
    "Invalid",
    "Known",
    "Unreadable",
    "Unsure",
    "Verdict",
    "decide",
    "first_invalid_line",
    "looks_chinese",
    "looks_western",
    "text_encoding",
]

AUTO_CANDIDATES: Final = ("gbk", "gb18030", "big5", "cp1252", "latin-1")
"""What a file that is not UTF-8 and has no byte order mark may be, in this order."""
_CHINESE: Final = frozenset({"gbk", "gb18030", "big5"})
SAMPLE_BYTES: Final = 64 * 1024
"""Most bytes kept to judge the candidates: the first :data:`HEAD_BYTES` of the text, then
lines that hold non-ASCII bytes."""
HEAD_BYTES: Final = 16 * 1024
_LINE_BYTES: Final = 2048  # most bytes kept of one sampled line (from its start)
_CHUNK: Final = 1 << 16  # bytes read at a time
_SHOWN_CHARS: Final = 60  # longest reading of the first line shown to the admin
_BOMS: Final = (
    # UTF-32's marks first: UTF-32-LE's starts with UTF-16-LE's.
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_HIGH_BYTE: Final = re.compile(rb"[\x80-\xff]")
_NOT_C1: Final = bytes(b for b in range(256) if not 0x80 <= b <= 0x9F)  # to delete
_C1_CONTROL: Final = re.compile("[\x80-\x9f]")
_NON_ASCII_RUN: Final = re.compile(r"[^\x00-\x7f]+")
# Signs that Western text holds outside ASCII (besides letters).
_WESTERN_SIGNS: Final = frozenset("€‚„…†‡•–—‘’“”‹›™©®°±×÷«»¿¡§¶·¢£¥²³¹¼½¾´‰\xa0")
_GLUED_HAN_SHARE: Final = 0.5  # at most this share of ideographs may touch a Latin letter
_COMMON_HAN_SHARE: Final = 0.8  # at least this share of ideographs must be common ones
_FOREIGN_SHARE: Final = 0.1  # at most this share of a Chinese reading's non-ASCII may be other
_ODD_WESTERN_SHARE: Final = 0.2  # at most this share of a Western reading's non-ASCII is odd
_CLEARER: Final = 0.1  # of two plausible readings, one this much less messy wins


@dataclass(frozen=True, slots=True)
class Known:
    """The file's encoding (a Python codec name) and how it was found."""

    encoding: str
    how: str
    """``"given"`` (by the admin), ``"bom"``, ``"utf-8"`` (valid UTF-8) or ``"detected"``."""


@dataclass(frozen=True, slots=True)
class Invalid:
    """The file is not valid text in the encoding the admin named or its byte order mark
    names."""

    encoding: str
    line: int
    """The first line (1-based) that is not valid in it."""
    how: str
    """``"given"`` or ``"bom"``."""


@dataclass(frozen=True, slots=True)
class Unsure:
    """Not one candidate has the evidence: the first line that differs, as each reads it."""

    line: int
    readings: tuple[tuple[str, str], ...]
    """``(encoding, that line as it reads it)`` for each candidate that reads it as text."""


@dataclass(frozen=True, slots=True)
class Unreadable:
    """No encoding considered reads the file as text."""


Verdict = Known | Invalid | Unsure | Unreadable


def text_encoding(name: str) -> str | None:
    """The codec name Python knows ``name`` by, if it is a text encoding (not "base64", say)."""
    name = name.strip()
    if not name or len(name) > 40:
        return None
    try:
        info = codecs.lookup(name)
        "a".encode(info.name)  # LookupError for codecs that are not text encodings
    except LookupError:
        return None
    return info.name


def first_invalid_line(chunks: Iterable[bytes], encoding: str) -> int | None:
    """The first line (1-based) of the text that is not valid ``encoding``; None if all is."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    lines = 0
    try:
        for chunk in chunks:
            lines += decoder.decode(chunk).count("\n")
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        return lines + _newlines_before(exc) + 1
    return None


def decide(open_file: Callable[[], IO[bytes]], given: str | None = None) -> Verdict:
    """The encoding of the file that ``open_file`` opens (from its start, each call; see the
    module's notes).

    ``given``: the encoding the admin named (a name :func:`text_encoding` accepted), or None to
    decide. Reads the file a chunk at a time: once if it is valid in the encoding given, named
    by its byte order mark, or UTF-8; else once more, to try the other candidates. Keeps at
    most :data:`SAMPLE_BYTES` of it, and one line of it at a time."""
    with open_file() as stream:
        head = stream.read(4)
    if given is not None:
        encoding = text_encoding(given) or given
        if encoding == "utf-8" and head.startswith(codecs.BOM_UTF8):
            encoding = "utf-8-sig"
        return _checked(open_file, encoding, "given")
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return _checked(open_file, encoding, "bom")
    if isinstance(_checked(open_file, "utf-8", "utf-8"), Known):
        return Known("utf-8", "utf-8")
    scan = _Scan()
    with open_file() as stream:
        for piece in _pieces(stream):
            scan.feed(piece)
    names = [name for name in AUTO_CANDIDATES if name in scan.alive]
    if "cp1252" in names and not scan.c1_bytes:
        names.remove("latin-1")  # reads every byte outside 0x80-0x9F as Windows-1252 does
    readings = {name: scan.sampler.read(name) for name in names}
    plausible: dict[str, tuple[float, str]] = {}  # reading -> (mess, first candidate)
    for name in names:
        mess = _mess(name, readings[name])
        if mess is not None and readings[name] not in plausible:
            plausible[readings[name]] = (mess, name)
    ranked = sorted(plausible.values())
    if len(ranked) == 1 or (len(ranked) > 1 and ranked[0][0] + _CLEARER <= ranked[1][0]):
        return Known(ranked[0][1], "detected")
    shown: list[tuple[str, str]] = []
    for name in names:
        line = scan.sampler.shown(name)
        if line is not None and line not in {reading for _, reading in shown}:
            shown.append((name, line))
    if not shown:
        return Unreadable()
    return Unsure(scan.sampler.first_line, tuple(shown))


def looks_chinese(text: str) -> bool:
    """Whether a Chinese reading of a sample looks like Chinese text: nearly all of its
    non-ASCII characters are CJK; most of its ideographs are common ones (GB2312's or Big5's
    first level: what everyday text uses) and do not touch a Latin letter."""
    han = other_cjk = foreign = glued = common = 0
    common_set = _common_han()
    for match in _NON_ASCII_RUN.finditer(text):
        run = match.group()
        for char in run:
            if _is_han(char):
                han += 1
                common += char in common_set
            elif _is_cjk_sign(char):
                other_cjk += 1
            else:
                foreign += 1
        left = _is_han(run[0]) and _latin_letter_at(text, match.start() - 1)
        right = _is_han(run[-1]) and _latin_letter_at(text, match.end())
        glued += (left or right) if len(run) == 1 else left + right
    total = han + other_cjk + foreign
    if total == 0 or foreign > _FOREIGN_SHARE * total:
        return False
    return glued <= _GLUED_HAN_SHARE * han and common >= _COMMON_HAN_SHARE * han


def looks_western(text: str) -> bool:
    """Whether a Western reading of a file's non-ASCII lines looks like Western text: nearly
    all of its non-ASCII characters are letters or common signs standing alone, or in short
    runs inside Latin words."""
    fine = odd = 0
    for match in _NON_ASCII_RUN.finditer(text):
        run = match.group()
        signs = all(char.isalpha() or char in _WESTERN_SIGNS for char in run)
        in_word = _latin_letter_at(text, match.start() - 1) or _latin_letter_at(text, match.end())
        if signs and (len(run) == 1 or (len(run) <= 3 and in_word)):
            fine += len(run)
        else:
            odd += len(run)
    return fine + odd > 0 and odd <= _ODD_WESTERN_SHARE * (fine + odd)


# --------------------------------------------------------------------------------------------
# Helpers


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK):
        yield chunk


def _pieces(stream: IO[bytes]) -> Iterator[bytes]:
    """The text in pieces that each end with a line end (the last one where the text does):
    a piece starts on a character boundary in every candidate (none uses a line feed byte
    inside a character), so each can be decoded on its own."""
    tail: list[bytes] = []
    for chunk in _chunks(stream):
        last = chunk.rfind(b"\n")
        if last < 0:
            tail.append(chunk)  # a long line: held until its end, as the CSV reader holds it
            continue
        tail.append(chunk[: last + 1])
        yield b"".join(tail)
        tail = [chunk[last + 1 :]]
    if rest := b"".join(tail):
        yield rest


def _checked(open_file: Callable[[], IO[bytes]], encoding: str, how: str) -> Known | Invalid:
    with open_file() as stream:
        line = first_invalid_line(_chunks(stream), encoding)
    return Known(encoding, how) if line is None else Invalid(encoding, line, how)


def _newlines_before(exc: UnicodeDecodeError) -> int:
    """Line ends in the bytes before the error, in the part of the text it was found in."""
    before = exc.object[: exc.start]
    try:
        return before.decode(exc.encoding, "replace").count("\n")
    except LookupError:  # "charmap" and the like: an ASCII-compatible guess is close enough
        return before.count(b"\n")


def _mess(encoding: str, reading: str) -> float | None:
    """How messy the candidate's reading of the sample is (charset-normalizer's chaos, 0 for
    clean text, at most its threshold of 0.2); None if it is not plausible: by our own test,
    or because charset-normalizer rejects it."""
    if _C1_CONTROL.search(reading):  # never in text: Latin-1 reading Windows-1252's signs
        return None
    ours = looks_chinese(reading) if encoding in _CHINESE else looks_western(reading)
    if not ours:
        return None
    matches = charset_normalizer.from_bytes(
        reading.encode(encoding), cp_isolation=[encoding], enable_fallback=False
    )
    wanted = codecs.lookup(encoding).name
    for match in matches:
        if any(_codec_name(name) == wanted for name in match.could_be_from_charset):
            return float(match.chaos)
    return None


def _codec_name(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return name


def _latin_letter_at(text: str, index: int) -> bool:
    return 0 <= index < len(text) and text[index].isascii() and text[index].isalpha()


def _is_han(char: str) -> bool:
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x3FFFF
    )


@functools.cache
def _common_han() -> frozenset[str]:
    """The ideographs of GB2312's first level (the 3,755 most used simplified ones) and of
    Big5's (the 5,401 most used traditional ones), read out of the codecs themselves."""
    found: set[str] = set()
    trails = (*range(0x40, 0x7F), *range(0xA1, 0xFF))
    for lead, codec, pairs in (
        (range(0xB0, 0xD8), "gb2312", range(0xA1, 0xFF)),
        (range(0xA4, 0xC7), "big5", trails),
    ):
        for first in lead:
            for second in pairs:
                if codec == "big5" and (first, second) > (0xC6, 0x7E):
                    continue
                with contextlib.suppress(UnicodeDecodeError):
                    found.add(bytes((first, second)).decode(codec))
    return frozenset(found)


def _is_cjk_sign(char: str) -> bool:
    """Punctuation, kana, full-width forms and the like that Chinese text uses (GBK and Big5
    have them), and the pinyin vowels with tone marks."""
    code = ord(char)
    return (
        0x3000 <= code <= 0x303F  # CJK punctuation (not kana, not bopomofo: misreadings have them)
        or 0x3200 <= code <= 0x33FF  # enclosed and compatibility forms: ㈠ ㎡
        or 0xFE30 <= code <= 0xFE4F  # vertical forms
        or 0xFF00 <= code <= 0xFFEF  # full-width forms
        or 0x2010 <= code <= 0x206F  # general punctuation: “”‘’—…‰※
        or 0x2100 <= code <= 0x27BF  # letterlike, numbers, arrows, maths, boxes, shapes: ℃①→
        or char in "·¤§¨°±×÷"
        or (char.isalpha() and unicodedata.name(char, "").startswith("LATIN SMALL LETTER"))
    )


class _Scan:
    """One pass over the text in line-aligned pieces: which candidates read all of it, and a
    sample."""

    def __init__(self) -> None:
        # GB18030 reads every GBK text as GBK does: it is only tried from the piece GBK fails
        # on (the pieces before, valid GBK, are valid GB18030). Latin-1 reads every byte.
        self.alive = {"gbk", "big5", "cp1252", "latin-1"}
        self.c1_bytes = False
        self.sampler = _Sampler()

    def feed(self, piece: bytes) -> None:
        self.sampler.feed(piece)
        if piece.isascii():  # every candidate reads ASCII, and a piece leaves no state
            return
        for name in ("gbk", "gb18030", "big5", "cp1252"):
            if name in self.alive:
                try:
                    piece.decode(name)
                except UnicodeDecodeError:
                    self.alive.discard(name)
                    if name == "gbk":
                        self.alive.add("gb18030")
        if not self.c1_bytes and piece.translate(None, _NOT_C1):
            self.c1_bytes = True


class _Sampler:
    """The start of the text, then the lines that hold non-ASCII bytes, until there are
    enough; fed line-aligned pieces. Each part kept begins where a line does (a character
    boundary in every candidate)."""

    def __init__(self) -> None:
        self.head = b""
        """The first :data:`HEAD_BYTES` of the text (every line, ASCII or not: context)."""
        self.lines: list[tuple[int, bytes]] = []
        """Later lines that hold non-ASCII bytes: (number, the line from its start)."""
        self.size = 0
        self._line = 1  # number of the line the next piece starts

    @property
    def full(self) -> bool:
        return self.size >= SAMPLE_BYTES

    def feed(self, piece: bytes) -> None:
        if self.full:
            return
        start = 0
        if len(self.head) < HEAD_BYTES:
            room = HEAD_BYTES - len(self.head)
            self.head += piece[:room]
            self.size = len(self.head)
            if len(piece) <= room:
                self._line += piece.count(b"\n")
                return
            newline = piece.find(b"\n", room - 1)  # the head's last line goes on to here
            start = newline + 1 if newline >= 0 else len(piece)
        self._lines_in(piece, start, self._line + piece.count(b"\n", 0, start))
        self._line += piece.count(b"\n")

    def _lines_in(self, piece: bytes, start: int, line: int) -> None:
        """Keep the lines from ``start`` (line number ``line``) that hold a high byte."""
        if piece[start:].isascii():  # far faster than the search
            return
        at = start
        while not self.full and (match := _HIGH_BYTE.search(piece, start)):
            newline = piece.rfind(b"\n", start, match.start())
            begin = newline + 1 if newline >= 0 else start
            end = piece.find(b"\n", match.start())
            end = end if end >= 0 else len(piece)
            line += piece.count(b"\n", at, begin)
            kept = piece[begin : match.start() + _LINE_BYTES]
            self.lines.append((line, kept[: end - begin]))
            self.size += min(len(kept), end - begin)
            line += 1
            at = start = end + 1

    @property
    def first(self) -> tuple[int, bytes] | None:
        """The first line that holds a non-ASCII byte: its number and bytes (from its start;
        perhaps cut short)."""
        if (high := _HIGH_BYTE.search(self.head)) is not None:
            begin = self.head.rfind(b"\n", 0, high.start()) + 1
            end = self.head.find(b"\n", high.start())
            line = self.head[begin : end if end >= 0 else len(self.head)]
            return self.head.count(b"\n", 0, begin) + 1, line
        return self.lines[0] if self.lines else None

    @property
    def first_line(self) -> int:
        return self.first[0] if self.first else 0

    def read(self, encoding: str) -> str:
        """The sample as ``encoding`` reads it (a part cut short loses the part of a character
        at its end)."""
        parts = (self.head, *(line for _, line in self.lines))
        return "\n".join(_decode_start(part, encoding) for part in parts)

    def shown(self, encoding: str) -> str | None:
        """The first line with a non-ASCII byte as ``encoding`` reads it, for the admin to
        recognise: from a little before that byte, at most :data:`_SHOWN_CHARS` characters,
        anything unprintable escaped; None if it holds control characters (not text)."""
        if self.first is None:
            return None
        line = self.first[1].rstrip(b"\r")
        high = _HIGH_BYTE.search(line)
        begin = max(0, (high.start() if high else 0) - 20)  # an ASCII byte: a boundary
        text = _decode_start(line[begin:], encoding)
        if any(unicodedata.category(char) == "Cc" and char != "\t" for char in text):
            return None
        if len(text) > _SHOWN_CHARS:
            text = text[: _SHOWN_CHARS - 1] + "…"
        text = "".join(char if char.isprintable() else f"\\u{ord(char):04x}" for char in text)
        return ("…" if begin else "") + text.strip()


def _decode_start(data: bytes, encoding: str) -> str:
    """``data`` (the start of a valid text) decoded, without a character cut at its end."""
    return codecs.getincrementaldecoder(encoding)("strict").decode(data)
