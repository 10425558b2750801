"""The outbox: every notification waits here until the sender has delivered it.

A row moves pending → sending → sent | failed, or back to pending with a later
`not_before` (rate limit, network trouble, quiet hours). `dedupe_key` is unique per logical
message, so enqueuing the same message twice (a re-delivered command, a job that runs again
after a restart) stores it once.

Crash rule: a row found in 'sending' when the bot starts may or may not have reached the
student (the process died between the HTTP call and recording its result). Such rows become
'unknown' and are never sent again: a student must never get a second copy of a message, and
a missed alert or broadcast is the smaller harm. At most the few rows that were in flight at
the moment of the crash (or had just been delivered: the sender writes "sent" together with
its next claim) are affected, because the sender claims a row only right before it sends it.

Also here: `alerts_sent`, the last new-task alert per project and student.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from db.connection import Database, Row, Tx
from db.timefmt import from_db, to_db

STATUSES = ("pending", "sending", "sent", "failed", "unknown")
MAX_ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A row to enqueue; `payload` is the JSON the sender renders."""

    chat_id: int
    kind: str
    dedupe_key: str
    payload: str
    not_before: datetime


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    chat_id: int
    kind: str
    dedupe_key: str
    payload: str
    status: str
    attempts: int
    not_before: datetime
    created_at: datetime
    sent_at: datetime | None
    error: str | None


def _row(row: Row) -> OutboxRow:
    return OutboxRow(
        id=row["id"],
        chat_id=row["chat_id"],
        kind=row["kind"],
        dedupe_key=row["dedupe_key"],
        payload=row["payload"],
        status=row["status"],
        attempts=row["attempts"],
        not_before=from_db(row["not_before"]),
        created_at=from_db(row["created_at"]),
        sent_at=from_db(row["sent_at"]) if row["sent_at"] else None,
        error=row["error"],
    )


async def enqueue_many(tx: Tx, messages: Iterable[NewMessage], now: datetime) -> int:
    """Insert the messages whose dedupe key is new; return how many were inserted.

    Nothing is queued for a student who blocked the bot (workers.status 'blocked').
    """
    before = await tx.fetchone("SELECT total_changes()")
    await tx.executemany(
        "INSERT INTO outbox (chat_id, kind, dedupe_key, payload, not_before, created_at)"
        " SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS"
        "   (SELECT 1 FROM workers WHERE id = ? AND status = 'blocked')"
        " ON CONFLICT (dedupe_key) DO NOTHING",
        (
            (
                m.chat_id,
                m.kind,
                m.dedupe_key,
                m.payload,
                to_db(m.not_before),
                to_db(now),
                m.chat_id,
            )
            for m in messages
        ),
    )
    after = await tx.fetchone("SELECT total_changes()")
    assert before is not None
    assert after is not None
    return int(after[0]) - int(before[0])


async def enqueue_for_active_students(
    tx: Tx,
    *,
    kind: str,
    key_prefix: str,
    payloads: dict[str, str],
    fallback: str,
    exclude: int,
    now: datetime,
) -> int:
    """One message for every active student but `exclude`, in one statement: the payload
    in their language (`payloads`, else `fallback`), dedupe key `key_prefix` + their id.
    Returns how many were queued (keys already queued are skipped)."""
    return await tx.execute(
        "INSERT INTO outbox (chat_id, kind, dedupe_key, payload, not_before, created_at)"
        " SELECT id, ?, ? || id, coalesce(json_extract(?, '$.\"' || language || '\"'), ?), ?, ?"
        " FROM workers WHERE status = 'active' AND id != ? ORDER BY id"
        " ON CONFLICT (dedupe_key) DO NOTHING",
        (
            kind,
            key_prefix,
            json.dumps(payloads, ensure_ascii=False),
            fallback,
            to_db(now),
            to_db(now),
            exclude,
        ),
    )


async def claim_due(
    tx: Tx, now: datetime, limit: int, *, skip_chats: Sequence[int] = ()
) -> list[OutboxRow]:
    """Take up to `limit` due pending rows, the longest due first (then in id order), and mark
    them 'sending' (attempts + 1).

    Rows for `skip_chats` (chats the sender wrote to less than a second ago) stay pending.
    """
    # INDEXED BY: walk only the pending rows (partial index outbox_due), never the history
    # of sent ones, which a rowid-order scan would step through each time. ORDER BY the
    # index's own order, so the walk stops at the first row that qualifies: ORDER BY id would
    # sort every due row for each claim (10,000 of them in a large broadcast, ~3 ms a claim).
    rows = await tx.fetchall(
        "SELECT id FROM outbox INDEXED BY outbox_due"
        " WHERE status = 'pending' AND not_before <= ?"
        " AND chat_id NOT IN (SELECT value FROM json_each(?))"
        " ORDER BY not_before, id LIMIT ?",
        (to_db(now), json.dumps(list(skip_chats)), limit),
    )
    if not rows:
        return []
    ids = json.dumps([r[0] for r in rows])
    await tx.execute(
        "UPDATE outbox SET status = 'sending', attempts = attempts + 1"
        " WHERE id IN (SELECT value FROM json_each(?))",
        (ids,),
    )
    claimed = await tx.fetchall(
        "SELECT * FROM outbox WHERE id IN (SELECT value FROM json_each(?))"
        " ORDER BY not_before, id",
        (ids,),
    )
    return [_row(r) for r in claimed]


