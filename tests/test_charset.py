"""The upload's text encoding (bot.charset): decided on evidence, named by the admin, or
refused with the candidates' readings; and how the parser and the caption use it."""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from bot import charset
from bot.charset import Invalid, Known, Unreadable, Unsure
from bot.importing import RowError, TaskReader, parse_tasks
from bot.services import uploads

# Short files the way admins send them: a header and three rows, as a spreadsheet saves them.
FRENCH = ["La façade de l’église", "Très bien merci", "Ça coûte 5 €"]
GERMAN = ["Die Größe der Straße", "Über den Wolken", "Schön danke"]
SPANISH = ["¿Qué tal? Muy bien", "El niño comió", "Mañana iremos a la playa"]
SIMPLIFIED = ["快递很快，包装完好。", "质量一般；客服态度不错", "“引号”和逗号都在"]
TRADITIONAL = ["快遞很快，包裝完好。", "品質一般；客服態度不錯", "這部電影很無聊"]
# GB18030 beyond GBK: 𠀀 (U+20000) and ⺁ have four-byte codes.
BEYOND_GBK = ["生僻字𠀀也能存", "部首⺁在这里", "普通的一行"]


def three_rows(texts: list[str]) -> str:
    return "id,text,label\n" + "".join(f"{i},{text},x\n" for i, text in enumerate(texts, 1))


def many_rows(texts: list[str], count: int = 3_000) -> str:
    return "id,text\n" + "".join(f"r{i},{texts[i % len(texts)]} #{i}\n" for i in range(count))


