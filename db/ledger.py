"""The ledger: every movement of a student's money, in integer minor units.

A balance is always a sum over these rows, never a stored number. Entries are appended;
the only changes to an entry are its approval (pending → approved) and the payout that
settles it (payout_id), each made once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from db.connection import Database, Row, Tx
from db.timefmt import from_db, to_db


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    worker_id: int
    amount: int
    kind: str
    reason: str
    reason_params: dict[str, str | int]
    status: str
    task_id: int | None
    answer_id: int | None
    payout_id: int | None
    created_at: datetime
    dispute_status: str | None  # None: never disputed


@dataclass(frozen=True, slots=True)
class Sums:
    pending: int
    available: int  # approved and not yet paid out
    paid_out: int  # positive: what payouts have sent
    earned: int  # earnings, pending or approved
    bonuses: int
    deductions: int  # negative or zero
    adjustments: int


def _entry(row: Row) -> Entry:
    return Entry(
        id=row["id"],
        worker_id=row["worker_id"],
        amount=row["amount"],
        kind=row["kind"],
        reason=row["reason"],
        reason_params=json.loads(row["reason_params"]),
        status=row["status"],
        task_id=row["task_id"],
        answer_id=row["answer_id"],
        payout_id=row["payout_id"],
        created_at=from_db(row["created_at"]),
        dispute_status=row["dispute_status"],
    )


_SELECT = (
    "SELECT l.*, d.status AS dispute_status FROM ledger l"
    " LEFT JOIN disputes d ON d.ledger_id = l.id"
)


async def add(
    tx: Tx,
    *,
    worker_id: int,
    amount: int,
    kind: str,
    reason: str,
    reason_params: dict[str, str | int],
    now: datetime,
    answer_id: int | None = None,
    task_id: int | None = None,
    status: str = "pending",
    created_by: int | None = None,
    payout_id: int | None = None,
    request: str | None = None,
) -> int:
    return await tx.insert(
        "INSERT INTO ledger (worker_id, amount, kind, reason, reason_params, answer_id,"
        " task_id, status, created_at, created_by, payout_id, approved_at, request)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            worker_id,
            amount,
            kind,
            reason,
            json.dumps(reason_params, ensure_ascii=False),
            answer_id,
            task_id,
            status,
            to_db(now),
            created_by,
            payout_id,
            to_db(now) if status == "approved" else None,
            request,
        ),
    )


async def by_request(tx: Tx, request: str) -> Entry | None:
    """The entry an admin's command (its '<chat id>:<message id>') already made, if any."""
    row = await tx.fetchone(_SELECT + " WHERE l.request = ?", (request,))
    return _entry(row) if row else None


async def get(db: Database | Tx, entry_id: int) -> Entry | None:
    row = await db.fetchone(_SELECT + " WHERE l.id = ?", (entry_id,))
    return _entry(row) if row else None


async def total(db: Database | Tx, worker_id: int) -> int:
    """The sum of a worker's entries that are not reversed."""
    row = await db.fetchone(
        "SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE worker_id = ? AND status != 'reversed'",
        (worker_id,),
    )
    return int(row[0]) if row else 0


async def sums(db: Database | Tx, worker_id: int) -> Sums:
    row = await db.fetchone(
        "SELECT"
        " COALESCE(SUM(CASE WHEN status = 'pending' THEN amount END), 0) AS pending,"
        " COALESCE(SUM(CASE WHEN status = 'approved' AND payout_id IS NULL"
        "   AND kind != 'payout' THEN amount END), 0) AS available,"
        " COALESCE(-SUM(CASE WHEN kind = 'payout' THEN amount END), 0) AS paid_out,"
        " COALESCE(SUM(CASE WHEN kind = 'earning' AND status != 'reversed'"
        "   THEN amount END), 0) AS earned,"
        " COALESCE(SUM(CASE WHEN kind = 'bonus' THEN amount END), 0) AS bonuses,"
        " COALESCE(SUM(CASE WHEN kind = 'deduction' THEN amount END), 0) AS deductions,"
        " COALESCE(SUM(CASE WHEN kind = 'adjustment' THEN amount END), 0) AS adjustments"
        " FROM ledger WHERE worker_id = ? AND status != 'reversed'",
        (worker_id,),
    )
    assert row is not None
    return Sums(**{k: int(row[k]) for k in row.keys()})  # noqa: SIM118 - sqlite3.Row


async def page(db: Database | Tx, worker_id: int, offset: int, limit: int) -> list[Entry]:
    """A worker's entries, newest first."""
    rows = await db.fetchall(
        _SELECT + " WHERE l.worker_id = ? ORDER BY l.id DESC LIMIT ? OFFSET ?",
        (worker_id, limit, offset),
    )
    return [_entry(r) for r in rows]


async def count(db: Database | Tx, worker_id: int) -> int:
    row = await db.fetchone("SELECT COUNT(*) FROM ledger WHERE worker_id = ?", (worker_id,))
    return int(row[0]) if row else 0


