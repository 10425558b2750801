"""What a student's next text message is for: a correction or a comment (one at a time)."""

from __future__ import annotations

from datetime import datetime

from db.connection import Tx
from db.timefmt import to_db


async def expect(tx: Tx, worker_id: int, kind: str, ref_id: int, now: datetime) -> None:
    await tx.execute(
        "INSERT INTO inputs (worker_id, kind, ref_id, created_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (worker_id) DO UPDATE SET kind = excluded.kind, ref_id = excluded.ref_id,"
        " created_at = excluded.created_at",
        (worker_id, kind, ref_id, to_db(now)),
    )


async def take(tx: Tx, worker_id: int) -> tuple[str, int] | None:
    """The awaited input, removed: (kind, ref id), or None."""
    row = await tx.fetchone(
        "DELETE FROM inputs WHERE worker_id = ? RETURNING kind, ref_id", (worker_id,)
    )
    return (row[0], int(row[1])) if row else None
