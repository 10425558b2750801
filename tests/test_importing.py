"""Tests for bot.importing: parsing uploaded task files into rows and coded errors."""

from __future__ import annotations

import ast
import csv
import io
import json
import re
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import importing
from bot.importing import (
    ERROR_PARAMS,
    MAX_COLUMNS,
    MAX_ERRORS,
    MAX_FIELD_CHARS,
    ParseResult,
    Row,
    RowError,
    TaskReader,
    TaskRow,
    parse_tasks,
)


def codes(result: ParseResult) -> list[tuple[int, str]]:
    return [(e.line, e.code) for e in result.errors]


@pytest.fixture
def restore_csv_limit() -> Iterator[None]:
    old = csv.field_size_limit()
    yield
    csv.field_size_limit(old)


# --- CSV ------------------------------------------------------------------------------------


def test_csv_utf8_with_id_gold_and_payload() -> None:
    data = "ID, Text ,gold,explanation\n a1 ,  Привет мир  ,pos, because\nb2,second,,\n".encode()
    result = parse_tasks(data, "batch.csv")
    assert result.errors == []
    assert (result.format, result.encoding, result.unit) == ("csv", "utf-8", "line")
    assert result.rows == [
        TaskRow(2, "a1", "Привет мир", "pos", {"explanation": "because"}),
        TaskRow(3, "b2", "second", None, {"explanation": ""}),
    ]


def test_csv_utf8_with_bom() -> None:
    data = "\ufefftext,id\nhello,7\n".encode()
    result = parse_tasks(data, "x.CSV")
    assert result.encoding == "utf-8-sig"
    assert result.errors == []
    assert result.rows == [TaskRow(2, "7", "hello", None, {})]


def test_csv_gbk_chinese() -> None:
    data = "text,gold\n今天天气很好,正面\n这部电影很无聊,负面\n".encode("gbk")
    result = parse_tasks(data, "excel.csv")
    assert result.encoding == "gbk"
    assert result.errors == []
    assert [(r.text, r.gold) for r in result.rows] == [
        ("今天天气很好", "正面"),
        ("这部电影很无聊", "负面"),
    ]


def test_csv_multiline_quoted_field_keeps_line_numbers() -> None:
    data = (
        b"id,text\r\n"
        b'1,"first line\r\nsecond line\r\nthird line"\r\n'
        b"2,plain\r\n"
        b"\r\n"
        b'3,"two\nlines"\r\n'
        b"4,\r\n"
    )
    result = parse_tasks(data, "x.csv")
    assert [(r.line, r.external_id, r.text) for r in result.rows] == [
        (2, "1", "first line\r\nsecond line\r\nthird line"),
        (5, "2", "plain"),
        (7, "3", "two\nlines"),
    ]
    assert result.errors == [RowError(9, "empty_value", {"column": "text"})]


def test_csv_leading_blank_lines_are_counted() -> None:
    result = parse_tasks(b"\n\r\n,,\n\ntext,gold\n\nfirst,\n,x\n", "x.csv")
    assert result.rows == [TaskRow(7, None, "first", None, {})]
    assert result.errors == [RowError(8, "empty_value", {"column": "text"})]


def test_csv_missing_text_column() -> None:
    result = parse_tasks(b"id,body\n1,hello\n", "x.csv")
    assert result.rows == []
    assert result.errors == [RowError(0, "missing_column", {"column": "text"})]


def test_csv_empty_text_reports_its_line_and_collects_all_errors() -> None:
    blank_lines = parse_tasks(b"text\nfine\n\n   \n ,\nok\n", "x.csv")
    assert blank_lines.errors == []  # lines with no content at all are skipped
    assert [r.line for r in blank_lines.rows] == [2, 6]
    data = b"text,gold\nfine,\n ,A\nok,\n,B\n"
    result = parse_tasks(data, "x.csv")
    assert result.errors == [
        RowError(3, "empty_value", {"column": "text"}),
        RowError(5, "empty_value", {"column": "text"}),
    ]
    assert [r.line for r in result.rows] == [2, 4]


