"""A misbehaving Bot API and a busy database, over the real-HTTP Bot API test server."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.config import Config
from bot.money import format_amount
from db.timefmt import to_db
from handlers import errors
from tests.botapi import WAIT, ChatMessage, FakeUser, button_data, button_texts
from tests.conftest import ADMIN_ID
from tests.e2e import Harness, running_bot, until

TRY_AGAIN = "Sorry, something went wrong on our side and nothing was saved. Please try again."
SAVED = (
    "Saved. Something went wrong on our side while showing the result;"
    " there is no need to send it again."
)


@pytest.fixture
async def h(cfg: Config, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    monkeypatch.setitem(errors._last_alert, "at", 0.0)
    async with running_bot(cfg) as harness:
        yield harness


def alive(h: Harness) -> bool:
    return bool(h.app.running and h.app.updater and h.app.updater.running)


async def test_api_500_and_502_for_a_while_then_taps_resume(h: Harness) -> None:
    await h.upload_tasks("/upload flaky options=yes,no price=0.05", rows=3)
    task = await h.start_labeling(1301)
    student = h.server.users[1301]
    failures = [500, 502, 500, 502, 500]  # the next five toasts/edits fail

    def fault(method: str, params: dict[str, Any]) -> tuple[int, str] | None:
        if method in ("answerCallbackQuery", "editMessageText") and failures:
            status = failures.pop(0)
            return status, "Internal Server Error" if status == 500 else "Bad Gateway"
        return None

    h.server.fault = fault
    data = button_data(task, "yes")
    # Tap 1: saved, but its toast, its edit and the error handler's toast all fail.
    await h.server.tap(student, task.message_id, data)
    await h.server.wait_until(lambda: len(failures) <= 2, description="three failed calls")
    # Tap 2 (the message still shows the task): refused as answered, toasts fail again.
    await h.server.tap(student, task.message_id, data)
    await h.server.wait_until(lambda: not failures, description="the outage to run out")
    await h.handled()  # both taps' handlers (and the error handler) have returned
    assert h.server.stats["fault"] == 5
    assert alive(h)
    assert await h.scalar("SELECT COUNT(*) FROM answers") == 1
    assert await h.scalar("SELECT COUNT(*) FROM ledger") == 1

    # Healed: the same button says "already answered", /next shows the held task, it saves.
    toast = await h.tap(student, h.server.message(student, task.message_id), "yes")
    assert toast["text"] == "You already answered this task; it was saved once."
    fresh = await h.say(student, "/next")
    assert "Item number 2" in fresh.content
    toast, fresh = await h.tap_and_wait_edit(student, fresh, "no")
    assert toast["text"] == "Saved · +¥0.05"
    assert await h.query(
        "SELECT t.external_id, a.value FROM answers a JOIN tasks t"
        " ON t.id = a.task_id ORDER BY a.id"
    ) == [("t1", "yes"), ("t2", "no")]
    assert await h.scalar("SELECT SUM(amount) FROM ledger WHERE worker_id = 1301") == 10
    # The admins heard about it once (rate-limited), without details.
    alerts = [
        c
        for c in h.server.calls("sendMessage")
        if c.params.get("chat_id") == ADMIN_ID and "Labelgram error" in str(c.params.get("text"))
    ]
    assert len(alerts) == 1


async def test_429_on_send_message_is_not_retried_in_a_tight_loop(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # as `labelgram` sets it (bot/cli.py main)
    await h.upload_tasks("/upload slow options=yes,no", rows=1)
    student = h.server.add_user(1401, "s", language_code="en")
    await h.say(student, "/start")
    flooded = [True]  # every send to the chat is refused until the test lifts it

    def fault(method: str, params: dict[str, Any]) -> tuple[int, str, int] | None:
        if method == "sendMessage" and params.get("chat_id") == 1401 and flooded[0]:
            return 429, "Too Many Requests: retry after 1", 1
        return None

    def sends() -> int:
        return sum(1 for c in h.server.calls("sendMessage") if c.params.get("chat_id") == 1401)

    h.server.fault = fault
    before = sends()
    await h.server.send_text(student, "/help")
    await h.handled()  # a retry loop would still be running (or have sent more)
    # The reply and the error handler's "please try again": nothing more, no loop.
    assert 1 <= sends() - before <= 2
    flooded[0] = False
    assert alive(h)
    assert (await h.say(student, "/help")).content.startswith("Labelgram commands:")

    # The outbox (a bonus notice) waits out retry_after, then delivers it exactly once.
    h.server.add_user(ADMIN_ID, "Ada", language_code="en")
    attempts: list[float] = []
    first = [True]

    def fault_once(method: str, params: dict[str, Any]) -> tuple[int, str, int] | None:
        if method == "sendMessage" and params.get("chat_id") == 1401:
            attempts.append(time.monotonic())
            if first[0]:
                first[0] = False
                return 429, "Too Many Requests: retry after 1", 1
        return None

    h.server.fault = fault_once
    done = await h.say(h.server.users[ADMIN_ID], "/bonus 1401 0.25 thanks")
    assert done.content.startswith("🎁")
    notice = await h.server.wait_for_message(student, lambda m: "0.25" in m.content)
    assert "thanks" in notice.content
    await h.outbox_done()  # the notice is written down as sent: nothing left to try
    assert len(attempts) == 2  # one refused, one delivered: no third try, no duplicate
    assert attempts[1] - attempts[0] >= 0.9  # retry_after was respected
    assert sum(1 for m in h.server.chat(student) if "0.25" in m.content) == 1


async def test_sqlite_busy_says_try_again_writes_nothing_then_works(h: Harness) -> None:
    await h.upload_tasks("/upload busy options=yes,no price=0.05", rows=2)
    task = await h.start_labeling(1501)
    student = h.server.users[1501]
    # The production busy_timeout is 5 s; this test's bot waits 0.2 s for a lock.
    await h.db._conn.execute("PRAGMA busy_timeout = 200")
    # The task message is attached to its assignment just after it is sent: let that land.
    await until(
        lambda: h.scalar("SELECT message_id FROM assignments"),
        lambda message_id: message_id is not None,
        description="the task message to be attached",
    )
    before = await h.query("SELECT * FROM assignments ORDER BY id")
    tasks_before = await h.query("SELECT * FROM tasks ORDER BY id")
    holder = sqlite3.connect(h.db.path, isolation_level=None, timeout=5, check_same_thread=False)
    try:
        # Another writer takes the write lock (in a thread: the bot's own transaction, if one
        # is running, needs the event loop to finish).
        await asyncio.to_thread(holder.execute, "BEGIN IMMEDIATE")
        started = time.monotonic()
        toast = await h.tap(student, task, "yes")
        assert toast["text"] == TRY_AGAIN
        assert toast["show_alert"]
        assert time.monotonic() - started < 3  # waited busy_timeout, not 5 s
        await h.handled()  # the tap's handling ended while the lock is still held
        assert alive(h)
    finally:
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()
    # Nothing half-written: no answer, no money, the assignment as it was.
    assert await h.scalar("SELECT COUNT(*) FROM answers") == 0
    assert await h.scalar("SELECT COUNT(*) FROM ledger") == 0
    assert await h.query("SELECT * FROM assignments ORDER BY id") == before
    assert await h.query("SELECT * FROM tasks ORDER BY id") == tasks_before
    assert h.server.message(student, task.message_id).edit_count == 0
    # Released: the same button works.
    toast, edited = await h.tap_and_wait_edit(student, task, "yes")
    assert toast["text"] == "Saved · +¥0.05"
    assert "Item number 2" in edited.content
    assert button_texts(edited) == ["yes", "no", "Skip ⏭"]
    assert await h.scalar("SELECT COUNT(*) FROM answers") == 1
    assert await h.scalar("SELECT SUM(amount) FROM ledger") == 5


# ------------------------------------------------------------------ notices owed by money changes
# Each change below is committed, then the bot's first Telegram call about it fails with a
# 500: the notice it owes was queued in the change's transaction, so it still goes out, once.


class FailFirst:
    """A fault hook: the first `method` call (to `chat_id`, if given) answers 500."""

    def __init__(self, method: str, chat_id: int | None = None) -> None:
        self.method = method
        self.chat_id = chat_id
        self.hits = 0

    def __call__(self, method: str, params: dict[str, Any]) -> tuple[int, str] | None:
        if self.hits or method != self.method:
            return None
        if self.chat_id is not None and params.get("chat_id") != self.chat_id:
            return None
        self.hits += 1
        return 500, "Internal Server Error"


async def delivered(h: Harness, user: FakeUser, start: str) -> list[ChatMessage]:
    """Wait for a message starting with `start` in the user's chat and for the outbox to have
    nothing left to send; return every such message (a second copy would be among them)."""
    await h.server.wait_for_message(user, lambda m: m.content.startswith(start), after=0)
    async with asyncio.timeout(WAIT):
        while await h.scalar(  # noqa: ASYNC110 - polls SQLite
            "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')"
        ):
            await asyncio.sleep(0.05)
    return [m for m in h.server.messages(user) if m.content.startswith(start)]


async def joined(h: Harness, uid: int) -> FakeUser:
    user = h.server.add_user(uid, f"s{uid}", language_code="en")
    await h.say(user, "/start")
    return user


@pytest.mark.parametrize(
    ("command", "done", "notice"),
    [
        ("/bonus 1601 0.25 weekend shift", "🎁", "🎁 Bonus ¥0.25: weekend shift"),
        ("/deduct 1601 0.10 copied answers", "➖", "➖ Deduction ¥0.10"),
    ],
)
async def test_500_on_the_reply_to_bonus_or_deduct_still_tells_the_student_once(
    h: Harness, command: str, done: str, notice: str
) -> None:
    student = await joined(h, 1601)
    admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
    fault = FailFirst("sendMessage", chat_id=ADMIN_ID)
    h.server.fault = fault
    await h.server.send_text(admin, command)
    got = await delivered(h, student, notice)
    assert fault.hits == 1  # the confirmation to the admin was lost
    assert not any(m.content.startswith(done) for m in h.server.messages(admin))
    assert len(got) == 1
    ((entry,),) = await h.query("SELECT id FROM ledger WHERE worker_id = 1601")
    assert await h.query("SELECT dedupe_key, status FROM outbox") == [(f"ledger:{entry}", "sent")]
    # The admin is told the truth: it was saved, so sending it again would pay twice.
    told = await h.server.wait_for_message(admin, lambda m: m.content == SAVED, after=0)
    assert told.content != TRY_AGAIN
    if command.startswith("/deduct"):
        assert "copied answers" in got[0].content
        assert button_texts(got[0]) == [f"⚖️ Dispute #{entry}"]


async def test_500_on_answering_a_dispute_tap_still_tells_the_admins_once(h: Harness) -> None:
    student = await joined(h, 1602)
    admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
    await h.say(admin, "/deduct 1602 0.10 copied answers")
    (deduction,) = await delivered(h, student, "➖ Deduction ¥0.10")
    fault = FailFirst("answerCallbackQuery")
    h.server.fault = fault
    query = await h.server.tap(
        student, deduction.message_id, button_data(deduction, "⚖️ Dispute #1")
    )
    # The error handler: the dispute was saved, so the student is not asked to repeat it.
    assert (await h.server.wait_for_answer(query))["text"] == SAVED
    asks = await delivered(h, admin, "⚖️ Dispute #1 from s1602 (1602)")
    assert fault.hits == 1
    assert len(asks) == 1
    assert button_texts(asks[0]) == ["Uphold", "Refund"]
    assert await h.query("SELECT id, status FROM disputes") == [(1, "open")]
    assert await h.scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'dispute'") == 1


async def test_500_on_the_first_call_of_a_dispute_decision_still_tells_the_student_once(
    h: Harness,
) -> None:
    student = await joined(h, 1603)
    admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
    await h.say(admin, "/deduct 1603 0.10 copied answers")
    (deduction,) = await delivered(h, student, "➖ Deduction ¥0.10")
    await h.tap(student, deduction, "⚖️ Dispute #1")
    (ask,) = await delivered(h, admin, "⚖️ Dispute #1")
    fault = FailFirst("answerCallbackQuery")
    h.server.fault = fault
    query = await h.server.tap(admin, ask.message_id, button_data(ask, "Refund"))
    assert (await h.server.wait_for_answer(query))["text"] == SAVED
    told = await delivered(h, student, "✅ Your dispute about entry #1 was accepted")
    assert fault.hits == 1
    assert [m.content for m in told] == [
        "✅ Your dispute about entry #1 was accepted: ¥0.10 refunded."
    ]
    assert await h.query("SELECT status, resolved_by FROM disputes") == [("refunded", ADMIN_ID)]
    assert await h.query("SELECT kind, amount FROM ledger ORDER BY id") == [
        ("deduction", -10),
        ("adjustment", 10),
    ]


async def test_500_on_the_first_call_of_a_review_rejection_still_tells_the_student_once(
    h: Harness,
) -> None:
    await h.upload_tasks("/upload quick options=yes,no price=0.05 min_seconds=5", rows=2)
    task = await h.start_labeling(1604)
    student = h.server.users[1604]
    await h.tap_and_wait_edit(student, task, "yes")  # far too fast: held for review
    admin = h.server.users[ADMIN_ID]
    review = await h.say(admin, "/review quick")
    fault = FailFirst("answerCallbackQuery")
    h.server.fault = fault
    query = await h.server.tap(admin, review.message_id, button_data(review, "✗ Reject"))
    assert (await h.server.wait_for_answer(query))["text"] == SAVED
    told = await delivered(h, student, "➖ Deduction ¥0.05")
    assert fault.hits == 1
    assert len(told) == 1
    assert "rejected in review" in told[0].content
    assert await h.query("SELECT kind, amount FROM ledger ORDER BY id") == [
        ("earning", 5),
        ("deduction", -5),
    ]


STUDENTS_PAID = 150


async def test_two_payout_all_at_the_same_moment_pay_once_with_one_notice_each(
    h: Harness,
) -> None:
    """Two `/payout all` at once: the second pays nothing, and no moment exists, as another
    reader of the database (or a crash) sees it, where a payout is committed without its
    notice; each student gets exactly one, in their own language."""
    admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
    ids = [1700 + i for i in range(STUDENTS_PAID)]
    stamp = to_db(datetime.now(UTC))
    async with h.db.transaction() as tx:
        for uid in ids:
            lang = "zh" if uid % 2 else "en"
            await tx.execute(
                "INSERT INTO workers (id, first_name, language, timezone, joined_at)"
                " VALUES (?, 's', ?, 'UTC', ?)",
                (uid, lang, stamp),
            )
            await tx.execute(
                "INSERT INTO ledger (worker_id, amount, kind, reason, reason_params, status,"
                " created_at) VALUES (?, ?, 'bonus', 'bonus_manual', '{\"text\": \"x\"}',"
                " 'approved', ?)",
                (uid, uid - 1600, stamp),
            )
    users = {uid: h.server.add_user(uid, f"s{uid}", language_code="en") for uid in ids}

    seen: set[tuple[int, int]] = set()
    stop = threading.Event()

    def watch() -> None:  # another reader: each statement sees one committed state
        con = sqlite3.connect(f"file:{h.db.path}?mode=ro", uri=True)
        try:
            while not stop.wait(0.0005):
                row = con.execute(
                    "SELECT (SELECT COUNT(*) FROM payouts),"
                    " (SELECT COUNT(*) FROM outbox WHERE kind = 'payout')"
                ).fetchone()
                seen.add((row[0], row[1]))
        finally:
            con.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        await asyncio.gather(
            h.server.send_text(admin, "/payout all"), h.server.send_text(admin, "/payout all")
        )
        replies = await h.server.wait_until(
            lambda: (r := h.server.messages(admin)) and len(r) >= 2 and r,
            description="both payout replies",
        )
        for uid in ids:
            await h.server.wait_for_message(
                users[uid], lambda m: m.content.startswith("💸"), after=0, timeout=30
            )
        async with asyncio.timeout(30):
            while await h.scalar(  # noqa: ASYNC110 - polls SQLite
                "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')"
            ):
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.to_thread(watcher.join)

    total = format_amount(sum(uid - 1600 for uid in ids), h.cfg.currency)
    assert sorted(r.content.split("\n")[0] for r in replies) == [
        "Nothing to pay out: no approved, unpaid balance.",
        f"💸 Paid {STUDENTS_PAID} student(s), {total} in all:",
    ]
    payouts = await h.query("SELECT id, worker_id, amount, reference FROM payouts ORDER BY id")
    assert [(w, a) for _, w, a, _ in payouts] == [(uid, uid - 1600) for uid in ids]
    assert len(seen) > 1  # the watcher saw before and after
    assert all(paid == told for paid, told in seen), sorted(seen)
    assert sorted(await h.query("SELECT dedupe_key, status FROM outbox")) == sorted(
        (f"payout:{pid}", "sent") for pid, *_ in payouts
    )
    for _, uid, _, reference in payouts:
        got = [m.content for m in h.server.messages(users[uid])]
        assert len(got) == 1, got
        first = "💸 已发放：" if uid % 2 else "💸 Payment sent: "
        assert got[0].startswith(first), got
        assert got[0].endswith(reference), got


@pytest.mark.parametrize(
    ("command", "notice"),
    [
        ("/bonus 1605 0.25 weekend shift", "🎁 Bonus ¥0.25"),
        ("/deduct 1605 0.10 copied answers", "➖ Deduction ¥0.10"),
    ],
)
async def test_a_money_command_delivered_twice_is_recorded_once(
    h: Harness, command: str, notice: str
) -> None:
    """Telegram re-sends an update whose offset was not confirmed (a crash, a restart): the
    same /bonus or /deduct message must not pay or deduct twice, nor tell the student twice."""
    student = await joined(h, 1605)
    admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
    first = await h.say(admin, command)
    (update,) = [u for u in h.server.updates_sent if u.get("message", {}).get("text") == command]
    again = h.server.enqueue_raw(update)
    await h.server.wait_for_message(
        admin, lambda m: m.content == first.content and m.message_id != first.message_id
    )
    assert again in h.server.updates_sent
    got = await delivered(h, student, notice)
    assert len(got) == 1
    rows = await h.query("SELECT worker_id, request FROM ledger")
    assert rows == [(1605, f"{ADMIN_ID}:{update['message']['message_id']}")]
    # A new message with the same words is a new request: it is recorded.
    await h.say(admin, command)
    assert await h.scalar("SELECT COUNT(*) FROM ledger WHERE worker_id = 1605") == 2
