"""Task uploads: the `/upload` caption, project settings, and the all-or-nothing import."""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import shlex
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.config import Labeling
from bot.importing import ParseResult, RowError, TaskRow, parse_tasks
from bot.money import parse_amount
from db import projects as projects_repo
from db import tasks as tasks_repo
from db import uploads as uploads_repo
from db.connection import Database
from db.projects import Project
from db.tasks import NewTask

KNOWN_KEYS = (
    "type", "options", "scale", "price", "overlap", "lease", "instructions",
    "approve", "gold_share", "min_seconds", "max_skips", "allocation", "daily_cap",
    "max_overlap", "gold_window", "gold_accuracy", "suspend_hours", "skip_pause",
    "allow_none", "comment",
)
TYPES = ("label", "rating", "pairwise", "multilabel", "correction", "image")
# An A/B comparison's answers, in terms of the original a and b (whatever order they were
# shown in).
PAIRWISE_OPTIONS = ("a", "b", "tie", "both_bad")
# The columns each type needs in every row.
REQUIRED_COLUMNS = {"label": ("text",), "rating": ("text",), "pairwise": ("prompt", "a", "b"),
                    "multilabel": ("text",), "correction": ("text",), "image": ("image",)}
# A correction's only button answer: the text is fine as it is.
CORRECTION_OPTIONS = ("unchanged",)
PROJECT_NAME = re.compile(r"^[\w-]{1,40}$")
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
BATCH = 5_000
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
    params: dict[str, str | int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UploadRequest:
    project: str
    settings: dict[str, str]


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
    for word in rest:
        key, sep, value = word.partition("=")
        if not sep:
            return ArgError("arg_not_key_value", {"arg": word[:60]})
        key = key.strip().lower()
        if key not in KNOWN_KEYS:
            return ArgError("arg_unknown_key", {"key": key[:40], "known": ", ".join(KNOWN_KEYS)})
        settings[key] = value.strip()
    return UploadRequest(project=name, settings=settings)


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


def _number(raw: dict[str, str], key: str, default: float, low: float, high: float
            ) -> float | ArgError:
    if key not in raw:
        return default
    text = raw[key].strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:  # also false for nan
        return ArgError("arg_bad_number", {"key": key, "low": low, "high": high,
                                           "value": text[:40]})
    return value


def _quality_settings(existing: Project | None, raw: dict[str, str], defaults: Labeling
                      ) -> dict[str, object] | ArgError:
    """The quality and pay-rule keys (each defaulting to the project's value, else the
    config's or the rule's default): approve, gold_share, min_seconds, max_skips,
    allocation, daily_cap, max_overlap, gold_window, gold_accuracy, suspend_hours,
    skip_pause."""
    approve = _int_setting(raw, "approve",
                           existing.approve_hours if existing else defaults.approve_hours,
                           0, 24 * 90)
    share = _number(raw, "gold_share", existing.gold_share if existing else 0.1, 0, 1)
    fast = _number(raw, "min_seconds",
                   existing.min_seconds if existing else defaults.min_seconds, 0, 600)
    skips = _int_setting(raw, "max_skips", existing.max_skips if existing else 5, 0, 1000)
    window = _int_setting(raw, "gold_window", existing.rule_gold_window if existing else 10,
                          1, 1000)
    accuracy = _number(raw, "gold_accuracy",
                       existing.rule_gold_min_accuracy if existing else 0.7, 0, 1)
    suspend = _int_setting(raw, "suspend_hours",
                           existing.rule_suspend_hours if existing else 24, 0, 24 * 90)
    pause = _int_setting(raw, "skip_pause", existing.skip_pause_minutes if existing else 10,
                         0, 24 * 60)
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
            return ArgError("arg_bad_choice", {"key": "allow_none", "choices": "yes, no",
                                               "value": flag[:40]})
        allow_none = flag in ("yes", "true", "1")
    comments = raw.get("comment", existing.comments if existing else "off").lower()
    if comments not in ("off", "optional"):
        return ArgError("arg_bad_choice", {"key": "comment", "choices": "optional, off",
                                           "value": comments[:40]})
    return {"allow_none": allow_none, "comments": comments,
            "approve_hours": approve, "gold_share": share, "min_seconds": fast,
            "max_skips": skips, "allocation": allocation, "daily_cap": cap,
            "max_overlap": top, "rule_gold_window": window,
            "rule_gold_min_accuracy": accuracy, "rule_suspend_hours": suspend,
            "skip_pause_minutes": pause}


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


def _check_rows(parsed: ParseResult, options: tuple[str, ...]) -> list[RowError]:
    """Problems that need the project: a gold answer must be one of the options."""
    problems = []
    allowed = set(options)
    for row in parsed.rows:
        if row.gold is not None and row.gold not in allowed:
            problems.append(
                RowError(
                    row.line,
                    "gold_not_option",
                    {"value": row.gold[:40], "options": ", ".join(options)},
                )
            )
    return problems


class ImageUploadError(Exception):
    """Telegram would not take an image (not a picture, too big, ...)."""


@dataclass(slots=True)
class ZipContents:
    """A checked zip: its one tasks file and the other members (read on demand)."""

    archive: zipfile.ZipFile
    tasks_name: str
    tasks: bytes
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


def is_zip(file_name: str, data: bytes) -> bool:
    lower = file_name.lower()
    return lower.endswith(".zip") or (
        data.startswith(b"PK\x03\x04") and not lower.endswith(TASK_FILE_EXTENSIONS))


def _norm_member(name: str) -> str:
    name = name.strip().replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name


def _unsafe_name(name: str) -> bool:
    name = name.replace("\\", "/")
    return (name.startswith("/") or bool(re.match(r"^[A-Za-z]:", name))
            or ".." in name.split("/") or "\x00" in name)


def _ignored_member(name: str) -> bool:
    """Folders and the files archivers add on their own (macOS resource forks, dot files)."""
    base = name.rstrip("/").rsplit("/", 1)[-1]
    return name.endswith("/") or name.startswith("__MACOSX/") or base.startswith(".")


def read_zip(data: bytes) -> ZipContents | list[RowError]:
    """Open an uploaded zip, refusing anything unsafe before a single member is unpacked:
    too many files, a member or a total too big, a zip bomb, a path leaving the folder."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        return [RowError(0, "zip_invalid", {})]
    if len(infos) > ZIP_MAX_FILES:
        return [RowError(0, "zip_too_many_files", {"count": len(infos),
                                                   "limit": ZIP_MAX_FILES})]
    problems: list[RowError] = []
    total = 0
    for info in infos:
        shown = info.filename[:80]
        if _unsafe_name(info.filename):
            problems.append(RowError(0, "zip_bad_name", {"name": shown}))
            continue
        if info.file_size > ZIP_MAX_MEMBER_BYTES:
            problems.append(RowError(0, "zip_member_too_big", {
                "name": shown, "limit": ZIP_MAX_MEMBER_BYTES // 1024 // 1024}))
        elif (info.file_size >= ZIP_RATIO_MIN_BYTES
              and info.file_size > ZIP_MAX_RATIO * max(info.compress_size, 1)):
            problems.append(RowError(0, "zip_bomb", {"name": shown, "limit": ZIP_MAX_RATIO}))
        total += info.file_size
    if total > ZIP_MAX_TOTAL_BYTES:
        problems.append(RowError(0, "zip_too_big", {"limit": ZIP_MAX_TOTAL_BYTES // 1024 // 1024}))
    elif total >= ZIP_RATIO_MIN_BYTES and total > ZIP_MAX_RATIO * max(len(data), 1):
        problems.append(RowError(0, "zip_bomb", {"name": "*", "limit": ZIP_MAX_RATIO}))
    if problems:
        return problems
    members = {_norm_member(i.filename): i for i in infos if not _ignored_member(i.filename)}
    task_files = [n for n in members if n.lower().endswith(TASK_FILE_EXTENSIONS)]
    if len(task_files) != 1:
        return [RowError(0, "zip_tasks_file_count", {"count": len(task_files)})]
    by_base: dict[str, str | None] = {}
    for name in members:
        base = name.rsplit("/", 1)[-1]
        by_base[base] = None if base in by_base else name
    contents = ZipContents(archive, task_files[0], b"", members, by_base)
    try:
        contents.tasks = contents.read(task_files[0])
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, OSError):
        return [RowError(0, "zip_invalid", {})]
    return contents


def _image_rows(parsed: ParseResult, contents: ZipContents | None
                ) -> tuple[list[TaskRow], list[RowError]]:
    """Each row's image: an https URL, or (in a zip) the member it names."""
    rows, problems = [], []
    for row in parsed.rows:
        value = row.payload.get("image", "")
        if IMAGE_URL.match(value):
            rows.append(row)
            continue
        name = contents.find(value) if contents is not None else None
        if name is None:
            code = "image_missing" if contents is not None else "image_not_url"
            problems.append(RowError(row.line, code, {"name": value[:80]}))
            continue
        rows.append(replace(row, payload={**row.payload, "image": name}))
    return rows, problems


async def _upload_images(rows: list[TaskRow], contents: ZipContents,
                         upload_image: ImageUploader) -> list[TaskRow] | RowError:
    """Send each zipped image to Telegram once; every task keeps its file_id."""
    file_ids: dict[str, str] = {}
    done = []
    for row in rows:
        name = row.payload["image"]
        if IMAGE_URL.match(name):
            done.append(row)
            continue
        if name not in file_ids:
            try:
                blob = await asyncio.to_thread(contents.read, name)
                file_ids[name] = await upload_image(name, blob)
            except (ImageUploadError, zipfile.BadZipFile, RuntimeError, NotImplementedError,
                    EOFError, OSError):
                return RowError(row.line, "image_upload_failed", {"name": name[:80]})
        done.append(replace(row, payload={**row.payload, IMAGE_FILE_ID: file_ids[name]}))
    return done


def _new_task(row: TaskRow) -> NewTask:
    payload = dict(row.payload)
    explanation = payload.pop("explanation", None) or None
    # An A/B comparison's main text is its prompt (what exports and reading-time rules use).
    text = row.text or payload.get("prompt", "")
    return NewTask(external_id=row.external_id, text=text, gold=row.gold, payload=payload,
                   explanation=explanation)


async def import_file(
    db: Database,
    *,
    admin_id: int,
    request: UploadRequest,
    file_name: str,
    data: bytes,
    now: datetime,
    defaults: Labeling,
    minor_units: int,
    progress: Callable[[int, int], None] | None = None,
    upload_image: ImageUploader | None = None,
) -> ImportDone | ImportRejected | ArgError | SameFile:
    """Validate the whole file, then write it all in one transaction, or nothing.

    A zip (image projects) holds one tasks file and the images it names; its images are
    sent to Telegram once each through ``upload_image`` after everything else checked out."""
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
    checksum = hashlib.sha256(data).hexdigest()
    if existing and await uploads_repo.find_by_checksum(db, existing.id, checksum):
        return SameFile(existing.name)

    contents: ZipContents | None = None
    tasks_data, tasks_name = data, file_name
    if is_zip(file_name, data):
        if settings.type != "image" or upload_image is None:
            return ArgError("arg_zip_needs_image")
        opened = await asyncio.to_thread(read_zip, data)
        if isinstance(opened, list):
            return ImportRejected(tuple(opened), "line")
        contents = opened
        tasks_data, tasks_name = contents.tasks, contents.tasks_name
    parsed = await asyncio.to_thread(
        parse_tasks, tasks_data, tasks_name, required=REQUIRED_COLUMNS[settings.type]
    )
    problems = list(parsed.errors) or _check_rows(parsed, settings.options)
    rows = parsed.rows
    if not problems and settings.type == "image":
        rows, problems = _image_rows(parsed, contents)
    if problems:
        return ImportRejected(tuple(problems), parsed.unit)
    if contents is not None and upload_image is not None:
        uploaded = await _upload_images(rows, contents, upload_image)
        if isinstance(uploaded, RowError):
            return ImportRejected((uploaded,), parsed.unit)
        rows = uploaded

    total = len(rows)
    async with db.transaction() as tx:
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
            # The same name typed with other capitals still names this project.
            changed = _changed(existing, settings)
            project = settings.apply(existing)
            if changed:
                await projects_repo.update_settings(tx, project)
        upload_id = await uploads_repo.record(
            tx,
            project_id=project.id,
            admin_id=admin_id,
            file_name=file_name[:200],
            checksum=checksum,
            file_format=parsed.format,
            now=now,
        )
        added = 0
        for start in range(0, total, BATCH):
            batch = rows[start : start + BATCH]
            added += await tasks_repo.insert_many(
                tx, project.id, upload_id, project.overlap, map(_new_task, batch)
            )
            if progress is not None:
                progress(min(start + BATCH, total), total)
        await uploads_repo.set_counts(tx, upload_id, added, total - added)
    return ImportDone(
        project=project,
        created=existing is None,
        changed=changed,
        added=added,
        skipped=total - added,
    )


async def hold_file(
    db: Database, admin_id: int, file_id: str, file_name: str, file_size: int | None,
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
