"""Quality control over real HTTP: control tasks, rules with reasons, review, bans,
aggregation and agreement, fair share. Every test checks what the student or admin sees
and what SQLite holds afterwards."""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot import aggregation
from bot.config import Config
from bot.texts import t
from tests.botapi import ChatMessage, FakeUser, button_data, button_texts
from tests.conftest import ADMIN_ID
from tests.e2e import Harness, running_bot, until

NOT_ALLOWED = "Sorry, only project admins can do that."
NO_TASKS = (
    "That's everything for now — no tasks are waiting for you. 🎉\n"
    "I'll message you as soon as new tasks arrive."
)
HELD_TITLE = "Why there is no task for you right now:"
SKIP = "Skip ⏭"
LONG_AGO = "2000-01-01T00:00:00.000+00:00"


@pytest.fixture
async def h(cfg: Config) -> AsyncIterator[Harness]:
    async with running_bot(cfg) as harness:
        yield harness


# ------------------------------------------------------------------------------------------
# helpers


def admin_of(h: Harness) -> FakeUser:
    return h.server.add_user(ADMIN_ID, "Ada", language_code="en")


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


async def upload(h: Harness, project: str, rows: list[list[str]], settings: str) -> None:
    """The admin creates `project` from rows of (id, text, gold, explanation)."""
    header = ["id", "text", "gold", "explanation"]
    reply = await h.upload(
        admin_of(h), f"{project}.csv", csv_bytes(header, rows), f"/upload {project} {settings}"
    )
    assert f"{len(rows)} tasks added, 0 skipped" in reply.content, reply.content


def plain(prefix: str, count: int) -> list[list[str]]:
    """Regular tasks <prefix>1… with the texts "Item <prefix> 1"…"""
    return [[f"{prefix}{i}", f"Item {prefix} {i}", "", ""] for i in range(1, count + 1)]


async def sql(h: Harness, statement: str, params: tuple[Any, ...] = ()) -> None:
    async with h.db.transaction() as tx:
        await tx.execute(statement, params)


async def snapshot(h: Harness) -> dict[str, list[tuple[Any, ...]]]:
    tables = ("workers", "tasks", "assignments", "answers", "ledger", "standings", "outbox")
    return {table: await h.query(f"SELECT * FROM {table}") for table in tables}  # noqa: S608


async def first_task(h: Harness, uid: int) -> ChatMessage:
    """A new student sends /start, taps "Start labeling" and gets the first task message."""
    user = h.server.add_user(uid, f"Student{uid}", language_code="en")
    welcome = await h.say(user, "/start")
    await h.tap(user, welcome, "▶️ Start labeling")
    return await h.server.wait_for_message(user, after=welcome)


async def ask(h: Harness, user: FakeUser) -> ChatMessage:
    """/next, and the bot's answer (a task, or why there is none)."""
    return await h.say(user, "/next")


def card(message: ChatMessage) -> list[str]:
    """The task part of a message (from its header on), without what came before."""
    lines = message.content.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("📝"))
    return lines[start:]


def task_text(message: ChatMessage) -> str:
    return card(message)[2]


def above_card(message: ChatMessage) -> list[str]:
    """What the message says before the task (the saved line and any rule notices)."""
    lines = message.content.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("📝"))
    return [line for line in lines[:start] if line]


def shown(moment: str, tz: str = "Asia/Shanghai") -> str:
    """A stored UTC time as a student sees it."""
    return datetime.fromisoformat(moment).astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M")


async def arrives(h: Harness, user: FakeUser, start: str) -> ChatMessage:
    """A bot message to `user` starting with `start` (one sent through the outbox)."""
    return await h.server.wait_until(
        lambda: next((m for m in h.server.messages(user) if m.content.startswith(start)), None),
        user=user,
        description=f"a message starting {start!r}",
    )


async def outbox_drained(h: Harness) -> None:
    await until(
        lambda: h.scalar("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')"),
        lambda busy: busy == 0,
        description="the outbox to drain",
    )


async def answer_until_empty(
    h: Harness, user: FakeUser, task: ChatMessage, choose: Callable[[str], str]
) -> ChatMessage:
    """Answer every task shown in this message (choose(text) → button) until none is left."""
    while "📝" in task.content:
        _, task = await h.tap_and_wait_edit(user, task, choose(task_text(task)))
    return task


def per_option(stats: list[str]) -> list[str]:
    """The "Answers per option" lines of /stats."""
    start = stats.index("Answers per option:") + 1
    return stats[start : stats.index("", start)]


def median_shown(seconds: list[float]) -> str:
    return f"{statistics.median(seconds):.1f}"


# ------------------------------------------------------------------------------------------
# 1: control tasks


CONTROL_ROWS = [
    ["r1", "The delivery was fast.", "", ""],
    ["r2", "The box was crushed.", "", ""],
    ["r3", "It works as described.", "", ""],
    [
        "g1",
        "Arrived broken, two weeks late.",
        "negative",
        "Broken and late is negative, however nice the packaging.",
    ],
    ["g2", "Perfect, thank you!", "positive", ""],
]
GOLD = {row[1]: (row[2], row[3]) for row in CONTROL_ROWS if row[2]}


