"""Taps on messages Telegram no longer shows the bot, over real HTTP.

For an old message (about two days and more) Telegram's callback query carries an
InaccessibleMessage: only the chat, the message id and date 0. The answer must still be
recorded once, and whatever the tap leads to (the next task, a ticked keyboard, a page)
arrives as a new message that the assignment then follows; the old one loses its buttons.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.config import Config
from tests.botapi import INACCESSIBLE_AFTER, WAIT, ChatMessage, FakeUser, button_data, button_texts
from tests.conftest import ADMIN_ID
from tests.e2e import Harness, running_bot
from tests.test_e2e_images import CAPTION, THREE, upload_zip
from tests.test_e2e_tasktypes import upload

TRY_AGAIN = "Sorry, something went wrong on our side and nothing was saved. Please try again."


@pytest.fixture
async def h(cfg: Config) -> AsyncIterator[Harness]:
    async with running_bot(cfg) as harness:
        yield harness


async def tap_old(
    h: Harness, user: FakeUser, message: ChatMessage, button: str, **kwargs: Any
) -> dict[str, Any]:
    """Tap a button on `message` after it aged past what Telegram shows the bot; wait for
    the toast. The update the bot got carries only chat, id and date 0."""
    h.server.age_message(user, message, INACCESSIBLE_AFTER + 3600)
    query_id = await h.server.tap(user, message.message_id, button_data(message, button), **kwargs)
    toast = await h.server.wait_for_answer(query_id)
    sent = next(
        u["callback_query"]
        for u in reversed(h.server.updates_sent)
        if u.get("callback_query", {}).get("id") == query_id
    )
    assert sent["message"] == {
        "chat": user.chat_dict(),
        "message_id": message.message_id,
        "date": 0,
    }
    return toast


def no_error_reported(h: Harness) -> bool:
    """Nobody was told "try again" and no error alert went to the admin."""
    alerts = [a for a in h.server.callback_answers.values() if a.get("text") == TRY_AGAIN]
    to_admin = [
        c
        for c in h.server.calls("sendMessage")
        if c.params.get("chat_id") == ADMIN_ID and "error" in str(c.params.get("text"))
    ]
    return not alerts and not to_admin


async def shown_in(
    h: Harness, external_id: str, worker: int, expected: int, project: str | None = None
) -> tuple[Any, ...]:
    """(chat id, message id) the student's assignment of a task is shown in, once it is
    `expected` (the bot records it right after the send) or after WAIT seconds."""
    rows: list[tuple[Any, ...]] = []
    async with asyncio.timeout(WAIT):
        while rows != [(worker, expected)]:
            rows = await h.query(
                "SELECT s.chat_id, s.message_id FROM assignments s"
                " JOIN tasks t ON t.id = s.task_id JOIN projects p ON p.id = t.project_id"
                " WHERE t.external_id = ? AND s.worker_id = ? AND p.name = coalesce(?, p.name)",
                (external_id, worker, project),
            )
            await asyncio.sleep(0.01)
    return rows[0]


async def test_an_answer_on_an_old_message_is_saved_once_and_the_next_task_comes_anew(
    h: Harness,
) -> None:
    await h.upload_tasks("/upload old options=yes,no price=0.05", rows=3)
    task = await h.start_labeling(7001)
    student = h.server.users[7001]
    assert "Item number 1" in task.content
    no_on_first = button_data(task, "no")

    toast = await tap_old(h, student, task, "yes")
    assert toast["text"] == "Saved · +¥0.05"
    assert not toast["show_alert"]
    nxt = await h.server.wait_for_message(student, after=task)
    assert nxt.content.startswith("✓ Saved: yes · +¥0.05")
    assert "Item number 2" in nxt.content
    assert button_texts(nxt) == ["yes", "no", "Skip ⏭"]
    old = h.server.message(student, task.message_id)
    assert "Item number 1" in old.content  # kept as it was, without its buttons
    assert button_texts(old) == []
    assert await h.query(
        "SELECT t.external_id, a.value, a.worker_id FROM answers a JOIN tasks t"
        " ON t.id = a.task_id ORDER BY a.id"
    ) == [("t1", "yes", 7001)]
    assert await shown_in(h, "t2", 7001, nxt.message_id) == (7001, nxt.message_id)

    # The old message again (a second tap, a re-sent update): saved once, said so.
    again = await h.server.tap(
        student, task.message_id, no_on_first, strict=False, inaccessible=True
    )
    assert (await h.server.wait_for_answer(again))["text"] == (
        "You already answered this task; it was saved once."
    )
    assert await h.scalar("SELECT COUNT(*) FROM answers") == 1

    # The new message is the task's now: answering it edits it in place as usual.
    _, third = await h.tap_and_wait_edit(student, nxt, "no")
    assert third.message_id == nxt.message_id
    assert "Item number 3" in third.content
    assert await h.query("SELECT value FROM answers ORDER BY id") == [("yes",), ("no",)]
    assert no_error_reported(h)


async def test_a_tick_and_a_page_on_old_messages_come_anew_and_the_task_follows(
    h: Harness,
) -> None:
    await upload(
        h,
        "m.jsonl",
        [{"id": "1", "text": "A sunny beach with dogs"}],
        "/upload tags type=multilabel options=sun,dog,cat",
    )
    task = await h.start_labeling(7101)
    student = h.server.users[7101]
    toast = await tap_old(h, student, task, "☐ sun")
    assert toast["text"] is None and not toast["show_alert"]
    ticked = await h.server.wait_for_message(student, after=task)
    assert "A sunny beach with dogs" in ticked.content
    assert button_texts(ticked)[:3] == ["☑ sun", "☐ dog", "☐ cat"]
    assert button_texts(h.server.message(student, task.message_id)) == []
    assert await shown_in(h, "1", 7101, ticked.message_id) == (7101, ticked.message_id)
    assert await h.scalar("SELECT COUNT(*) FROM answers") == 0

    _, done = await h.tap_and_wait_edit(student, ticked, "✅ Done")
    assert json.loads(await h.scalar("SELECT value FROM answers")) == ["sun"]
    assert "no tasks are waiting" in done.content
    assert no_error_reported(h)


async def test_a_long_task_pages_from_an_old_message_into_a_new_one(h: Harness) -> None:
    long_text = " ".join(f"word{i:05d}" for i in range(1100))
    await upload(h, "long.jsonl", [{"id": "L", "text": long_text}], "/upload long options=yes,no")
    task = await h.start_labeling(7201)
    student = h.server.users[7201]
    assert "— page 1 of " in task.content
    await tap_old(h, student, task, "▶")
    page = await h.server.wait_for_message(student, after=task)
    assert "— page 2 of " in page.content
    assert button_texts(page)[:2] == ["yes", "no"]
    assert button_texts(h.server.message(student, task.message_id)) == []
    assert await shown_in(h, "L", 7201, page.message_id) == (7201, page.message_id)
    _, done = await h.tap_and_wait_edit(student, page, "no")
    assert await h.query("SELECT value FROM answers") == [("no",)]
    assert "no tasks are waiting" in done.content
    assert no_error_reported(h)


async def test_start_check_again_and_language_buttons_on_old_messages(h: Harness) -> None:
    await h.upload_tasks("/upload first options=yes,no price=0.05", rows=1)
    student = h.server.add_user(7301, "Li", language_code="en")
    welcome = await h.say(student, "/start")
    await tap_old(h, student, welcome, "▶️ Start labeling")
    task = await h.server.wait_for_message(student, after=welcome)
    assert "Item number 1" in task.content
    assert await shown_in(h, "t1", 7301, task.message_id) == (7301, task.message_id)
    _, empty = await h.tap_and_wait_edit(student, task, "yes")
    assert button_texts(empty) == ["🔄 Check again"]

    await h.upload_tasks("/upload second options=yes,no price=0.05", rows=1)
    await tap_old(h, student, empty, "🔄 Check again")
    fresh = await h.server.wait_for_message(
        student, lambda m: "Item number 1" in m.content, after=empty
    )  # (a "new tasks" alert may come first)
    assert "Item number 1" in fresh.content and "second" in fresh.content
    assert button_texts(h.server.message(student, empty.message_id)) == []
    assert await shown_in(h, "t1", 7301, fresh.message_id, "second") == (7301, fresh.message_id)

    menu = await h.say(student, "/language")
    await tap_old(h, student, menu, "中文")
    said = await h.server.wait_for_message(student, after=menu)
    assert said.content == "语言已设为中文。"
    assert await h.scalar("SELECT language FROM workers WHERE id = 7301") == "zh"
    assert no_error_reported(h)


async def test_image_tasks_on_old_messages_come_as_new_photos_and_the_end_as_text(
    h: Harness,
) -> None:
    two = {k: v for k, v in THREE.items() if k != "three.png"}
    two["tasks.csv"] = b"id,image,text\np1,img/one.png,First picture\np2,two.png,\n"
    assert "2 tasks added" in await upload_zip(h, two, caption=CAPTION + " price=0.05")
    first = await h.start_labeling(7401)
    student = h.server.users[7401]
    assert first.photo is not None

    toast = await tap_old(h, student, first, "cat")
    assert toast["text"] == "Saved · +¥0.05"
    second = await h.server.wait_for_message(student, after=first)
    assert second.photo is not None and second.caption is not None
    assert second.caption.startswith("✓ Saved: cat")
    assert await shown_in(h, "p2", 7401, second.message_id) == (7401, second.message_id)

    # The last one: what follows is text, which an old photo could not have become anyway.
    toast = await tap_old(h, student, second, "dog")
    assert toast["text"] == "Saved · +¥0.05"
    end = await h.server.wait_for_message(student, after=second)
    assert end.photo is None
    assert "no tasks are waiting for you" in end.content
    assert button_texts(h.server.message(student, second.message_id)) == []
    assert await h.query(
        "SELECT t.external_id, a.value FROM answers a JOIN tasks t ON t.id = a.task_id"
        " ORDER BY a.id"
    ) == [("p1", "cat"), ("p2", "dog")]
    assert no_error_reported(h)
