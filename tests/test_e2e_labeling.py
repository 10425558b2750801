"""Students and admins using the real bot over real HTTP, checked on screen and in SQLite."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator

import pytest

from bot.config import Config
from tests.botapi import ChatMessage, button_data, button_texts
from tests.conftest import ADMIN_ID, TOKEN
from tests.e2e import Harness, running_bot, until

CSV = "id,text\nr1,The delivery was fast.\nr2,The box was crushed.\nr3,It works as described.\n"


@pytest.fixture
async def h(cfg: Config) -> AsyncIterator[Harness]:
    async with running_bot(cfg) as harness:
        yield harness


async def test_admin_uploads_and_student_taps_through(h: Harness) -> None:
    admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
    reply = await h.upload(
        admin, "reviews.csv", CSV.encode(), "/upload reviews options=positive,negative price=0.05"
    )
    assert "3 tasks added, 0 skipped" in reply.content
    assert "New project reviews" in reply.content

    student = h.server.add_user(1001, "Li", language_code="en")
    welcome = await h.say(student, "/start")
    assert "Welcome to Labelgram" in welcome.content
    assert button_texts(welcome) == ["▶️ Start labeling"]
    await h.tap(student, welcome, "▶️ Start labeling")
    task = await h.server.wait_for_message(student, after=welcome)
    assert "reviews · ¥0.05 per answer" in task.content
    assert "The delivery was fast." in task.content
    assert button_texts(task) == ["positive", "negative", "Skip ⏭"]

    answer, task = await h.tap_and_wait_edit(student, task, "negative")
    assert answer["text"] == "Saved · +¥0.05"
    assert task.content.startswith("✓ Saved: negative · +¥0.05")
    assert "The box was crushed." in task.content
    await h.tap_and_wait_edit(student, task, "positive")
    _, last = await h.tap_and_wait_edit(
        student, h.server.message(student, task.message_id), "positive"
    )
    assert "no tasks are waiting for you" in last.content
    assert button_texts(last) == ["🔄 Check again"]

    rows = await h.query(
        "SELECT t.external_id, a.value, a.worker_id FROM answers a JOIN tasks t"
        " ON t.id = a.task_id ORDER BY a.id"
    )
    assert rows == [("r1", "negative", 1001), ("r2", "positive", 1001), ("r3", "positive", 1001)]
    assert await h.scalar("SELECT SUM(amount) FROM ledger WHERE worker_id = 1001") == 15

    # Two Bot API calls per answer: the toast and the edit in place.
    def to_student(method: str) -> int:
        return sum(1 for c in h.server.calls(method) if c.params.get("chat_id") == 1001)

    assert to_student("editMessageText") == 3
    assert to_student("sendMessage") == 2  # the welcome and the first task
    assert len(h.server.calls("answerCallbackQuery")) == 4  # Start labeling + 3 answers


def item_of(message: ChatMessage) -> str:
    return next(line for line in message.content.splitlines() if line.startswith("Item"))


async def test_overlap_two_no_student_sees_a_task_twice(h: Harness) -> None:
    await h.upload_tasks("/upload duo options=yes,no overlap=2", rows=5)
    seen: dict[int, list[str]] = {}
    for uid in (2001, 2002):
        task = await h.start_labeling(uid)
        seen[uid] = []
        while "Item" in task.content:
            seen[uid].append(item_of(task))
            _, task = await h.tap_and_wait_edit(h.server.users[uid], task, "yes")
        assert "no tasks are waiting" in task.content
    for uid, items in seen.items():
        assert sorted(items) == sorted(f"Item number {i}" for i in range(1, 6)), uid
    per_task = await h.query("SELECT answers, status FROM tasks ORDER BY id")
    assert per_task == [(2, "done")] * 5
    pairs = await h.query(
        "SELECT COUNT(*), COUNT(DISTINCT task_id || ':' || worker_id) FROM answers"
    )
    assert pairs == [(10, 10)]


async def test_double_tap_and_redelivered_update_record_one_answer(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await h.upload_tasks("/upload dbl options=yes,no price=0.10", rows=3)
    task = await h.start_labeling(3001)
    student = h.server.users[3001]
    data = button_data(task, "no")
    # Two taps on the same button within milliseconds, before the bot answered either.
    q1 = await h.server.tap(student, task.message_id, data)
    q2 = await h.server.tap(student, task.message_id, data)
    a1, a2 = await h.server.wait_for_answer(q1), await h.server.wait_for_answer(q2)
    assert sorted([a1["text"], a2["text"]]) == [
        "Saved · +¥0.10",
        "You already answered this task; it was saved once.",
    ]
    # Telegram delivers the same update again (after a crash before the offset was confirmed).
    update = h.server.last_update(student)
    assert update is not None and "callback_query" in update
    again = h.server.enqueue_raw(update)
    await h.server.wait_until(lambda: again in h.server.updates_sent, description="re-delivery")
    # The bot tries to answer the re-delivered query; Telegram refuses a used query id.
    await h.server.wait_until(
        lambda: len(h.server.calls("answerCallbackQuery")) >= 4, description="its answer"
    )
    assert await h.scalar("SELECT COUNT(*) FROM answers") == 1
    assert await h.scalar("SELECT COUNT(*) FROM ledger") == 1
    assert await h.scalar("SELECT SUM(answers) FROM tasks") == 1
    assert "update failed" not in caplog.text  # a re-delivered update is no error


async def test_expired_lease_is_reissued_and_its_button_refused(cfg: Config) -> None:
    fast = dataclasses.replace(cfg, labeling=dataclasses.replace(cfg.labeling, sweep_seconds=0.1))
    async with running_bot(fast) as h:
        await h.upload_tasks("/upload lease options=yes,no", rows=1)
        first = await h.start_labeling(4001)
        assert "Item number 1" in first.content
        second = await h.start_labeling(4002)
        assert "no tasks are waiting" in second.content  # the only task is held by 4001
        # Time passes: the lease runs out and the sweeper job gives the task back.
        async with h.db.transaction() as tx:
            await tx.execute("UPDATE assignments SET expires_at = '2000-01-01T00:00:00.000+00:00'")
        await until(
            lambda: h.scalar("SELECT status FROM assignments WHERE worker_id = 4001"),
            lambda status: status == "expired",
            description="the sweeper to release the lease",
        )
        assert await h.scalar("SELECT status FROM assignments WHERE worker_id = 4001") == "expired"
        _, again = await h.tap_and_wait_edit(h.server.users[4002], second, "🔄 Check again")
        assert "Item number 1" in again.content
        late = await h.tap(h.server.users[4001], first, "yes")
        assert "Time ran out" in late["text"]
        assert await h.scalar("SELECT COUNT(*) FROM answers") == 0
        assert await h.query("SELECT worker_id, status FROM assignments ORDER BY id") == [
            (4001, "expired"),
            (4002, "open"),
        ]


async def test_stale_and_forged_buttons_write_nothing(h: Harness) -> None:
    await h.upload_tasks("/upload stale options=yes,no", rows=3)
    task = await h.start_labeling(5001)
    student = h.server.users[5001]
    old = button_data(task, "yes")
    _, task = await h.tap_and_wait_edit(student, task, "yes")
    # The old button's data, tapped again (a stale keyboard on another device).
    stale = await h.server.tap(student, task.message_id, old, strict=False)
    assert (await h.server.wait_for_answer(stale))["text"] == (
        "You already answered this task; it was saved once."
    )
    forged = ["a:999999:0", "a:1:0:extra", "zzz", "a:-1:0", "s:0", "a:2:99", "u:1:1", "x" * 64]
    other = await h.start_labeling(5002)
    forged.append(button_data(other, "yes"))  # another student's assignment
    answers = []
    for data in forged:
        qid = await h.server.tap(student, task.message_id, data, strict=False)
        answers.append((await h.server.wait_for_answer(qid))["text"])
    assert all(answers), answers
    assert "only project admins" in answers[6]  # u: is an admin button
    assert "someone else's task" in answers[-1]
    assert "isn't one of this task's answers" in answers[5]
    assert await h.scalar("SELECT COUNT(*) FROM answers") == 1
    assert await h.scalar("SELECT COUNT(*) FROM ledger") == 0  # price 0: no earning entries


async def test_chinese_student_and_language_switch(h: Harness) -> None:
    await h.upload_tasks("/upload zh options=好,坏 price=0.05", rows=2)
    task = await h.start_labeling(6001, lang="zh-hans")
    assert "每题 ¥0.05" in task.content
    assert button_texts(task)[-1] == "跳过 ⏭"
    answer, task = await h.tap_and_wait_edit(h.server.users[6001], task, "好")
    assert answer["text"] == "已保存 · +¥0.05"
    prompt = await h.say(h.server.users[6001], "/language")
    _, switched = await h.tap_and_wait_edit(h.server.users[6001], prompt, "English")
    assert switched.content == "Language set to English."
    assert await h.scalar("SELECT language FROM workers WHERE id = 6001") == "en"
    help_text = await h.say(h.server.users[6001], "/help")
    assert help_text.content.startswith("Labelgram commands:")
    assert "/upload" not in help_text.content  # students don't see admin commands
    assert [c["command"] for c in h.server.commands_for("zh")] == [
        "next",
        "balance",
        "history",
        "me",
        "settings",
        "help",
        "language",
    ]
    assert h.server.commands_for("zh")[0]["description"] == "领取任务"


async def test_next_reshows_the_held_task_in_a_new_message(h: Harness) -> None:
    await h.upload_tasks("/upload hold options=yes,no", rows=2)
    task = await h.start_labeling(7001)
    again = await h.say(h.server.users[7001], "/next")
    assert item_of(again) == item_of(task)
    moved = await h.server.wait_until(
        lambda: (m := h.server.message(7001, task.message_id)).edit_count and m
    )
    assert moved.content == "↓ This task moved to a new message below."
    assert button_texts(moved) == []
    assert await h.query("SELECT message_id FROM assignments") == [(again.message_id,)]


async def test_one_log_line_per_update_with_user_kind_and_milliseconds(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="bot.app")
    await h.upload_tasks("/upload logs options=yes,no", rows=2)
    task = await h.start_labeling(9901)
    await h.tap_and_wait_edit(h.server.users[9901], task, "yes")
    await h.handled()  # the line is written when the update's handling has returned
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.app"]
    assert any(re.fullmatch(r"update user=9901 /start \d+\.\d ms", line) for line in lines)
    assert any(re.fullmatch(r"update user=9901 button a \d+\.\d ms", line) for line in lines)
    assert all(TOKEN not in line for line in lines)