def opener(data: bytes, *, read_size: int | None = None) -> Callable[[], IO[bytes]]:
    """Opens ``data``; ``read_size`` caps what one read returns (as a pipe or socket may)."""

    class Short(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            if read_size is not None and (size is None or size < 0 or size > read_size):
                size = read_size
            return super().read(size)

    return lambda: Short(data)


def decide(data: bytes, given: str | None = None, **kwargs: int) -> charset.Verdict:
    return charset.decide(opener(data, **kwargs), given)


# --- The trap this module exists for ------------------------------------------------------


def test_windows_1252_facade_is_valid_gbk_but_not_read_as_chinese() -> None:
    texts = ["La façade est belle", "Très bien merci", "Ça va"]
    data = three_rows(texts).encode("cp1252")
    assert "fa鏰de" in data.decode("gbk")  # strict GBK takes it: the old reader's choice
    assert decide(data) == Known("cp1252", "detected")
    result = parse_tasks(data, "reviews.csv")
    assert result.errors == []
    assert result.encoding == "cp1252"
    assert [row.text for row in result.rows] == texts


# --- Each encoding, short and long ----------------------------------------------------------

CASES = [
    # (texts, how the file was saved, what it must be read as)
    (FRENCH, "cp1252", "cp1252"),
    (SPANISH, "cp1252", "cp1252"),
    # Latin-1 and Windows-1252 agree on every byte a Latin-1 text uses outside 0x80-0x9F.
    (GERMAN, "latin-1", "cp1252"),
    (["Ærlig talt ørnen flyr", "Smörgåsbord är gott", "È bello perché sì"], "latin-1", "cp1252"),
    (SIMPLIFIED, "gbk", "gbk"),
    (BEYOND_GBK, "gb18030", "gb18030"),
    (TRADITIONAL, "big5", "big5"),
    (FRENCH + SIMPLIFIED, "utf-8", "utf-8"),
    (FRENCH + SIMPLIFIED, "utf-8-sig", "utf-8-sig"),
    (FRENCH + SIMPLIFIED, "utf-16", "utf-16"),  # with its byte order mark
    (FRENCH + SIMPLIFIED, "utf-32", "utf-32"),
]


@pytest.mark.parametrize(("texts", "saved", "read_as"), CASES)
@pytest.mark.parametrize("size", ["three rows", "3,000 rows"])
def test_each_encoding_is_read_right(
    texts: list[str], saved: str, read_as: str, size: str
) -> None:
    if size == "three rows":
        text, written = three_rows(texts), texts
    else:
        if saved == "gb18030":
            # A rare character in one line out of ten (as in real text; in every third line
            # charset-normalizer finds the text too odd: see the test below).
            texts = [*SIMPLIFIED * 3, BEYOND_GBK[0]]
        text = many_rows(texts)
        written = [f"{texts[i % len(texts)]} #{i}" for i in range(3_000)]
    data = text.encode(saved)
    verdict = decide(data)
    assert isinstance(verdict, Known)
    assert verdict.encoding == read_as
    # What the import stores is what was written.
    assert data.decode(verdict.encoding) == text
    result = parse_tasks(data, "tasks.csv")
    assert result.errors == []
    assert [row.text for row in result.rows] == written


def test_odd_text_in_a_rare_encoding_is_refused_rather_than_guessed() -> None:
    # A four-byte GB18030 character in every third line: too odd for charset-normalizer.
    data = many_rows(BEYOND_GBK).encode("gb18030")
    verdict = decide(data)
    assert isinstance(verdict, Unsure)
    assert verdict.readings[0] == ("gb18030", "r0,生僻字𠀀也能存 #0")
    assert decide(data, "gb18030") == Known("gb18030", "given")


@pytest.mark.parametrize(("texts", "saved", "read_as"), CASES)
def test_the_verdict_does_not_depend_on_how_the_file_is_read(
    texts: list[str], saved: str, read_as: str
) -> None:
    data = many_rows(texts, 400).encode(saved)
    assert decide(data, read_size=7) == decide(data) == decide(data, read_size=65_537)


def test_evidence_only_at_the_end_of_a_big_file_is_found() -> None:
    # Far more than the sample's head of ASCII, then one Chinese line and one Western line.
    head = "id,text\n" + "".join(f"a{i},plain ascii row {i}\n" for i in range(30_000))
    gbk = head.encode() + "z1,这部电影很无聊，但是演员不错\n".encode("gbk")
    assert decide(gbk) == Known("gbk", "detected")
    western = head.encode() + "z1,La façade est très belle\n".encode("cp1252")
    assert decide(western) == Known("cp1252", "detected")


def test_a_byte_that_rules_a_candidate_out_may_come_after_the_sample() -> None:
    # GBK reads the start; a GB18030 four-byte character only near the end.
    text = many_rows(SIMPLIFIED, 8_000) + "last,生僻字𠀀\n"
    assert decide(text.encode("gb18030")) == Known("gb18030", "detected")
    # Windows-1252 reads every sampled line, but has no byte 0x81: Latin-1 is left, and it
    # reads 0x81 as a control character: no encoding reads this file as text.
    data = many_rows(FRENCH, 8_000).encode("cp1252") + b"last,\x81\n"
    assert decide(data) == Unreadable()


# --- Not sure: refuse, and show the line ---------------------------------------------------


def test_too_little_text_to_tell_is_refused_with_each_reading() -> None:
    # Two single characters: as GBK "好"/"坏", as Big5 "疑"/"輓", both common ideographs.
    data = "id,label\n1,好\n2,坏\n".encode("gbk")
    assert decide(data) == Unsure(
        line=2, readings=(("gbk", "1,好"), ("big5", "1,疑"), ("cp1252", "1,ºÃ"))
    )
    result = parse_tasks(data, "short.csv")
    assert result.rows == []
    assert result.errors == [
        RowError(
            0,
            "unsure_encoding",
            {
                "line": "2",
                "readings": "\n".join(
                    ["  encoding=gbk → 1,好", "  encoding=big5 → 1,疑", "  encoding=cp1252 → 1,ºÃ"]
                ),
                "example": "gbk",
            },
        )
    ]


def test_the_line_shown_is_the_first_with_non_ascii_bytes_cut_around_them() -> None:
    # Signs alone, outside any word: no candidate has evidence.
    short = decide(b"id,text\n1,ok\n2,\xa4\xa6\xa8\n")
    assert short == Unsure(line=3, readings=(("cp1252", "2,¤¦¨"),))
    # A long line is shown from a little before its first non-ASCII byte, shortened.
    long = decide(b"id,text\n1,ok\n2," + b"x" * 200 + b" \xa4\xa6\xa8 " + b"y" * 200 + b"\n")
    assert isinstance(long, Unsure)
    assert long.line == 3
    ((name, line),) = long.readings
    assert name == "cp1252"
    assert line == "…" + "x" * 19 + " ¤¦¨ " + "y" * 35 + "…"  # 60 characters after the first "…"


def test_no_reading_with_control_characters_is_shown() -> None:
    # Only Latin-1 reads it, with C1 controls: not text in any encoding considered.
    assert decide(b"id,text\n1,\xff\xfe\x80\x81\xc0\xaf\n") == Unreadable()


# --- Named by the admin, or by a byte order mark ---------------------------------------------


def test_the_encoding_given_wins_and_must_fit_the_whole_file() -> None:
    ambiguous = "id,label\n1,好\n2,坏\n".encode("gbk")
    assert decide(ambiguous, "GBK") == Known("gbk", "given")
    assert decide(ambiguous, "big5") == Known("big5", "given")
    # Latin-1 reads anything; UTF-8 does not read this, and says where.
    assert decide(ambiguous, "latin-1") == Known("iso8859-1", "given")
    assert decide(ambiguous, "utf-8") == Invalid("utf-8", 2, "given")
    # utf-8 given for a file with a byte order mark: the mark is not read as text.
    assert decide("text\nok\n".encode("utf-8-sig"), "utf-8") == Known("utf-8-sig", "given")


def test_a_byte_order_mark_decides_and_the_rest_must_fit() -> None:
    assert decide(codecs_bom("utf-16") + "a\nb\n".encode("utf-16-le")) == Known("utf-16", "bom")
    broken = "text\nline two\n".encode("utf-8-sig") + b"\xff\xfe\n"
    assert decide(broken) == Invalid("utf-8-sig", 3, "bom")
    odd = "text\nok\n".encode("utf-16") + b"\x00"
    assert decide(odd) == Invalid("utf-16", 3, "bom")


def codecs_bom(name: str) -> bytes:
    return "".encode(name)  # Python writes just the byte order mark


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("x.csv", "text\nok\nça\n".encode("cp1252")),
        ("x.jsonl", '{"text": "ok"}\n{"text": "ça"}\n'.encode("cp1252")),
        ("x.json", '[{"text": "ok"},\n {"text": "ça"}]'.encode("cp1252")),
    ],
)
def test_the_parser_reads_with_the_encoding_given_and_says_where_it_does_not_fit(
    filename: str, data: bytes
) -> None:
    result = parse_tasks(data, filename, encoding="cp1252")
    assert result.errors == []
    assert result.rows[-1].text.endswith("ça")
    refused = parse_tasks(data, filename, encoding="utf-8")
    assert refused.rows == []
    assert refused.errors == [
        RowError(
            0,
            "not_given_encoding",
            {"encoding": "utf-8", "line": "2" if filename != "x.csv" else "3"},
        )
    ]


