"""Invite links: codes that let a stranger register in invite-only mode."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db.connection import Database, Row, Tx
from db.timefmt import from_db, to_db


@dataclass(frozen=True, slots=True)
class Invite:
    code: str
    project_id: int | None
    project_name: str | None
    uses: int
    uses_left: int
    expires_at: datetime
    revoked: bool


def _invite(row: Row) -> Invite:
    return Invite(
        code=row["code"],
        project_id=row["project_id"],
        project_name=row["project_name"],
        uses=row["uses"],
        uses_left=row["uses_left"],
        expires_at=from_db(row["expires_at"]),
        revoked=row["revoked_at"] is not None,
    )


_SELECT = (
    "SELECT i.*, p.name AS project_name FROM invites i LEFT JOIN projects p ON p.id = i.project_id"
)


async def create(
    tx: Tx,
    code: str,
    project_id: int | None,
    uses: int,
    expires_at: datetime,
    created_by: int,
    now: datetime,
) -> None:
    await tx.execute(
        "INSERT INTO invites (code, project_id, uses, uses_left, expires_at, created_by,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (code, project_id, uses, uses, to_db(expires_at), created_by, to_db(now)),
    )


async def usable(db: Database | Tx, now: datetime) -> list[Invite]:
    rows = await db.fetchall(
        f"{_SELECT} WHERE i.revoked_at IS NULL AND i.uses_left > 0 AND i.expires_at > ?"
        " ORDER BY i.created_at",
        (to_db(now),),
    )
    return [_invite(r) for r in rows]


async def use(tx: Tx, code: str, now: datetime) -> Invite | None:
    """Take one use of a live code; None (and nothing changed) if it is not usable."""
    changed = await tx.execute(
        "UPDATE invites SET uses_left = uses_left - 1 WHERE code = ? AND revoked_at IS NULL"
        " AND uses_left > 0 AND expires_at > ?",
        (code, to_db(now)),
    )
    if not changed:
        return None
    row = await tx.fetchone(f"{_SELECT} WHERE i.code = ?", (code,))
    return _invite(row) if row else None


async def revoke(tx: Tx, code: str, now: datetime) -> bool:
    return bool(
        await tx.execute(
            "UPDATE invites SET revoked_at = ? WHERE code = ? AND revoked_at IS NULL",
            (to_db(now), code),
        )
    )
