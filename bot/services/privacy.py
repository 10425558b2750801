"""Students' personal data: the pseudonymous ids exports show, and erasure (/forget_me).

Exports never name a student: they show "s-" and the first 10 hex digits of an HMAC-SHA256
of the student's id, keyed with a random secret made once per database and kept in it. The
same student has the same pseudonym in every export of that database; without the database
the pseudonym cannot be turned back into a Telegram id.

Erasure keeps the work and the money (the team paid for the answers, accounting needs the
ledger) but cuts every link to the Telegram account: the rows move to a new anonymous
worker with a negative id, and the student's own row is deleted, so a later /start begins
afresh.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from db import assignments as assignments_repo
from db import ledger as ledger_repo
from db import tasks as tasks_repo
from db import workers as workers_repo
from db.connection import Database

PSEUDONYM_KEY_ROW = "pseudonym"


def pseudonym(key: bytes, worker_id: int) -> str:
    """The stable pseudonymous student id for `worker_id` under `key`."""
    digest = hmac.new(key, str(worker_id).encode(), hashlib.sha256).hexdigest()
    return "s-" + digest[:10]


async def pseudonym_key(db: Database) -> bytes:
    """The database's pseudonym key (made on first use)."""
    async with db.transaction() as tx:
        return bytes.fromhex(
            await workers_repo.secret(tx, PSEUDONYM_KEY_ROW, secrets.token_hex(32))
        )


async def pseudonymizer(db: Database) -> Callable[[int], str]:
    """A function from worker id to pseudonym, with the database's key (made on first use)."""
    return pseudonyms(await pseudonym_key(db))


def pseudonyms(key: bytes) -> Callable[[int], str]:
    """A function from worker id to pseudonym under `key` (remembering those it made)."""
    cache: dict[int, str] = {}

    def name(worker_id: int) -> str:
        if worker_id not in cache:
            cache[worker_id] = pseudonym(key, worker_id)
        return cache[worker_id]

    return name


@dataclass(frozen=True, slots=True)
class Owed:
    """Erasure refused: money is still due to the student (pay it out first)."""

    pending: int  # earned, waiting for approval
    available: int  # approved, not yet paid out


@dataclass(frozen=True, slots=True)
class OpenDispute:
    """Erasure refused: a dispute of theirs waits for a decision."""

    count: int


@dataclass(frozen=True, slots=True)
class Forgotten:
    anonymous_id: int


@dataclass(frozen=True, slots=True)
class NotRegistered:
    pass


Erasure = Owed | OpenDispute | Forgotten | NotRegistered


async def forget(db: Database, worker_id: int, now: datetime) -> Erasure:
    """Erase the student if nothing is owed to them and no dispute of theirs is open.

    One transaction: checked and done together, so an earning cannot slip in between."""
    async with db.transaction() as tx:
        if await workers_repo.get(tx, worker_id) is None:
            return NotRegistered()
        sums = await ledger_repo.sums(tx, worker_id)
        if sums.pending > 0 or sums.available > 0:
            return Owed(pending=max(sums.pending, 0), available=max(sums.available, 0))
        disputes = await workers_repo.open_disputes(tx, worker_id)
        if disputes:
            return OpenDispute(count=disputes)
        held = await assignments_repo.open_for_worker(tx, worker_id)
        if held is not None and await assignments_repo.close(tx, held.id, "withdrawn", now):
            await tasks_repo.release_many(tx, [held.task_id])
        anon = await workers_repo.detach(tx, worker_id, now)
        return Forgotten(anonymous_id=anon)