async def mark_sent(tx: Tx, row_id: int, now: datetime) -> bool:
    return bool(
        await tx.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, error = NULL"
            " WHERE id = ? AND status = 'sending'",
            (to_db(now), row_id),
        )
    )


async def mark_sent_many(tx: Tx, sent: Sequence[tuple[int, datetime]]) -> None:
    """`mark_sent` for several (row id, sent at) at once."""
    if sent:
        await tx.executemany(
            "UPDATE outbox SET status = 'sent', sent_at = ?, error = NULL"
            " WHERE id = ? AND status = 'sending'",
            ((to_db(at), row_id) for row_id, at in sent),
        )


async def mark_failed(tx: Tx, row_id: int, error: str) -> bool:
    """Give up on a row for good; `error` says why (kept short)."""
    return bool(
        await tx.execute(
            "UPDATE outbox SET status = 'failed', error = ? WHERE id = ? AND status = 'sending'",
            (error[:MAX_ERROR_CHARS], row_id),
        )
    )


async def reschedule(
    tx: Tx,
    row_id: int,
    not_before: datetime,
    error: str | None = None,
    *,
    count_attempt: bool = True,
) -> bool:
    """Put a claimed row back to pending until `not_before` (its old `not_before` keeps its
    place in the queue).

    `count_attempt=False` gives the claim's attempt back: the message was not tried (quiet
    hours) or the try says nothing about deliverability (429 flood control).
    """
    return bool(
        await tx.execute(
            "UPDATE outbox SET status = 'pending', not_before = ?, error = ?,"
            " attempts = attempts - ? WHERE id = ? AND status = 'sending'",
            (
                to_db(not_before),
                error[:MAX_ERROR_CHARS] if error else None,
                0 if count_attempt else 1,
                row_id,
            ),
        )
    )


async def recover_after_crash(tx: Tx) -> int:
    """Rows left in 'sending' by a crash become 'unknown' and are not sent again.

    See the module docstring: a second copy is worse than a missed one.
    """
    return await tx.execute(
        "UPDATE outbox SET status = 'unknown',"
        " error = 'interrupted while sending; not resent to avoid a duplicate'"
        " WHERE status = 'sending'"
    )


async def next_due_at(db: Database | Tx) -> datetime | None:
    """When the earliest pending row becomes due, or None if nothing is pending."""
    row = await db.fetchone("SELECT MIN(not_before) FROM outbox WHERE status = 'pending'")
    return from_db(row[0]) if row and row[0] else None


async def get(db: Database | Tx, row_id: int) -> OutboxRow | None:
    row = await db.fetchone("SELECT * FROM outbox WHERE id = ?", (row_id,))
    return _row(row) if row else None


async def by_key(db: Database | Tx, dedupe_key: str) -> OutboxRow | None:
    row = await db.fetchone("SELECT * FROM outbox WHERE dedupe_key = ?", (dedupe_key,))
    return _row(row) if row else None


async def counts(db: Database | Tx, kind: str | None = None) -> dict[str, int]:
    """Rows per status (every status present, zero if none), optionally of one kind."""
    if kind is None:
        rows = await db.fetchall("SELECT status, COUNT(*) FROM outbox GROUP BY status")
    else:
        rows = await db.fetchall(
            "SELECT status, COUNT(*) FROM outbox WHERE kind = ? GROUP BY status", (kind,)
        )
    result = dict.fromkeys(STATUSES, 0)
    result.update({r[0]: int(r[1]) for r in rows})
    return result


# ------------------------------------------------------------------ new-task alert spacing


async def record_alerts(tx: Tx, project_id: int, worker_ids: Iterable[int], now: datetime) -> None:
    await tx.executemany(
        "INSERT INTO alerts_sent (project_id, worker_id, sent_at) VALUES (?, ?, ?)"
        " ON CONFLICT (project_id, worker_id) DO UPDATE SET sent_at = excluded.sent_at",
        ((project_id, w, to_db(now)) for w in worker_ids),
    )
