"""Task uploads: the `/upload` caption, project settings, and the all-or-nothing import."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import os
import re
import shlex
import struct
import tempfile
import time
import zipfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from bot import charset
from bot.config import Labeling
from bot.importing import MAX_ERRORS, Opener, Row, RowError, TaskReader
from bot.money import parse_amount
from db import projects as projects_repo
from db import tasks as tasks_repo
from db import uploads as uploads_repo
from db.connection import Database, Tx
from db.projects import Project
from db.tasks import BatchRow

log = logging.getLogger(__name__)

KNOWN_KEYS = (
    "type",
    "options",
    "scale",
    "price",
    "overlap",
    "lease",
    "instructions",
    "approve",
    "gold_share",
    "min_seconds",
    "max_skips",
    "allocation",
    "daily_cap",
    "max_overlap",
    "gold_window",
    "gold_accuracy",
    "suspend_hours",
    "skip_pause",
    "allow_none",
    "comment",
    "encoding",  # of the file, not a project setting: UploadRequest.encoding
)
TYPES = ("label", "rating", "pairwise", "multilabel", "correction", "image")
# An A/B comparison's answers, in terms of the original a and b (whatever order they were
# shown in).
PAIRWISE_OPTIONS = ("a", "b", "tie", "both_bad")
# The columns each type needs in every row.
REQUIRED_COLUMNS = {
    "label": ("text",),
    "rating": ("text",),
    "pairwise": ("prompt", "a", "b"),
    "multilabel": ("text",),
    "correction": ("text",),
    "image": ("image",),
}
# A correction's only button answer: the text is fine as it is.
CORRECTION_OPTIONS = ("unchanged",)
PROJECT_NAME = re.compile(r"^[\w-]{1,40}$")
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
BATCH = 1_000  # rows parsed and inserted at a time (a statement each; memory ∝ this)
PROGRESS_ROWS = 5_000  # progress is reported every this many rows
_CHUNK = 1 << 16  # bytes read at a time
# A zip of images and their tasks file: what is refused before anything is read.
ZIP_MAX_FILES = 2_000
ZIP_MAX_MEMBER_BYTES = 10 * 1024 * 1024
ZIP_MAX_TOTAL_BYTES = 200 * 1024 * 1024
ZIP_MAX_RATIO = 100
# Below this size a member's compression ratio is not judged (a short CSV of repeated
# values can compress well without being a bomb).
ZIP_RATIO_MIN_BYTES = 1024 * 1024
TASK_FILE_EXTENSIONS = (".csv", ".tsv", ".jsonl", ".ndjson", ".json")
IMAGE_URL = re.compile(r"^https://\S+$", re.IGNORECASE)
# The payload key holding Telegram's file_id of a task's image once it is known.
IMAGE_FILE_ID = "image_file_id"
# Uploads one image to Telegram and returns its file_id (raises on failure).
ImageUploader = Callable[[str, bytes], Awaitable[str]]
MAX_PROBLEMS_SHOWN = 10

# Phones turn straight quotes into curly ones and Chinese keyboards type full-width signs.
_NORMALISE = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "＝": "=", "，": ","})


@dataclass(frozen=True, slots=True)
class ArgError:
    """A problem with the admin's command: a message key and its values."""

    code: str
    params: dict[str, str | int | float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UploadRequest:
    project: str
    settings: dict[str, str]
    encoding: str | None = None
    """The file's text encoding as the caption names it (a Python codec name); None: decided."""


@dataclass(frozen=True, slots=True)
class Settings:
    type: str
    options: tuple[str, ...]
    instructions: str
    price: int
    overlap: int
    lease_seconds: int
    approve_hours: int = 24
    gold_share: float = 0.1
    min_seconds: float = 1.0
    max_skips: int = 5
    allocation: str = "fair"
    daily_cap: int | None = None
    max_overlap: int | None = None
    rule_gold_window: int = 10
    rule_gold_min_accuracy: float = 0.7
    rule_suspend_hours: int = 24
    skip_pause_minutes: int = 10
    allow_none: bool = False
    comments: str = "off"

    def apply(self, project: Project) -> Project:
        return replace(
            project,
            type=self.type,
            options=self.options,
            instructions=self.instructions,
            price=self.price,
            overlap=self.overlap,
            lease_seconds=self.lease_seconds,
            approve_hours=self.approve_hours,
            gold_share=self.gold_share,
            min_seconds=self.min_seconds,
            max_skips=self.max_skips,
            allocation=self.allocation,
            daily_cap=self.daily_cap,
            max_overlap=self.max_overlap,
            rule_gold_window=self.rule_gold_window,
            rule_gold_min_accuracy=self.rule_gold_min_accuracy,
            rule_suspend_hours=self.rule_suspend_hours,
            skip_pause_minutes=self.skip_pause_minutes,
            allow_none=self.allow_none,
            comments=self.comments,
        )


@dataclass(frozen=True, slots=True)
class ImportDone:
    project: Project
    created: bool
    changed: tuple[str, ...]
    added: int
    skipped: int
    # Label Studio predictions left out: listed by id only (its default export), no result.
    dropped_predictions: int = 0


@dataclass(frozen=True, slots=True)
class ImportRejected:
    problems: tuple[RowError, ...]
    unit: str  # "line" or "item"


@dataclass(frozen=True, slots=True)
class SameFile:
    project: str


def parse_caption(caption: str) -> UploadRequest | ArgError:
    """'/upload name type=label options=a,b' → UploadRequest, or what is wrong with it."""
    try:
        words = shlex.split(caption.translate(_NORMALISE))
    except ValueError:
        return ArgError("arg_bad_quotes")
    if words and words[0].lower().split("@")[0] == "/upload":
        words = words[1:]
    if not words:
        return ArgError("arg_missing_project")
    name, *rest = words
    if "=" in name or not PROJECT_NAME.match(name):
        return ArgError("arg_bad_project_name", {"name": name[:60]})
    settings: dict[str, str] = {}
    encoding: str | None = None
    for word in rest:
        key, sep, value = word.partition("=")
        if not sep:
            return ArgError("arg_not_key_value", {"arg": word[:60]})
        key = key.strip().lower()
        if key not in KNOWN_KEYS:
            return ArgError("arg_unknown_key", {"key": key[:40], "known": ", ".join(KNOWN_KEYS)})
        if key == "encoding":
            encoding = charset.text_encoding(value)
            if encoding is None:
                return ArgError("arg_bad_encoding", {"value": value.strip()[:40]})
            continue
        settings[key] = value.strip()
    return UploadRequest(project=name, settings=settings, encoding=encoding)


def _int_setting(
    raw: dict[str, str], key: str, default: int, low: int, high: int
) -> int | ArgError:
    if key not in raw:
        return default
    value = raw[key]
    if not value.isdigit() or not low <= int(value) <= high:
        return ArgError("arg_bad_int", {"key": key, "low": low, "high": high, "value": value[:40]})
    return int(value)


def _scale(value: str) -> tuple[str, ...] | None:
    match = re.fullmatch(r"\s*(-?\d{1,3})\s*[-–~]\s*(-?\d{1,3})\s*", value)
    if not match:
        return None
    low, high = int(match[1]), int(match[2])
    if not 2 <= high - low + 1 <= 10:
        return None
    return tuple(str(i) for i in range(low, high + 1))


def _options(value: str) -> tuple[str, ...] | None:
    options = tuple(o.strip() for o in value.split(",") if o.strip())
    if not 2 <= len(options) <= 20 or len(set(options)) != len(options):
        return None
    if any(len(o) > 40 for o in options):
        return None
    return options


def resolve_settings(
    existing: Project | None,
    raw: dict[str, str],
    defaults: Labeling,
    minor_units: int,
    *,
    has_answers: bool,
) -> Settings | ArgError:
    """Merge the caption's keys into the project's settings (or the defaults for a new one)."""
    kind = raw.get("type", existing.type if existing else "label").lower()
    if kind not in TYPES:
        return ArgError("arg_bad_type", {"value": kind[:40]})
    options: tuple[str, ...] | None
    if kind == "pairwise":
        options = PAIRWISE_OPTIONS
    elif kind == "correction":
        options = CORRECTION_OPTIONS
    elif kind == "rating":
        if "scale" in raw:
            options = _scale(raw["scale"])
            if options is None:
                return ArgError("arg_bad_scale", {"value": raw["scale"][:40]})
        elif existing and existing.type == "rating":
            options = existing.options
        else:
            options = _scale("1-5")
            assert options is not None
    elif "options" in raw:
        options = _options(raw["options"])
        if options is None:
            return ArgError("arg_bad_options")
    elif existing and existing.type in ("label", "multilabel", "image"):
        options = existing.options
    else:
        return ArgError("arg_options_required")

    if "price" in raw:
        price = parse_amount(raw["price"], minor_units)
        if price is None or price > 1_000 * 10**minor_units:
            return ArgError("arg_bad_price", {"value": raw["price"][:40], "digits": minor_units})
    else:
        price = existing.price if existing else 0
    overlap = _int_setting(
        raw, "overlap", existing.overlap if existing else defaults.overlap, 1, 50
    )
    if isinstance(overlap, ArgError):
        return overlap
    lease = _int_setting(
        raw,
        "lease",
        existing.lease_seconds // 60 if existing else defaults.lease_minutes,
        1,
        24 * 60,
    )
    if isinstance(lease, ArgError):
        return lease
    instructions = raw.get("instructions", existing.instructions if existing else "")[:2000]
    quality = _quality_settings(existing, raw, defaults)
    if isinstance(quality, ArgError):
        return quality

    if existing and has_answers:
        if kind != existing.type:
            return ArgError("arg_locked_after_answers", {"key": "type", "project": existing.name})
        if options != existing.options:
            key = "scale" if kind == "rating" else "options"
            return ArgError("arg_locked_after_answers", {"key": key, "project": existing.name})
    return Settings(
        type=kind,
        options=options,
        instructions=instructions,
        price=price,
        overlap=overlap,
        lease_seconds=lease * 60,
        **quality,
    )


def _number(
    raw: dict[str, str], key: str, default: float, low: float, high: float
) -> float | ArgError:
    if key not in raw:
        return default
    text = raw[key].strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:  # also false for nan
        return ArgError(
            "arg_bad_number", {"key": key, "low": low, "high": high, "value": text[:40]}
        )
    return value


def _quality_settings(
    existing: Project | None, raw: dict[str, str], defaults: Labeling
) -> dict[str, Any] | ArgError:
    """The quality and pay-rule keys (each defaulting to the project's value, else the
    config's or the rule's default): approve, gold_share, min_seconds, max_skips,
    allocation, daily_cap, max_overlap, gold_window, gold_accuracy, suspend_hours,
    skip_pause."""
    approve = _int_setting(
        raw, "approve", existing.approve_hours if existing else defaults.approve_hours, 0, 24 * 90
    )
    share = _number(raw, "gold_share", existing.gold_share if existing else 0.1, 0, 1)
    fast = _number(
        raw, "min_seconds", existing.min_seconds if existing else defaults.min_seconds, 0, 600
    )
    skips = _int_setting(raw, "max_skips", existing.max_skips if existing else 5, 0, 1000)
    window = _int_setting(
        raw, "gold_window", existing.rule_gold_window if existing else 10, 1, 1000
    )
    accuracy = _number(
        raw, "gold_accuracy", existing.rule_gold_min_accuracy if existing else 0.7, 0, 1
    )
    suspend = _int_setting(
        raw, "suspend_hours", existing.rule_suspend_hours if existing else 24, 0, 24 * 90
    )
    pause = _int_setting(
        raw, "skip_pause", existing.skip_pause_minutes if existing else 10, 0, 24 * 60
    )
    for value in (approve, share, fast, skips, window, accuracy, suspend, pause):
        if isinstance(value, ArgError):
            return value
    allocation = raw.get("allocation", existing.allocation if existing else "fair").lower()
    if allocation not in ("fair", "fifo"):
        return ArgError("arg_bad_allocation", {"value": allocation[:40]})
    cap: int | None = existing.daily_cap if existing else None
    if "daily_cap" in raw:
        if raw["daily_cap"].lower() in ("none", "off", "0"):
            cap = None
        else:
            parsed = _int_setting(raw, "daily_cap", 0, 1, 100_000)
            if isinstance(parsed, ArgError):
                return parsed
            cap = parsed
    top: int | None = existing.max_overlap if existing else None
    if "max_overlap" in raw:
        if raw["max_overlap"].lower() in ("none", "off", "0"):
            top = None
        else:
            parsed = _int_setting(raw, "max_overlap", 0, 1, 50)
            if isinstance(parsed, ArgError):
                return parsed
            top = parsed
    allow_none = existing.allow_none if existing else False
    if "allow_none" in raw:
        flag = raw["allow_none"].lower()
        if flag not in ("yes", "no", "true", "false", "1", "0"):
            return ArgError(
                "arg_bad_choice", {"key": "allow_none", "choices": "yes, no", "value": flag[:40]}
            )
        allow_none = flag in ("yes", "true", "1")
    comments = raw.get("comment", existing.comments if existing else "off").lower()
    if comments not in ("off", "optional"):
        return ArgError(
            "arg_bad_choice",
            {"key": "comment", "choices": "optional, off", "value": comments[:40]},
        )
    return {
        "allow_none": allow_none,
        "comments": comments,
        "approve_hours": approve,
        "gold_share": share,
        "min_seconds": fast,
        "max_skips": skips,
        "allocation": allocation,
        "daily_cap": cap,
        "max_overlap": top,
        "rule_gold_window": window,
        "rule_gold_min_accuracy": accuracy,
        "rule_suspend_hours": suspend,
        "skip_pause_minutes": pause,
    }


def _changed(project: Project, settings: Settings) -> tuple[str, ...]:
    pairs = (
        ("type", project.type, settings.type),
        ("options", project.options, settings.options),
        ("instructions", project.instructions, settings.instructions),
        ("price", project.price, settings.price),
        ("overlap", project.overlap, settings.overlap),
        ("lease", project.lease_seconds, settings.lease_seconds),
        ("approve", project.approve_hours, settings.approve_hours),
        ("gold_share", project.gold_share, settings.gold_share),
        ("min_seconds", project.min_seconds, settings.min_seconds),
        ("max_skips", project.max_skips, settings.max_skips),
        ("allocation", project.allocation, settings.allocation),
        ("daily_cap", project.daily_cap, settings.daily_cap),
        ("max_overlap", project.max_overlap, settings.max_overlap),
        ("gold_window", project.rule_gold_window, settings.rule_gold_window),
        ("gold_accuracy", project.rule_gold_min_accuracy, settings.rule_gold_min_accuracy),
        ("suspend_hours", project.rule_suspend_hours, settings.rule_suspend_hours),
        ("skip_pause", project.skip_pause_minutes, settings.skip_pause_minutes),
        ("allow_none", project.allow_none, settings.allow_none),
        ("comment", project.comments, settings.comments),
    )
    return tuple(key for key, old, new in pairs if old != new)


class ImageUploadError(Exception):
    """Telegram would not take an image (not a picture, too big, ...)."""


@dataclass(slots=True)
class ZipContents:
    """A checked zip: its one tasks file and the other members (read on demand)."""

    archive: zipfile.ZipFile
    tasks_name: str
    members: dict[str, zipfile.ZipInfo]  # normalised path -> member
    by_base: dict[str, str | None]  # base name -> path (None when two members share it)

    def find(self, reference: str) -> str | None:
        """The member a tasks file names: its path in the zip, or a unique base name."""
        name = _norm_member(reference)
        if name in self.members:
            return name
        return self.by_base.get(name.rsplit("/", 1)[-1]) if "/" not in name else None

    def read(self, name: str) -> bytes:
        info = self.members[name]
        with self.archive.open(info) as stream:
            blob = stream.read(ZIP_MAX_MEMBER_BYTES + 1)
        if len(blob) > ZIP_MAX_MEMBER_BYTES:
            raise zipfile.BadZipFile("member larger than declared")
        return blob

    def extract(self, name: str, target: Path) -> None:
        """Copy a member to the file ``target``, a chunk at a time."""
        copied = 0
        with self.archive.open(self.members[name]) as stream, target.open("wb") as out:
            while chunk := stream.read(_CHUNK):
                copied += len(chunk)
                if copied > ZIP_MAX_MEMBER_BYTES:
                    raise zipfile.BadZipFile("member larger than declared")
                out.write(chunk)


def is_zip(file_name: str, data: bytes) -> bool:
    """Whether the upload is a zip: by its name, or by its first bytes (``data`` may be just
    those) when the name is not a tasks file's."""
    lower = file_name.lower()
    return lower.endswith(".zip") or (
        data.startswith(b"PK\x03\x04") and not lower.endswith(TASK_FILE_EXTENSIONS)
    )


def _norm_member(name: str) -> str:
    name = name.strip().replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name


def _unsafe_name(name: str) -> bool:
    name = name.replace("\\", "/")
    return (
        name.startswith("/")
        or bool(re.match(r"^[A-Za-z]:", name))
        or ".." in name.split("/")
        or "\x00" in name
    )


def _ignored_member(name: str) -> bool:
    """Folders and the files archivers add on their own (macOS resource forks, dot files)."""
    base = name.rstrip("/").rsplit("/", 1)[-1]
    return name.endswith("/") or name.startswith("__MACOSX/") or base.startswith(".")


def read_zip(data: bytes | str | Path) -> ZipContents | list[RowError]:
    """Open an uploaded zip (its bytes, or the file it was saved to), refusing anything unsafe
    before a single member is unpacked: too many files, a member or a total too big, a zip
    bomb, a path leaving the folder. The caller closes ``archive``."""
    try:
        if isinstance(data, bytes):
            size, archive = len(data), zipfile.ZipFile(io.BytesIO(data))
        else:
            size, archive = os.path.getsize(data), zipfile.ZipFile(data)
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError):
        return [RowError(0, "zip_invalid", {})]
    problems = _zip_problems(infos, size)
    if problems:
        archive.close()
        return problems
    members = {_norm_member(i.filename): i for i in infos if not _ignored_member(i.filename)}
    task_files = [n for n in members if n.lower().endswith(TASK_FILE_EXTENSIONS)]
    if len(task_files) != 1:
        archive.close()
        return [RowError(0, "zip_tasks_file_count", {"count": len(task_files)})]
    by_base: dict[str, str | None] = {}
    for name in members:
        base = name.rsplit("/", 1)[-1]
        by_base[base] = None if base in by_base else name
    return ZipContents(archive, task_files[0], members, by_base)