async def test_control_tasks_look_normal_give_feedback_and_never_count(h: Harness) -> None:
    admin = admin_of(h)
    await upload(
        h, "ctl", CONTROL_ROWS, "options=positive,negative price=0.05 overlap=2 gold_share=1"
    )
    assert await h.query("SELECT external_id, gold, explanation FROM tasks ORDER BY id") == [
        ("r1", None, None),
        ("r2", None, None),
        ("r3", None, None),
        ("g1", "negative", "Broken and late is negative, however nice the packaging."),
        ("g2", "positive", None),
    ]
    stats = (await h.say(admin, "/stats ctl")).content.splitlines()
    assert stats[2] == "Answers: 0 / 6"
    assert stats[-1] == "Agreement (Krippendorff's alpha, nominal): – · control tasks: 2"

    seen_gold: dict[int, list[str]] = {}
    for uid, wrong_on in ((1001, "g1"), (1002, "g2")):
        task = await first_task(h, uid)
        user = h.server.users[uid]
        seen_gold[uid] = []
        # gold_share=1: the control tasks come first, in an order of their own per student.
        for _ in range(2):
            text = task_text(task)
            assert text in GOLD, task.content
            seen_gold[uid].append(text)
            right, explanation = GOLD[text]
            external = "g1" if right == "negative" else "g2"
            # It looks exactly like any other task: same header, prompt and buttons.
            assert card(task) == [
                "📝 ctl · ¥0.05 per answer",
                "",
                text,
                "",
                "Choose the label that fits best.",
            ]
            assert button_texts(task) == ["positive", "negative", SKIP]
            shown_card = "\n".join(card(task)).lower()
            assert "control" not in shown_card and "gold" not in shown_card
            wrong = "positive" if right == "negative" else "negative"
            tapped = wrong if external == wrong_on else right
            toast, task = await h.tap_and_wait_edit(user, task, tapped)
            assert toast["text"] == "Saved · +¥0.05"
            if tapped == wrong:
                feedback = f"✗ That was a control task: the right answer is “{right}”."
                if explanation:
                    feedback += " " + explanation
                assert above_card(task) == [f"✓ Saved: {wrong} · +¥0.05", feedback]
            else:
                assert above_card(task) == [f"✓ Saved: {right} · +¥0.05"]
        assert sorted(seen_gold[uid]) == sorted(GOLD)  # each control task once
        if uid == 1001:
            # Two control answers so far: nothing counts toward the 3 × 2 regular answers.
            stats = (await h.say(admin, "/stats ctl")).content.splitlines()
            assert stats[2] == "Answers: 0 / 6", stats
            assert await h.query("SELECT answers FROM tasks WHERE gold IS NULL") == [(0,)] * 3
        # The regular tasks follow, shown the same way.
        assert card(task)[0] == "📝 ctl · ¥0.05 per answer"
        assert button_texts(task) == ["positive", "negative", SKIP]
        last = await answer_until_empty(h, user, task, lambda _: "positive")
        assert last.content.endswith(NO_TASKS)
        # No control task comes back, however often the student asks.
        assert (await ask(h, user)).content == NO_TASKS

    assert await h.query(
        "SELECT t.external_id, COUNT(*), COUNT(DISTINCT s.worker_id) FROM assignments s"
        " JOIN tasks t ON t.id = s.task_id WHERE t.gold IS NOT NULL GROUP BY t.id"
        " ORDER BY t.id"
    ) == [("g1", 2, 2), ("g2", 2, 2)]
    assert await h.query(
        "SELECT t.external_id, a.worker_id, a.value, a.correct FROM answers a"
        " JOIN tasks t ON t.id = a.task_id WHERE t.gold IS NOT NULL"
        " ORDER BY a.worker_id, t.external_id"
    ) == [
        ("g1", 1001, "positive", 0),
        ("g2", 1001, "positive", 1),
        ("g1", 1002, "negative", 1),
        ("g2", 1002, "negative", 0),
    ]
    assert await h.query(
        "SELECT external_id, answers, needed, status FROM tasks WHERE gold IS NULL ORDER BY id"
    ) == [("r1", 2, 2, "done"), ("r2", 2, 2, "done"), ("r3", 2, 2, "done")]
    stats = (await h.say(admin, "/stats ctl")).content.splitlines()
    assert stats[1:3] == ["▓▓▓▓▓▓▓▓▓▓ 100%", "Answers: 6 / 6"]
    # The answers per option are the regular answers: they sum to the answered count.
    assert per_option(stats) == ["• positive: 6"]
    # Every control answer was paid like any other (a right one "just counts").
    assert await h.scalar("SELECT COUNT(*) FROM ledger WHERE kind = 'earning'") == 10

    for uid in (1001, 1002):
        seconds = [
            r[0] for r in await h.query("SELECT seconds FROM answers WHERE worker_id = ?", (uid,))
        ]
        me = await h.say(h.server.users[uid], "/me")
        assert me.content.splitlines() == [
            "📈 Your record (answers · accuracy on control tasks · seconds per answer):",
            f"• ctl: 5 · 50% (1 of 2) · {median_shown(seconds)} s",
        ]
    # Control tasks only ever come mixed into regular work: with all of it done, a newcomer
    # is not handed (and paid for) control tasks that check nothing.
    newcomer = h.server.add_user(1003, "New", language_code="en")
    await h.say(newcomer, "/start")
    assert (await ask(h, newcomer)).content == NO_TASKS
    assert await h.scalar("SELECT COUNT(*) FROM assignments WHERE worker_id = 1003") == 0
    assert (await h.say(newcomer, "/me")).content == (
        "You have not answered any tasks yet. Send /next to start."
    )


