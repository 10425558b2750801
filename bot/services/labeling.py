"""The labeling loop: hand out tasks fairly, record each answer exactly once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from db import answers as answers_repo
from db import assignments as assignments_repo
from db import ledger as ledger_repo
from db import projects as projects_repo
from db import tasks as tasks_repo
from db import workers as workers_repo
from db.assignments import AssignmentView
from db.connection import Database, Tx
from db.workers import Worker


class Refusal(StrEnum):
    """Why a tap on a task button wrote nothing."""

    NOT_FOUND = "not_found"
    NOT_YOURS = "not_yours"
    ANSWERED = "answered"
    SKIPPED = "skipped"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    PAUSED = "paused"
    BAD_OPTION = "bad_option"
    NOT_ACTIVE = "not_active"


@dataclass(frozen=True, slots=True)
class TaskCard:
    """A task as its worker should see it."""

    assignment_id: int
    project_name: str
    project_type: str
    options: tuple[str, ...]
    text: str
    price: int
    expires_at: datetime
    chat_id: int | None
    message_id: int | None


@dataclass(frozen=True, slots=True)
class Saved:
    """An answer was recorded (or a task skipped); `next` is what to show instead."""

    value: str | None  # None for a skip
    price: int
    next: TaskCard | None


@dataclass(frozen=True, slots=True)
class Refused:
    reason: Refusal


def _card(v: AssignmentView) -> TaskCard:
    a = v.assignment
    return TaskCard(
        assignment_id=a.id,
        project_name=v.project_name,
        project_type=v.project_type,
        options=v.options,
        text=v.task_text,
        price=a.price,
        expires_at=a.expires_at,
        chat_id=a.chat_id,
        message_id=a.message_id,
    )


async def register(
    db: Database,
    *,
    user_id: int,
    first_name: str,
    username: str | None,
    language: str,
    timezone: str,
    now: datetime,
) -> tuple[Worker, bool]:
    """Create or refresh a worker; return (worker, created). Writing to the bot again
    after blocking it makes a student reachable again."""
    async with db.transaction() as tx:
        worker, created = await workers_repo.insert_or_refresh(
            tx, user_id, first_name, username, language, timezone, now
        )
        if worker.status == "blocked" and await workers_repo.unblock(tx, user_id):
            worker = await workers_repo.get(tx, user_id) or worker
        return worker, created


async def find_worker(db: Database, worker_id: int) -> Worker | None:
    return await workers_repo.get(db, worker_id)


async def set_language(db: Database, worker_id: int, language: str) -> bool:
    async with db.transaction() as tx:
        return await workers_repo.set_language(tx, worker_id, language)


async def _issue(
    tx: Tx, worker_id: int, now: datetime, chat_id: int | None, message_id: int | None
) -> TaskCard | None:
    """Hand this worker the first task they have not held, from the active projects."""
    for project_id in await projects_repo.active_ids(tx):
        task_id = await tasks_repo.next_open(tx, project_id, worker_id)
        if task_id is None:
            continue
        project = await projects_repo.get(tx, project_id)
        assert project is not None
        assignment_id = await assignments_repo.create(
            tx,
            task_id=task_id,
            worker_id=worker_id,
            project_id=project_id,
            price=project.price,
            issued_at=now,
            expires_at=now + timedelta(seconds=project.lease_seconds),
            chat_id=chat_id,
            message_id=message_id,
        )
        await tasks_repo.bump(tx, task_id, in_flight=1)
        view = await assignments_repo.view(tx, assignment_id)
        assert view is not None
        return _card(view)
    return None


async def _current(tx: Tx, worker_id: int, now: datetime) -> TaskCard | None:
    """The worker's open assignment if it is still live; an expired one is released."""
    held = await assignments_repo.open_for_worker(tx, worker_id)
    if held is None:
        return None
    view = await assignments_repo.view(tx, held.id)
    assert view is not None
    if held.expires_at <= now or view.project_status != "active":
        status = "expired" if held.expires_at <= now else "withdrawn"
        await assignments_repo.close(tx, held.id, status, now)
        await tasks_repo.release_many(tx, [held.task_id])
        return None
    return _card(view)