def test_csv_duplicate_ids() -> None:
    data = b"id,text\n1,a\n2,b\n1,c\n2,d\n1,e\n"
    result = parse_tasks(data, "x.csv")
    assert result.errors == [
        RowError(4, "duplicate_id", {"id": "1", "first_line": "2"}),
        RowError(5, "duplicate_id", {"id": "2", "first_line": "3"}),
        RowError(6, "duplicate_id", {"id": "1", "first_line": "2"}),
    ]
    assert [r.external_id for r in result.rows] == ["1", "2"]


def test_csv_required_ab_columns() -> None:
    data = b"Prompt,A,B,id\nWhich is better?,left,right,q1\nSecond?,,right,q2\n"
    result = parse_tasks(data, "ab.csv", required=("prompt", "a", "b"))
    assert result.errors == [RowError(3, "empty_value", {"column": "a"})]
    assert result.rows == [
        TaskRow(2, "q1", "", None, {"prompt": "Which is better?", "a": "left", "b": "right"})
    ]
    missing = parse_tasks(b"prompt,a\nx,y\n", "ab.csv", required=("prompt", "a", "b"))
    assert missing.errors == [RowError(0, "missing_column", {"column": "b"})]


def test_tsv_uses_tab_delimiter() -> None:
    data = b"text\tgold\tnote\nhello, world\tyes\ta;b\n"
    result = parse_tasks(data, "tasks.tsv")
    assert result.format == "csv"
    assert result.errors == []
    assert result.rows == [TaskRow(2, None, "hello, world", "yes", {"note": "a;b"})]


def test_csv_semicolon_delimiter_is_sniffed_from_header() -> None:
    data = b"id;text;gold\n1;hello, world;x\n"
    result = parse_tasks(data, "excel.csv")
    assert result.errors == []
    assert result.rows == [TaskRow(2, "1", "hello, world", "x", {})]


def test_csv_extra_fields() -> None:
    data = b"text,gold\na,b,c\nd,e,,\n"  # trailing empty cells are tolerated
    result = parse_tasks(data, "x.csv")
    assert result.errors == [RowError(2, "extra_fields", {"expected": "2", "found": "3"})]
    assert [r.text for r in result.rows] == ["d"]


def test_csv_nul_character() -> None:
    result = parse_tasks(b"text,gold\nab\x00c,x\nok,y\n", "x.csv")
    assert result.errors == [RowError(2, "nul_character", {"column": "text"})]
    assert [r.text for r in result.rows] == ["ok"]


def test_csv_duplicate_column() -> None:
    result = parse_tasks(b"text,Text\na,b\n", "x.csv")
    assert result.errors == [RowError(0, "duplicate_column", {"column": "text"})]


def test_csv_header_only_and_blank_file() -> None:
    assert codes(parse_tasks(b"text,gold\r\n\r\n", "x.csv")) == [(0, "no_rows")]
    assert codes(parse_tasks(b"\n  \r\n\t\n", "x.csv")) == [(0, "no_header")]


def test_csv_malformed_becomes_row_error(
    monkeypatch: pytest.MonkeyPatch, restore_csv_limit: None
) -> None:
    # Simulate another part of the process having lowered the (global) csv field limit.
    monkeypatch.setattr(importing, "_ensure_csv_field_limit", lambda: None)
    csv.field_size_limit(1000)
    data = b"text\n" + b"x" * 2000 + b"\nok\n"
    result = parse_tasks(data, "x.csv")
    assert [(e.line, e.code) for e in result.errors] == [(2, "csv_malformed")]
    assert "field limit" in result.errors[0].params["detail"]
    assert [(r.line, r.text) for r in result.rows] == [(3, "ok")]


def test_too_many_errors_is_capped() -> None:
    result = parse_tasks(b"text,gold\nx,\n" + b",y\n" * 1500, "x.csv")
    assert len(result.errors) == MAX_ERRORS + 1
    assert result.errors[0] == RowError(3, "empty_value", {"column": "text"})
    assert result.errors[-1] == RowError(0, "too_many_errors", {"count": "1500"})
    assert [r.text for r in result.rows] == ["x"]


# --- JSON Lines -----------------------------------------------------------------------------


