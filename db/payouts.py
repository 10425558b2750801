"""Payouts: one row per student per payment, with the reference finance sees."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db.connection import Database, Row, Tx
from db.timefmt import from_db, to_db


@dataclass(frozen=True, slots=True)
class Payout:
    id: int
    worker_id: int
    worker_name: str
    amount: int
    reference: str
    period_start: datetime
    period_end: datetime
    answers: int
    created_by: int
    created_at: datetime


def _payout(row: Row) -> Payout:
    return Payout(
        id=row["id"],
        worker_id=row["worker_id"],
        worker_name=row["first_name"] or "",
        amount=row["amount"],
        reference=row["reference"],
        period_start=from_db(row["period_start"]),
        period_end=from_db(row["period_end"]),
        answers=row["answers"],
        created_by=row["created_by"],
        created_at=from_db(row["created_at"]),
    )


async def create(
    tx: Tx,
    *,
    worker_id: int,
    amount: int,
    period_start: datetime,
    period_end: datetime,
    answers: int,
    created_by: int,
    now: datetime,
) -> Payout:
    """Insert a payout; its reference is derived from its id, so it is unique."""
    payout_id = await tx.insert(
        "INSERT INTO payouts (worker_id, amount, reference, period_start, period_end, answers,"
        " created_by, created_at) VALUES (?, ?, 'pending-' || hex(randomblob(8)), ?, ?, ?, ?, ?)",
        (
            worker_id,
            amount,
            to_db(period_start),
            to_db(period_end),
            answers,
            created_by,
            to_db(now),
        ),
    )
    reference = f"LG-{now:%Y%m%d}-{payout_id:06d}"
    await tx.execute("UPDATE payouts SET reference = ? WHERE id = ?", (reference, payout_id))
    row = await tx.fetchone(
        "SELECT p.*, w.first_name FROM payouts p JOIN workers w ON w.id = p.worker_id"
        " WHERE p.id = ?",
        (payout_id,),
    )
    assert row is not None
    return _payout(row)


async def recent(db: Database | Tx, limit: int, offset: int = 0) -> list[Payout]:
    rows = await db.fetchall(
        "SELECT p.*, w.first_name FROM payouts p JOIN workers w ON w.id = p.worker_id"
        " ORDER BY p.id DESC LIMIT ? OFFSET ?",
        (limit, offset),
    )
    return [_payout(r) for r in rows]


async def all_payouts(db: Database | Tx) -> list[Payout]:
    rows = await db.fetchall(
        "SELECT p.*, w.first_name FROM payouts p JOIN workers w ON w.id = p.worker_id"
        " ORDER BY p.id"
    )
    return [_payout(r) for r in rows]