# ------------------------------------------------------------------------------------------
# 2: accuracy on the last N control tasks suspends from the project


ACC_ROWS = [
    ["q1", "Is water wet? (1)", "yes", "Water makes things wet."],
    ["q2", "Is water wet? (2)", "yes", "Water makes things wet."],
    ["q3", "Is water wet? (3)", "yes", "Water makes things wet."],
    ["a1", "Regular question one", "", ""],
    ["a2", "Regular question two", "", ""],
]


async def suspend(h: Harness, uid: int) -> tuple[FakeUser, ChatMessage]:
    """A student answers two control tasks of `acc` wrongly and is suspended from it; the
    same message then carries on with the task of `other`."""
    task = await first_task(h, uid)
    user = h.server.users[uid]
    assert task_text(task).startswith("Is water wet?"), task.content
    _, task = await h.tap_and_wait_edit(user, task, "no")
    assert above_card(task) == [
        "✓ Saved: no",
        "✗ That was a control task: the right answer is “yes”. Water makes things wet.",
    ]
    assert (
        await h.scalar(
            "SELECT COUNT(*) FROM standings WHERE worker_id = ? AND blocked_until IS NOT NULL",
            (uid,),
        )
        == 0
    )  # 1 of 2: too few
    _, task = await h.tap_and_wait_edit(user, task, "no")
    until = await h.scalar(
        "SELECT blocked_until FROM standings s JOIN projects p"
        " ON p.id = s.project_id WHERE worker_id = ? AND p.name = 'acc'",
        (uid,),
    )
    assert above_card(task) == [
        "✓ Saved: no",
        "✗ That was a control task: the right answer is “yes”. Water makes things wet.",
        f"⛔ Paused from acc until {shown(until)} (rule: accuracy): on your last 2 control "
        "tasks you got 0 right (0%), and this project needs 70%.",
    ]
    # Suspended from acc only: the next task comes from the other project.
    assert card(task) == ["📝 other", "", "Elsewhere 1", "", "Choose the label that fits best."]
    answered = datetime.fromisoformat(
        await h.scalar("SELECT MAX(created_at) FROM answers WHERE worker_id = ?", (uid,))
    )
    assert (datetime.fromisoformat(until) - answered).total_seconds() == 24 * 3600
    assert await h.query(
        "SELECT rule, rule_params FROM standings s JOIN projects p"
        " ON p.id = s.project_id WHERE worker_id = ? AND p.name = 'acc'",
        (uid,),
    ) == [("accuracy", '{"correct": 0, "total": 2, "pct": 0, "threshold": 70}')]
    assert await h.scalar("SELECT status FROM workers WHERE id = ?", (uid,)) == "active"
    _, task = await h.tap_and_wait_edit(user, task, "yes")
    held = (
        f"{HELD_TITLE}\n• acc: paused for you until {shown(until)}; accuracy on your "
        "last 2 control tasks was 0%, below 70%."
    )
    assert task.content == "✓ Saved: yes\n\n" + held
    assert button_texts(task) == ["🔄 Check again"]
    assert (await ask(h, user)).content == held
    return user, task


async def test_accuracy_rule_suspends_from_the_project_until_unban_or_time(h: Harness) -> None:
    admin = admin_of(h)
    await upload(h, "acc", ACC_ROWS, "options=yes,no gold_share=1")
    await upload(h, "other", [["o1", "Elsewhere 1", "", ""]], "options=yes,no overlap=2")
    await sql(
        h,
        "UPDATE projects SET rule_gold_window = 2, rule_gold_min_accuracy = 0.7"
        " WHERE name = 'acc'",
    )

    user, _ = await suspend(h, 1001)
    workers = (await h.say(admin, "/workers acc")).content.splitlines()
    assert workers[1].startswith("• 1001 Student1001: 2 · 0% of 2 · ")
    until = await h.scalar(
        "SELECT blocked_until FROM standings WHERE worker_id = 1001 AND blocked_until IS NOT NULL"
    )
    assert workers[1].endswith(f" · 0 · paused until {shown(until)} (rule: accuracy)")

    assert (await h.say(admin, "/unban 1001")).content == (
        "✓ 1001 may take tasks again; rule pauses were lifted."
    )
    assert await h.query("SELECT blocked_until, rule FROM standings WHERE worker_id = 1001") == [
        (None, None),
        (None, None),
    ]
    task = await ask(h, user)
    assert task_text(task).startswith("Is water wet?"), task.content  # the unseen one
    # Back in the project with a fresh start: one right answer does not suspend again
    # (the two wrong ones before the suspension were already acted on).
    _, task = await h.tap_and_wait_edit(user, task, "yes")
    assert above_card(task) == ["✓ Saved: yes"]
    assert card(task)[2] == "Regular question one"
    assert (
        await h.scalar(
            "SELECT COUNT(*) FROM standings WHERE worker_id = 1001 AND blocked_until IS NOT NULL"
        )
        == 0
    )

    # Time passing ends a suspension just as well.
    late, _ = await suspend(h, 1002)
    await sql(
        h,
        "UPDATE standings SET blocked_until = ? WHERE worker_id = 1002"
        " AND blocked_until IS NOT NULL",
        (LONG_AGO,),
    )
    task = await ask(h, late)
    assert task_text(task).startswith("Is water wet?"), task.content
    _, task = await h.tap_and_wait_edit(late, task, "yes")
    assert above_card(task) == ["✓ Saved: yes"]
    assert card(task)[2] == "Regular question two"  # 1001 holds the first
    assert await h.query(
        "SELECT a.worker_id, COUNT(*), SUM(a.correct) FROM answers a JOIN tasks t"
        " ON t.id = a.task_id WHERE t.gold IS NOT NULL GROUP BY a.worker_id"
    ) == [(1001, 3, 1), (1002, 3, 1)]
    assert await h.query(  # each control task once per student
        "SELECT s.worker_id, COUNT(DISTINCT s.task_id) FROM assignments s JOIN tasks t"
        " ON t.id = s.task_id WHERE t.gold IS NOT NULL GROUP BY s.worker_id"
    ) == [(1001, 3), (1002, 3)]
    me = await h.say(late, "/me")
    assert me.content.splitlines()[1].startswith("• acc: 3 · 33% (1 of 3) · ")