def test_jsonl_happy_path_and_malformed_line() -> None:
    data = (
        b'{"id": "a", "text": " first ", "gold": "pos", "explanation": "e"}\n'
        b"\n"
        b'{"id": "b", "text": "second"}\n'
        b'{"id": "c", "text": "oops"\n'
        b'{"data": {"text": "label studio line", "id": "d"}}\n'
    )
    result = parse_tasks(data, "tasks.jsonl")
    assert (result.format, result.encoding, result.unit) == ("jsonl", "utf-8", "line")
    assert result.rows == [
        TaskRow(1, "a", "first", "pos", {"explanation": "e"}),
        TaskRow(3, "b", "second", None, {}),
        TaskRow(5, "d", "label studio line", None, {}),
    ]
    assert [(e.line, e.code) for e in result.errors] == [(4, "line_not_json")]
    assert "delimiter" in result.errors[0].params["detail"]


def test_jsonl_numbers_become_strings() -> None:
    data = b'{"id": 17, "text": 3.5, "gold": 1, "score": -2}\n{"id": 18, "text": 1e3}\r\n'
    result = parse_tasks(data, "x.ndjson")
    assert result.errors == []
    assert result.rows == [
        TaskRow(1, "17", "3.5", "1", {"score": "-2"}),
        TaskRow(2, "18", "1000.0", None, {}),
    ]


def test_jsonl_bad_types_and_non_objects() -> None:
    data = (
        b'{"text": true}\n'
        b'{"text": null}\n'
        b'{"text": {"a": 1}}\n'
        b'["text"]\n'
        b'{"text": "ok", "meta": {"k": [1, true]}, "flag": false, "none": null}\n'
        b'{"text": "x", "TEXT": "y"}\n'
        b'{"text": NaN}\n'
    )
    result = parse_tasks(data, "x.jsonl")
    assert [(e.line, e.code, e.params.get("column")) for e in result.errors] == [
        (1, "bad_value_type", "text"),
        (2, "empty_value", "text"),
        (3, "bad_value_type", "text"),
        (4, "row_not_object", None),
        (6, "duplicate_column", "text"),
        (7, "line_not_json", None),
    ]
    assert result.rows == [
        TaskRow(5, None, "ok", None, {"meta": '{"k": [1, true]}', "flag": "false"})
    ]


def test_jsonl_lone_surrogate_is_rejected() -> None:
    result = parse_tasks(b'{"text": "a\\ud800b"}\n', "x.jsonl")
    assert result.errors == [RowError(1, "bad_value_type", {"column": "text"})]


def test_jsonl_deeply_nested_line() -> None:
    data = b'{"text": "ok"}\n' + b"[" * 10_000 + b"]" * 10_000 + b"\n"
    result = parse_tasks(data, "x.jsonl")
    assert result.errors == [RowError(2, "line_not_json", {"detail": "nesting too deep"})]
    assert [r.text for r in result.rows] == ["ok"]


# --- JSON arrays ----------------------------------------------------------------------------


def test_label_studio_json_array() -> None:
    tasks = [
        {
            "id": 101,
            "data": {"text": "Great phone", "source": "shop"},
            "predictions": [{"model_version": "v1", "result": [{"value": {"choices": ["pos"]}}]}],
            "annotations": [],
        },
        {"id": 102, "data": {"id": "ext-2", "text": "Awful", "gold": "neg"}},
        {"text": "flat object", "id": "f3"},
        "not an object",
        {"id": 105, "data": {"text": "   "}},
    ]
    result = parse_tasks(json.dumps(tasks).encode(), "export.json")
    assert (result.format, result.encoding, result.unit) == ("json", "utf-8", "item")
    predictions = json.dumps(tasks[0]["predictions"], ensure_ascii=False)
    assert result.rows == [
        TaskRow(1, "101", "Great phone", None, {"source": "shop", "predictions": predictions}),
        TaskRow(2, "ext-2", "Awful", "neg", {}),
        TaskRow(3, "f3", "flat object", None, {}),
    ]
    assert result.errors == [
        RowError(4, "row_not_object", {}),
        RowError(5, "empty_value", {"column": "text"}),
    ]
    assert json.loads(result.rows[0].payload["predictions"])[0]["model_version"] == "v1"


