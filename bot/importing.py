"""Parse task batches that admins upload as files (CSV/TSV, JSON Lines, JSON arrays).

This is the pure parsing layer: the standard library (and, through :mod:`bot.charset`,
charset-normalizer) only, no Telegram and no database.
:class:`TaskReader` reads a file in batches of validated rows without holding the file (the
streaming form, used by the import); :func:`parse_tasks` turns the raw bytes of a file into
:class:`TaskRow` objects plus a list of :class:`RowError` problems at once. Neither raises on
hostile input: every problem (bad encoding, broken JSON, absurd sizes, ...) becomes an error
with a machine code that the UI translates (see :data:`ERROR_PARAMS` for every code and its
message parameters).

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
    an error are left out of the rows; the file is valid only if there are no errors.

Streaming
    CSV and JSON Lines are read twice or three times, never whole: to decide the encoding
    (``encoding=`` the one the admin named; else for CSV :func:`bot.charset.decide`: a byte
    order mark, UTF-8, else GBK, GB18030, Big5, Windows-1252 or Latin-1 on evidence, refused
    with ``unsure_encoding`` without it; JSON Lines: UTF-8), decoding chunk by chunk and keeping
    at most a small sample, then once more in batches. A JSON array (Label Studio's export) is one
    document and is read whole. Ids are checked for duplicates in memory by default; a caller
    may check them elsewhere (``ids=`` a :data:`DuplicateCheck`, e.g. a scratch database) or
    not at all (``ids=None``, when the database's own unique index does it).

Note: the CSV reader's field size limit is process-wide; the reader raises it (never lowers
it) so that a huge field is reported as ``field_too_long`` instead of a ``csv.Error``.
"""

from __future__ import annotations

import codecs
import csv
import enum
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain
from typing import IO, Any, Final, Literal

from bot import charset

__all__ = [
    "BATCH_ROWS",
    "ERROR_PARAMS",
    "MAX_COLUMNS",
    "MAX_ERRORS",
    "MAX_FIELD_CHARS",
    "DuplicateCheck",
    "Opener",
    "ParseResult",
    "Row",
    "RowError",
    "TaskReader",
    "TaskRow",
    "parse_tasks",
    "prediction_objects",
]

MAX_COLUMNS: Final = 200
"""Most columns allowed in a CSV header/row or keys in a JSON object."""
MAX_FIELD_CHARS: Final = 100_000
"""Longest single value allowed, in characters (after stripping)."""
MAX_ERRORS: Final = 1000
"""Most errors listed; beyond that a single ``too_many_errors`` entry is appended."""
BATCH_ROWS: Final = 5_000
"""Most rows in one batch from :meth:`TaskReader.batches`."""
BATCH_CHARS: Final = 1_000_000
"""A batch is handed on once its rows hold this many characters, however few rows it has."""

