"""The labeling loop: hand out tasks fairly, record each answer exactly once."""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from db import answers as answers_repo
from db import assignments as assignments_repo
from db import inputs as inputs_repo
from db import ledger as ledger_repo
from db import projects as projects_repo
from db import standings as standings_repo
from db import tasks as tasks_repo
from db import workers as workers_repo
from db.assignments import AssignmentView
from db.connection import Database, Tx
from db.projects import Project
from db.workers import Worker

# Fair share is checked only when a project has fewer open tasks than this many per
# student active in the last hour: with plenty of work nobody is held back. Above
# PLENTY open tasks a project is never short, which one cheap index probe tells.
SCARCE_TASKS_PER_STUDENT = 10
PLENTY = 2_000
PLENTY_RECHECK = 2.0  # seconds a project found to have plenty is taken to still have it
ACTIVE_WINDOW = timedelta(hours=1)
_monotonic = time.monotonic  # the memo's clock (tests move it)


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
    NOTHING_CHOSEN = "nothing_chosen"


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
    payload: dict[str, str] = field(default_factory=dict)
    shown_order: str | None = None  # A/B comparisons: 'ab' or 'ba'
    instructions: str = ""
    draft: int = 0  # multi-label: the options ticked so far, as bits
    allow_none: bool = False
    example_file_id: str | None = None  # the Guide's example photo

    @property
    def shown(self) -> tuple[str, str]:
        """An A/B comparison's two answers in the order this student sees them."""
        order = self.shown_order or "ab"
        return self.payload.get(order[0], ""), self.payload.get(order[1], "")


def answer_value(
    project_type: str, options: tuple[str, ...], option: int, shown_order: str | None
) -> str | None:
    """The stored answer for a tapped button (None if the index is not a button).

    A/B buttons are in terms of what was shown ("A is better" = the first shown); the stored
    answer is in terms of the original a/b, whatever order they were shown in."""
    if not 0 <= option < len(options):
        return None
    if project_type == "pairwise" and option < 2:
        return (shown_order or "ab")[option]
    return options[option]


@dataclass(frozen=True, slots=True)
class Notice:
    """Something a rule did or why a task was held back, as a message key and its values.

    Values may be datetimes: the handler shows them in the student's own time zone."""

    key: str
    params: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Offer:
    """The next task (or None) and, when there is none, the reasons a student can read."""

    card: TaskCard | None
    held: tuple[Notice, ...] = ()


@dataclass(frozen=True, slots=True)
class Saved:
    """An answer was recorded (or a task skipped); `next` is what to show instead."""

    value: str | None  # None for a skip
    price: int
    next: TaskCard | None
    notices: tuple[Notice, ...] = ()  # rules that fired on this answer
    held: tuple[Notice, ...] = ()  # why no next task, when there is none
    comment_on: int | None = None  # the answer a comment may be added to
    shown_in: tuple[int, int] | None = None  # (chat, message) that showed the answered task


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
        payload=v.task_payload,
        shown_order=a.shown_order,
        instructions=v.instructions,
        draft=a.draft,
        allow_none=v.allow_none,
        example_file_id=v.example_file_id,
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
    return await db.run(_register, user_id, first_name, username, language, timezone, now)


async def _register(
    tx: Tx,
    user_id: int,
    first_name: str,
    username: str | None,
    language: str,
    timezone: str,
    now: datetime,
) -> tuple[Worker, bool]:
    worker, created = await workers_repo.insert_or_refresh(
        tx, user_id, first_name, username, language, timezone, now
    )
    if worker.status == "blocked" and await workers_repo.unblock(tx, user_id):
        worker = await workers_repo.get(tx, user_id) or worker
    return worker, created


async def find_worker(db: Database, worker_id: int) -> Worker | None:
    return await workers_repo.get(db, worker_id)


async def set_language(db: Database, worker_id: int, language: str) -> bool:
    return await db.run(workers_repo.set_language, worker_id, language)