# ------------------------------------------------------------------------------------------
# 3: too fast → held for review; /review accepts or rejects


async def test_too_fast_answers_are_held_and_reviewed(h: Harness) -> None:
    admin = admin_of(h)
    await upload(
        h,
        "fast",
        [["f1", "Item one", "", ""], ["f2", "Item two", "", ""], ["f3", "Item three", "", ""]],
        "options=yes,no price=0.05 min_seconds=5",
    )
    assert await h.query("SELECT min_seconds, read_chars_per_second FROM projects") == [
        (5.0, 40.0)
    ]
    task = await first_task(h, 1001)
    student = h.server.users[1001]
    for _ in range(2):  # two quick taps: both held
        text = task_text(task)
        toast, task = await h.tap_and_wait_edit(student, task, "yes")
        assert toast["text"] == "Saved · +¥0.05"
        seconds = await h.scalar("SELECT seconds FROM answers ORDER BY id DESC LIMIT 1")
        minimum = round(5 + len(text) / 40, 1)  # min_seconds + reading time at 40 chars/s
        assert seconds < minimum
        assert above_card(task) == [
            "✓ Saved: yes · +¥0.05",
            f"⏱ Held for review (rule: too fast): you answered in {seconds} s, but reading "
            f"{len(text)} characters takes at least {minimum} s. Its ¥0.05 waits until a "
            "reviewer looks at it.",
        ]
    # The third is answered after reading it for a minute: nothing is held.
    await sql(
        h,
        "UPDATE assignments SET issued_at = ? WHERE status = 'open'",
        ("2000-01-01T00:00:00.000+00:00",),
    )
    await sql(
        h,
        "UPDATE assignments SET expires_at = '2999-01-01T00:00:00.000+00:00'"
        " WHERE status = 'open'",
    )
    _, task = await h.tap_and_wait_edit(student, task, "no")
    assert task.content.startswith("✓ Saved: no · +¥0.05\n\n")
    assert "⏱" not in task.content
    rows = await h.query(
        "SELECT a.id, t.id, t.external_id, a.review, a.review_rule"
        " FROM answers a JOIN tasks t ON t.id = a.task_id ORDER BY a.id"
    )
    assert [r[2:] for r in rows] == [
        ("f1", "flagged", "too_fast"),
        ("f2", "flagged", "too_fast"),
        ("f3", None, None),
    ]
    (a1, task1, _, _, _), (a2, _, _, _, _), (a3, _, _, _, _) = rows
    balance = (await h.say(student, "/balance")).content
    assert balance.endswith(
        "\n¥0.10 of it is held for review by a rule: it is approved once a reviewer accepts it."
    )

    # Approval leaves held answers' earnings waiting.
    reply = await h.say(admin, "/approve fast")
    assert reply.content == t("en", "approve_done", count=1)
    assert await h.query("SELECT answer_id, status FROM ledger ORDER BY id") == [
        (a1, "pending"),
        (a2, "pending"),
        (a3, "approved"),
    ]

    review = await h.say(admin, "/review fast")
    f1_seconds = await h.scalar("SELECT seconds FROM answers WHERE id = ?", (a1,))
    assert review.content == (
        "🔎 fast: 2 answer(s) held for review\n"
        "Task f1, student 1001\n"
        f"Answer: yes · {f1_seconds:g} s · rule: too_fast\n\n"
        "Item one"
    )
    assert button_texts(review) == ["✓ Accept", "✗ Reject"]
    reject_f1 = button_data(review, "✗ Reject")
    accept_f1 = button_data(review, "✓ Accept")

    # Reject, tapped twice at once: one deduction.
    before = review.edit_count
    q1 = await h.server.tap(admin, review.message_id, reject_f1)
    q2 = await h.server.tap(admin, review.message_id, reject_f1)
    toasts = sorted(
        [
            (await h.server.wait_for_answer(q1))["text"],
            (await h.server.wait_for_answer(q2))["text"],
        ]
    )
    assert toasts == [
        "Rejected: a deduction naming the task and rule was written.",
        "That answer was already reviewed.",
    ]
    review = await h.server.wait_until(
        lambda: (m := h.server.message(admin, review.message_id)).edit_count > before and m
    )
    # The same message moves on to the next held answer.
    assert review.content.startswith("🔎 fast: 1 answer(s) held for review\nTask f2, student 1001")
    assert review.content.endswith("\n\nItem two")
    assert [m.message_id for m in h.server.messages(admin)][-1] == review.message_id
    deduction = await h.query(
        "SELECT id, worker_id, amount, kind, reason, reason_params, task_id, status FROM ledger"
        " WHERE kind = 'deduction'"
    )
    assert [d[1:] for d in deduction] == [
        (
            1001,
            -5,
            "deduction",
            "deduction_review",
            json.dumps({"project": "fast", "task": task1, "rule": "too_fast"}),
            task1,
            "approved",
        )
    ]
    entry = deduction[0][0]
    assert await h.query("SELECT id, review FROM answers ORDER BY id") == [
        (a1, "rejected"),
        (a2, "flagged"),
        (a3, None),
    ]

    # The student is told, through the outbox, with a Dispute button.
    notice = await arrives(h, student, "➖")
    assert notice.content == (
        f"➖ Deduction ¥0.05: answer to task {task1} in fast rejected in review "
        "(rule: too_fast)\n"
        "If you think this is wrong, tap Dispute and the project team will review it."
    )
    assert button_texts(notice) == [f"⚖️ Dispute #{entry}"]
    await outbox_drained(h)
    assert await h.query("SELECT chat_id, kind, dedupe_key, status FROM outbox") == [
        (1001, "deduct", f"ledger:{entry}", "sent")
    ]

    accept_f2 = button_data(review, "✓ Accept")
    toast = await h.tap(admin, review, "✓ Accept")
    assert toast["text"] == "Accepted: its earning will be approved as usual."
    review = await h.server.wait_until(
        lambda: (m := h.server.message(admin, review.message_id)).edit_count > before + 1 and m
    )
    assert review.content == "Nothing to review in fast. 👍"
    assert button_texts(review) == []
    assert await h.query("SELECT review FROM answers ORDER BY id") == [
        ("rejected",),
        ("accepted",),
        (None,),
    ]
    assert await h.query(
        "SELECT answer_id, status FROM ledger WHERE kind = 'earning' ORDER BY id"
    ) == [(a1, "pending"), (a2, "pending"), (a3, "approved")]

    # Old buttons, tapped again (stale keyboards): nothing changes, nobody is told twice.
    settled = await snapshot(h)
    for data in (reject_f1, accept_f1, accept_f2, f"v:{a2}:0"):
        query_id = await h.server.tap(admin, review.message_id, data, strict=False)
        answer = await h.server.wait_for_answer(query_id)
        assert answer["text"] == "That answer was already reviewed."
    assert await snapshot(h) == settled
    assert (await h.say(admin, "/review fast")).content == "Nothing to review in fast. 👍"

    # The accepted answer's earning is approved like any other; the rejected one is
    # balanced by its deduction.
    reply = await h.say(admin, "/approve fast")
    assert reply.content == t("en", "approve_done", count=2)
    assert await h.query("SELECT kind, amount, status FROM ledger ORDER BY id") == [
        ("earning", 5, "approved"),
        ("earning", 5, "approved"),
        ("earning", 5, "approved"),
        ("deduction", -5, "approved"),
    ]
    assert await h.scalar("SELECT SUM(amount) FROM ledger WHERE worker_id = 1001") == 10