def test_label_studio_image_tasks() -> None:
    tasks = [{"id": 1, "data": {"image": "https://example.com/1.png"}}, {"data": {"image": ""}}]
    result = parse_tasks(json.dumps(tasks).encode(), "x.json", required=("image",))
    assert result.rows == [TaskRow(1, "1", "", None, {"image": "https://example.com/1.png"})]
    assert result.errors == [RowError(2, "empty_value", {"column": "image"})]


def test_json_object_instead_of_array() -> None:
    result = parse_tasks(b'  {"text": "a"}  ', "x.json")
    assert result.errors == [RowError(0, "json_not_array", {})]
    assert result.rows == []


def test_json_invalid_and_empty_array() -> None:
    bad = parse_tasks(b'[{"text": "a"},]', "x.json")
    assert codes(bad) == [(0, "json_invalid")]
    assert bad.errors[0].params["detail"] == "Expecting value (line 1, column 16)"
    assert codes(parse_tasks(b"[]", "x.json")) == [(0, "no_rows")]
    infinite = parse_tasks(b'[{"text": 1e999}]', "x.json")
    assert infinite.errors == [RowError(1, "bad_value_type", {"column": "text"})]


def test_json_lines_saved_as_json_are_read_as_jsonl() -> None:
    result = parse_tasks(b'{"text": "a"}\n{"text": "b"}\n', "x.json")
    assert result.format == "jsonl"
    assert [(r.line, r.text) for r in result.rows] == [(1, "a"), (2, "b")]


def test_json_deeply_nested() -> None:
    result = parse_tasks(b"[" * 10_000 + b"]" * 10_000, "x.json")
    assert result.errors == [RowError(0, "json_invalid", {"detail": "nesting too deep"})]


def test_json_too_many_keys() -> None:
    item = {f"k{i}": "v" for i in range(MAX_COLUMNS + 1)} | {"text": "t"}
    result = parse_tasks(json.dumps([item, {"text": "ok"}]).encode(), "x.json")
    assert result.errors == [RowError(1, "too_many_columns", {"limit": str(MAX_COLUMNS)})]
    assert [r.text for r in result.rows] == ["ok"]


# --- Hostile input and format detection -----------------------------------------------------


def test_ten_megabyte_field(restore_csv_limit: None) -> None:
    csv.field_size_limit(131072)  # the library default; parse_tasks must cope with it
    big = b"a" * 10_000_000
    data = b"text,gold\n" + big + b",x\n" + b'"' + big + b'",y\nsmall,z\n'
    result = parse_tasks(data, "x.csv")
    limit = {"column": "text", "limit": str(MAX_FIELD_CHARS)}
    assert result.errors == [
        RowError(2, "field_too_long", limit),
        RowError(3, "field_too_long", limit),
    ]
    assert result.rows == [TaskRow(4, None, "small", "z", {})]
    line = b'{"text": "' + big + b'"}\n'
    assert codes(parse_tasks(line, "x.jsonl")) == [(1, "field_too_long")]


def test_one_million_columns() -> None:
    header = b",".join(b"c%d" % i for i in range(1_000_000)) + b",text\nx\n"
    result = parse_tasks(header, "x.csv")
    assert result.errors == [RowError(0, "too_many_columns", {"limit": str(MAX_COLUMNS)})]
    row = b"text\nok\n" + b"x" + b",y" * 1_000_000 + b"\nfine\n"
    result = parse_tasks(row, "x.csv")
    assert result.errors == [RowError(3, "too_many_columns", {"limit": str(MAX_COLUMNS)})]
    assert [r.text for r in result.rows] == ["ok", "fine"]


@pytest.mark.parametrize("filename", ["x.jsonl", "x.json"])
def test_json_that_is_not_utf8(filename: str) -> None:
    data = b"text\n\xff\xfe\x80 broken\n"
    result = parse_tasks(data, filename)
    assert result.errors == [RowError(0, "bad_encoding", {})]
    assert result.rows == []