async def _fair_share_hold(
    tx: Tx, project: Project, worker_id: int, now: datetime
) -> Notice | None:
    """In a fair project short of tasks, a student who has had more than an even share
    today waits, so tasks do not all go to whoever taps fastest."""
    if project.allocation != "fair" or await _has_plenty(tx, project.id):
        return None
    active = max(
        1, await assignments_repo.active_workers_since(tx, project.id, now - ACTIVE_WINDOW)
    )
    scarce_below = active * SCARCE_TASKS_PER_STUDENT
    left = await tasks_repo.open_slots_upto(tx, project.id, scarce_below)
    if left >= scarce_below:
        return None
    day = now - timedelta(hours=24)
    mine = await answers_repo.count_since(tx, project.id, day, worker_id)
    done = await answers_repo.count_since(tx, project.id, day)
    share = math.ceil((done + left) / active)
    if mine < share:
        return None
    return Notice(
        "hold_fair_share",
        {"project": project.name, "mine": mine, "left": left, "students": active},
    )


async def _has_plenty(tx: Tx, project_id: int) -> bool:
    """Whether the project has more than PLENTY open tasks. The probe walks PLENTY index
    entries (a third of a tap's database time), so a yes is remembered for PLENTY_RECHECK
    seconds: a project cannot run short of 2,000 tasks unnoticed for longer than that."""
    key = ("plenty", project_id)
    if tx.memo.get(key, 0.0) > _monotonic():
        return True
    if await tasks_repo.has_open_beyond(tx, project_id, PLENTY):
        tx.memo[key] = _monotonic() + PLENTY_RECHECK
        return True
    return False


async def _hold(
    tx: Tx,
    project: Project,
    worker_id: int,
    now: datetime,
    blocked: dict[int, standings_repo.Standing],
) -> Notice | None:
    """Why this worker may not take a task from this project now (None: they may)."""
    standing = blocked.get(project.id)
    if standing is not None and standing.blocked_until and standing.blocked_until > now:
        return Notice(
            "hold_" + (standing.rule or "paused"),
            {"project": project.name, "until": standing.blocked_until, **standing.rule_params},
        )
    if project.daily_cap is not None:
        day = now - timedelta(hours=24)
        today = await answers_repo.count_since(tx, project.id, day, worker_id)
        if today >= project.daily_cap:
            # The cap counts the last 24 hours: it lets up when enough of them have aged out.
            oldest = await answers_repo.nth_since(
                tx, project.id, day, worker_id, today - project.daily_cap
            )
            until = (oldest or now) + timedelta(hours=24)
            return Notice(
                "hold_daily_cap",
                {"project": project.name, "cap": project.daily_cap, "until": until},
            )
    return None


async def _pick_task(tx: Tx, project: Project, worker_id: int) -> int | None:
    """A control task at the project's gold share, else the next regular task.

    Control tasks are mixed into a stream of regular work, never handed out on their own:
    once this worker has no regular task left in the project, none comes (a finished project
    must not keep paying for control answers that check nothing)."""
    regular = await tasks_repo.next_open(tx, project.id, worker_id)
    if regular is None:
        return None
    if project.gold_share > 0 and random.random() < project.gold_share:  # noqa: S311
        span = await tasks_repo.gold_id_range(tx, project.id)
        if span is not None:
            pivot = random.randint(span[0], span[1])  # noqa: S311
            gold = await tasks_repo.next_gold(tx, project.id, worker_id, pivot)
            if gold is not None:
                return gold
    return regular


async def _issue(
    tx: Tx, worker_id: int, now: datetime, chat_id: int | None, message_id: int | None
) -> Offer:
    """Hand this worker a task they have not held, from the active projects in order."""
    held: list[Notice] = []
    blocked = await standings_repo.blocking(tx, worker_id, now)
    only = await workers_repo.project_limit(tx, worker_id)  # from their invite link
    for project in await projects_repo.active(tx):
        project_id = project.id
        if only is not None and project_id != only:
            continue
        hold = await _hold(tx, project, worker_id, now, blocked)
        if hold is not None:
            held.append(hold)
            continue
        task_id = await _pick_task(tx, project, worker_id)
        if task_id is None:
            continue
        fair = await _fair_share_hold(tx, project, worker_id, now)
        if fair is not None:
            held.append(fair)
            continue
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
            # A/B comparisons: each student sees the two answers in their own random order.
            shown_order=random.choice(("ab", "ba")) if project.type == "pairwise" else None,  # noqa: S311
        )
        await tasks_repo.bump(tx, task_id, in_flight=1)
        view = await assignments_repo.view(tx, assignment_id)
        assert view is not None
        return Offer(_card(view))
    return Offer(None, tuple(held))


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