# ------------------------------------------------------------------------------------------
# 4: too many skips in a row → a short pause


async def test_skips_in_a_row_pause_and_an_answer_resets_the_count(h: Harness) -> None:
    await upload(h, "sk", plain("s", 7), "options=yes,no max_skips=3")
    task = await first_task(h, 1001)
    student = h.server.users[1001]

    async def skips_in_row() -> int:
        return await h.scalar("SELECT skips_in_row FROM standings WHERE worker_id = 1001")

    for _ in range(2):
        toast, task = await h.tap_and_wait_edit(student, task, SKIP)
        assert toast["text"] == "Skipped"
        assert above_card(task) == ["⏭ Skipped."]
    assert await skips_in_row() == 2
    _, task = await h.tap_and_wait_edit(student, task, "yes")  # an answer in between
    assert above_card(task) == ["✓ Saved: yes"]
    assert await skips_in_row() == 0
    for _ in range(2):
        _, task = await h.tap_and_wait_edit(student, task, SKIP)
        assert above_card(task) == ["⏭ Skipped."]
    assert await skips_in_row() == 2
    assert await h.scalar("SELECT blocked_until FROM standings") is None
    _, task = await h.tap_and_wait_edit(student, task, SKIP)  # the third in a row
    until, rule, params, count = (
        await h.query("SELECT blocked_until, rule, rule_params, skips_in_row FROM standings")
    )[0]
    assert (rule, params, count) == ("skips", '{"skips": 3}', 0)
    closed = await h.scalar("SELECT MAX(closed_at) FROM assignments")
    assert (
        datetime.fromisoformat(until) - datetime.fromisoformat(closed)
    ).total_seconds() == 10 * 60
    held = f"{HELD_TITLE}\n• sk: a short break after 3 skips in a row, until {shown(until)}."
    assert task.content == (
        "⏭ Skipped.\n"
        "☕ You skipped 3 tasks in a row, so take a short break (rule: skips). "
        f"sk opens again for you at {shown(until)}.\n\n" + held
    )
    assert button_texts(task) == ["🔄 Check again"]
    assert (await ask(h, student)).content == held
    # Skipped tasks went back to the pool for others; this student had one answer.
    assert await h.query("SELECT status, COUNT(*) FROM assignments GROUP BY status") == [
        ("answered", 1),
        ("skipped", 5),
    ]
    assert await h.query("SELECT SUM(in_flight), SUM(answers) FROM tasks") == [(0, 1)]
    # The pause ends by itself.
    await sql(h, "UPDATE standings SET blocked_until = ?", (LONG_AGO,))
    back = await ask(h, student)
    assert card(back)[2] == "Item s 7"


