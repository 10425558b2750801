"""Upload records, and files an admin sent without saying which project they are for."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

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


class SeenIds:
    """The ids of one uploaded file with the line each first came on, kept on disk.

    A scratch SQLite file of its own in a temporary folder (not the bot's database, not
    memory), removed by :meth:`close`: reporting every duplicate id of a file of any length,
    with the line it first came on, takes no more memory for a million ids than for ten. Use
    it from one thread at a time (it may be made in one thread and used in another).
    """

    def __init__(self, folder: str | Path | None = None) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="labelgram-ids-", dir=folder)
        path = Path(self._folder.name) / "ids.db"
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for statement in (
            "PRAGMA journal_mode = OFF",  # a scratch file: nothing to recover after a crash
            "PRAGMA synchronous = OFF",
            "CREATE TABLE seen (external_id TEXT PRIMARY KEY, line INTEGER NOT NULL)"
            " WITHOUT ROWID",
            "BEGIN",
        ):
            self._conn.execute(statement)

    def add(self, pairs: list[tuple[str, int]]) -> list[tuple[int, str, int]]:
        """Remember ``(id, line)`` pairs given in file order; return ``(line, id, first line)``
        for each pair whose id came on an earlier line (here or in an earlier call)."""
        if not pairs:
            return []
        batch = json.dumps(pairs, ensure_ascii=False)
        added = self._conn.execute(
            "INSERT INTO seen SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]')"
            " FROM json_each(?) WHERE true ON CONFLICT (external_id) DO NOTHING",
            (batch,),
        ).rowcount
        if added == len(pairs):
            return []
        rows = self._conn.execute(
            "SELECT json_extract(b.value, '$[1]'), s.external_id, s.line FROM json_each(?) b"
            " JOIN seen s ON s.external_id = json_extract(b.value, '$[0]')"
            " WHERE s.line != json_extract(b.value, '$[1]') ORDER BY b.key",
            (batch,),
        ).fetchall()
        return [(row[0], row[1], row[2]) for row in rows]

    def close(self) -> None:
        self._conn.close()
        self._folder.cleanup()

    def __enter__(self) -> SeenIds:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