async def _active(tx: Tx, worker_id: int) -> Worker | None:
    """The worker if they may take tasks. One marked 'blocked' (a message to them bounced)
    who asks for a task or taps a button can be reached again, so they are active again."""
    worker = await workers_repo.get(tx, worker_id)
    if (
        worker is not None
        and worker.status == "blocked"
        and await workers_repo.unblock(tx, worker_id)
    ):
        worker = await workers_repo.get(tx, worker_id)
    return worker if worker is not None and worker.status == "active" else None


async def offer(db: Database, worker_id: int, now: datetime) -> Offer:
    """What this worker should see now: the task they hold, else a new one, else why not."""
    return await db.run(_offer, worker_id, now)


async def _offer(tx: Tx, worker_id: int, now: datetime) -> Offer:
    worker = await _active(tx, worker_id)
    if worker is None:
        # Banned (or unknown): say so, rather than promise tasks that will not come.
        return Offer(None, (Notice("refused_not_active"),))
    card = await _current(tx, worker_id, now)
    if card is not None:
        return Offer(card)
    return await _issue(tx, worker_id, now, None, None)


async def next_task(db: Database, worker_id: int, now: datetime) -> TaskCard | None:
    """The task this worker should see now, or None."""
    return (await offer(db, worker_id, now)).card


async def card_for(
    db: Database, worker_id: int, assignment_id: int, now: datetime
) -> TaskCard | Refused:
    """The open task behind a page or Guide button, if it is this worker's and still live."""
    checked = await db.run(_check, worker_id, assignment_id, now)
    return checked if isinstance(checked, Refused) else _card(checked)


async def attach_message(db: Database, assignment_id: int, chat_id: int, message_id: int) -> None:
    """Remember which message shows an assignment (the clock for its timing starts here)."""
    await db.run(assignments_repo.set_message, assignment_id, chat_id, message_id)


async def remember_image(db: Database, assignment_id: int, file_id: str) -> None:
    """An image first sent by URL: every later send of its task uses this file_id."""
    await db.run(tasks_repo.set_image_file_id, assignment_id, file_id)


async def _live(
    tx: Tx, worker_id: int, assignment_id: int, now: datetime
) -> AssignmentView | Refused:
    """The assignment behind a button, if its worker may take tasks and it is still live."""
    if await _active(tx, worker_id) is None:
        return Refused(Refusal.NOT_ACTIVE)
    return await _check(tx, worker_id, assignment_id, now)


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
    """Record one tapped answer, its earning and counters, and issue the next task: one
    transaction. The next task takes over the same message (it is edited in place), so its
    clock starts now."""
    return await db.run(_answer, worker_id, assignment_id, option, chat_id, message_id, now)


async def _answer(
    tx: Tx,
    worker_id: int,
    assignment_id: int,
    option: int,
    chat_id: int | None,
    message_id: int | None,
    now: datetime,
) -> Saved | Refused:
    checked = await _live(tx, worker_id, assignment_id, now)
    if isinstance(checked, Refused):
        return checked
    a = checked.assignment
    value: str | None = None
    if checked.project_type == "multilabel":
        n = len(checked.options)  # buttons n and n + 1: Done and "None of these"
        if option == n:
            if not a.draft:
                return Refused(Refusal.NOTHING_CHOSEN)
            value = multilabel_value(checked.options, a.draft)
        elif option == n + 1 and checked.allow_none:
            value = "[]"
    elif checked.project_type == "correction":
        if option == 0:  # "No correction needed": the text as it is
            value = checked.task_text
    else:
        value = answer_value(checked.project_type, checked.options, option, a.shown_order)
    if value is None:
        return Refused(Refusal.BAD_OPTION)
    return await _record(tx, worker_id, checked, value, now, chat_id, message_id)


def multilabel_value(options: tuple[str, ...], draft: int) -> str:
    """The ticked options, in the project's order, as a JSON list."""
    return json.dumps([o for i, o in enumerate(options) if draft & (1 << i)], ensure_ascii=False)


