"""A student's standing in one project: paused or suspended by a rule until a time."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from db.connection import Database, Tx
from db.timefmt import from_db, to_db


@dataclass(frozen=True, slots=True)
class Standing:
    blocked_until: datetime | None
    rule: str | None
    rule_params: dict[str, str | int | float]
    skips_in_row: int


async def get(db: Database | Tx, worker_id: int, project_id: int) -> Standing:
    row = await db.fetchone(
        "SELECT * FROM standings WHERE worker_id = ? AND project_id = ?", (worker_id, project_id)
    )
    if row is None:
        return Standing(None, None, {}, 0)
    return Standing(
        blocked_until=from_db(row["blocked_until"]) if row["blocked_until"] else None,
        rule=row["rule"],
        rule_params=json.loads(row["rule_params"]),
        skips_in_row=row["skips_in_row"],
    )


async def blocking(db: Database | Tx, worker_id: int, now: datetime) -> dict[int, Standing]:
    """project id → the worker's standing, for projects where a rule blocks them now."""
    rows = await db.fetchall(
        "SELECT * FROM standings WHERE worker_id = ? AND blocked_until > ?",
        (worker_id, to_db(now)),
    )
    return {
        r["project_id"]: Standing(
            blocked_until=from_db(r["blocked_until"]),
            rule=r["rule"],
            rule_params=json.loads(r["rule_params"]),
            skips_in_row=r["skips_in_row"],
        )
        for r in rows
    }


async def blocked_projects(db: Database | Tx, worker_id: int, now: datetime) -> set[int]:
    rows = await db.fetchall(
        "SELECT project_id FROM standings WHERE worker_id = ? AND blocked_until > ?",
        (worker_id, to_db(now)),
    )
    return {r[0] for r in rows}


async def blocked_in_project(
    db: Database | Tx, project_id: int, now: datetime
) -> dict[int, tuple[datetime, str | None]]:
    """Students a rule keeps out of a project now: worker → (until, rule)."""
    rows = await db.fetchall(
        "SELECT worker_id, blocked_until, rule FROM standings WHERE project_id = ?"
        " AND blocked_until > ?",
        (project_id, to_db(now)),
    )
    return {r[0]: (from_db(r[1]), r[2]) for r in rows}


async def block(
    tx: Tx,
    worker_id: int,
    project_id: int,
    until: datetime,
    rule: str,
    params: Mapping[str, str | int | float],
) -> None:
    await tx.execute(
        "INSERT INTO standings (worker_id, project_id, blocked_until, rule, rule_params,"
        " skips_in_row) VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (worker_id, project_id) DO UPDATE"
        " SET blocked_until = excluded.blocked_until, rule = excluded.rule,"
        " rule_params = excluded.rule_params, skips_in_row = 0",
        (worker_id, project_id, to_db(until), rule, json.dumps(params, ensure_ascii=False)),
    )


async def count_skip(tx: Tx, worker_id: int, project_id: int, skipped: bool) -> int:
    """Count a skip (or reset the count on an answer); return the skips in a row now."""
    row = await tx.fetchone(
        "INSERT INTO standings (worker_id, project_id, skips_in_row) VALUES (?, ?, ?)"
        " ON CONFLICT (worker_id, project_id) DO UPDATE SET skips_in_row ="
        " CASE WHEN ? THEN standings.skips_in_row + 1 ELSE 0 END RETURNING skips_in_row",
        (worker_id, project_id, int(skipped), int(skipped)),
    )
    assert row is not None
    return int(row[0])


async def lift(tx: Tx, worker_id: int, project_id: int | None = None) -> int:
    """Lift rule blocks (for one project, or all): an admin's decision."""
    return await tx.execute(
        "UPDATE standings SET blocked_until = NULL, rule = NULL, rule_params = '{}',"
        " skips_in_row = 0 WHERE worker_id = ? AND (? IS NULL OR project_id = ?)",
        (worker_id, project_id, project_id),
    )