ERROR_PARAMS: Final[Mapping[str, tuple[str, ...]]] = {
    # Whole-file problems (RowError.line == 0).
    "empty_file": (),
    "bad_encoding": (),
    "not_given_encoding": ("encoding", "line"),  # the encoding the admin named does not fit
    "not_bom_encoding": ("encoding", "line"),  # the byte order mark's encoding does not fit
    "unsure_encoding": ("line", "readings", "example"),  # readings: one line per candidate
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
"""Every error code the parser can produce -> the names of its ``params``."""

Row = tuple[int, str | None, str, str | None, dict[str, str]]
"""A valid row as :meth:`TaskReader.batches` yields it: the fields of :class:`TaskRow`, in order
(a plain tuple: an import makes one per row)."""
Opener = Callable[[], IO[bytes]]
"""Opens the file from its start, each time it is called (the reader reads it more than once)."""
DuplicateCheck = Callable[[list[tuple[str, int]]], Iterable[tuple[int, str, int]]]
"""Given ``(id, line)`` pairs in file order, remembers them and returns
``(line, id, first line)`` for each pair whose id was seen on an earlier line."""

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
_CHUNK: Final = 1 << 16  # bytes read at a time when checking the encoding
_BOM: Final = codecs.BOM_UTF8
_BOM_ONLY: Final = frozenset(
    {
        b"",
        _BOM,
        codecs.BOM_UTF16_LE,
        codecs.BOM_UTF16_BE,
        codecs.BOM_UTF32_LE,
        codecs.BOM_UTF32_BE,
    }
)
_BOM_NAMES: Final = {"utf-8-sig": "UTF-8", "utf-16": "UTF-16", "utf-32": "UTF-32"}
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
    params: Mapping[str, str | int]
    """Values for the message, e.g. ``{"column": "text"}``."""


@dataclass(frozen=True, slots=True)
class ParseResult:
    """Outcome of :func:`parse_tasks`."""

    format: str
    """``"csv"`` (also TSV), ``"jsonl"`` or ``"json"``."""
    encoding: str
    """The Python codec the text was read with (see :attr:`TaskReader.encoding`)."""
    unit: str
    """``"line"`` (csv/jsonl) or ``"item"`` (json): how to name :attr:`RowError.line`."""
    rows: list[TaskRow]
    """The rows that passed every check, in file order."""
    errors: list[RowError]
    """Empty means the file is valid."""


def parse_tasks(
    data: bytes,
    filename: str,
    *,
    required: tuple[str, ...] = ("text",),
    encoding: str | None = None,
) -> ParseResult:
    """Parse a whole uploaded task file held in memory (see :class:`TaskReader`).

    The format comes from the extension of ``filename`` (``.csv``, ``.tsv``, ``.jsonl``,
    ``.ndjson``, ``.json``); otherwise it is sniffed from the first non-blank byte
    (``[`` -> JSON, ``{`` -> JSONL, anything else -> CSV). ``required`` names the columns that
    must be present and non-empty in every row; ``encoding`` is the one the admin named (None:
    decided). Never raises on malformed input.
    """
    reader = TaskReader(lambda: io.BytesIO(data), filename, required=required, encoding=encoding)
    rows = [TaskRow(*row) for batch in reader.batches() for row in batch]
    return ParseResult(
        reader.format, reader.encoding, reader.unit, [] if reader.failed else rows, reader.errors
    )


class TaskReader:
    """One uploaded task file, read in batches of valid rows without being held whole.

    Constructing it reads the start of the file (format) and checks the encoding of all of it
    (CSV, JSON Lines) or parses it (a JSON array); whole-file problems found then are in
    :attr:`errors` at once and :attr:`failed` is set. :meth:`batches` (once) yields the valid
    rows in file order; row errors gather in :attr:`errors` as it goes, complete when it is
    exhausted. With ``ids`` a :data:`DuplicateCheck`, rows are yielded before their ids are
    checked (a duplicate is only in :attr:`errors`); with ``ids=None`` ids are not checked.
    ``encoding``: the text encoding the admin named (a name :func:`bot.charset.text_encoding`
    accepts), or None to decide it (CSV) or read UTF-8 (JSON, JSON Lines). Never raises on
    malformed input (errors from ``source`` itself, such as ``OSError``, do).
    """

    def __init__(
        self,
        source: Opener,
        filename: str,
        *,
        required: tuple[str, ...] = ("text",),
        ids: Literal["memory"] | DuplicateCheck | None = "memory",
        batch_rows: int = BATCH_ROWS,
        encoding: str | None = None,
    ) -> None:
        self._source = source
        self._given = charset.text_encoding(encoding) if encoding is not None else None
        self._required = tuple(dict.fromkeys(n for n in map(_normalize_key, required) if n))
        self._errors = _Errors(defer=callable(ids))
        self._builder = _RowBuilder(self._required, self._errors, ids)
        self._batch_rows = max(1, batch_rows)
        self._document: list[Any] | None = None
        self._started = False
        self.failed = False
        """A whole-file problem (empty, bad encoding, broken JSON, ...): no rows at all."""
        self.encoding = self._given or "utf-8"
        """The Python codec the text is read with: the one given; for CSV else ``"utf-8"``,
        ``"utf-8-sig"``, ``"utf-16"``, ``"utf-32"`` (by a byte order mark), ``"gbk"``,
        ``"gb18030"``, ``"big5"``, ``"cp1252"`` or ``"latin-1"``; else ``"utf-8"``."""
        self.format, self._delimiter, head = self._sniff(filename)
        """``"csv"`` (also TSV), ``"jsonl"`` or ``"json"``."""
        if head in _BOM_ONLY:
            self._fail("empty_file")
        elif self.format == "csv":
            self._choose_csv_encoding()
        elif self.format == "jsonl":
            if self._given is not None:
                self._check_given()
            elif not self._decodes("utf-8-sig"):
                self._fail("bad_encoding")
        else:
            self._load_json()

    @property
    def unit(self) -> str:
        """``"line"`` (csv/jsonl) or ``"item"`` (json): how to name :attr:`RowError.line`."""
        return _UNITS[self.format]

    @property
    def errors(self) -> list[RowError]:
        """Every problem found so far (the first :data:`MAX_ERRORS`, then a count)."""
        return self._errors.finish()

    @property
    def dropped_predictions(self) -> int:
        """How many Label Studio predictions were left out so far: listed by id only, or not
        objects with a result (see :func:`prediction_objects`)."""
        return self._builder.dropped_predictions

    @property
    def error_count(self) -> int:
        """How many problems were found so far, listed or not."""
        return self._errors.total

    def batches(self) -> Iterator[list[Row]]:
        """The valid rows, in file order, a batch of at most ``batch_rows`` at a time."""
        if self._started:
            raise RuntimeError("a TaskReader's rows can be read only once")
        self._started = True
        if self.failed:
            return
        if self.format == "csv":
            yield from self._csv()
        elif self.format == "jsonl":
            yield from self._jsonl()
        else:
            yield from self._json()
        rows = self._builder.take()
        if rows and not self.failed:
            yield rows

    # ----------------------------------------------------------------------------------------
    # Opening: format, encoding, a JSON document

    def _fail(self, code: str, **params: str) -> None:
        """A whole-file problem: it replaces every other error, and no row is valid."""
        self._fail_whole(_error(0, code, params))

    def _fail_whole(self, error: RowError) -> None:
        """:meth:`_fail` with the error as it is (its values not shortened for display)."""
        self.failed = True
        self._errors.reset()
        self._errors.add_error(error)
        self._builder.reset()

    def _sniff(self, filename: str) -> tuple[str, str | None, bytes]:
        """``(format, fixed CSV delimiter or None, first 5 bytes)``: from the extension, else
        from the first non-blank byte of the content."""
        _, dot, extension = (filename or "").strip().rpartition(".")
        known = _EXTENSIONS.get(extension.lower()) if dot else None
        with self._source() as stream:
            head = stream.read(5)  # more than the longest byte order mark (UTF-32's)
            if known is not None:
                return known[0], known[1], head
            data, start = head, len(_BOM) if head.startswith(_BOM) else 0
            while not (match := _NON_BLANK_BYTE.search(data, start)):
                data, start = stream.read(_CHUNK), 0
                if not data:
                    break
        first = match.group() if match else b""
        if first == b"[":
            return "json", None, head
        if first == b"{":
            return "jsonl", None, head
        return "csv", None, head

    def _decodes(self, encoding: str) -> bool:
        """Whether all of the file decodes as ``encoding`` (strictly): a chunk at a time,
        keeping nothing."""
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        with self._source() as stream:
            try:
                while chunk := stream.read(_CHUNK):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                return False
        return True

    def _choose_csv_encoding(self) -> None:
        """The encoding given (it must fit), else one decided on evidence, else a refusal
        that shows how the candidates read the file (see :func:`bot.charset.decide`)."""
        verdict = charset.decide(self._source, self._given)
        if isinstance(verdict, charset.Known):
            self.encoding = verdict.encoding
        elif isinstance(verdict, charset.Invalid):
            code = "not_given_encoding" if verdict.how == "given" else "not_bom_encoding"
            name = _BOM_NAMES.get(verdict.encoding, verdict.encoding)
            self._fail(code, encoding=name, line=str(verdict.line))
        elif isinstance(verdict, charset.Unsure):
            readings = "\n".join(f"  encoding={name} → {text}" for name, text in verdict.readings)
            params = {"line": str(verdict.line), "readings": readings}
            self._fail_whole(
                RowError(0, "unsure_encoding", params | {"example": verdict.readings[0][0]})
            )
        else:
            self._fail("bad_encoding")

    def _check_given(self) -> None:
        """The whole file must be valid in the encoding the admin named."""
        assert self._given is not None
        with self._source() as stream:
            line = charset.first_invalid_line(iter(lambda: stream.read(_CHUNK), b""), self._given)
        if line is not None:
            self._fail("not_given_encoding", encoding=self._given, line=str(line))

    def _load_json(self) -> None:
        """A JSON array of flat objects or of Label Studio tasks: one document, read whole."""
        with self._source() as stream:
            data = stream.read()
        first = _NON_BLANK_BYTE.search(data, len(_BOM) if data.startswith(_BOM) else 0)
        if first is None:
            self._fail("empty_file")
            return
        try:
            text = data.decode(self._given or "utf-8-sig")  # also reads files without a BOM
        except UnicodeDecodeError as exc:
            if self._given is None:
                self._fail("bad_encoding")
            else:
                line = str(data.count(b"\n", 0, exc.start) + 1)
                self._fail("not_given_encoding", encoding=self._given, line=line)
            return
        del data
        try:
            document = _loads(text)
        except _JsonError as exc:
            if exc.message == "Extra data" and first.group() == b"{":
                self.format = "jsonl"  # JSON Lines saved as .json
                return
            detail = f"{exc.message} (line {exc.lineno}, column {exc.colno})" if exc.lineno else ""
            self._fail("json_invalid", detail=detail or exc.message)
            return
        del text
        if not isinstance(document, list):
            self._fail("json_not_array")
        elif not document:
            self._fail("no_rows")
        else:
            self._document = document

    # ----------------------------------------------------------------------------------------
    # Reading rows

    def _full(self, records: int, chars: int) -> bool:
        return records >= self._batch_rows or chars >= BATCH_CHARS

    def _csv(self) -> Iterator[list[Row]]:
        """CSV/TSV decoded as :attr:`encoding`: the header, then one record at a time."""
        errors, builder, required = self._errors, self._builder, self._required
        with (
            self._source() as raw,
            io.TextIOWrapper(raw, encoding=self.encoding, newline="") as stream,
        ):
            # Skip leading lines without content (counting them), sniff the delimiter from the
            # first line with content, then hand that line and the rest of the stream to csv.
            skipped = 0
            for first_line in stream:
                if first_line.strip(" \t\r\n,;"):
                    break
                skipped += 1
            else:
                errors.add(0, "no_header")
                return
            _ensure_csv_field_limit()
            reader = csv.reader(
                chain((first_line,), stream),
                delimiter=self._delimiter or _sniff_delimiter(first_line),
                quotechar='"',
                doublequote=True,
                skipinitialspace=True,
                strict=False,
            )
            header: list[str] | None = None
            width = 0
            named: list[tuple[int, str]] = []
            required_at: list[tuple[int, str]] = []
            payload_at: list[tuple[int, str]] = []
            id_at = text_at = gold_at = None
            strip, add_error, check_id = str.strip, errors.add, builder.check_id
            rows = builder.rows
            previous = 0  # reader.line_num after the previous record
            records = chars = 0  # in the batch being gathered
            while True:
                try:
                    for cells in reader:
                        start = skipped + previous + 1
                        previous = reader.line_num
                        joined = "".join(cells)
                        if not joined or joined.isspace():
                            continue  # blank line, or only empty cells (",,,")
                        if header is None:
                            if len(cells) > MAX_COLUMNS:
                                add_error(0, "too_many_columns", limit=str(MAX_COLUMNS))
                                return
                            header = [_normalize_key(cell) for cell in cells]
                            if _check_header(header, required, errors):
                                return
                            width = len(header)
                            named = [(i, name) for i, name in enumerate(header) if name]
                            at = {name: i for i, name in named}
                            required_at = [(at[name], name) for name in required]
                            payload_at = [(i, n) for i, n in named if n not in _CORE_COLUMNS]
                            id_at, text_at, gold_at = at.get("id"), at.get("text"), at.get("gold")
                            continue
                        builder.records += 1
                        records += 1
                        chars += len(joined)
                        count = len(cells)
                        if count > MAX_COLUMNS:
                            add_error(start, "too_many_columns", limit=str(MAX_COLUMNS))
                        else:
                            before = errors.total
                            if count > width:
                                tail = "".join(cells[width:])
                                if tail and not tail.isspace():
                                    add_error(
                                        start,
                                        "extra_fields",
                                        expected=str(width),
                                        found=str(count),
                                    )
                            elif count < width:
                                cells.extend([""] * (width - count))
                            values = list(map(strip, cells))
                            bad: set[str] = set()
                            if len(joined) > MAX_FIELD_CHARS or "\x00" in joined:
                                bad = _bad_values(values, named, start, errors)
                            for i, name in required_at:
                                if not values[i] and name not in bad:
                                    add_error(start, "empty_value", column=name)
                            external_id = (values[id_at] or None) if id_at is not None else None
                            if external_id is not None and "id" not in bad:
                                check_id(external_id, start)
                            if errors.total == before:
                                rows.append(
                                    (
                                        start,
                                        external_id,
                                        values[text_at] if text_at is not None else "",
                                        (values[gold_at] or None) if gold_at is not None else None,
                                        {name: values[i] for i, name in payload_at},
                                    )
                                )
                        if records >= self._batch_rows or chars >= BATCH_CHARS:
                            batch = builder.take()
                            rows = builder.rows
                            records = chars = 0
                            if batch:
                                yield batch
                    break
                except csv.Error as exc:
                    add_error(skipped + previous + 1, "csv_malformed", detail=str(exc))
                    if reader.line_num == previous:  # nothing consumed: avoid looping forever
                        break
                    previous = reader.line_num
        if header is None:
            # Every row was blank after parsing (e.g. only '""'), or csv_malformed was reported.
            if not errors.total:
                errors.add(0, "no_header")
        elif not builder.records:
            errors.add(0, "no_rows")

    def _jsonl(self) -> Iterator[list[Row]]:
        """One JSON object per line; blank lines are skipped."""
        builder, errors = self._builder, self._errors
        seen_content = False
        records = chars = 0
        try:
            # "utf-8-sig" also reads files without a BOM; newline="\n" keeps U+2028 etc. inside.
            encoding = self._given or "utf-8-sig"
            with (
                self._source() as raw,
                io.TextIOWrapper(raw, encoding=encoding, newline="\n") as stream,
            ):
                for number, physical in enumerate(stream, start=1):
                    line = physical.strip()
                    if not line:
                        continue
                    seen_content = True
                    try:
                        item = _loads(line)
                    except _JsonError as exc:
                        builder.records += 1
                        errors.add(number, "line_not_json", detail=_line_detail(exc))
                    else:
                        _add_json_item(item, number, builder)
                    records += 1
                    chars += len(line)
                    if self._full(records, chars):
                        records = chars = 0
                        if batch := builder.take():
                            yield batch
        except UnicodeDecodeError:  # not after the encoding check, unless the file changed
            self._fail("bad_encoding")
            return
        if not seen_content:
            self._fail("empty_file")

    def _json(self) -> Iterator[list[Row]]:
        """The items of the JSON array read when the reader was made."""
        document, self._document = self._document or [], None
        builder = self._builder
        for number, item in enumerate(document, start=1):
            _add_json_item(item, number, builder)
            if number % self._batch_rows == 0 and (batch := builder.take()):
                yield batch


# --------------------------------------------------------------------------------------------
# Shared helpers


class _Errors:
    """Collects errors, keeping the first :data:`MAX_ERRORS` (by line) and counting all.

    With ``defer``, errors wait in ``pending`` until :meth:`settle` (when a batch is complete),
    since a duplicate id is only known then, after the errors of later lines."""

    __slots__ = ("defer", "items", "pending", "total")

    def __init__(self, *, defer: bool = False) -> None:
        self.defer = defer
        self.items: list[RowError] = []
        self.pending: list[RowError] = []
        self.total = 0

    def reset(self) -> None:
        self.items.clear()
        self.pending.clear()
        self.total = 0

    def add(self, line: int, code: str, **params: str) -> None:
        self.total += 1
        kept = self.pending if self.defer else self.items
        # Errors arrive in line order: once the list is full, later ones cannot enter it.
        if len(self.items) + len(self.pending) < MAX_ERRORS:
            kept.append(_error(line, code, params))

    def add_error(self, error: RowError) -> None:
        """An error made by the caller (its values as they are)."""
        self.total += 1
        if len(self.items) + len(self.pending) < MAX_ERRORS:
            (self.pending if self.defer else self.items).append(error)

    def add_late(self, line: int, code: str, **params: str) -> None:
        """An error for a line before errors already added (kept until :meth:`settle`)."""
        self.total += 1
        self.pending.append(_error(line, code, params))

    def settle(self) -> None:
        if self.pending:
            self.pending.sort(key=lambda error: error.line)
            self.items.extend(self.pending[: MAX_ERRORS - len(self.items)])
            self.pending.clear()

    def finish(self) -> list[RowError]:
        self.settle()
        if self.total > len(self.items):
            count = {"count": str(self.total)}
            return [*self.items, RowError(0, "too_many_errors", count)]
        return list(self.items)


def _error(line: int, code: str, params: Mapping[str, str]) -> RowError:
    return RowError(line=line, code=code, params={k: _display(v) for k, v in params.items()})


class _RowBuilder:
    """Validates records and gathers the good ones as :data:`Row` tuples."""

    __slots__ = (
        "check",
        "dropped_predictions",
        "errors",
        "pending_ids",
        "records",
        "required",
        "rows",
        "seen_ids",
    )

    def __init__(
        self,
        required: tuple[str, ...],
        errors: _Errors,
        ids: Literal["memory"] | DuplicateCheck | None,
    ) -> None:
        self.required = required
        self.errors = errors
        self.rows: list[Row] = []
        self.seen_ids: dict[str, int] | None = {} if ids == "memory" else None
        self.check: DuplicateCheck | None = ids if callable(ids) else None
        self.pending_ids: list[tuple[str, int]] = []
        self.records = 0  # data records seen, valid or not
        self.dropped_predictions = 0  # Label Studio predictions left out (prediction_objects)

    def reset(self) -> None:
        self.rows = []
        self.pending_ids = []

    def check_id(self, external_id: str, line: int) -> None:
        """Report ``external_id`` if an earlier line had it (now, or when the batch is taken)."""
        if self.seen_ids is not None:
            first_line = self.seen_ids.setdefault(external_id, line)
            if first_line != line:
                self.errors.add(line, "duplicate_id", id=external_id, first_line=str(first_line))
        elif self.check is not None:
            self.pending_ids.append((external_id, line))

    def take(self) -> list[Row]:
        """The rows gathered since the last call, once their batch's ids are checked."""
        if self.pending_ids and self.check is not None:
            for line, external_id, first_line in self.check(self.pending_ids):
                self.errors.add_late(
                    line, "duplicate_id", id=external_id, first_line=str(first_line)
                )
        self.pending_ids = []
        self.errors.settle()
        rows, self.rows = self.rows, []
        return rows

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
        bad = set(bad_columns)
        bad |= {
            column for column, value in record.items() if _bad_value(value, column, line, errors)
        }
        for column in self.required:
            if not record.get(column) and column not in bad:
                errors.add(line, "empty_value", column=column)
        external_id = record.get("id") or None
        if external_id is not None and "id" not in bad:
            self.check_id(external_id, line)
        if failed or errors.total > before:
            return
        gold = record.get("gold") or None
        payload = {k: v for k, v in record.items() if k not in _CORE_COLUMNS}
        self.rows.append((line, external_id, record.get("text", ""), gold, payload))


def _bad_values(
    values: list[str], named: list[tuple[int, str]], line: int, errors: _Errors
) -> set[str]:
    """Report named CSV values that are too long or hold a NUL; return their columns."""
    return {name for i, name in named if _bad_value(values[i], name, line, errors)}


def _bad_value(value: str, column: str, line: int, errors: _Errors) -> bool:
    """Report a value that is too long or holds a NUL; True if it was reported."""
    if len(value) > MAX_FIELD_CHARS:
        errors.add(line, "field_too_long", column=column, limit=str(MAX_FIELD_CHARS))
        return True
    if "\x00" in value:
        errors.add(line, "nul_character", column=column)
        return True
    return False


def _normalize_key(name: str) -> str:
    """Column/key name as matched: BOM removed, stripped, lower-cased."""
    return name.replace("\ufeff", "").strip().lower()


def _display(value: str) -> str:
    """A short, always UTF-8-encodable version of ``value`` for error messages."""
    if len(value) > _DISPLAY_CHARS:
        value = value[: _DISPLAY_CHARS - 1] + "…"
    value = value.replace("\x00", "\\x00")
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


# --------------------------------------------------------------------------------------------
# CSV / TSV


def _sniff_delimiter(header_line: str) -> str:
    """The most frequent of ``,`` ``;`` and tab in the header line (comma on a tie)."""
    return max(_DELIMITERS, key=header_line.count)


def _ensure_csv_field_limit() -> None:
    """Let the csv module read fields of any size: we check lengths ourselves."""
    if csv.field_size_limit() < _CSV_FIELD_SIZE_LIMIT:
        csv.field_size_limit(_CSV_FIELD_SIZE_LIMIT)


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


def _line_detail(exc: _JsonError) -> str:
    return f"{exc.message} (column {exc.colno})" if exc.colno else exc.message


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


PREDICTION_KEYS: Final = ("model_version", "score", "result")
"""What a Label Studio prediction keeps: the keys its import reads (its export adds ids,
timestamps and the ids of its task and project, which mean nothing elsewhere)."""


def prediction_objects(raw: Any) -> tuple[list[dict[str, Any]], int]:
    """A task's Label Studio predictions that can go back into Label Studio, and how many
    entries were left out.

    Only objects with a ``result`` list are predictions: Label Studio's default JSON export
    lists them by id (``"predictions": [3]``), which holds no result, and Label Studio answers
    such a list with HTTP 500 after storing part of the file. A value that is not a list
    counts as one left out."""
    if raw is None:
        return [], 0
    if not isinstance(raw, list):
        return [], 1
    kept: list[dict[str, Any]] = []
    for prediction in raw:
        if isinstance(prediction, dict) and isinstance(prediction.get("result"), list):
            clean = {key: prediction[key] for key in PREDICTION_KEYS if key in prediction}
            score = clean.get("score")
            if isinstance(score, bool) or not isinstance(score, int | float | None):
                del clean["score"]  # Label Studio reads a score as a float
            kept.append(clean)
    return kept, len(raw) - len(kept)


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

    def put_predictions(raw: Any) -> None:
        """Only predictions Label Studio can take back, kept as compact JSON text."""
        kept, dropped = prediction_objects(raw)
        builder.dropped_predictions += dropped
        if kept:
            put("predictions", kept)

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
        elif name == "predictions" and not isinstance(raw, str):
            put_predictions(raw)
        else:
            put(name, raw)
        seen.add(name)
    if label_studio:
        if "id" not in record and item.get("id") is not None:
            put("id", item["id"])  # Label Studio's own task id when data has none
        if "predictions" not in seen and item.get("predictions") is not None:
            put_predictions(item["predictions"])
    builder.add(line, record, failed=errors.total > before, bad_columns=frozenset(bad_columns))
