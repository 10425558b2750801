"""Students (and admins) known to the bot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db.connection import Database, Row, Tx
from db.timefmt import to_db


@dataclass(frozen=True, slots=True)
class Worker:
    id: int
    first_name: str
    username: str | None
    language: str
    timezone: str
    status: str
    alerts: bool


def _worker(row: Row) -> Worker:
    return Worker(
        id=row["id"],
        first_name=row["first_name"],
        username=row["username"],
        language=row["language"],
        timezone=row["timezone"],
        status=row["status"],
        alerts=bool(row["alerts"]),
    )


async def get(db: Database | Tx, worker_id: int) -> Worker | None:
    row = await db.fetchone("SELECT * FROM workers WHERE id = ?", (worker_id,))
    return _worker(row) if row else None


async def insert_or_refresh(
    tx: Tx,
    worker_id: int,
    first_name: str,
    username: str | None,
    language: str,
    timezone: str,
    now: datetime,
) -> tuple[Worker, bool]:
    """Create the worker, or refresh their name; return (worker, created)."""
    created = await tx.execute(
        "INSERT INTO workers (id, first_name, username, language, timezone, joined_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        (worker_id, first_name, username, language, timezone, to_db(now)),
    )
    if not created:
        await tx.execute(
            "UPDATE workers SET first_name = ?, username = ? WHERE id = ?",
            (first_name, username, worker_id),
        )
    worker = await get(tx, worker_id)
    assert worker is not None
    return worker, bool(created)


async def get_by_username(db: Database | Tx, username: str) -> Worker | None:
    row = await db.fetchone(
        "SELECT * FROM workers WHERE username = ? COLLATE NOCASE ORDER BY id LIMIT 1", (username,)
    )
    return _worker(row) if row else None


async def set_language(tx: Tx, worker_id: int, language: str) -> bool:
    return bool(
        await tx.execute("UPDATE workers SET language = ? WHERE id = ?", (language, worker_id))
    )


# ------------------------------------------------------------------ notifications (outbox)


@dataclass(frozen=True, slots=True)
class Recipient:
    """What the outbox sender needs to know about a student before writing to them."""

    id: int
    status: str
    timezone: str
    quiet_start: int | None  # minutes after local midnight; None: no quiet hours
    quiet_end: int | None


async def recipient(db: Database | Tx, worker_id: int) -> Recipient | None:
    row = await db.fetchone(
        "SELECT id, status, timezone, quiet_start, quiet_end FROM workers WHERE id = ?",
        (worker_id,),
    )
    if row is None:
        return None
    return Recipient(
        id=row["id"],
        status=row["status"],
        timezone=row["timezone"],
        quiet_start=row["quiet_start"],
        quiet_end=row["quiet_end"],
    )


async def mark_blocked(tx: Tx, worker_id: int) -> bool:
    """The student blocked the bot (Telegram answered 403): stop writing to them."""
    return bool(
        await tx.execute(
            "UPDATE workers SET status = 'blocked' WHERE id = ? AND status = 'active'",
            (worker_id,),
        )
    )


async def unblock(tx: Tx, worker_id: int) -> bool:
    """A student marked 'blocked' wrote to the bot again, so they can be reached: active."""
    return bool(
        await tx.execute(
            "UPDATE workers SET status = 'active' WHERE id = ? AND status = 'blocked'",
            (worker_id,),
        )
    )


async def active_students(db: Database | Tx) -> list[Worker]:
    """Everyone who may receive a broadcast: active (not blocked, suspended or banned)."""
    rows = await db.fetchall("SELECT * FROM workers WHERE status = 'active' ORDER BY id")
    return [_worker(r) for r in rows]


async def alert_candidates(
    db: Database | Tx, project_id: int, since: datetime, now: datetime
) -> list[Worker]:
    """Students to tell about new work in a project: active, alerts on, holding no task,
    not paused by a rule there, not alerted for this project since `since`, and with a
    regular task there they could be given (one they have not held, or one a pause took
    back from them: db.tasks.NEXT_OPEN_TASK_SQL); control tasks alone are no new work."""
    rows = await db.fetchall(
        "SELECT w.* FROM workers w"
        " WHERE w.status = 'active' AND w.alerts = 1"
        " AND NOT EXISTS (SELECT 1 FROM assignments a"
        "   WHERE a.worker_id = w.id AND a.status = 'open')"
        " AND NOT EXISTS (SELECT 1 FROM alerts_sent s"
        "   WHERE s.project_id = ? AND s.worker_id = w.id AND s.sent_at >= ?)"
        " AND NOT EXISTS (SELECT 1 FROM standings g WHERE g.worker_id = w.id"
        "   AND g.project_id = ? AND g.blocked_until > ?)"
        " AND EXISTS (SELECT 1 FROM tasks t"
        "   WHERE t.project_id = ? AND t.status = 'open' AND t.gold IS NULL AND NOT EXISTS ("
        "     SELECT 1 FROM assignments h WHERE h.task_id = t.id AND h.worker_id = w.id"
        "       AND h.status != 'withdrawn'))"
        " ORDER BY w.id",
        (project_id, to_db(since), project_id, to_db(now), project_id),
    )
    return [_worker(r) for r in rows]


# ------------------------------------------------------------------ personal settings


async def set_status(tx: Tx, worker_id: int, status: str) -> bool:
    return bool(
        await tx.execute("UPDATE workers SET status = ? WHERE id = ?", (status, worker_id))
    )


async def set_alerts(tx: Tx, worker_id: int, on: bool) -> bool:
    return bool(
        await tx.execute("UPDATE workers SET alerts = ? WHERE id = ?", (int(on), worker_id))
    )


async def set_quiet_hours(tx: Tx, worker_id: int, start: int | None, end: int | None) -> bool:
    return bool(
        await tx.execute(
            "UPDATE workers SET quiet_start = ?, quiet_end = ? WHERE id = ?",
            (start, end, worker_id),
        )
    )


async def set_timezone(tx: Tx, worker_id: int, timezone: str) -> bool:
    return bool(
        await tx.execute("UPDATE workers SET timezone = ? WHERE id = ?", (timezone, worker_id))
    )


# ------------------------------------------------------------------ privacy


async def secret(tx: Tx, name: str, make: str) -> str:
    """The database's secret `name`, stored as `make` the first time it is asked for."""
    await tx.execute(
        "INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        (name, make),
    )
    row = await tx.fetchone("SELECT value FROM secrets WHERE name = ?", (name,))
    assert row is not None
    return str(row["value"])