async def next_task(db: Database, worker_id: int, now: datetime) -> TaskCard | None:
    """The task this worker should see now: the one they hold, else a new one, else None."""
    async with db.transaction() as tx:
        worker = await workers_repo.get(tx, worker_id)
        if worker is None or worker.status != "active":
            return None
        card = await _current(tx, worker_id, now)
        if card is not None:
            return card
        return await _issue(tx, worker_id, now, None, None)


async def attach_message(db: Database, assignment_id: int, chat_id: int, message_id: int) -> None:
    """Remember which message shows an assignment (the clock for its timing starts here)."""
    async with db.transaction() as tx:
        await assignments_repo.set_message(tx, assignment_id, chat_id, message_id)


async def _check(
    tx: Tx, worker_id: int, assignment_id: int, now: datetime
) -> AssignmentView | Refused:
    view = await assignments_repo.view(tx, assignment_id)
    if view is None:
        return Refused(Refusal.NOT_FOUND)
    a = view.assignment
    if a.worker_id != worker_id:
        return Refused(Refusal.NOT_YOURS)
    if a.status != "open":
        if a.status == "withdrawn" and view.project_status == "paused":
            return Refused(Refusal.PAUSED)
        return Refused(Refusal(a.status))
    if view.project_status != "active":
        return Refused(Refusal.PAUSED)
    if view.task_status == "withdrawn":
        return Refused(Refusal.WITHDRAWN)
    if a.expires_at <= now:
        return Refused(Refusal.EXPIRED)
    return view


async def answer(
    db: Database,
    *,
    worker_id: int,
    assignment_id: int,
    option: int,
    chat_id: int | None,
    message_id: int | None,
    now: datetime,
) -> Saved | Refused:
    """Record one answer, its earning and counters, and issue the next task: one transaction.

    The next task takes over the same message (it is edited in place), so its clock starts now.
    """
    async with db.transaction() as tx:
        worker = await workers_repo.get(tx, worker_id)
        if worker is None or worker.status != "active":
            return Refused(Refusal.NOT_ACTIVE)
        checked = await _check(tx, worker_id, assignment_id, now)
        if isinstance(checked, Refused):
            return checked
        a = checked.assignment
        if not 0 <= option < len(checked.options):
            return Refused(Refusal.BAD_OPTION)
        value = checked.options[option]
        await assignments_repo.close(tx, a.id, "answered", now)
        seconds = max(0.0, (now - a.issued_at).total_seconds())
        answer_id = await answers_repo.insert(
            tx,
            assignment_id=a.id,
            task_id=a.task_id,
            worker_id=worker_id,
            project_id=a.project_id,
            value=value,
            seconds=round(seconds, 3),
            now=now,
        )
        await tasks_repo.bump(tx, a.task_id, answers=1, in_flight=-1)
        if a.price:
            await ledger_repo.add(
                tx,
                worker_id=worker_id,
                amount=a.price,
                kind="earning",
                reason="earning_answer",
                reason_params={"project": checked.project_name, "task": a.task_id},
                answer_id=answer_id,
                now=now,
            )
        nxt = await _issue(tx, worker_id, now, chat_id, message_id)
        return Saved(value=value, price=a.price, next=nxt)


async def skip(
    db: Database,
    *,
    worker_id: int,
    assignment_id: int,
    chat_id: int | None,
    message_id: int | None,
    now: datetime,
) -> Saved | Refused:
    """Give a task back (this worker will not see it again) and issue the next one."""
    async with db.transaction() as tx:
        worker = await workers_repo.get(tx, worker_id)
        if worker is None or worker.status != "active":
            return Refused(Refusal.NOT_ACTIVE)
        checked = await _check(tx, worker_id, assignment_id, now)
        if isinstance(checked, Refused):
            return checked
        a = checked.assignment
        await assignments_repo.close(tx, a.id, "skipped", now)
        await tasks_repo.release_many(tx, [a.task_id])
        nxt = await _issue(tx, worker_id, now, chat_id, message_id)
        return Saved(value=None, price=0, next=nxt)


async def release_expired(db: Database, now: datetime) -> int:
    """Put every task whose lease ran out back into the pool; return how many."""
    async with db.transaction() as tx:
        task_ids = await assignments_repo.expire_due(tx, now)
        await tasks_repo.release_many(tx, task_ids)
    return len(task_ids)