# ------------------------------------------------------------------------------------------
# 5: /workers, /ban, /unban; students cannot use any of it


async def test_workers_ban_unban_and_admin_only(h: Harness) -> None:
    admin = admin_of(h)
    await upload(
        h,
        "wk",
        [["g1", "Control item", "yes", ""], *plain("w", 3)],
        "options=yes,no overlap=2 gold_share=1 min_seconds=5",
    )
    a = await first_task(h, 1001)
    ua = h.server.users[1001]
    a = await answer_until_empty(h, ua, a, lambda _: "yes")  # g1 right, w1..w3
    b = await first_task(h, 1002)
    ub = h.server.users[1002]
    _, b = await h.tap_and_wait_edit(ub, b, "no")  # g1 wrong
    _, b = await h.tap_and_wait_edit(ub, b, "yes")  # w1; now holds w2
    assert card(b)[2] == "Item w 2"

    def seconds_of(uid: int) -> Any:
        return h.query("SELECT seconds FROM answers WHERE worker_id = ?", (uid,))

    med_a = median_shown([r[0] for r in await seconds_of(1001)])
    med_b = median_shown([r[0] for r in await seconds_of(1002)])
    workers = await h.say(admin, "/workers wk")
    assert workers.content.splitlines() == [
        "👥 wk: 2 student(s) (answers · control accuracy · median s · held · status)",
        f"• 1001 Student1001: 4 · 100% of 1 · {med_a} s · 4 · active",
        f"• 1002 Student1002: 2 · 0% of 1 · {med_b} s · 2 · active",
    ]
    assert (await h.say(admin, "/workers nosuch")).content == (
        "There is no project called “nosuch”. /projects lists them."
    )

    # A student can use none of it, and nothing changes.
    before = await snapshot(h)
    flagged = await h.scalar("SELECT MIN(id) FROM answers WHERE review = 'flagged'")
    for command in ("/review wk", "/workers wk", "/ban 1002", "/unban 1002", "/BAN 1002"):
        assert (await h.say(ub, command)).content == NOT_ALLOWED, command
    for data in (f"v:{flagged}:0", f"v:{flagged}:1"):
        query_id = await h.server.tap(ub, b.message_id, data, strict=False)
        assert (await h.server.wait_for_answer(query_id))["text"] == NOT_ALLOWED
    assert await snapshot(h) == before

    assert (await h.say(admin, "/ban 1002")).content == (
        "⛔ 1002 is banned: no more tasks, and their buttons are refused."
    )
    assert await h.scalar("SELECT status FROM workers WHERE id = 1002") == "banned"
    # The task 1002 held goes back to the pool at once, not when its lease runs out.
    assert await h.query(
        "SELECT t.external_id, s.status FROM assignments s JOIN tasks t"
        " ON t.id = s.task_id WHERE s.worker_id = 1002 ORDER BY s.id"
    ) == [("g1", "answered"), ("w1", "answered"), ("w2", "withdrawn")]
    assert await h.scalar("SELECT in_flight FROM tasks WHERE external_id = 'w2'") == 0
    refused = await h.tap(ub, b, "yes")
    assert refused["text"] == "Your account can't take tasks right now."
    assert refused["show_alert"] is True
    assert await h.scalar("SELECT COUNT(*) FROM answers WHERE worker_id = 1002") == 2
    nothing = await ask(h, ub)
    assert nothing.content == f"{HELD_TITLE}\n• Your account can't take tasks right now."
    assert await h.scalar("SELECT COUNT(*) FROM assignments WHERE worker_id = 1002") == 3
    workers = await h.say(admin, "/workers wk")
    assert workers.content.splitlines()[2].endswith(" · 2 · banned")
    c = await first_task(h, 1003)  # someone else gets the control task, then w2
    _, c = await h.tap_and_wait_edit(h.server.users[1003], c, "yes")
    assert card(c)[2] == "Item w 2"

    assert (await h.say(admin, "/unban 1002")).content == (
        "✓ 1002 may take tasks again; rule pauses were lifted."
    )
    assert await h.scalar("SELECT status FROM workers WHERE id = 1002") == "active"
    again = await ask(h, ub)
    assert card(again)[2] == "Item w 3"
    _, again = await h.tap_and_wait_edit(ub, again, "yes")
    assert await h.scalar("SELECT COUNT(*) FROM answers WHERE worker_id = 1002") == 3
    # A student once marked 'blocked' (a message to them bounced) who taps again is
    # evidently reachable: the tap counts and they are active again.
    await sql(h, "UPDATE workers SET status = 'blocked' WHERE id = 1003")
    toast, c = await h.tap_and_wait_edit(h.server.users[1003], c, "no")
    assert toast["text"] == "Saved"
    assert await h.scalar("SELECT status FROM workers WHERE id = 1003") == "active"
    assert (await h.say(admin, "/ban 999")).content == "There is no student “999”."
    assert (await h.say(admin, "/ban")).content == ("Usage: /ban <student id or @username>")


# ------------------------------------------------------------------------------------------
# 6: aggregation and agreement in /stats and /export