@pytest.mark.parametrize("filename", ["x.csv", "x.tsv"])
def test_csv_bytes_without_evidence_for_any_encoding_are_refused_with_their_reading(
    filename: str,
) -> None:
    # Only Windows-1252 reads "\xff\xfe\x80" at all, as "ÿþ€": no text looks like that.
    result = parse_tasks(b"text\n\xff\xfe\x80 broken\n", filename)
    readings = "  encoding=cp1252 → ÿþ€ broken"
    params = {"line": "2", "readings": readings, "example": "cp1252"}
    assert result.errors == [RowError(0, "unsure_encoding", params)]
    assert result.rows == []


@pytest.mark.parametrize("filename", ["x.csv", "x.tsv"])
def test_csv_bytes_that_no_encoding_reads_as_text(filename: str) -> None:
    # 0xff starts no GBK, GB18030 or Big5 character, Windows-1252 has no 0x81, and Latin-1
    # reads 0x81 0x80 as control characters.
    result = parse_tasks(b"text\nok\n\xff\x81\x80 broken\n", filename)
    assert result.errors == [RowError(0, "bad_encoding", {})]
    assert result.rows == []


@pytest.mark.parametrize("filename", ["x.csv", "x.jsonl", "x.json", "x", ""])
@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf"])
def test_empty_file(filename: str, data: bytes) -> None:
    assert parse_tasks(data, filename).errors == [RowError(0, "empty_file", {})]


def test_whitespace_only_json_is_empty() -> None:
    assert codes(parse_tasks(b" \n\t\n", "x.json")) == [(0, "empty_file")]
    assert codes(parse_tasks(b" \n\r\n", "x.jsonl")) == [(0, "empty_file")]


@pytest.mark.parametrize(
    ("data", "fmt", "unit"),
    [
        (b'\n  [{"text": "a"}]', "json", "item"),
        (b'\xef\xbb\xbf {"text": "a"}\n', "jsonl", "line"),
        (b"text\na\n", "csv", "line"),
    ],
)
def test_format_is_sniffed_without_known_extension(data: bytes, fmt: str, unit: str) -> None:
    for filename in ("upload", "upload.txt", "", ".bin"):
        result = parse_tasks(data, filename)
        assert (result.format, result.unit, result.errors) == (fmt, unit, [])
        assert [r.text for r in result.rows] == ["a"]


def _imports(module: Any) -> set[str]:
    """What a module imports: top-level packages, and ``bot.x`` for this project's modules."""
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    names = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.module == "bot":
                names |= {f"bot.{alias.name}" for alias in node.names}
            else:
                names.add(node.module or "")
    return {name if name.startswith("bot.") else name.split(".")[0] for name in names}


def test_module_imports_only_the_standard_library_and_the_encoding_detector() -> None:
    from bot import charset

    imported = _imports(importing)
    assert "bot.charset" in imported
    assert imported - {"bot.charset"} <= set(sys.stdlib_module_names) | {"__future__"}
    # The detector: the standard library and charset-normalizer, nothing of the bot.
    detector = _imports(charset)
    assert "charset_normalizer" in detector
    assert detector - {"charset_normalizer"} <= set(sys.stdlib_module_names) | {"__future__"}


# --- Properties -----------------------------------------------------------------------------

_FILENAMES = st.sampled_from(["x.csv", "x.jsonl", "x.json", "x"])
_SEEDS = st.sampled_from([b"", b"text\n", b"id,text\n", b"[", b"{", b'{"text":', b"\xef\xbb\xbf"])


@settings(max_examples=200, deadline=None)
@given(seed=_SEEDS, data=st.binary(max_size=300), filename=_FILENAMES)
def test_parse_tasks_never_raises(seed: bytes, data: bytes, filename: str) -> None:
    result = parse_tasks(seed + data, filename)
    assert result.format in {"csv", "jsonl", "json"}
    assert result.unit == ("item" if result.format == "json" else "line")
    for error in result.errors:
        assert error.code in ERROR_PARAMS
        assert set(error.params) == set(ERROR_PARAMS[error.code])
        assert all(isinstance(v, str) for v in error.params.values())
    for row in result.rows:
        assert row.text.strip() == row.text != ""
        assert all(isinstance(v, str) for v in row.payload.values())


_CELL = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=20)


