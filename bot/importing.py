"""Parse task batches that admins upload as files (CSV/TSV, JSON Lines, JSON arrays).

This is the pure parsing layer: standard library only, no Telegram and no database.
:func:`parse_tasks` turns the raw bytes of an uploaded file into validated :class:`TaskRow`
objects plus a list of :class:`RowError` problems. It never raises on hostile input: every
problem (bad encoding, broken JSON, absurd sizes, ...) becomes an error with a machine code
that the UI translates (see :data:`ERROR_PARAMS` for every code and its message parameters).

Columns / keys
    ``id`` -> :attr:`TaskRow.external_id`, ``text`` -> :attr:`TaskRow.text`,
    ``gold`` -> :attr:`TaskRow.gold`; every other column goes to :attr:`TaskRow.payload`.
    Names are stripped, lower-cased and freed of a byte order mark; columns with a blank header
    are ignored. All values are stripped of surrounding whitespace (inner newlines are kept).

Validation
    ``required`` columns must be present (in the CSV header) and non-empty in every row; no
    value may be longer than :data:`MAX_FIELD_CHARS` characters or contain a NUL character;
    ids must be unique within the file. All row errors are collected (up to
    :data:`MAX_ERRORS`, then one ``too_many_errors`` entry), not only the first one. Rows with
    an error are left out of :attr:`ParseResult.rows`; the file is valid only if
    :attr:`ParseResult.errors` is empty.

Note: the CSV reader's field size limit is process-wide; :func:`parse_tasks` raises it (never
lowers it) so that a huge field is reported as ``field_too_long`` instead of a ``csv.Error``.
"""

from __future__ import annotations

import codecs
import csv
import enum
import io
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Any, Final

__all__ = [
    "ERROR_PARAMS",
    "MAX_COLUMNS",
    "MAX_ERRORS",
    "MAX_FIELD_CHARS",
    "ParseResult",
    "RowError",
    "TaskRow",
    "parse_tasks",
]

MAX_COLUMNS: Final = 200
"""Most columns allowed in a CSV header/row or keys in a JSON object."""
MAX_FIELD_CHARS: Final = 100_000
"""Longest single value allowed, in characters (after stripping)."""
MAX_ERRORS: Final = 1000
"""Most errors listed; beyond that a single ``too_many_errors`` entry is appended."""

ERROR_PARAMS: Final[Mapping[str, tuple[str, ...]]] = {
    # Whole-file problems (RowError.line == 0).
    "empty_file": (),
    "bad_encoding": (),
    "no_header": (),
    "missing_column": ("column",),
    "duplicate_column": ("column",),  # also per row for JSON keys differing only in case
    "too_many_columns": ("limit",),  # line 0 for the header, the row's line for a data row
    "json_invalid": ("detail",),
    "json_not_array": (),
    "no_rows": (),
    "too_many_errors": ("count",),  # count = all errors found, listed or not
    # Per-row problems (RowError.line = line number, or item number for JSON arrays).
    "empty_value": ("column",),
    "line_not_json": ("detail",),
    "row_not_object": (),
    "bad_value_type": ("column",),
    "duplicate_id": ("id", "first_line"),
    "field_too_long": ("column", "limit"),
    "nul_character": ("column",),
    "extra_fields": ("expected", "found"),
    "csv_malformed": ("detail",),
}
"""Every error code :func:`parse_tasks` can produce -> the names of its ``params``."""

