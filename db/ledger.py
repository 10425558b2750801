"""The ledger: every movement of a student's money, in integer minor units."""

from __future__ import annotations

import json
from datetime import datetime

from db.connection import Database, Tx
from db.timefmt import to_db


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
    status: str = "pending",
) -> int:
    return await tx.insert(
        "INSERT INTO ledger (worker_id, amount, kind, reason, reason_params, answer_id,"
        " status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            worker_id,
            amount,
            kind,
            reason,
            json.dumps(reason_params, ensure_ascii=False),
            answer_id,
            status,
            to_db(now),
        ),
    )


async def total(db: Database | Tx, worker_id: int) -> int:
    """The sum of a worker's entries that are not reversed."""
    row = await db.fetchone(
        "SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE worker_id = ? AND status != 'reversed'",
        (worker_id,),
    )
    return int(row[0]) if row else 0
