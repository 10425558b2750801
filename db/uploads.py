"""Upload records, and files an admin sent without saying which project they are for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db.connection import Database, Tx
from db.timefmt import to_db


@dataclass(frozen=True, slots=True)
class PendingFile:
    id: int
    admin_id: int
    file_id: str
    file_name: str
    file_size: int | None


async def record(
    tx: Tx,
    *,
    project_id: int,
    admin_id: int,
    file_name: str,
    checksum: str,
    file_format: str,
    now: datetime,
) -> int:
    return await tx.insert(
        "INSERT INTO uploads (project_id, admin_id, file_name, checksum, format, rows_added,"
        " rows_skipped, created_at) VALUES (?, ?, ?, ?, ?, 0, 0, ?)",
        (project_id, admin_id, file_name, checksum, file_format, to_db(now)),
    )


async def set_counts(tx: Tx, upload_id: int, added: int, skipped: int) -> None:
    await tx.execute(
        "UPDATE uploads SET rows_added = ?, rows_skipped = ? WHERE id = ?",
        (added, skipped, upload_id),
    )


async def add_pending_file(
    tx: Tx, admin_id: int, file_id: str, file_name: str, file_size: int | None, now: datetime
) -> int:
    return await tx.insert(
        "INSERT INTO pending_files (admin_id, file_id, file_name, file_size, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (admin_id, file_id, file_name, file_size, to_db(now)),
    )


async def get_pending_file(db: Database | Tx, pending_id: int) -> PendingFile | None:
    row = await db.fetchone("SELECT * FROM pending_files WHERE id = ?", (pending_id,))
    if row is None:
        return None
    return PendingFile(
        id=row["id"],
        admin_id=row["admin_id"],
        file_id=row["file_id"],
        file_name=row["file_name"],
        file_size=row["file_size"],
    )


async def delete_pending_file(tx: Tx, pending_id: int) -> bool:
    return bool(await tx.execute("DELETE FROM pending_files WHERE id = ?", (pending_id,)))


async def find_by_checksum(db: Database | Tx, project_id: int, checksum: str) -> int | None:
    """The id of an earlier upload of the very same file into this project, if any."""
    row = await db.fetchone(
        "SELECT id FROM uploads WHERE project_id = ? AND checksum = ? ORDER BY id LIMIT 1",
        (project_id, checksum),
    )
    return row[0] if row else None
