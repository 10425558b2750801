"""Labeling projects and their settings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from db.connection import Database, Row, Tx
from db.timefmt import to_db


@dataclass(frozen=True, slots=True)
class Project:
    id: int
    name: str
    type: str
    options: tuple[str, ...]
    instructions: str
    price: int
    overlap: int
    lease_seconds: int
    status: str
    approve_hours: int = 24
    gold_share: float = 0.1
    rule_gold_window: int = 10
    rule_gold_min_accuracy: float = 0.7
    rule_suspend_hours: int = 24
    min_seconds: float = 1.0
    read_chars_per_second: float = 40.0
    max_skips: int = 5
    skip_pause_minutes: int = 10
    allocation: str = "fair"
    daily_cap: int | None = None
    max_overlap: int | None = None
    allow_none: bool = False
    comments: str = "off"
    example_file_id: str | None = None


@dataclass(frozen=True, slots=True)
class ProjectProgress:
    project: Project
    tasks: int
    answers_needed: int
    answers_done: int
    in_flight: int
    controls: int = 0


def _project(row: Row) -> Project:
    return Project(
        id=row["id"],
        name=row["name"],
        type=row["type"],
        options=tuple(json.loads(row["options"])),
        instructions=row["instructions"],
        price=row["price"],
        overlap=row["overlap"],
        lease_seconds=row["lease_seconds"],
        status=row["status"],
        approve_hours=row["approve_hours"],
        gold_share=row["gold_share"],
        rule_gold_window=row["rule_gold_window"],
        rule_gold_min_accuracy=row["rule_gold_min_accuracy"],
        rule_suspend_hours=row["rule_suspend_hours"],
        min_seconds=row["min_seconds"],
        read_chars_per_second=row["read_chars_per_second"],
        max_skips=row["max_skips"],
        skip_pause_minutes=row["skip_pause_minutes"],
        allocation=row["allocation"],
        daily_cap=row["daily_cap"],
        max_overlap=row["max_overlap"],
        allow_none=bool(row["allow_none"]),
        comments=row["comments"],
        example_file_id=row["example_file_id"],
    )


async def get(db: Database | Tx, project_id: int) -> Project | None:
    row = await db.fetchone("SELECT * FROM projects WHERE id = ?", (project_id,))
    return _project(row) if row else None


async def get_by_name(db: Database | Tx, name: str) -> Project | None:
    row = await db.fetchone("SELECT * FROM projects WHERE name = ?", (name,))
    return _project(row) if row else None


async def all_projects(db: Database | Tx) -> list[Project]:
    return [_project(r) for r in await db.fetchall("SELECT * FROM projects ORDER BY id")]


async def active(db: Database | Tx) -> list[Project]:
    """Active projects in creation order (the order tasks are handed out in)."""
    rows = await db.fetchall("SELECT * FROM projects WHERE status = 'active' ORDER BY id")
    return [_project(r) for r in rows]


async def active_ids(db: Database | Tx) -> list[int]:
    rows = await db.fetchall("SELECT id FROM projects WHERE status = 'active' ORDER BY id")
    return [r["id"] for r in rows]


async def create(
    tx: Tx,
    *,
    name: str,
    type: str,
    options: tuple[str, ...],
    instructions: str,
    price: int,
    overlap: int,
    lease_seconds: int,
    created_by: int,
    now: datetime,
) -> Project:
    project_id = await tx.insert(
        "INSERT INTO projects (name, type, options, instructions, price, overlap,"
        " lease_seconds, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            name,
            type,
            json.dumps(list(options), ensure_ascii=False),
            instructions,
            price,
            overlap,
            lease_seconds,
            created_by,
            to_db(now),
        ),
    )
    project = await get(tx, project_id)
    assert project is not None
    return project


async def update_settings(tx: Tx, project: Project) -> None:
    """Write a project's settings; tasks follow a changed overlap."""
    await tx.execute(
        "UPDATE projects SET type = ?, options = ?, instructions = ?, price = ?, overlap = ?,"
        " lease_seconds = ?, approve_hours = ?, gold_share = ?, min_seconds = ?,"
        " max_skips = ?, allocation = ?, daily_cap = ?, max_overlap = ?,"
        " rule_gold_window = ?, rule_gold_min_accuracy = ?, rule_suspend_hours = ?,"
        " skip_pause_minutes = ?, allow_none = ?, comments = ? WHERE id = ?",
        (
            project.type,
            json.dumps(list(project.options), ensure_ascii=False),
            project.instructions,
            project.price,
            project.overlap,
            project.lease_seconds,
            project.approve_hours,
            project.gold_share,
            project.min_seconds,
            project.max_skips,
            project.allocation,
            project.daily_cap,
            project.max_overlap,
            project.rule_gold_window,
            project.rule_gold_min_accuracy,
            project.rule_suspend_hours,
            project.skip_pause_minutes,
            int(project.allow_none),
            project.comments,
            project.id,
        ),
    )
    await tx.execute(
        "UPDATE tasks SET needed = ?,"
        " status = CASE WHEN answers >= ? THEN 'done'"
        "               WHEN answers + in_flight >= ? THEN 'full' ELSE 'open' END"
        " WHERE project_id = ? AND status != 'withdrawn' AND gold IS NULL AND needed != ?",
        (project.overlap, project.overlap, project.overlap, project.id, project.overlap),
    )


async def set_guide(
    tx: Tx, project_id: int, instructions: str | None, example_file_id: str | None
) -> None:
    """Change a project's instructions and/or its example image (None keeps the old one)."""
    await tx.execute(
        "UPDATE projects SET instructions = COALESCE(?, instructions),"
        " example_file_id = COALESCE(?, example_file_id) WHERE id = ?",
        (instructions, example_file_id, project_id),
    )


async def set_status(tx: Tx, project_id: int, status: str) -> None:
    await tx.execute("UPDATE projects SET status = ? WHERE id = ?", (status, project_id))


async def progress(db: Database | Tx, project_id: int | None = None) -> list[ProjectProgress]:
    """Every project (or one) with its task and answer counts, in creation order."""
    rows = await db.fetchall(
        "SELECT p.*,"
        " (SELECT COUNT(*) FROM tasks t WHERE t.project_id = p.id"
        "   AND t.status != 'withdrawn' AND t.gold IS NULL) AS n_tasks,"
        " (SELECT COALESCE(SUM(t.needed), 0) FROM tasks t WHERE t.project_id = p.id"
        "   AND t.status != 'withdrawn' AND t.gold IS NULL) AS n_needed,"
        " (SELECT COALESCE(SUM(MIN(t.answers, t.needed)), 0) FROM tasks t"
        "   WHERE t.project_id = p.id AND t.status != 'withdrawn' AND t.gold IS NULL) AS n_done,"
        " (SELECT COALESCE(SUM(t.in_flight), 0) FROM tasks t WHERE t.project_id = p.id)"
        "   AS n_flight,"
        " (SELECT COUNT(*) FROM tasks t WHERE t.project_id = p.id AND t.gold IS NOT NULL"
        "   AND t.status != 'withdrawn') AS n_controls"
        " FROM projects p WHERE (? IS NULL OR p.id = ?) ORDER BY p.id",
        (project_id, project_id),
    )
    return [
        ProjectProgress(
            project=_project(r),
            tasks=r["n_tasks"],
            answers_needed=r["n_needed"],
            answers_done=r["n_done"],
            in_flight=r["n_flight"],
            controls=r["n_controls"],
        )
        for r in rows
    ]
