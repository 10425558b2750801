"""Disputes: a student contests a deduction; an admin upholds it or refunds it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db.connection import Database, Row, Tx
from db.timefmt import to_db


@dataclass(frozen=True, slots=True)
class Dispute:
    id: int
    ledger_id: int
    worker_id: int
    status: str


def _dispute(row: Row) -> Dispute:
    return Dispute(
        id=row["id"], ledger_id=row["ledger_id"], worker_id=row["worker_id"], status=row["status"]
    )


async def open_for(tx: Tx, ledger_id: int, worker_id: int, now: datetime) -> Dispute | None:
    """Open a dispute on an entry; None if one exists already."""
    created = await tx.execute(
        "INSERT INTO disputes (ledger_id, worker_id, created_at) VALUES (?, ?, ?)"
        " ON CONFLICT (ledger_id) DO NOTHING",
        (ledger_id, worker_id, to_db(now)),
    )
    if not created:
        return None
    row = await tx.fetchone("SELECT * FROM disputes WHERE ledger_id = ?", (ledger_id,))
    assert row is not None
    return _dispute(row)


async def get(db: Database | Tx, dispute_id: int) -> Dispute | None:
    row = await db.fetchone("SELECT * FROM disputes WHERE id = ?", (dispute_id,))
    return _dispute(row) if row else None


async def resolve(tx: Tx, dispute_id: int, status: str, admin_id: int, now: datetime) -> bool:
    """Close an open dispute; False if it was already resolved."""
    return bool(
        await tx.execute(
            "UPDATE disputes SET status = ?, resolved_by = ?, resolved_at = ?"
            " WHERE id = ? AND status = 'open'",
            (status, admin_id, to_db(now), dispute_id),
        )
    )
