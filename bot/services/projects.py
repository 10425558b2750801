"""What admins ask about projects: progress, stats, pause and resume, exports."""

from __future__ import annotations

import csv
import difflib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from db import answers as answers_repo
from db import assignments as assignments_repo
from db import projects as projects_repo
from db import tasks as tasks_repo
from db.answers import ExportRow
from db.connection import Database
from db.projects import Project, ProjectProgress
from db.timefmt import to_db


@dataclass(frozen=True, slots=True)
class ProjectStats:
    progress: ProjectProgress
    active_today: int
    per_option: list[tuple[str, int]]
    first_shown_wins: tuple[int, int] | None = None  # A/B: (first shown won, decisive)


@dataclass(frozen=True, slots=True)
class Export:
    project: Project
    rows: int
    csv: bytes
    jsonl: bytes


async def all_progress(db: Database) -> list[ProjectProgress]:
    return await projects_repo.progress(db)


async def stats(db: Database, name: str, day_start: datetime) -> ProjectStats | None:
    project = await projects_repo.get_by_name(db, name)
    if project is None:
        return None
    (prog,) = await projects_repo.progress(db, project.id)
    return ProjectStats(
        progress=prog,
        active_today=await answers_repo.active_workers_since(db, project.id, day_start),
        per_option=await answers_repo.count_by_value(db, project.id),
        first_shown_wins=await answers_repo.first_shown_wins(db, project.id)
        if project.type == "pairwise"
        else None,
    )


async def set_paused(
    db: Database, name: str, paused: bool, now: datetime
) -> tuple[Project | None, bool]:
    """Pause (taking back tasks in students' hands) or resume; return (project, changed)."""
    async with db.transaction() as tx:
        project = await projects_repo.get_by_name(tx, name)
        if project is None:
            return None, False
        target = "paused" if paused else "active"
        if project.status == target:
            return project, False
        await projects_repo.set_status(tx, project.id, target)
        if paused:
            taken_back = await assignments_repo.withdraw_open(tx, project.id, now)
            await tasks_repo.release_many(tx, taken_back)
        return await projects_repo.get(tx, project.id), True


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """Neutralise spreadsheet formulas (CSV injection) in free text."""
    return "'" + value if value.startswith(_FORMULA_START) else value


EXPORT_COLUMNS = ("task_id", "text", "student_id", "answer", "seconds", "answered_at")


def _export_dict(row: ExportRow, student: Callable[[int], str]) -> dict[str, str | int | float]:
    return {
        # A task uploaded without an id is named by its internal number, marked with '#'
        # so it can never be mistaken for another task's own id.
        "task_id": row.external_id if row.external_id is not None else f"#{row.task_id}",
        "text": row.text,
        # Pseudonymous (bot.services.privacy): never the Telegram id, name or username.
        "student_id": student(row.worker_id),
        "answer": row.value,
        "seconds": row.seconds,
        # As stored: UTC to the millisecond, the same shape on every row (isoformat() would
        # print microseconds, and no fraction at all on a whole second).
        "answered_at": to_db(row.created_at),
    }


def _extra_columns(project: Project) -> list[str]:
    """Columns only some task types have."""
    extra = []
    if project.type == "pairwise":
        extra.append("shown_order")
    if project.type == "correction":
        extra.append("change_ratio")
    if project.comments == "optional":
        extra.append("comment")
    return extra


def change_ratio(original: str, corrected: str) -> float:
    """How much a correction changed the text, by characters: 0 unchanged … 1 all new."""
    return round(1 - difflib.SequenceMatcher(None, original, corrected, autojunk=False).ratio(), 3)


def _extra_value(column: str, row: ExportRow) -> str | float:
    if column == "change_ratio":
        return change_ratio(row.text, row.value)
    if column == "shown_order":
        return row.shown_order or ""
    return row.comment or ""


IDENTITY_COLUMNS = ("telegram_id", "name", "username")


def build_export(
    project: Project,
    rows: list[ExportRow],
    student: Callable[[int], str],
    people: dict[int, tuple[str, str | None]],
    *,
    identified: bool = False,
) -> Export:
    """Every answer of a project, one row each, as CSV (Excel-friendly) and JSONL (pure: runs
    in the worker process). Students appear by pseudonym; `identified` (an owner's explicit
    request) adds who they are, from `people`."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    extra = _extra_columns(project) + (list(IDENTITY_COLUMNS) if identified else [])
    writer.writerow(EXPORT_COLUMNS + tuple(extra))
    lines = []
    for row in rows:
        item = _export_dict(row, student)
        for column in extra:
            if column in IDENTITY_COLUMNS:
                who = people.get(row.worker_id, ("", None))
                item[column] = (
                    row.worker_id
                    if column == "telegram_id"
                    else who[0]
                    if column == "name"
                    else who[1] or ""
                )
            else:
                item[column] = _extra_value(column, row)
        writer.writerow([spreadsheet_safe(v) if isinstance(v, str) else v for v in item.values()])
        lines.append(json.dumps(item, ensure_ascii=False))
    jsonl = ("\n".join(lines) + "\n").encode() if lines else b""
    return Export(
        project=project,
        rows=len(rows),
        csv=text.getvalue().encode("utf-8-sig"),
        jsonl=jsonl,
    )


async def set_guide(
    db: Database, name: str, *, instructions: str | None = None, example_file_id: str | None = None
) -> Project | None:
    """Set a project's Guide: its instructions and/or an example image."""
    async with db.transaction() as tx:
        project = await projects_repo.get_by_name(tx, name)
        if project is None:
            return None
        text = instructions[:2000] if instructions else None
        await projects_repo.set_guide(tx, project.id, text, example_file_id)
        return await projects_repo.get(tx, project.id)


async def name_of(db: Database, project_id: int) -> str | None:
    project = await projects_repo.get(db, project_id)
    return project.name if project else None