def test_a_refused_file_yields_no_rows_from_the_reader() -> None:
    reader = TaskReader(opener("id,label\n1,好\n2,坏\n".encode("gbk")), "x.csv")
    assert reader.failed
    assert [batch for batch in reader.batches()] == []


# --- The caption's encoding= -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "codec"),
    [
        ("gbk", "gbk"),
        ("GB18030", "gb18030"),
        ("Big5", "big5"),
        ("cp1252", "cp1252"),
        ("windows-1252", "cp1252"),
        ("latin1", "iso8859-1"),
        ("UTF-16", "utf-16"),
        ("utf8", "utf-8"),
    ],
)
def test_the_caption_names_the_encoding(value: str, codec: str) -> None:
    parsed = uploads.parse_caption(f"/upload reviews options=a,b encoding={value}")
    assert parsed == uploads.UploadRequest("reviews", {"options": "a,b"}, encoding=codec)


@pytest.mark.parametrize("value", ["klingon", "base64", "rot13", "", "x" * 100])
def test_an_unknown_encoding_in_the_caption_is_a_polite_error(value: str) -> None:
    parsed = uploads.parse_caption(f"/upload reviews encoding={value}")
    assert parsed == uploads.ArgError("arg_bad_encoding", {"value": value[:40]})


def test_rules_on_readings() -> None:
    assert not charset.looks_chinese("fa鏰de")  # an ideograph inside a Latin word
    assert not charset.looks_chinese("1,準都雛砩 涴跺忒儂腔萇喀哿瑤")  # rare ideographs
    assert charset.looks_chinese("我喜欢用Python写代码，非常满意。")
    assert not charset.looks_western("½ñÌìÌìÆøºÜºÃ")  # Chinese read as Windows-1252
    assert charset.looks_western("Il est à Paris, c’est l’été — 5 €")
    assert charset.text_encoding("nope") is None
    assert charset.text_encoding(" GBK ") == "gbk"


ROWS = 60_000


@pytest.mark.parametrize("saved", ["cp1252", "gbk"])
def test_a_big_file_is_decided_and_read_without_being_held(saved: str, tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    row = (
        "La façade de l’église est très belle — naïve"
        if saved == "cp1252"
        else "这部电影很无聊，但是演员不错"
    )
    with path.open("w", encoding=saved, newline="") as out:
        out.write("id,text\n")
        for i in range(ROWS):
            out.write(f"r{i},{row} {i}\n")
    size = path.stat().st_size
    assert size > 2 * 2**20
    tracemalloc.start()
    try:
        reader = TaskReader(lambda: path.open("rb"), "big.csv", ids=None, batch_rows=1_000)
        rows = sum(len(batch) for batch in reader.batches())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reader.errors == [] and reader.encoding == saved
    assert rows == ROWS
    assert peak < size / 3, (peak, size)  # holding the file (or its rows) would exceed it