async def _record(
    tx: Tx,
    worker_id: int,
    checked: AssignmentView,
    value: str,
    now: datetime,
    chat_id: int | None,
    message_id: int | None,
) -> Saved:
    """The one write path of every task type: answer, rules, counters, earning, next task."""
    a = checked.assignment
    project = await projects_repo.get(tx, a.project_id)
    assert project is not None
    await assignments_repo.close(tx, a.id, "answered", now)
    seconds = round(max(0.0, (now - a.issued_at).total_seconds()), 3)
    notices: list[Notice] = []
    correct = None if checked.gold is None else value == checked.gold
    if correct is False:
        notices.append(
            Notice(
                "rule_wrong_gold",
                {"right": checked.gold, "explanation": checked.explanation or ""},
            )
        )
    # min_seconds = 0 turns the rule off for a project.
    minimum = round(
        project.min_seconds + len(checked.task_text) / project.read_chars_per_second, 1
    )
    too_fast = project.min_seconds > 0 and seconds < minimum
    if too_fast:
        notices.append(
            Notice(
                "rule_too_fast",
                {
                    "seconds": seconds,
                    "chars": len(checked.task_text),
                    "minimum": minimum,
                    "amount": a.price,
                },
            )
        )
    answer_id = await answers_repo.insert(
        tx,
        assignment_id=a.id,
        task_id=a.task_id,
        worker_id=worker_id,
        project_id=a.project_id,
        value=value,
        seconds=seconds,
        now=now,
        correct=correct,
        review="flagged" if too_fast else None,
        review_rule="too_fast" if too_fast else None,
        shown_order=a.shown_order,
    )
    await standings_repo.count_skip(tx, worker_id, project.id, skipped=False)
    if correct is not None:
        notices += await _accuracy_rule(tx, project, worker_id, now)
    await tasks_repo.bump(tx, a.task_id, answers=1, in_flight=-1)
    if project.max_overlap:  # adaptive overlap: money goes where the doubt is
        await tasks_repo.extend_if_disputed(tx, a.task_id, project.max_overlap)
    if a.price:
        await ledger_repo.add(
            tx,
            worker_id=worker_id,
            amount=a.price,
            kind="earning",
            reason="earning_answer",
            reason_params={"project": checked.project_name, "task": a.task_id},
            answer_id=answer_id,
            task_id=a.task_id,
            now=now,
        )
    nxt = await _issue(tx, worker_id, now, chat_id, message_id)
    return Saved(
        value=value,
        price=a.price,
        next=nxt.card,
        notices=tuple(notices),
        held=nxt.held,
        comment_on=answer_id if project.comments == "optional" else None,
        shown_in=(a.chat_id, a.message_id) if a.chat_id and a.message_id else None,
    )


async def toggle(
    db: Database, *, worker_id: int, assignment_id: int, option: int, now: datetime
) -> TaskCard | Refused:
    """Tick or untick one option of a multi-label task; nothing is recorded until Done."""
    return await db.run(_toggle, worker_id, assignment_id, option, now)


async def _toggle(
    tx: Tx, worker_id: int, assignment_id: int, option: int, now: datetime
) -> TaskCard | Refused:
    checked = await _live(tx, worker_id, assignment_id, now)
    if isinstance(checked, Refused):
        return checked
    if checked.project_type != "multilabel" or not 0 <= option < len(checked.options):
        return Refused(Refusal.BAD_OPTION)
    await assignments_repo.toggle(tx, assignment_id, option)
    view = await assignments_repo.view(tx, assignment_id)
    assert view is not None
    return _card(view)


async def expect_text(
    db: Database, *, worker_id: int, kind: str, ref_id: int, now: datetime
) -> TaskCard | Refused | None:
    """The student is about to type a correction (ref: an assignment of theirs) or a comment
    (ref: an answer of theirs). Returns the task for a correction, None for a comment."""
    return await db.run(_expect_text, worker_id, kind, ref_id, now)


async def _expect_text(
    tx: Tx, worker_id: int, kind: str, ref_id: int, now: datetime
) -> TaskCard | Refused | None:
    if await _active(tx, worker_id) is None:
        return Refused(Refusal.NOT_ACTIVE)
    card = None
    if kind == "correction":
        checked = await _check(tx, worker_id, ref_id, now)
        if isinstance(checked, Refused):
            return checked
        if checked.project_type != "correction":
            return Refused(Refusal.BAD_OPTION)
        card = _card(checked)
    elif await answers_repo.owner(tx, ref_id) != worker_id:
        return Refused(Refusal.NOT_FOUND)
    await inputs_repo.expect(tx, worker_id, kind, ref_id, now)
    return card