# Three students' labels per task (answered in this order), with some disagreement.
VOTES = {
    "Purrs on the sofa": ("cat", "cat", "cat"),
    "Barks at the mailman": ("dog", "dog", "cat"),
    "Sings at dawn": ("bird", "dog", "cat"),
    "Fetches a stick": ("cat", "dog", "dog"),
}
RATINGS = {"Great value": ("4", "5"), "Fell apart": ("1", "2")}


async def test_aggregation_and_agreement_match_the_answers_table(h: Harness) -> None:
    admin = admin_of(h)
    rows = [["k0", "Control: meows", "cat", ""]]
    rows += [[f"k{i}", text, "", ""] for i, text in enumerate(VOTES, start=1)]
    await upload(h, "agg", rows, "options=cat,dog,bird overlap=3 gold_share=1 price=0.01")
    await upload(
        h,
        "rt",
        [[f"r{i}", text, "", ""] for i, text in enumerate(RATINGS, start=1)],
        "type=rating scale=1-5 overlap=2",
    )
    for n, uid in enumerate((1001, 1002, 1003)):
        task = await first_task(h, uid)
        user = h.server.users[uid]
        assert task_text(task) == "Control: meows"
        _, task = await h.tap_and_wait_edit(user, task, "dog" if n == 2 else "cat")

        def choose(text: str, n: int = n) -> str:
            return VOTES[text][n] if text in VOTES else RATINGS[text][n]

        await answer_until_empty(h, user, task, choose)
    assert await h.query(
        "SELECT p.name, COUNT(*) FROM answers a JOIN projects p"
        " ON p.id = a.project_id GROUP BY p.id ORDER BY p.id"
    ) == [("agg", 15), ("rt", 4)]

    async def answers_of(project: str) -> list[tuple[int, int, str]]:
        return await h.query(
            "SELECT a.task_id, a.worker_id, a.value FROM answers a JOIN tasks t"
            " ON t.id = a.task_id JOIN projects p ON p.id = a.project_id"
            " WHERE p.name = ? AND t.gold IS NULL ORDER BY a.id",
            (project,),
        )

    agg_answers = await answers_of("agg")
    assert len(agg_answers) == 12  # the control answers are not aggregated
    alpha = aggregation.krippendorff_alpha(agg_answers, "nominal")
    assert alpha is not None and 0 < alpha < 1
    stats = (await h.say(admin, "/stats agg")).content.splitlines()
    assert stats[2] == "Answers: 12 / 12"
    assert per_option(stats) == ["• cat: 6", "• dog: 5", "• bird: 1"]
    assert stats[-1] == (
        f"Agreement (Krippendorff's alpha, nominal): {alpha:.2f} · control tasks: 1"
    )
    rt_answers = await answers_of("rt")
    rt_alpha = aggregation.krippendorff_alpha(
        rt_answers, "ordinal", order=["1", "2", "3", "4", "5"]
    )
    assert rt_alpha is not None
    assert (await h.say(admin, "/stats rt")).content.splitlines()[-1] == (
        f"Agreement (Krippendorff's alpha, ordinal): {rt_alpha:.2f} · control tasks: 0"
    )

    csv_doc, jsonl_doc, agg_doc = await h.export(admin, "agg")
    assert [m.document["file_name"] for m in (csv_doc, jsonl_doc, agg_doc) if m.document] == [
        "agg-answers.csv",
        "agg-answers.jsonl",
        "agg-aggregated.csv",
    ]
    assert agg_doc.content == (
        f"agg: 4 tasks aggregated (majority vote and Dawid-Skene); alpha {alpha:.2f} (nominal)"
    )
    raw = h.server.document_bytes(agg_doc)
    assert raw.startswith(b"\xef\xbb\xbf")
    table = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    options = ["cat", "dog", "bird"]
    majority = aggregation.majority_vote(agg_answers, options=options)
    ds = aggregation.dawid_skene(agg_answers, options=options)
    labels = dict(await h.query("SELECT id, external_id FROM tasks"))
    texts = dict(await h.query("SELECT id, text FROM tasks"))
    assert [row["task_id"] for row in table] == ["k1", "k2", "k3", "k4"]
    for row, task_id in zip(table, majority, strict=True):
        m, d = majority[task_id], ds[task_id]
        assert row == {
            "task_id": labels[task_id],
            "text": texts[task_id],
            "answers": "3",
            "majority": m.value,
            "majority_confidence": f"{m.confidence:.3f}",
            "dawid_skene": d.value,
            "dawid_skene_confidence": f"{d.confidence:.3f}",
            "dawid_skene_converged": "yes",
            "median": "",
            "mean": "",
            "votes": json.dumps(m.votes, ensure_ascii=False),
            "agreement": row["agreement"],
        }
        assert json.loads(row["votes"]) == dict(
            sorted(
                ((v, VOTES[texts[task_id]].count(v)) for v in set(VOTES[texts[task_id]])),
                key=lambda kv: options.index(kv[0]),
            )
        )
    # The worked values: a unanimous task, two 2-of-3 majorities, one three-way split.
    assert [(r["majority"], r["majority_confidence"]) for r in table] == [
        ("cat", "1.000"),
        ("dog", "0.667"),
        ("cat", "0.333"),
        ("dog", "0.667"),
    ]
    # Agreeing pairs of answers: 3 of 3, 1 of 3, 0 of 3, 1 of 3.
    assert [r["agreement"] for r in table] == ["1.000", "0.333", "0.000", "0.333"]

    _, _, rt_doc = await h.export(admin, "rt")
    assert rt_doc.document is not None
    assert rt_doc.document["file_name"] == "rt-aggregated.csv"
    rt_table = list(
        csv.DictReader(
            io.StringIO(h.server.document_bytes(rt_doc).decode("utf-8-sig"), newline="")
        )
    )
    summary = aggregation.rating_summary(rt_answers)
    assert [(r["task_id"], r["answers"], r["median"], r["mean"]) for r in rt_table] == [
        (labels[task_id], str(s.answers), f"{s.median:g}", f"{s.mean:.3f}")
        for task_id, s in summary.items()
    ]
    assert [(r["median"], r["mean"]) for r in rt_table] == [("4.5", "4.500"), ("1.5", "1.500")]