@settings(max_examples=100, deadline=None)
@given(texts=st.lists(_CELL.filter(str.strip), min_size=1, max_size=8))
def test_csv_round_trip_keeps_text_and_start_lines(texts: list[str]) -> None:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(["id", "text"])
    expected = []
    for number, text in enumerate(texts):
        line = 1 + len(re.findall(r"\r\n|\r|\n", out.getvalue()))
        expected.append(TaskRow(line, str(number), text.strip(), None, {}))
        writer.writerow([number, text])
    result = parse_tasks(out.getvalue().encode(), "x.csv")
    assert result.errors == []
    assert result.rows == expected


# --- Streaming (TaskReader) -----------------------------------------------------------------


class _Recording(io.BytesIO):
    """A file that remembers how many times it was opened and the largest read asked of it."""

    def __init__(self, data: bytes, log: dict[str, int]) -> None:
        super().__init__(data)
        self.log = log
        log["opened"] = log.get("opened", 0) + 1

    def _note(self, size: int | None) -> None:
        asked = len(self.getbuffer()) + 1 if size is None or size < 0 else size
        self.log["largest"] = max(self.log.get("largest", 0), asked)

    def read(self, size: int | None = -1) -> bytes:
        self._note(size)
        return super().read(size)

    def read1(self, size: int | None = -1) -> bytes:
        self._note(size)
        return super().read1(size)

    def readinto(self, buffer: Any) -> int:
        self._note(len(buffer))
        return super().readinto(buffer)


def _read_all(data: bytes, filename: str, **kwargs: Any) -> tuple[TaskReader, list[Row]]:
    reader = TaskReader(lambda: io.BytesIO(data), filename, **kwargs)
    return reader, [row for batch in reader.batches() for row in batch]


STREAM_FILES = [
    (
        "utf8.csv",
        "id,text,gold,note\n"
        + "".join(
            f'r{i},"Текст {i}, ""quoted""\nsecond line",{"pos" if i % 3 else ""},n{i}\n'
            for i in range(23)
        )
        + "\n,\nlast,only text,,\n",
    ),
    ("bom.csv", "\ufeffText;ID\n" + "".join(f"第{i}条;{i}\n" for i in range(17))),
    (
        "tasks.jsonl",
        "".join(
            json.dumps({"id": i, "text": f"t{i}", "meta": {"k": i}})
            + "\n"
            + ("\n" if i % 4 == 0 else "")
            for i in range(19)
        ),
    ),
]


@pytest.mark.parametrize(("filename", "text"), STREAM_FILES)
@pytest.mark.parametrize("batch_rows", [1, 4, 5_000])
def test_batches_of_any_size_give_the_same_rows(filename: str, text: str, batch_rows: int) -> None:
    data = text.encode("utf-8")
    whole = parse_tasks(data, filename)
    assert whole.errors == []
    assert len(whole.rows) > 15
    reader, rows = _read_all(data, filename, batch_rows=batch_rows)
    assert [TaskRow(*row) for row in rows] == whole.rows
    assert reader.errors == [] and not reader.failed
    assert (reader.format, reader.encoding, reader.unit) == (
        whole.format,
        whole.encoding,
        whole.unit,
    )


def test_gbk_is_chosen_even_when_only_the_end_of_a_big_file_shows_it() -> None:
    # More than a read chunk of plain ASCII (valid UTF-8), then GBK: the whole file decides.
    head = "id,text\n" + "".join(f"a{i},plain ascii row {i}\n" for i in range(20_000))
    data = head.encode("ascii") + "z1,这部电影很无聊\n".encode("gbk")
    assert len(data) > 4 * 65_536
    reader, rows = _read_all(data, "x.csv", batch_rows=1_000)
    assert reader.encoding == "gbk"
    assert reader.errors == []
    assert rows[-1][1:3] == ("z1", "这部电影很无聊")
    assert len(rows) == 20_001


