"""Students and admins using the real bot over real HTTP, checked on screen and in SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Config
from tests.botapi import button_texts
from tests.conftest import ADMIN_ID
from tests.e2e import Harness, running_bot

CSV = "id,text\nr1,The delivery was fast.\nr2,The box was crushed.\nr3,It works as described.\n"


@pytest.fixture
async def h(cfg: Config) -> AsyncIterator[Harness]:
    async with running_bot(cfg) as harness:
        yield harness


async def test_admin_uploads_and_student_taps_through(h: Harness) -> None:
    admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
    reply = await h.upload(admin, "reviews.csv", CSV.encode(),
                           "/upload reviews options=positive,negative price=0.05")
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
    _, last = await h.tap_and_wait_edit(student, h.server.message(student, task.message_id),
                                        "positive")
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