# ------------------------------------------------------------------------------------------
# 7: fair share when tasks are scarce; first come first served; a daily cap


async def test_fair_share_fifo_and_daily_cap(h: Harness) -> None:
    await upload(h, "fair", plain("p", 6), "options=yes,no allocation=fair")
    # Three students ask in turn: each gets one of the six tasks.
    tasks = {uid: await first_task(h, uid) for uid in (1001, 1002, 1003)}
    users = {uid: h.server.users[uid] for uid in tasks}
    assert [card(m)[2] for m in tasks.values()] == ["Item p 1", "Item p 2", "Item p 3"]

    # The fastest tapper takes one more, then waits for the others: 2 each (⌈6 / 3⌉).
    def fair_held(mine: int, left: int) -> str:
        return (
            f"{HELD_TITLE}\n• fair: you have had your fair share for now ({mine} answers "
            f"in the last 24 h; {left} answers left for 3 students). More opens up as "
            "others finish."
        )

    _, tasks[1001] = await h.tap_and_wait_edit(users[1001], tasks[1001], "yes")
    assert card(tasks[1001])[2] == "Item p 4"
    _, tasks[1001] = await h.tap_and_wait_edit(users[1001], tasks[1001], "yes")
    assert tasks[1001].content == "✓ Saved: yes\n\n" + fair_held(2, 2)
    assert (await ask(h, users[1001])).content == fair_held(2, 2)
    _, tasks[1002] = await h.tap_and_wait_edit(users[1002], tasks[1002], "yes")
    assert card(tasks[1002])[2] == "Item p 5"
    _, tasks[1002] = await h.tap_and_wait_edit(users[1002], tasks[1002], "yes")
    assert tasks[1002].content == "✓ Saved: yes\n\n" + fair_held(2, 1)
    _, tasks[1003] = await h.tap_and_wait_edit(users[1003], tasks[1003], "yes")
    assert card(tasks[1003])[2] == "Item p 6"
    _, tasks[1003] = await h.tap_and_wait_edit(users[1003], tasks[1003], "yes")
    assert tasks[1003].content == "✓ Saved: yes\n\n" + NO_TASKS
    per_student = await h.query("SELECT worker_id, COUNT(*) FROM answers GROUP BY worker_id")
    assert per_student == [(1001, 2), (1002, 2), (1003, 2)]
    assert max(n for _, n in per_student) <= math.ceil(6 / 3)
    # Nothing is left, so nobody is told to wait for a share.
    assert (await ask(h, users[1001])).content == NO_TASKS

    # First come, first served: under the same conditions the fastest takes all that is free.
    await upload(h, "fifo", plain("f", 6), "options=yes,no allocation=fifo")
    held = {uid: await ask(h, users[uid]) for uid in (1001, 1002, 1003)}
    assert [card(m)[2] for m in held.values()] == ["Item f 1", "Item f 2", "Item f 3"]
    last = await answer_until_empty(h, users[1001], held[1001], lambda _: "yes")
    assert last.content == "✓ Saved: yes\n\n" + NO_TASKS
    assert await h.query(
        "SELECT a.worker_id, COUNT(*) FROM answers a JOIN projects p ON p.id = a.project_id"
        " WHERE p.name = 'fifo' GROUP BY a.worker_id"
    ) == [(1001, 4)]

    # A daily cap: two answers, then the reason and when it lets up.
    await upload(h, "cap", plain("c", 4), "options=yes,no allocation=fifo daily_cap=2")
    task = await first_task(h, 1004)
    student = h.server.users[1004]
    _, task = await h.tap_and_wait_edit(student, task, "yes")
    assert card(task)[2] == "Item c 2"
    _, task = await h.tap_and_wait_edit(student, task, "no")
    first_at = await h.scalar("SELECT MIN(created_at) FROM answers WHERE worker_id = 1004")
    lets_up = datetime.fromisoformat(first_at).timestamp() + 24 * 3600
    until = datetime.fromtimestamp(lets_up, ZoneInfo("Asia/Shanghai")).strftime("%m-%d %H:%M")
    capped = (
        f"{HELD_TITLE}\n• cap: you reached the limit of 2 answers in 24 hours; more from {until}."
    )
    assert task.content == "✓ Saved: no\n\n" + capped
    assert (await ask(h, student)).content == capped
    assert await h.query(
        "SELECT worker_id, COUNT(*) FROM answers a JOIN projects p"
        " ON p.id = a.project_id WHERE p.name = 'cap'"
        " GROUP BY worker_id"
    ) == [(1004, 2)]
    assert (
        await h.scalar(
            "SELECT COUNT(*) FROM assignments WHERE worker_id = 1004 AND status = 'open'"
        )
        == 0
    )
    # Another student is not held by someone else's cap.
    other = await first_task(h, 1005)
    assert card(other)[2] == "Item c 3"