_CORE_COLUMNS: Final = ("id", "text", "gold")
_UNITS: Final[Mapping[str, str]] = {"csv": "line", "jsonl": "line", "json": "item"}
_EXTENSIONS: Final[Mapping[str, tuple[str, str | None]]] = {
    # extension -> (format, fixed CSV delimiter or None to sniff it)
    "csv": ("csv", None),
    "tsv": ("csv", "\t"),
    "jsonl": ("jsonl", None),
    "ndjson": ("jsonl", None),
    "json": ("json", None),
}
_DELIMITERS: Final = (",", ";", "\t")  # sniffing order: ties go to the first one
_CSV_FIELD_SIZE_LIMIT: Final = 2**31 - 1  # fits a C long everywhere
_DISPLAY_CHARS: Final = 80  # longest value echoed back in RowError.params
_BOM: Final = codecs.BOM_UTF8
_NON_BLANK_BYTE: Final = re.compile(rb"[^ \t\r\n\f\v]")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class TaskRow:
    """One valid task read from the file."""

    line: int
    """1-based: physical line where the record starts (CSV/JSONL) or item number (JSON array)."""
    external_id: str | None
    """From column/key ``id`` (stripped; None if absent or empty)."""
    text: str
    """The item's main text (column ``text``; "" if absent and not required)."""
    gold: str | None
    """From ``gold`` (stripped; None if absent or empty)."""
    payload: dict[str, str]
    """Every other column/key -> string value (Label Studio ``predictions`` as a JSON string)."""


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem found in the file."""

    line: int
    """Line (CSV/JSONL) or item number (JSON array); 0 for whole-file problems."""
    code: str
    """Machine code translated by the UI; one of :data:`ERROR_PARAMS`."""
    params: dict[str, str]
    """Values for the message, e.g. ``{"column": "text"}``."""


@dataclass(frozen=True, slots=True)
class ParseResult:
    """Outcome of :func:`parse_tasks`."""

    format: str
    """``"csv"`` (also TSV), ``"jsonl"`` or ``"json"``."""
    encoding: str
    """``"utf-8"``, ``"utf-8-sig"`` or ``"gbk"`` (always ``"utf-8"`` for JSON/JSONL)."""
    unit: str
    """``"line"`` (csv/jsonl) or ``"item"`` (json): how to name :attr:`RowError.line`."""
    rows: list[TaskRow]
    """The rows that passed every check, in file order."""
    errors: list[RowError]
    """Empty means the file is valid."""


def parse_tasks(
    data: bytes, filename: str, *, required: tuple[str, ...] = ("text",)
) -> ParseResult:
    """Parse an uploaded task file.

    The format comes from the extension of ``filename`` (``.csv``, ``.tsv``, ``.jsonl``,
    ``.ndjson``, ``.json``); otherwise it is sniffed from the first non-blank byte
    (``[`` -> JSON, ``{`` -> JSONL, anything else -> CSV). ``required`` names the columns that
    must be present and non-empty in every row. Never raises on malformed input.
    """
    required_columns = tuple(dict.fromkeys(n for n in map(_normalize_key, required) if n))
    fmt, delimiter = _detect_format(data, filename)
    if not data or data == _BOM:
        return _whole_file_failure(fmt, "utf-8", "empty_file")
    if fmt == "json":
        return _parse_json(data, required_columns)
    if fmt == "jsonl":
        return _parse_jsonl(data, required_columns)
    return _parse_csv(data, delimiter, required_columns)


# --------------------------------------------------------------------------------------------
# Shared helpers


class _Errors:
    """Collects errors, keeping the first :data:`MAX_ERRORS` and counting all of them."""

    __slots__ = ("items", "total")

    def __init__(self) -> None:
        self.items: list[RowError] = []
        self.total = 0

    def add(self, line: int, code: str, **params: str) -> None:
        self.total += 1
        if len(self.items) < MAX_ERRORS:
            shown = {name: _display(value) for name, value in params.items()}
            self.items.append(RowError(line=line, code=code, params=shown))

    def finish(self) -> list[RowError]:
        if self.total > len(self.items):
            self.items.append(RowError(0, "too_many_errors", {"count": str(self.total)}))
        return self.items


class _RowBuilder:
    """Validates normalized records and turns the good ones into :class:`TaskRow` objects."""

    __slots__ = ("errors", "records", "required", "rows", "seen_ids")

    def __init__(self, required: tuple[str, ...], errors: _Errors) -> None:
        self.required = required
        self.errors = errors
        self.rows: list[TaskRow] = []
        self.seen_ids: dict[str, int] = {}
        self.records = 0  # data records seen, valid or not

    def add(
        self,
        line: int,
        record: dict[str, str],
        *,
        failed: bool = False,
        bad_columns: frozenset[str] = frozenset(),
    ) -> None:
        """Check ``record`` (column -> stripped value) and keep it if it has no error.

        ``failed`` says the caller already reported an error for this record, ``bad_columns``
        which columns it reported (they are not checked again).
        """
        errors = self.errors
        before = errors.total
        bad_columns = set(bad_columns)
        for column, value in record.items():
            if len(value) > MAX_FIELD_CHARS:
                errors.add(line, "field_too_long", column=column, limit=str(MAX_FIELD_CHARS))
                bad_columns.add(column)
            elif "\x00" in value:
                errors.add(line, "nul_character", column=column)
                bad_columns.add(column)
        for column in self.required:
            if not record.get(column) and column not in bad_columns:
                errors.add(line, "empty_value", column=column)
        external_id = record.get("id") or None
        if external_id is not None and "id" not in bad_columns:
            first_line = self.seen_ids.setdefault(external_id, line)
            if first_line != line:
                errors.add(line, "duplicate_id", id=external_id, first_line=str(first_line))
        if failed or errors.total > before:
            return
        gold = record.get("gold") or None
        payload = {k: v for k, v in record.items() if k not in _CORE_COLUMNS}
        self.rows.append(TaskRow(line, external_id, record.get("text", ""), gold, payload))


def _normalize_key(name: str) -> str:
    """Column/key name as matched: BOM removed, stripped, lower-cased."""
    return name.replace("\ufeff", "").strip().lower()


def _display(value: str) -> str:
    """A short, always UTF-8-encodable version of ``value`` for error messages."""
    if len(value) > _DISPLAY_CHARS:
        value = value[: _DISPLAY_CHARS - 1] + "…"
    value = value.replace("\x00", "\\x00")
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _detect_format(data: bytes, filename: str) -> tuple[str, str | None]:
    """``(format, fixed CSV delimiter or None)`` from the extension, else from the content."""
    _, dot, extension = (filename or "").strip().rpartition(".")
    if dot and extension.lower() in _EXTENSIONS:
        return _EXTENSIONS[extension.lower()]
    match = _NON_BLANK_BYTE.search(data, len(_BOM) if data.startswith(_BOM) else 0)
    first = match.group() if match else b""
    if first == b"[":
        return "json", None
    if first == b"{":
        return "jsonl", None
    return "csv", None


def _whole_file_failure(fmt: str, encoding: str, code: str, **params: str) -> ParseResult:
    errors = _Errors()
    errors.add(0, code, **params)
    return ParseResult(fmt, encoding, _UNITS[fmt], [], errors.finish())


# --------------------------------------------------------------------------------------------
# CSV / TSV


def _parse_csv(data: bytes, delimiter: str | None, required: tuple[str, ...]) -> ParseResult:
    """Try strict UTF-8 (UTF-8-SIG after a BOM), then strict GBK."""
    first_choice = "utf-8-sig" if data.startswith(_BOM) else "utf-8"
    for encoding in (first_choice, "gbk"):
        try:
            return _parse_csv_as(data, encoding, delimiter, required)
        except UnicodeDecodeError:
            continue
    return _whole_file_failure("csv", first_choice, "bad_encoding")


def _sniff_delimiter(header_line: str) -> str:
    """The most frequent of ``,`` ``;`` and tab in the header line (comma on a tie)."""
    return max(_DELIMITERS, key=header_line.count)


def _ensure_csv_field_limit() -> None:
    """Let the csv module read fields of any size: we check lengths ourselves."""
    if csv.field_size_limit() < _CSV_FIELD_SIZE_LIMIT:
        csv.field_size_limit(_CSV_FIELD_SIZE_LIMIT)


def _parse_csv_as(
    data: bytes, encoding: str, delimiter: str | None, required: tuple[str, ...]
) -> ParseResult:
    """Parse CSV decoded as ``encoding``, streaming; raises UnicodeDecodeError if it is not."""
    errors = _Errors()
    builder = _RowBuilder(required, errors)

    def result() -> ParseResult:
        return ParseResult("csv", encoding, "line", builder.rows, errors.finish())

    def fail(code: str, **params: str) -> ParseResult:
        errors.add(0, code, **params)
        return result()

    with io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline="") as stream:
        # Skip leading lines without content (counting them), sniff the delimiter from the
        # first line with content, then hand that line and the rest of the stream to csv.
        skipped = 0
        for first_line in stream:
            if first_line.strip(" \t\r\n,;"):
                break
            skipped += 1
        else:
            return fail("no_header")
        if delimiter is None:
            delimiter = _sniff_delimiter(first_line)
        _ensure_csv_field_limit()
        reader = csv.reader(
            chain((first_line,), stream),
            delimiter=delimiter,
            quotechar='"',
            doublequote=True,
            skipinitialspace=True,
            strict=False,
        )
        header: list[str] | None = None
        for start, row in _csv_records(reader, errors, skipped):
            if not any(cell.strip() for cell in row):
                continue  # blank line, or only empty cells (",,,")
            if header is None:
                if len(row) > MAX_COLUMNS:
                    return fail("too_many_columns", limit=str(MAX_COLUMNS))
                header = [_normalize_key(cell) for cell in row]
                problem = _check_header(header, required, errors)
                if problem:
                    return result()
                continue
            builder.records += 1
            if len(row) > MAX_COLUMNS:
                errors.add(start, "too_many_columns", limit=str(MAX_COLUMNS))
                continue
            failed = False
            if len(row) > len(header) and any(cell.strip() for cell in row[len(header) :]):
                errors.add(start, "extra_fields", expected=str(len(header)), found=str(len(row)))
                failed = True
            record = {
                name: row[index].strip() if index < len(row) else ""
                for index, name in enumerate(header)
                if name
            }
            builder.add(start, record, failed=failed)
        if header is None:
            # Every row was blank after parsing (e.g. only '""'), or csv_malformed was reported.
            return fail("no_header") if not errors.total else result()
        if not builder.records:
            return fail("no_rows")
        return result()


def _csv_records(reader: Any, errors: _Errors, skipped: int) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(start line, cells)`` per record; csv.Error becomes a ``csv_malformed`` error.

    ``skipped`` is the number of lines read before the reader started (added to its count).
    """
    previous = 0  # reader.line_num after the previous record
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            errors.add(skipped + previous + 1, "csv_malformed", detail=str(exc))
            if reader.line_num == previous:  # nothing consumed: avoid looping forever
                return
            previous = reader.line_num
            continue
        start, previous = skipped + previous + 1, reader.line_num
        yield start, row


def _check_header(header: list[str], required: tuple[str, ...], errors: _Errors) -> bool:
    """Report duplicate and missing columns; True if the header is unusable."""
    before = errors.total
    seen: set[str] = set()
    for name in header:
        if name and name in seen:
            errors.add(0, "duplicate_column", column=name)
        seen.add(name)
    for column in required:
        if column not in seen:
            errors.add(0, "missing_column", column=column)
    return errors.total > before


# --------------------------------------------------------------------------------------------
# JSON and JSON Lines


class _JsonError(Exception):
    """Why a JSON document did not parse."""

    def __init__(self, message: str, lineno: int = 0, colno: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.lineno = lineno
        self.colno = colno


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def _loads(text: str) -> Any:
    """``json.loads`` that rejects NaN/Infinity and raises only :class:`_JsonError`."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise _JsonError(exc.msg, exc.lineno, exc.colno) from None
    except RecursionError:
        raise _JsonError("nesting too deep") from None
    except ValueError as exc:  # NaN/Infinity, integers with too many digits
        raise _JsonError(str(exc)) from None


def _parse_json(data: bytes, required: tuple[str, ...]) -> ParseResult:
    """A JSON array of flat objects or of Label Studio tasks."""
    first = _NON_BLANK_BYTE.search(data, len(_BOM) if data.startswith(_BOM) else 0)
    if first is None:
        return _whole_file_failure("json", "utf-8", "empty_file")
    try:
        text = data.decode("utf-8-sig")  # also reads files without a BOM
    except UnicodeDecodeError:
        return _whole_file_failure("json", "utf-8", "bad_encoding")
    try:
        document = _loads(text)
    except _JsonError as exc:
        if exc.message == "Extra data" and first.group() == b"{":
            return _parse_jsonl(data, required)  # JSON Lines saved as .json
        detail = f"{exc.message} (line {exc.lineno}, column {exc.colno})" if exc.lineno else ""
        return _whole_file_failure("json", "utf-8", "json_invalid", detail=detail or exc.message)
    del text
    if not isinstance(document, list):
        return _whole_file_failure("json", "utf-8", "json_not_array")
    if not document:
        return _whole_file_failure("json", "utf-8", "no_rows")
    errors = _Errors()
    builder = _RowBuilder(required, errors)
    for number, item in enumerate(document, start=1):
        _add_json_item(item, number, builder)
    return ParseResult("json", "utf-8", "item", builder.rows, errors.finish())


def _parse_jsonl(data: bytes, required: tuple[str, ...]) -> ParseResult:
    """One JSON object per line, streaming; blank lines are skipped."""
    errors = _Errors()
    builder = _RowBuilder(required, errors)
    seen_content = False
    try:
        # "utf-8-sig" also reads files without a BOM; newline="\n" keeps U+2028 etc. inside.
        with io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="\n") as stream:
            for number, physical in enumerate(stream, start=1):
                line = physical.strip()
                if not line:
                    continue
                seen_content = True
                try:
                    item = _loads(line)
                except _JsonError as exc:
                    builder.records += 1
                    detail = f"{exc.message} (column {exc.colno})" if exc.colno else exc.message
                    errors.add(number, "line_not_json", detail=detail)
                    continue
                _add_json_item(item, number, builder)
    except UnicodeDecodeError:
        return _whole_file_failure("jsonl", "utf-8", "bad_encoding")
    if not seen_content:
        return _whole_file_failure("jsonl", "utf-8", "empty_file")
    return ParseResult("jsonl", "utf-8", "line", builder.rows, errors.finish())


class _Bad(enum.Enum):
    """Marker for a JSON value of the wrong type."""

    BAD = enum.auto()


_BAD: Final = _Bad.BAD


def _json_value(value: Any, *, strict: bool) -> str | _Bad | None:
    """A JSON value as a stripped string, None if null, or ``_BAD``.

    Strings and finite numbers are always accepted. Booleans, objects and arrays are ``_BAD`` when
    ``strict`` (core and required columns), else kept as compact JSON text.
    """
    if isinstance(value, str):
        text = value.strip()
    elif value is None:
        return None
    elif isinstance(value, bool):
        if strict:
            return _BAD
        text = "true" if value else "false"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):  # 1e999 overflows to infinity
            return _BAD
        text = str(value)
    elif strict:
        return _BAD
    else:
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (ValueError, RecursionError):
            return _BAD
    if _SURROGATE.search(text):  # lone surrogates ("\ud800") cannot be stored as UTF-8
        return _BAD
    return text


def _add_json_item(item: Any, line: int, builder: _RowBuilder) -> None:
    """Validate one parsed JSON object (flat or Label Studio task) and hand it to ``builder``."""
    errors = builder.errors
    builder.records += 1
    if not isinstance(item, dict):
        errors.add(line, "row_not_object")
        return
    data = item.get("data")
    fields: dict[str, Any] = data if isinstance(data, dict) else item
    label_studio = fields is not item
    if len(fields) > MAX_COLUMNS:
        errors.add(line, "too_many_columns", limit=str(MAX_COLUMNS))
        return
    strict_columns = {*_CORE_COLUMNS, *builder.required}
    before = errors.total
    record: dict[str, str] = {}
    bad_columns: set[str] = set()

    def put(name: str, raw: Any) -> None:
        value = _json_value(raw, strict=name in strict_columns)
        if value is _BAD:
            errors.add(line, "bad_value_type", column=name)
            bad_columns.add(name)
        elif isinstance(value, str):
            record[name] = value

    seen: set[str] = set()
    for key, raw in fields.items():
        name = _normalize_key(key)
        if not name:
            continue
        if _SURROGATE.search(name):
            errors.add(line, "bad_value_type", column=name)
            bad_columns.add(name)
        elif name in seen:
            errors.add(line, "duplicate_column", column=name)
            bad_columns.add(name)
        else:
            put(name, raw)
        seen.add(name)
    if label_studio:
        if "id" not in record and item.get("id") is not None:
            put("id", item["id"])  # Label Studio's own task id when data has none
        if "predictions" not in record and item.get("predictions") is not None:
            put("predictions", item["predictions"])  # kept as compact JSON text
    builder.add(line, record, failed=errors.total > before, bad_columns=frozenset(bad_columns))