def _zip_problems(infos: list[zipfile.ZipInfo], size: int) -> list[RowError]:
    if len(infos) > ZIP_MAX_FILES:
        return [RowError(0, "zip_too_many_files", {"count": len(infos), "limit": ZIP_MAX_FILES})]
    problems: list[RowError] = []
    total = 0
    for info in infos:
        shown = info.filename[:80]
        if _unsafe_name(info.filename):
            problems.append(RowError(0, "zip_bad_name", {"name": shown}))
            continue
        if info.file_size > ZIP_MAX_MEMBER_BYTES:
            problems.append(
                RowError(
                    0,
                    "zip_member_too_big",
                    {"name": shown, "limit": ZIP_MAX_MEMBER_BYTES // 1024 // 1024},
                )
            )
        elif info.file_size >= ZIP_RATIO_MIN_BYTES and info.file_size > ZIP_MAX_RATIO * max(
            info.compress_size, 1
        ):
            problems.append(RowError(0, "zip_bomb", {"name": shown, "limit": ZIP_MAX_RATIO}))
        total += info.file_size
    if total > ZIP_MAX_TOTAL_BYTES:
        problems.append(RowError(0, "zip_too_big", {"limit": ZIP_MAX_TOTAL_BYTES // 1024 // 1024}))
    elif total >= ZIP_RATIO_MIN_BYTES and total > ZIP_MAX_RATIO * max(size, 1):
        problems.append(RowError(0, "zip_bomb", {"name": "*", "limit": ZIP_MAX_RATIO}))
    return problems


# --------------------------------------------------------------------------------------------
# The import: the file is read in batches straight into the inserts, never held whole.


@dataclass(frozen=True, slots=True)
class _Source:
    """The uploaded file: saved on disk (read a chunk at a time) or bytes in memory."""

    path: Path | None
    data: bytes | None

    def open(self) -> IO[bytes]:
        if self.path is not None:
            return self.path.open("rb")
        assert self.data is not None
        return io.BytesIO(self.data)

    def head(self) -> bytes:
        with self.open() as stream:
            return stream.read(4)

    def checksum(self) -> str:
        digest = hashlib.sha256()
        with self.open() as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
        return digest.hexdigest()


class _Capped:
    """Problems the project finds in rows, the first MAX_ERRORS kept, all counted."""

    def __init__(self) -> None:
        self.items: list[RowError] = []
        self.total = 0

    def add(self, problem: RowError) -> None:
        self.total += 1
        if len(self.items) < MAX_ERRORS:
            self.items.append(problem)

    def finish(self) -> list[RowError]:
        if self.total > len(self.items):
            return [*self.items, RowError(0, "too_many_errors", {"count": str(self.total)})]
        return self.items


class _Tasks:
    """Parsed rows → the tasks to insert, with what needs the project checked: a gold answer
    must be one of the options; an image must be an https link or (in a zip) a member."""

    def __init__(
        self, settings: Settings, contents: ZipContents | None, file_ids: dict[str, str]
    ) -> None:
        self.options = settings.options
        self.allowed = frozenset(settings.options)
        self.image = settings.type == "image"
        self.contents = contents
        self.file_ids = file_ids

    def problem(self, row: Row) -> RowError | None:
        """What is wrong with a valid row for this project (gold first, then its image)."""
        line, _, _, gold, payload = row
        if gold is not None and gold not in self.allowed:
            return RowError(
                line, "gold_not_option", {"value": gold[:40], "options": ", ".join(self.options)}
            )
        if self.image:
            value = payload.get("image", "")
            if not IMAGE_URL.match(value) and self.member(value) is None:
                code = "image_missing" if self.contents is not None else "image_not_url"
                return RowError(line, code, {"name": value[:80]})
        return None

    def member(self, value: str) -> str | None:
        """The zip member an image value names (None for a link, or with no zip)."""
        if self.contents is None or IMAGE_URL.match(value):
            return None
        return self.contents.find(value)

    def batch(self, rows: list[Row]) -> list[BatchRow] | None:
        """The tasks for a batch of rows; None if a row has a problem (see :meth:`problem`)."""
        tasks: list[BatchRow] = []
        allowed, image, append = self.allowed, self.image, tasks.append
        for line, external_id, text, gold, payload in rows:
            if gold is not None and gold not in allowed:
                return None
            if not payload:
                append((external_id, text, "{}", gold, None, line))
                continue
            if image:
                value = payload.get("image", "")
                if not IMAGE_URL.match(value):
                    member = self.member(value)
                    if member is None:
                        return None
                    payload["image"] = member
                    payload[IMAGE_FILE_ID] = self.file_ids[member]
            explanation = payload.pop("explanation", None) or None
            # An A/B comparison's main text is its prompt (what exports and reading-time rules
            # use).
            text = text or payload.get("prompt", "")
            body = json.dumps(payload, ensure_ascii=False) if payload else "{}"
            append((external_id, text, body, gold, explanation, line))
        return tasks


class _Invalid(Exception):
    """The file has a problem: the import is rolled back, and every problem is then listed."""


def _problems(
    open_file: Opener, file_name: str, settings: Settings, tasks: _Tasks, encoding: str | None
) -> tuple[list[RowError], str, dict[str, int]]:
    """Every problem of a file as the admin is told them: the parser's, else gold answers that
    are not options, else images; its unit; the zip members its rows name (→ first line).

    Reads the whole file once more, in batches, with its ids kept in a scratch file."""
    with uploads_repo.SeenIds() as seen:
        reader = TaskReader(
            open_file,
            file_name,
            required=REQUIRED_COLUMNS[settings.type],
            ids=seen.add,
            batch_rows=BATCH,
            encoding=encoding,
        )
        gold, images = _Capped(), _Capped()
        members: dict[str, int] = {}
        for rows in reader.batches():
            for row in rows:
                problem = tasks.problem(row)
                if problem is None:
                    if (member := tasks.member(row[4].get("image", ""))) is not None:
                        members.setdefault(member, row[0])
                elif problem.code == "gold_not_option":
                    gold.add(problem)
                else:
                    images.add(problem)
        errors = reader.errors
    return errors or gold.finish() or images.finish(), reader.unit, members


class _Spool:
    """A checked file's tasks, encoded batch by batch (db.tasks.encode_batch) into a temporary
    file: the write transaction then only reads them back and inserts them."""

    _HEAD = struct.Struct("<II")  # bytes, tasks

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.tasks = 0

    def write(self, batch: list[BatchRow]) -> None:
        data = tasks_repo.encode_batch(batch).encode()
        self.file.write(self._HEAD.pack(len(data), len(batch)))
        self.file.write(data)
        self.tasks += len(batch)

    def read(self) -> Iterator[tuple[str, int]]:
        """Each batch (its JSON text) and how many tasks it holds, from the first."""
        self.file.seek(0)
        while head := self.file.read(self._HEAD.size):
            size, count = self._HEAD.unpack(head)
            yield self.file.read(size).decode(), count


def _prepare(
    open_file: Opener,
    file_name: str,
    settings: Settings,
    tasks: _Tasks,
    spool: _Spool,
    encoding: str | None,
) -> TaskReader | None:
    """Read, check and encode the whole file into ``spool`` (outside any transaction).

    Returns the reader, or None at the first problem; ids are not checked here (the
    database's unique index does that as the tasks go in)."""
    reader = TaskReader(
        open_file,
        file_name,
        required=REQUIRED_COLUMNS[settings.type],
        ids=None,
        batch_rows=BATCH,
        encoding=encoding,
    )
    for rows in reader.batches():
        batch = tasks.batch(rows) if not reader.error_count else None
        if batch is None:
            return None
        spool.write(batch)
    return None if reader.failed or reader.error_count else reader


async def _insert_spooled(
    tx: Tx,
    spool: _Spool,
    project_id: int,
    upload_id: int,
    needed: int,
    report: Callable[[int], None],
) -> int:
    """Insert the spooled tasks, a batch per statement; return how many were added.

    Raises _Invalid if an id came twice in the file. The database's own unique index finds
    that: a batch that went in whole has none; one that did not is looked at closely (an id
    skipped because the project had it before goes to a scratch file, to notice it twice)."""
    added = done = 0
    next_report = PROGRESS_ROWS
    skipped: uploads_repo.SeenIds | None = None
    try:
        for batch, count in spool.read():
            last = await tasks_repo.last_id(tx)
            inserted = await tasks_repo.insert_batch(tx, project_id, upload_id, needed, batch)
            if inserted < count:
                skipped = skipped or uploads_repo.SeenIds()
                await _check_skipped(tx, project_id, upload_id, last, batch, skipped)
            added += inserted
            done += count
            if done >= next_report:
                report(done)
                next_report = done + PROGRESS_ROWS
    finally:
        if skipped is not None:
            skipped.close()
    if done and done + PROGRESS_ROWS != next_report:
        report(done)  # the last rows
    return added


async def _check_skipped(
    tx: Tx, project_id: int, upload_id: int, last: int, batch: str, skipped: uploads_repo.SeenIds
) -> None:
    """Raise _Invalid if a task of the batch was skipped for an id that came earlier in the
    file, rather than for one the project had before this upload (``last``: the highest task
    id before the batch went in)."""
    inserted_here: set[str] = set()
    earlier: list[tuple[str, int]] = []
    for external_id, line, task_id, task_upload in await tasks_repo.batch_matches(
        tx, project_id, batch
    ):
        if task_upload != upload_id:
            earlier.append((external_id, line))
        elif task_id > last and external_id not in inserted_here:
            inserted_here.add(external_id)  # the task that inserted it
        else:
            raise _Invalid
    if skipped.add(earlier):
        raise _Invalid


async def _upload_images(
    members: dict[str, int], contents: ZipContents, upload_image: ImageUploader
) -> dict[str, str] | RowError:
    """Send each zipped image the rows name to Telegram once; member → file_id."""
    file_ids: dict[str, str] = {}
    for name, line in members.items():
        try:
            blob = await asyncio.to_thread(contents.read, name)
            file_ids[name] = await upload_image(name, blob)
        except (
            ImageUploadError,
            zipfile.BadZipFile,
            RuntimeError,
            NotImplementedError,
            EOFError,
            OSError,
        ):
            return RowError(line, "image_upload_failed", {"name": name[:80]})
    return file_ids


async def import_file(
    db: Database,
    *,
    admin_id: int,
    request: UploadRequest,
    file_name: str,
    data: bytes | None = None,
    path: str | Path | None = None,
    now: datetime,
    defaults: Labeling,
    minor_units: int,
    progress: Callable[[int, int], None] | None = None,
    upload_image: ImageUploader | None = None,
) -> ImportDone | ImportRejected | ArgError | SameFile:
    """Import a file of tasks (saved at ``path``, or ``data``): all of it, or nothing.

    The file is read in batches straight into the inserts, in ONE write transaction that is
    rolled back at the first problem; then the file is read once more to list every problem
    by line. Memory does not grow with the file (a JSON array, one document, is read whole).
    ``progress(rows done, rows expected)`` is called in the event loop as batches go in.

    A zip (image projects) holds one tasks file and the images it names: the tasks file is
    checked first, then its images are sent to Telegram once each through ``upload_image``,
    then the tasks are inserted."""
    if (data is None) == (path is None):
        raise TypeError("import_file needs either data or path")
    source = _Source(Path(path) if path is not None else None, data)
    existing = await projects_repo.get_by_name(db, request.project)
    has_answers = False
    if existing is not None:
        (prog,) = await projects_repo.progress(db, existing.id)
        has_answers = prog.answers_done > 0
    settings = resolve_settings(
        existing, request.settings, defaults, minor_units, has_answers=has_answers
    )
    if isinstance(settings, ArgError):
        return settings
    checksum = await asyncio.to_thread(source.checksum)
    if existing and await uploads_repo.find_by_checksum(db, existing.id, checksum):
        return SameFile(existing.name)
    if not is_zip(file_name, await asyncio.to_thread(source.head)):
        return await _import_tasks(
            db,
            source.open,
            file_name,
            None,
            admin_id=admin_id,
            request=request,
            existing=existing,
            settings=settings,
            checksum=checksum,
            upload_name=file_name,
            now=now,
            progress=progress,
            upload_image=None,
        )
    if settings.type != "image" or upload_image is None:
        return ArgError("arg_zip_needs_image")
    opened = await asyncio.to_thread(read_zip, source.path or source.data or b"")
    if isinstance(opened, list):
        return ImportRejected(tuple(opened), "line")
    try:
        with tempfile.TemporaryDirectory(prefix="labelgram-zip-") as folder:
            tasks_file = Path(folder) / "tasks"
            try:
                await asyncio.to_thread(opened.extract, opened.tasks_name, tasks_file)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, OSError):
                return ImportRejected((RowError(0, "zip_invalid", {}),), "line")
            return await _import_tasks(
                db,
                lambda: tasks_file.open("rb"),
                opened.tasks_name,
                opened,
                admin_id=admin_id,
                request=request,
                existing=existing,
                settings=settings,
                checksum=checksum,
                upload_name=file_name,
                now=now,
                progress=progress,
                upload_image=upload_image,
            )
    finally:
        opened.archive.close()


async def _import_tasks(
    db: Database,
    open_file: Opener,
    tasks_name: str,
    contents: ZipContents | None,
    *,
    admin_id: int,
    request: UploadRequest,
    existing: Project | None,
    settings: Settings,
    checksum: str,
    upload_name: str,
    now: datetime,
    progress: Callable[[int, int], None] | None,
    upload_image: ImageUploader | None,
) -> ImportDone | ImportRejected | SameFile:
    """import_file once the file is known to be a tasks file (``contents``: the zip it came in)."""
    tasks = _Tasks(settings, contents, {})
    if contents is not None:
        # Every row is checked before a single image is sent to Telegram.
        problems, unit, members = await asyncio.to_thread(
            _problems, open_file, tasks_name, settings, tasks, request.encoding
        )
        if problems:
            return ImportRejected(tuple(problems), unit)
        assert upload_image is not None
        uploaded = await _upload_images(members, contents, upload_image)
        if isinstance(uploaded, RowError):
            return ImportRejected((uploaded,), "line")
        tasks.file_ids = uploaded

    async def rejected() -> ImportRejected:
        problems, unit, _ = await asyncio.to_thread(
            _problems, open_file, tasks_name, settings, tasks, request.encoding
        )
        # (Never empty: this pass finds what the first one did, with every line named.)
        return ImportRejected(tuple(problems), unit)

    with tempfile.TemporaryFile(prefix="labelgram-tasks-") as spool_file:
        spool = _Spool(spool_file)
        reader = await asyncio.to_thread(
            _prepare, open_file, tasks_name, settings, tasks, spool, request.encoding
        )
        if reader is None:
            return await rejected()
        loop = asyncio.get_running_loop()

        def report(done: int) -> None:  # in the database's thread
            if progress is not None:
                loop.call_soon_threadsafe(progress, done, spool.tasks)

        async def body(tx: Tx) -> ImportDone | SameFile:
            if existing is None:
                project = await projects_repo.create(
                    tx,
                    name=request.project,
                    type=settings.type,
                    options=settings.options,
                    instructions=settings.instructions,
                    price=settings.price,
                    overlap=settings.overlap,
                    lease_seconds=settings.lease_seconds,
                    created_by=admin_id,
                    now=now,
                )
                project = settings.apply(project)
                await projects_repo.update_settings(tx, project)
                changed: tuple[str, ...] = ()
            else:
                if await uploads_repo.find_by_checksum(tx, existing.id, checksum):
                    return SameFile(existing.name)  # the same file, imported meanwhile
                # The same name typed with other capitals still names this project.
                changed = _changed(existing, settings)
                project = settings.apply(existing)
                if changed:
                    await projects_repo.update_settings(tx, project)
            upload_id = await uploads_repo.record(
                tx,
                project_id=project.id,
                admin_id=admin_id,
                file_name=upload_name[:200],
                checksum=checksum,
                file_format=reader.format,
                now=now,
            )
            added = await _insert_spooled(
                tx, spool, project.id, upload_id, project.overlap, report
            )
            skipped = spool.tasks - added
            await uploads_repo.set_counts(tx, upload_id, added, skipped)
            return ImportDone(
                project=project,
                created=existing is None,
                changed=changed,
                added=added,
                skipped=skipped,
                dropped_predictions=reader.dropped_predictions,
            )

        started = time.perf_counter()
        try:
            outcome = await db.run(body)
        except _Invalid:
            log.info(
                "import of %s rolled back after %.3f s: an id came twice",
                tasks_name,
                time.perf_counter() - started,
            )
            return await rejected()
    if isinstance(outcome, ImportDone):
        log.info(
            "imported %d tasks (%d skipped) from %s in one transaction of %.3f s",
            outcome.added,
            outcome.skipped,
            tasks_name,
            time.perf_counter() - started,
        )
    return outcome


async def hold_file(
    db: Database,
    admin_id: int,
    file_id: str,
    file_name: str,
    file_size: int | None,
    now: datetime,
) -> int:
    """Keep a file sent without a caption until the admin picks its project."""
    async with db.transaction() as tx:
        return await uploads_repo.add_pending_file(
            tx, admin_id, file_id, file_name[:200], file_size, now
        )


async def take_file(
    db: Database, pending_id: int, admin_id: int
) -> uploads_repo.PendingFile | None:
    """The waiting file, removed from the waiting list; None if gone or someone else's."""
    async with db.transaction() as tx:
        pending = await uploads_repo.get_pending_file(tx, pending_id)
        if pending is None or pending.admin_id != admin_id:
            return None
        await uploads_repo.delete_pending_file(tx, pending_id)
        return pending