@dataclass(frozen=True, slots=True)
class Commented:
    answer_id: int


async def receive_text(
    db: Database, *, worker_id: int, text: str, now: datetime
) -> Saved | Commented | Refused | None:
    """A text message from a student: the correction or comment they were asked for (None if
    none was asked for). A correction is recorded like any answer; the next task comes as a
    new message, since the conversation has moved on."""
    return await db.run(_receive_text, worker_id, text.strip(), now)


async def _receive_text(
    tx: Tx, worker_id: int, text: str, now: datetime
) -> Saved | Commented | Refused | None:
    waiting = await inputs_repo.take(tx, worker_id)
    if waiting is None:
        return None
    kind, ref_id = waiting
    if not text:
        return Refused(Refusal.BAD_OPTION)
    if kind == "comment":
        if not await answers_repo.set_comment(tx, ref_id, worker_id, text[:2000]):
            return Refused(Refusal.NOT_FOUND)
        return Commented(ref_id)
    checked = await _live(tx, worker_id, ref_id, now)
    if isinstance(checked, Refused):
        return checked
    return await _record(tx, worker_id, checked, text[:20_000], now, None, None)


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
    return await db.run(_skip, worker_id, assignment_id, chat_id, message_id, now)


async def _skip(
    tx: Tx,
    worker_id: int,
    assignment_id: int,
    chat_id: int | None,
    message_id: int | None,
    now: datetime,
) -> Saved | Refused:
    checked = await _live(tx, worker_id, assignment_id, now)
    if isinstance(checked, Refused):
        return checked
    a = checked.assignment
    await assignments_repo.close(tx, a.id, "skipped", now)
    await tasks_repo.release_many(tx, [a.task_id])
    project = await projects_repo.get(tx, a.project_id)
    assert project is not None
    notices: list[Notice] = []
    skips = await standings_repo.count_skip(tx, worker_id, project.id, skipped=True)
    if project.max_skips and skips >= project.max_skips:
        until = now + timedelta(minutes=project.skip_pause_minutes)
        params = {"skips": skips}
        await standings_repo.block(tx, worker_id, project.id, until, "skips", params)
        notices.append(Notice("rule_skips", {"project": project.name, "until": until, **params}))
    nxt = await _issue(tx, worker_id, now, chat_id, message_id)
    return Saved(value=None, price=0, next=nxt.card, notices=tuple(notices), held=nxt.held)


def accuracy_verdict(results: list[bool], window: int, threshold: float) -> tuple[int, int] | None:
    """(correct, total) when the latest control answer makes accuracy on the last `window`
    control answers fall below `threshold`; None when it does not.

    The window starts afresh after each time the rule fired: answers that already led to a
    suspension are not held against the student again when it ends (or is lifted), so a
    student who comes back is judged on `window` new control answers, like a newcomer."""
    if window < 1 or not results:
        return None
    run: list[bool] = []
    verdict = None
    for ok in results:
        run = [*run[max(0, len(run) - window + 1) :], ok]
        verdict = None
        if len(run) == window and sum(run) / window < threshold:
            verdict = (sum(run), window)
            run = []
    return verdict


async def _accuracy_rule(tx: Tx, project: Project, worker_id: int, now: datetime) -> list[Notice]:
    """Accuracy on the last N control tasks below the threshold suspends for a time."""
    results = await answers_repo.gold_results(tx, worker_id, project.id)
    verdict = accuracy_verdict(results, project.rule_gold_window, project.rule_gold_min_accuracy)
    if verdict is None:
        return []
    correct, total = verdict
    until = now + timedelta(hours=project.rule_suspend_hours)
    params = {
        "correct": correct,
        "total": total,
        "pct": round(100 * correct / total),
        "threshold": round(100 * project.rule_gold_min_accuracy),
    }
    await standings_repo.block(tx, worker_id, project.id, until, "accuracy", params)
    return [Notice("rule_accuracy", {"project": project.name, "until": until, **params})]


async def release_expired(db: Database, now: datetime) -> int:
    """Put every task whose lease ran out back into the pool; return how many."""
    return await db.run(_release_expired, now)


async def _release_expired(tx: Tx, now: datetime) -> int:
    task_ids = await assignments_repo.expire_due(tx, now)
    await tasks_repo.release_many(tx, task_ids)
    return len(task_ids)
