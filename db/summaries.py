"""Read models for the daily and weekly summaries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db.connection import Database, Tx
from db.timefmt import from_db, to_db


@dataclass(frozen=True, slots=True)
class Activity:
    answers: int
    seconds: float
    earned: int  # earnings written in the window, at their locked prices
    gold_answered: int
    gold_correct: int
    ledger_entries: int  # any entry at all: an earning, bonus, deduction, payout…


async def active_since(db: Database | Tx, since: datetime) -> list[int]:
    """Workers with an answer or a ledger entry since `since` (the only ones due a summary)."""
    rows = await db.fetchall(
        "SELECT worker_id FROM answers WHERE created_at >= ?"
        " UNION SELECT worker_id FROM ledger WHERE created_at >= ?",
        (to_db(since), to_db(since)),
    )
    return sorted(r[0] for r in rows)


async def activity(db: Database | Tx, worker_id: int, start: datetime, end: datetime) -> Activity:
    a = await db.fetchone(
        "SELECT COUNT(*), COALESCE(SUM(a.seconds), 0),"
        " COALESCE(SUM(t.gold IS NOT NULL), 0),"
        " COALESCE(SUM(t.gold IS NOT NULL AND t.gold = a.value), 0)"
        " FROM answers a JOIN tasks t ON t.id = a.task_id"
        " WHERE a.worker_id = ? AND a.created_at >= ? AND a.created_at < ?",
        (worker_id, to_db(start), to_db(end)),
    )
    entry = await db.fetchone(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN kind = 'earning' THEN amount END), 0)"
        " FROM ledger WHERE worker_id = ? AND created_at >= ? AND created_at < ?",
        (worker_id, to_db(start), to_db(end)),
    )
    assert a is not None
    assert entry is not None
    return Activity(
        answers=int(a[0]),
        seconds=float(a[1]),
        earned=int(entry[1]),
        gold_answered=int(a[2]),
        gold_correct=int(a[3]),
        ledger_entries=int(entry[0]),
    )


async def earnings_between(
    db: Database | Tx, worker_id: int, start: datetime, end: datetime
) -> list[tuple[datetime, int]]:
    """(when, amount) of every earning in the window, for bucketing by local day."""
    rows = await db.fetchall(
        "SELECT created_at, amount FROM ledger WHERE worker_id = ? AND kind = 'earning'"
        " AND created_at >= ? AND created_at < ? ORDER BY id",
        (worker_id, to_db(start), to_db(end)),
    )
    return [(from_db(r[0]), int(r[1])) for r in rows]


async def summary_keys_since(db: Database | Tx, since: datetime) -> set[str]:
    """Dedupe keys of summaries already queued recently (sent or not)."""
    rows = await db.fetchall(
        "SELECT dedupe_key FROM outbox WHERE kind = 'summary' AND created_at >= ?",
        (to_db(since),),
    )
    return {r[0] for r in rows}