async def approve_due(tx: Tx, project_id: int, cutoff: datetime, now: datetime) -> int:
    """Approve the project's pending earnings created at or before `cutoff`."""
    return await tx.execute(
        "UPDATE ledger SET status = 'approved', approved_at = ?"
        " WHERE status = 'pending' AND kind = 'earning' AND created_at <= ?"
        " AND answer_id IN (SELECT id FROM answers WHERE project_id = ?"
        "   AND (review IS NULL OR review != 'flagged'))",
        (to_db(now), to_db(cutoff), project_id),
    )


async def approve_all_pending(
    tx: Tx, now: datetime, *, project_id: int | None = None, worker_id: int | None = None
) -> int:
    """Approve pending earnings now, for one project and/or one worker (or all)."""
    return await tx.execute(
        "UPDATE ledger SET status = 'approved', approved_at = ?"
        " WHERE status = 'pending' AND kind = 'earning'"
        " AND (? IS NULL OR worker_id = ?)"
        " AND answer_id IN (SELECT id FROM answers WHERE (? IS NULL OR project_id = ?)"
        "   AND (review IS NULL OR review != 'flagged'))",
        (to_db(now), worker_id, worker_id, project_id, project_id),
    )


@dataclass(frozen=True, slots=True)
class Unpaid:
    worker_id: int
    amount: int
    answers: int
    first_at: datetime
    last_at: datetime


async def unpaid(tx: Tx | Database, worker_id: int | None = None) -> list[Unpaid]:
    """Per worker: the approved entries no payout has settled yet."""
    rows = await tx.fetchall(
        "SELECT worker_id, SUM(amount) AS amount,"
        " SUM(kind = 'earning') AS answers, MIN(created_at) AS first_at,"
        " MAX(created_at) AS last_at FROM ledger"
        " WHERE status = 'approved' AND payout_id IS NULL AND kind != 'payout'"
        " AND (? IS NULL OR worker_id = ?) GROUP BY worker_id ORDER BY worker_id",
        (worker_id, worker_id),
    )
    return [
        Unpaid(
            worker_id=r["worker_id"],
            amount=int(r["amount"]),
            answers=int(r["answers"]),
            first_at=from_db(r["first_at"]),
            last_at=from_db(r["last_at"]),
        )
        for r in rows
    ]


async def settle(tx: Tx, worker_id: int, payout_id: int, up_to_id: int) -> int:
    """Mark the worker's unpaid approved entries (up to an id) as settled by a payout."""
    return await tx.execute(
        "UPDATE ledger SET payout_id = ? WHERE worker_id = ? AND status = 'approved'"
        " AND payout_id IS NULL AND kind != 'payout' AND id <= ?",
        (payout_id, worker_id, up_to_id),
    )


async def max_id(tx: Tx | Database) -> int:
    row = await tx.fetchone("SELECT COALESCE(MAX(id), 0) FROM ledger")
    return int(row[0]) if row else 0


async def earnings_by_worker(db: Database | Tx) -> list[tuple[int, int, int]]:
    """(worker, sum of earnings, sum of locked prices of their answers) for every worker."""
    rows = await db.fetchall(
        "SELECT w.id,"
        " (SELECT COALESCE(SUM(amount), 0) FROM ledger l"
        "   WHERE l.worker_id = w.id AND l.kind = 'earning'),"
        " (SELECT COALESCE(SUM(s.price), 0) FROM answers a"
        "   JOIN assignments s ON s.id = a.assignment_id WHERE a.worker_id = w.id)"
        " FROM workers w ORDER BY w.id"
    )
    return [(r[0], int(r[1]), int(r[2])) for r in rows]


async def pending_delays(db: Database | Tx, worker_id: int) -> list[int]:
    """The approval delays (hours), smallest first, of the projects whose earnings this
    worker has waiting: what "approved automatically after N h" must say."""
    rows = await db.fetchall(
        "SELECT DISTINCT p.approve_hours FROM ledger l JOIN answers a ON a.id = l.answer_id"
        " JOIN projects p ON p.id = a.project_id"
        " WHERE l.worker_id = ? AND l.status = 'pending' AND l.kind = 'earning'"
        " ORDER BY p.approve_hours",
        (worker_id,),
    )
    return [int(r[0]) for r in rows]


async def held_for_review(db: Database | Tx, worker_id: int) -> int:
    """Pending earnings whose answers a rule held for review (not approved automatically)."""
    row = await db.fetchone(
        "SELECT COALESCE(SUM(l.amount), 0) FROM ledger l JOIN answers a ON a.id = l.answer_id"
        " WHERE l.worker_id = ? AND l.status = 'pending' AND l.kind = 'earning'"
        " AND a.review = 'flagged'",
        (worker_id,),
    )
    return int(row[0]) if row else 0