async def open_disputes(db: Database | Tx, worker_id: int) -> int:
    row = await db.fetchone(
        "SELECT COUNT(*) FROM disputes WHERE worker_id = ? AND status = 'open'", (worker_id,)
    )
    return int(row[0]) if row else 0


# Every table that names a student: rows that must stay (money, answers) move to the
# anonymous worker; personal rows are deleted. A new such table must be added here.
_DETACH_MOVES = (
    "UPDATE answers SET worker_id = ? WHERE worker_id = ?",
    "UPDATE ledger SET worker_id = ? WHERE worker_id = ?",
    "UPDATE payouts SET worker_id = ? WHERE worker_id = ?",
    "UPDATE disputes SET worker_id = ? WHERE worker_id = ?",
)
_DETACH_DELETES = (
    "DELETE FROM standings WHERE worker_id = ?",
    "DELETE FROM inputs WHERE worker_id = ?",
    "DELETE FROM alerts_sent WHERE worker_id = ?",
)


async def detach(tx: Tx, worker_id: int, now: datetime) -> int:
    """Erase a student: their answers, ledger, payouts and disputes move to a new anonymous
    worker (a negative id that says nothing about them), their personal rows (settings,
    standings, pending inputs, alert marks, notifications to their chat) are deleted and
    so is their workers row. Return the anonymous id. The caller withdraws any task they
    hold first."""
    row = await tx.fetchone("SELECT COALESCE(MIN(id), 0) FROM workers WHERE id < 0")
    anon = min(int(row[0]) if row else 0, 0) - 1
    await tx.execute(
        "INSERT INTO workers (id, first_name, username, language, timezone, status, alerts,"
        " joined_at) VALUES (?, '', NULL, 'en', 'UTC', 'blocked', 0, ?)",
        (anon, to_db(now)),
    )
    await tx.execute(
        "UPDATE assignments SET worker_id = ?, chat_id = NULL, message_id = NULL"
        " WHERE worker_id = ?",
        (anon, worker_id),
    )
    for statement in _DETACH_MOVES:
        await tx.execute(statement, (anon, worker_id))
    for statement in _DETACH_DELETES:
        await tx.execute(statement, (worker_id,))
    await tx.execute("DELETE FROM outbox WHERE chat_id = ?", (worker_id,))
    await tx.execute("DELETE FROM workers WHERE id = ?", (worker_id,))
    return anon


async def limit_to(tx: Tx, worker_id: int, project_id: int | None, invite_code: str) -> None:
    """Record the invite a student came in by and the one project it limits them to."""
    await tx.execute(
        "UPDATE workers SET project_id = ?, invite_code = ? WHERE id = ?",
        (project_id, invite_code, worker_id),
    )


async def project_limit(db: Database | Tx, worker_id: int) -> int | None:
    """The one project this student may work on, or None for every project."""
    row = await db.fetchone("SELECT project_id FROM workers WHERE id = ?", (worker_id,))
    return row["project_id"] if row else None


async def identities(db: Database | Tx, worker_ids: set[int]) -> dict[int, tuple[str, str | None]]:
    """worker id → (first name, username), for an owner's identified export."""
    rows = await db.fetchall("SELECT id, first_name, username FROM workers")
    return {r[0]: (r[1], r[2]) for r in rows if r[0] in worker_ids}