def test_a_bad_byte_at_the_end_of_a_big_file_is_bad_encoding_and_no_rows() -> None:
    data = b"text\n" + b"fine row\n" * 50_000 + b"\xff\xfe\x80\n"
    for filename, code in (("x.csv", "unsure_encoding"), ("x.jsonl", "bad_encoding")):
        reader, rows = _read_all(data, filename, batch_rows=100)
        assert reader.failed
        assert [(e.line, e.code) for e in reader.errors] == [(0, code)]
        assert rows == []
    reader, _ = _read_all(data, "x.csv")
    assert reader.errors[0].params["line"] == "50002"


@pytest.mark.parametrize("filename", ["x.csv", "x.jsonl"])
def test_text_files_are_read_in_chunks_never_whole(filename: str) -> None:
    if filename.endswith(".csv"):
        data = ("text\n" + "a reasonably long line of text\n" * 100_000).encode()
    else:
        data = b'{"text": "a reasonably long line of text"}\n' * 100_000
    log: dict[str, int] = {}
    reader = TaskReader(lambda: _Recording(data, log), filename, batch_rows=1_000)
    assert sum(len(batch) for batch in reader.batches()) == 100_000
    assert reader.errors == []
    assert log["largest"] <= 1 << 20 < len(data)
    assert log["opened"] <= 4  # sniffing, the encoding check, the rows


def test_memory_stays_well_under_the_file_size(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    filler = "lorem ipsum dolor sit amet " * 45
    with path.open("w", encoding="utf-8") as out:
        out.write("id,text,note\n")
        for i in range(8_000):
            out.write(f'id{i},"Review {i}: {filler}",n{i % 7}\n')
    size = path.stat().st_size
    assert size > 9 * 2**20
    tracemalloc.start()
    try:
        reader = TaskReader(lambda: path.open("rb"), "big.csv", ids=None, batch_rows=1_000)
        rows = sum(len(batch) for batch in reader.batches())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == 8_000 and reader.errors == []
    assert peak < size / 3, (peak, size)  # holding the file (or its rows) would exceed it


def _dict_check() -> tuple[
    Callable[[list[tuple[str, int]]], list[tuple[int, str, int]]], list[int]
]:
    """A DuplicateCheck kept in a dict, and the sizes of the lists it was given."""
    first: dict[str, int] = {}
    calls: list[int] = []

    def check(pairs: list[tuple[str, int]]) -> list[tuple[int, str, int]]:
        calls.append(len(pairs))
        found = []
        for external_id, line in pairs:
            seen = first.setdefault(external_id, line)
            if seen != line:
                found.append((line, external_id, seen))
        return found

    return check, calls


def test_ids_checked_elsewhere_a_batch_at_a_time_report_the_same_errors() -> None:
    data = (
        b"id,text\n1,a\n2,b\n1,c\n3,\n2,d\n1,e\n4,f\n,g\n4,h\n"
        + b"".join(b"x%d,t\n" % i for i in range(30))
        + b"x3,again\n"
    )
    expected = parse_tasks(data, "x.csv").errors
    assert [e.code for e in expected].count("duplicate_id") == 5
    for batch_rows in (1, 2, 3, 7, 100):
        check, calls = _dict_check()
        reader, _ = _read_all(data, "x.csv", ids=check, batch_rows=batch_rows)
        assert reader.errors == expected, batch_rows
        assert max(calls) <= batch_rows
    unchecked, rows = _read_all(data, "x.csv", ids=None)
    assert [e.code for e in unchecked.errors] == ["empty_value"]
    assert len(rows) == 39  # every row but the empty one: duplicates are not looked for


def test_ids_checked_elsewhere_keep_the_error_cap_in_line_order() -> None:
    # Every other row repeats id 0; the rest have no text: 1,500 errors of two kinds.
    lines = [b"id,text", b"0,first"]
    for i in range(1, 1_501):
        lines.append(b"0,dup" if i % 2 else b"u%d," % i)
    data = b"\n".join(lines) + b"\n"
    expected = parse_tasks(data, "x.csv").errors
    assert len(expected) == MAX_ERRORS + 1
    check, _ = _dict_check()
    reader, _ = _read_all(data, "x.csv", ids=check, batch_rows=333)
    assert reader.errors == expected


def test_a_reader_reads_its_rows_once() -> None:
    reader, _ = _read_all(b"text\na\n", "x.csv")
    with pytest.raises(RuntimeError):
        next(reader.batches())
