"""Money, summaries and settings over real HTTP: what students and admins see on screen,
and what the database holds afterwards (ledger, payouts, disputes, outbox, workers)."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.app import APPROVAL_JOB, SUMMARY_JOB
from bot.config import Config
from bot.sender import OutboxSender
from db.timefmt import to_db
from tests.botapi import WAIT, BotApiServer, ChatMessage, FakeUser, button_texts
from tests.conftest import ADMIN_ID
from tests.e2e import Harness, bot_on, running_bot

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REFUSED = "Sorry, only project admins can do that."
SHANGHAI = ZoneInfo("Asia/Shanghai")  # the config's default_timezone for new students


# ------------------------------------------------------------------ helpers


def tuned(cfg: Config, *, approve_check: float | None = None, **notifications: Any) -> Config:
    """The test config with short job intervals / summary settings."""
    labeling = cfg.labeling
    if approve_check is not None:
        labeling = dataclasses.replace(labeling, approve_check_seconds=approve_check)
    return dataclasses.replace(
        cfg,
        labeling=labeling,
        notifications=dataclasses.replace(cfg.notifications, **notifications),
    )


def zone_at(hour: int) -> tuple[str, datetime]:
    """A fixed-offset IANA zone where the local time now is `hour`:MM, and that moment.

    Tests pick zones far from local midnight so "today" cannot change under them.
    """
    now = datetime.now(UTC)
    offset = (hour - now.hour) % 24
    if offset > 12:
        offset -= 24
    name = "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"  # Etc/GMT-8 is UTC+8
    local = now.astimezone(ZoneInfo(name))
    assert local.hour == hour
    return name, local


@pytest.fixture
async def h(cfg: Config) -> AsyncIterator[Harness]:
    async with running_bot(cfg) as harness:
        yield harness


def admin_of(h: Harness, language_code: str = "en") -> FakeUser:
    return h.server.users.get(ADMIN_ID) or h.server.add_user(
        ADMIN_ID, "Ada", language_code=language_code
    )


async def seed(
    h: Harness, project: str, rows: int, caption: str | None = None, first: int = 1
) -> None:
    """The admin uploads `rows` tasks (default: a new label project at ¥0.05)."""
    body = "".join(f"{project}{i},Review {i} of {project}\n" for i in range(first, first + rows))
    reply = await h.upload(
        admin_of(h),
        f"{project}{first}.csv",
        f"id,text\n{body}".encode(),
        caption or f"/upload {project} options=positive,negative price=0.05",
    )
    assert f"{rows} tasks added" in reply.content, reply.content


async def join(
    h: Harness, uid: int, name: str = "Li", *, lang: str = "en", username: str | None = None
) -> FakeUser:
    user = h.server.add_user(uid, name, language_code=lang, username=username)
    await h.say(user, "/start")
    assert await h.scalar("SELECT COUNT(*) FROM workers WHERE id = ?", (uid,)) == 1
    return user


async def answer(
    h: Harness,
    user: FakeUser,
    count: int,
    label: str = "positive",
    task: ChatMessage | None = None,
) -> ChatMessage:
    """Answer `count` tasks with one tap each (the message turns into the next task)."""
    if task is None:  # the task, not a new-task alert that may arrive meanwhile
        sent = await h.server.send_text(user, "/next")
        task = await h.server.wait_for_message(
            user, lambda m: label in button_texts(m), after=sent
        )
    for _ in range(count):
        toast, task = await h.tap_and_wait_edit(user, task, label)
        assert "+¥0.0" in toast["text"], toast
    return task


async def arrives(h: Harness, user: FakeUser, start: str, timeout: float = WAIT) -> ChatMessage:
    """Wait for a bot message to `user` that starts with `start` (sent through the outbox)."""
    return await h.server.wait_until(
        lambda: next((m for m in h.server.messages(user) if m.content.startswith(start)), None),
        timeout=timeout,
        user=user,
        description=f"a message starting {start!r}",
    )


def starting(h: Harness, user: FakeUser, start: str) -> list[ChatMessage]:
    return [m for m in h.server.messages(user) if m.content.startswith(start)]


async def sql(h: Harness, statement: str, params: tuple[Any, ...] = ()) -> None:
    async with h.db.transaction() as tx:
        await tx.execute(statement, params)


async def eventually(get: Callable[[], Any], expected: Any, timeout: float = WAIT) -> None:
    """Poll an async getter (a job's result in SQLite) until it returns `expected`."""
    value = None
    try:
        async with asyncio.timeout(timeout):
            while (value := await get()) != expected:  # noqa: ASYNC110 - polls SQLite
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"still {value!r}, expected {expected!r}") from None


async def settled(h: Harness) -> None:
    """Wait until the outbox has delivered everything queued (and recorded it)."""
    await eventually(
        lambda: h.scalar("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')"), 0
    )


async def snapshot(h: Harness) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: await h.query(f"SELECT * FROM {table} ORDER BY id")  # noqa: S608
        for table in ("ledger", "payouts", "disputes", "outbox")
    }


def balance_text(
    *,
    available: str = "¥0.00",
    pending: str = "¥0.00",
    paid: str = "¥0.00",
    earned: str = "¥0.00",
    bonuses: str = "¥0.00",
    deductions: str = "¥0.00",
    adjustments: str = "¥0.00",
    total: str,
    note: bool = False,
) -> str:
    text = (
        f"💰 Your balance\nAvailable to pay out: {available}\n"
        f"Waiting for approval: {pending}\nPaid out so far: {paid}\n\n"
        f"Where it comes from:\nAnswers: {earned}\nBonuses: {bonuses}\n"
        f"Deductions: {deductions}\nRefunds and corrections: {adjustments}\n"
        f"Total: {total} = available + waiting + paid out"
    )
    if note:
        text += "\n\nEarnings are approved automatically 24 h after the answer."
    return text


def local_day(stamp: str, zone: ZoneInfo = SHANGHAI) -> str:
    return datetime.fromisoformat(stamp).astimezone(zone).strftime("%Y-%m-%d")


def local_minute(stamp: str, zone: ZoneInfo = SHANGHAI) -> str:
    return datetime.fromisoformat(stamp).astimezone(zone).strftime("%Y-%m-%d %H:%M")


# ------------------------------------------------------------------ 1. balance and history


async def test_balance_shows_pending_exactly_and_history_pages_in_place(h: Harness) -> None:
    await seed(h, "reviews", 10)
    student = await join(h, 1001)
    await answer(h, student, 10)

    entries = await h.query(
        "SELECT l.id, l.amount, l.kind, l.status, a.task_id, l.created_at FROM ledger l"
        " JOIN answers a ON a.id = l.answer_id WHERE l.worker_id = 1001 ORDER BY l.id DESC"
    )
    assert len(entries) == 10
    assert {(amount, kind, status) for _, amount, kind, status, _, _ in entries} == {
        (5, "earning", "pending")
    }
    balance = await h.say(student, "/balance")
    assert balance.content == balance_text(
        pending="¥0.50", earned="¥0.50", total="¥0.50", note=True
    )

    first = await h.say(student, "/history")
    expected = [
        f"#{i} {local_minute(at)} · ¥0.05 · answer to task {task} in reviews"
        " · ⏳ waiting for approval"
        for i, _, _, _, task, at in entries
    ]
    assert first.content == "\n".join(["🧾 Your history, page 1 of 2:", *expected[:8]])
    assert button_texts(first) == ["▶"]
    sent_before = len(h.server.calls("sendMessage"))

    _, second = await h.tap_and_wait_edit(student, first, "▶")
    assert second.message_id == first.message_id
    assert second.content == "\n".join(["🧾 Your history, page 2 of 2:", *expected[8:]])
    assert button_texts(second) == ["◀"]
    _, back = await h.tap_and_wait_edit(student, second, "◀")
    assert back.content == first.content
    assert button_texts(back) == ["▶"]
    assert len(h.server.calls("sendMessage")) == sent_before  # paged in place, nothing new
    assert h.server.message(student, first.message_id).edit_count == 2


# ------------------------------------------------------------------ 2. approval


async def test_approval_job_and_early_approve_move_pending_to_approved(cfg: Config) -> None:
    async with running_bot(tuned(cfg, approve_check=0.1)) as h:
        await seed(h, "alpha", 3)
        await seed(h, "beta", 2)
        student = await join(h, 1101)
        await answer(h, student, 5)
        rows = await h.query(
            "SELECT l.id, p.name FROM ledger l JOIN answers a ON a.id = l.answer_id"
            " JOIN projects p ON p.id = a.project_id ORDER BY l.id"
        )
        alpha = [i for i, name in rows if name == "alpha"]
        beta = [i for i, name in rows if name == "beta"]
        assert (len(alpha), len(beta)) == (3, 2)

        # Time passes: two alpha answers are 25 h old, one is 23 h old (the delay is 24 h).
        now = datetime.now(UTC)
        for entry, age in zip(alpha, (25, 25, 23), strict=True):
            await sql(
                h,
                "UPDATE ledger SET created_at = ? WHERE id = ?",
                (to_db(now - timedelta(hours=age)), entry),
            )
        await eventually(
            lambda: h.scalar("SELECT COUNT(*) FROM ledger WHERE status = 'approved'"), 2
        )
        await h.run_job(APPROVAL_JOB, times=3)  # a few more runs of the job change nothing
        approved = await h.query(
            "SELECT id FROM ledger WHERE status = 'approved' AND approved_at IS NOT NULL"
        )
        assert [r[0] for r in approved] == alpha[:2]
        assert (await h.say(student, "/balance")).content == balance_text(
            available="¥0.10", pending="¥0.15", earned="¥0.25", total="¥0.25", note=True
        )

        admin = admin_of(h)
        assert (await h.say(admin, "/approve beta")).content == "✓ 2 earning(s) approved."
        assert dict(await h.query("SELECT id, status FROM ledger")) == {
            alpha[0]: "approved",
            alpha[1]: "approved",
            alpha[2]: "pending",
            beta[0]: "approved",
            beta[1]: "approved",
        }
        assert (await h.say(admin, "/approve beta")).content == "✓ 0 earning(s) approved."
        assert (await h.say(admin, "/approve gamma")).content == (
            "There is no project called “gamma”. /projects lists them."
        )
        assert (await h.say(admin, "/approve @nobody")).content == (
            "There is no student “@nobody”."
        )
        assert (await h.say(student, "/balance")).content == balance_text(
            available="¥0.20", pending="¥0.05", earned="¥0.25", total="¥0.25", note=True
        )
        # The note names the delay of the project the waiting answer is in.
        await sql(h, "UPDATE projects SET approve_hours = 48 WHERE name = 'alpha'")
        assert (await h.say(student, "/balance")).content.endswith(
            "\n\nEarnings are approved automatically 48 h after the answer."
        )


# ------------------------------------------------------------------ 3. payouts


async def test_payout_pays_every_approved_balance_once_and_tells_each_student(
    h: Harness,
) -> None:
    await seed(h, "pay", 4)
    admin = admin_of(h)
    li = await join(h, 1201, "Li")
    wang = await join(h, 1202, "Wang")
    zhao = await join(h, 1203, "Zhao")
    held = await h.say(li, "/next")  # shown at ¥0.05: that price is locked for her
    assert "pay · ¥0.05 per answer" in held.content
    await seed(h, "pay", 16, caption="/upload pay price=0.07", first=5)
    await answer(h, li, 3, task=held)  # ¥0.05 + 2 × ¥0.07
    await answer(h, wang, 3)  # 3 × ¥0.07
    await answer(h, zhao, 1)  # stays pending: not paid
    assert (await h.say(admin, "/bonus 1201 0.30 great work")).content.startswith("🎁")
    assert (await h.say(admin, "/deduct 1201 0.10 copied answers")).content.startswith("➖")
    assert (await h.say(admin, "/bonus 1202 0.20 weekend shift")).content.startswith("🎁")
    assert (await h.say(admin, "/approve 1201")).content == "✓ 3 earning(s) approved."
    assert (await h.say(admin, "/approve 1202")).content == "✓ 3 earning(s) approved."

    reply = await h.say(admin, "/payout all")
    payouts = await h.query(
        "SELECT id, worker_id, amount, reference, answers, period_start,"
        " period_end, created_at, created_by FROM payouts ORDER BY id"
    )
    assert [(w, amount, n) for _, w, amount, _, n, *_ in payouts] == [
        (1201, 5 + 7 + 7 + 30 - 10, 3),
        (1202, 7 * 3 + 20, 3),
    ]
    refs = [p[3] for p in payouts]
    assert refs == [
        f"LG-{datetime.fromisoformat(at):%Y%m%d}-{pid:06d}" for pid, *_, at, _ in payouts
    ]
    assert reply.content == (
        f"💸 Paid 2 student(s), ¥0.80 in all:\n"
        f"• {refs[0]} · 1201 · ¥0.39 · 3 answer(s)\n"
        f"• {refs[1]} · 1202 · ¥0.41 · 3 answer(s)"
    )
    for user, (_, _, amount, ref, n, start, end, _, _) in zip((li, wang), payouts, strict=True):
        notice = await arrives(h, user, "💸 Payment sent")
        assert notice.content == (
            f"💸 Payment sent: ¥0.{amount}\nFor {n} answer(s) from {local_day(start)} to "
            f"{local_day(end)}.\nReference: {ref}"
        )
    await settled(h)
    assert await h.query(
        "SELECT chat_id, status FROM outbox WHERE kind = 'payout' ORDER BY chat_id"
    ) == [(1201, "sent"), (1202, "sent")]

    again = await h.say(admin, "/payout all")
    assert again.content == "Nothing to pay out: no approved, unpaid balance."
    assert await h.scalar("SELECT COUNT(*) FROM payouts") == 2
    assert await h.scalar("SELECT COUNT(*) FROM ledger WHERE kind = 'payout'") == 2

    # Every cent is explained: earnings are answers × locked prices, the rest is the
    # admins' entries, and what was paid is exactly what the payouts table says.
    expected = {1201: (19, 30, -10, 39, 0), 1202: (21, 20, 0, 41, 0), 1203: (7, 0, 0, 0, 7)}
    for worker, (earned, bonus, deduction, paid, pending) in expected.items():
        locked = await h.scalar(
            "SELECT SUM(s.price) FROM answers a JOIN assignments s ON s.id = a.assignment_id"
            " WHERE a.worker_id = ?",
            (worker,),
        )
        sums = dict(
            await h.query(
                "SELECT kind, SUM(amount) FROM ledger WHERE worker_id = ? GROUP BY kind", (worker,)
            )
        )
        assert locked == earned == sums["earning"], worker
        assert sums.get("bonus", 0) == bonus and sums.get("deduction", 0) == deduction
        assert sum(
            v for k, v in sums.items() if k != "payout"
        ) == earned + bonus + deduction + sums.get("adjustment", 0)
        assert (
            -sums.get("payout", 0)
            == paid
            == await h.scalar(
                "SELECT COALESCE(SUM(amount), 0) FROM payouts WHERE worker_id = ?", (worker,)
            )
        )
        assert (
            await h.scalar("SELECT SUM(amount) FROM ledger WHERE worker_id = ?", (worker,))
            == pending
        )
    unsettled = await h.query(
        "SELECT worker_id, status FROM ledger WHERE payout_id IS NULL AND kind != 'payout'"
    )
    assert unsettled == [(1203, "pending")]
    assert starting(h, zhao, "💸") == []
    assert (await h.say(li, "/balance")).content == balance_text(
        paid="¥0.39", earned="¥0.19", bonuses="¥0.30", deductions="-¥0.10", total="¥0.39"
    )
    history = (await h.say(li, "/history")).content.splitlines()
    assert history[1].endswith(f" · -¥0.39 · payout {refs[0]} · 💸 sent")
    assert all(line.endswith("💸 paid out") for line in history[2:])
    assert len(history) == 1 + 1 + 3 + 2  # title, the payout, 3 answers, bonus, deduction

    listing = await h.say(admin, "/payouts")
    assert listing.content == "\n".join(
        [
            "Recent payouts:",
            *(
                f"• {local_minute(at)} · {ref} · {w} · ¥0.{amount} · {n} answer(s)"
                for _, w, amount, ref, n, _, _, at, _ in reversed(payouts)
            ),
        ]
    )

    export = await h.say(admin, "/export_payouts")
    assert export.document is not None and export.document["file_name"] == "payouts.csv"
    assert export.caption == "2 payout(s)"
    rows = list(csv.reader(io.StringIO(h.server.document_bytes(export).decode("utf-8-sig"))))
    assert rows[0] == [
        "reference",
        "student_id",
        "amount",
        "answers",
        "period_start",
        "period_end",
        "paid_at",
        "paid_by",
    ]
    assert rows[1:] == [
        [
            ref,
            str(w),
            f"0.{amount}",
            str(n),
            datetime.fromisoformat(start).isoformat(),
            datetime.fromisoformat(end).isoformat(),
            datetime.fromisoformat(at).isoformat(),
            str(by),
        ]
        for _, w, amount, ref, n, start, end, at, by in payouts
    ]

    # Zhao's answer is approved later: a payout for him alone pays nobody else again.
    assert (await h.say(admin, "/approve 1203")).content == "✓ 1 earning(s) approved."
    later = await h.say(admin, "/payout 1203")
    assert later.content.startswith("💸 Paid 1 student(s), ¥0.07 in all:\n• LG-")
    assert await h.query("SELECT worker_id, amount, answers FROM payouts ORDER BY id") == [
        (1201, 39, 3),
        (1202, 41, 3),
        (1203, 7, 1),
    ]
    assert (await arrives(h, zhao, "💸")).content.startswith("💸 Payment sent: ¥0.07\nFor 1 ")


# ------------------------------------------------------------------ 4. bonus, deduction, guard


async def test_bonus_and_deduction_need_reasons_and_only_admins_may_give_them(
    h: Harness,
) -> None:
    await seed(h, "b", 2)
    student = await join(h, 1301, "Li", username="li_wei")
    await answer(h, student, 1)
    admin = admin_of(h)

    reply = await h.say(admin, "/bonus 1301 0.30 great work")
    bonus_id = await h.scalar("SELECT MAX(id) FROM ledger")
    assert reply.content == (
        f"🎁 Bonus of ¥0.30 for 1301 recorded (entry #{bonus_id}). They will be told."
    )
    reply = await h.say(admin, "/deduct @Li_Wei 0.10 copied answers")
    cut_id = await h.scalar("SELECT MAX(id) FROM ledger")
    assert reply.content == (
        f"➖ Deduction of ¥0.10 for 1301 recorded (entry #{cut_id}). "
        "They will be told and can dispute it."
    )
    assert await h.query(
        "SELECT id, kind, amount, status, reason, reason_params, created_by FROM ledger"
        " WHERE id >= ? ORDER BY id",
        (bonus_id,),
    ) == [
        (bonus_id, "bonus", 30, "approved", "bonus_manual", '{"text": "great work"}', ADMIN_ID),
        (
            cut_id,
            "deduction",
            -10,
            "approved",
            "deduction_manual",
            '{"text": "copied answers"}',
            ADMIN_ID,
        ),
    ]

    gift = await arrives(h, student, "🎁")
    assert gift.content == "🎁 Bonus ¥0.30: great work"
    cut = await arrives(h, student, "➖")
    assert cut.content == (
        "➖ Deduction ¥0.10: copied answers\n"
        "If you think this is wrong, tap Dispute and the project team will "
        "review it."
    )
    assert button_texts(cut) == [f"⚖️ Dispute #{cut_id}"]
    history = await h.say(student, "/history")
    lines = history.content.splitlines()
    assert lines[1].startswith(f"#{cut_id} ") and lines[1].endswith(
        " · -¥0.10 · deduction: copied answers · ✓ approved"
    )
    assert lines[2].startswith(f"#{bonus_id} ") and lines[2].endswith(
        " · ¥0.30 · bonus: great work · ✓ approved"
    )

    await settled(h)
    before = await snapshot(h)
    assert (await h.say(admin, "/deduct 1301 0.10")).content == (
        "Please add a reason the student can read."
    )
    assert (await h.say(admin, "/deduct @li_wei 0.10   ")).content == (
        "Please add a reason the student can read."
    )
    assert (await h.say(admin, "/bonus @nobody 0.10 hi")).content == (
        "There is no student “@nobody”."
    )
    assert (await h.say(admin, "/bonus 1301 -1 hi")).content == "“-1” is not an amount like 0.50."
    for attempt in (
        "/bonus 1301 5 me",
        "/deduct 1301 0.01 x",
        "/payout all",
        "/approve all",
        "/approve b",
        "/payouts",
        "/export_payouts",
    ):
        assert (await h.say(student, attempt)).content == REFUSED, attempt
    assert await snapshot(h) == before  # nothing written, nobody notified
    assert (await h.say(student, "/balance")).content == balance_text(
        available="¥0.20",
        pending="¥0.05",
        earned="¥0.05",
        bonuses="¥0.30",
        deductions="-¥0.10",
        total="¥0.25",
        note=True,
    )


# ------------------------------------------------------------------ 5. disputes


async def test_dispute_refund_and_uphold_round_trips_and_forged_buttons(
    h: Harness,
    caplog: pytest.LogCaptureFixture,
) -> None:
    student = await join(h, 1401, "Li")
    other = await join(h, 1402, "Wang")
    admin = admin_of(h)
    await h.say(admin, "/deduct 1401 0.10 copied answers")
    await h.say(admin, "/deduct 1401 0.20 late answers")
    await h.say(admin, "/deduct 1402 0.30 spam")
    first, second, others = [r[0] for r in await h.query("SELECT id FROM ledger ORDER BY id")]

    # From the deduction notice.
    notice = await arrives(h, student, "➖ Deduction ¥0.10")
    toast = await h.tap(student, notice, f"⚖️ Dispute #{first}")
    assert toast["text"] == (
        f"Your dispute about entry #{first} (-¥0.10) went to the project "
        "team. You'll get the answer here."
    )
    ((dispute_id, status),) = await h.query("SELECT id, status FROM disputes")
    assert status == "open"
    made = await h.scalar("SELECT created_at FROM ledger WHERE id = ?", (first,))
    ask = await arrives(h, admin, f"⚖️ Dispute #{dispute_id}")
    assert ask.content == (
        f"⚖️ Dispute #{dispute_id} from Li (1401):\n"
        f"-¥0.10 — deduction: copied answers\nMade on {local_minute(made)}."
    )
    assert button_texts(ask) == ["Uphold", "Refund"]
    again = await h.tap(student, notice, f"⚖️ Dispute #{first}")
    assert again["text"] == "You already disputed this entry."

    refund_data = next(
        b["callback_data"]
        for row in ask.inline_markup["inline_keyboard"]
        for b in row
        if b["text"] == "Refund"
    )
    _, resolved = await h.tap_and_wait_edit(admin, ask, "Refund")
    assert resolved.content == f"Dispute #{dispute_id}: refunded ¥0.10. The student was told."
    assert button_texts(resolved) == []
    told = await arrives(h, student, "✅")
    assert told.content == f"✅ Your dispute about entry #{first} was accepted: ¥0.10 refunded."
    assert await h.query(
        "SELECT kind, amount, reason, reason_params, status FROM ledger WHERE kind = 'adjustment'"
    ) == [("adjustment", 10, "adjustment_refund", f'{{"entry": {first}}}', "approved")]
    assert await h.query("SELECT status, resolved_by FROM disputes") == [("refunded", ADMIN_ID)]

    # The admin taps Refund again on a stale keyboard: nothing changes, nothing breaks.
    await settled(h)
    before = await snapshot(h)
    stale = await h.server.tap(admin, ask.message_id, refund_data, strict=False)
    assert (await h.server.wait_for_answer(stale))["text"] == "This dispute was already resolved."
    await h.handled()  # the tap's handler has returned, whatever it did after the toast
    assert await snapshot(h) == before
    assert h.server.message(admin, ask.message_id).content == resolved.content

    # From /history: the other deduction, which the admin upholds.
    history = await h.say(student, "/history")
    assert button_texts(history) == [f"⚖️ Dispute #{second}"]
    assert f"#{first} " in history.content
    assert "deduction: copied answers · ✓ approved (disputed: refunded)" in history.content
    await h.tap(student, history, f"⚖️ Dispute #{second}")
    ask2 = await arrives(h, admin, f"⚖️ Dispute #{dispute_id + 1}")
    _, upheld = await h.tap_and_wait_edit(admin, ask2, "Uphold")
    assert upheld.content == f"Dispute #{dispute_id + 1}: deduction upheld. The student was told."
    told = await arrives(h, student, f"Your dispute about entry #{second}")
    assert told.content == (
        f"Your dispute about entry #{second} was reviewed; the deduction "
        "of ¥0.20 stands (reason: deduction: late answers)."
    )

    # Forged buttons: another student's deduction, an admin decision, a missing entry.
    await settled(h)
    before = await snapshot(h)
    replies = []
    for data in (f"d:{others}", f"r:{dispute_id + 1}:1", "r:999:1", f"d:{first + 99}"):
        qid = await h.server.tap(student, notice.message_id, data, strict=False)
        replies.append((await h.server.wait_for_answer(qid))["text"])
    assert replies == [
        "Only your own deductions can be disputed.",
        REFUSED,
        REFUSED,
        "Only your own deductions can be disputed.",
    ]
    assert await snapshot(h) == before
    assert starting(h, other, "✅") == []
    assert (await h.say(student, "/balance")).content == balance_text(
        available="-¥0.20", deductions="-¥0.30", adjustments="¥0.10", total="-¥0.20"
    )
    assert "update failed" not in caplog.text


# ------------------------------------------------------------------ 6. daily summary


async def test_daily_summary_counts_amounts_and_hourly_pay_once_even_after_restart(
    cfg: Config,
) -> None:
    zone, local = zone_at(12)
    fast = tuned(
        cfg,
        summary_check_seconds=0.2,
        daily_summary_time=time(11, 0),
        weekly_summary_day=(local.weekday() + 1) % 7,
    )
    async with BotApiServer(token=cfg.token) as server:
        async with bot_on(server, dataclasses.replace(cfg, default_timezone=zone)) as h:
            await seed(h, "day", 20)
            busy = await join(h, 1501, "Li")
            idle = await join(h, 1502, "Wang")
            yesterday = await join(h, 1503, "Zhao")
            task = await answer(h, busy, 3, "positive")
            await answer(h, busy, 1, "negative", task=task)
            await answer(h, yesterday, 2)
            # Server-side time on task, 4 answers in 3 minutes; two tasks were control tasks.
            ids = [
                r[0]
                for r in await h.query("SELECT id FROM answers WHERE worker_id = 1501 ORDER BY id")
            ]
            for answer_id, seconds in zip(ids, (30, 45, 60, 45), strict=True):
                await sql(h, "UPDATE answers SET seconds = ? WHERE id = ?", (seconds, answer_id))
            await sql(
                h,
                "UPDATE tasks SET gold = 'positive' WHERE id IN"
                " (SELECT task_id FROM answers WHERE id IN (?, ?))",
                (ids[0], ids[3]),
            )
            # Zhao's answers were two days ago: no activity today.
            two_days = to_db(datetime.now(UTC) - timedelta(days=2))
            await sql(h, "UPDATE answers SET created_at = ? WHERE worker_id = 1503", (two_days,))
            await sql(h, "UPDATE ledger SET created_at = ? WHERE worker_id = 1503", (two_days,))

        # The summary job was not running (long interval): now restart with a short one.
        async with bot_on(server, fast) as h:
            summary = await arrives(h, busy, "📅")
            assert summary.content == "\n".join(
                [
                    f"📅 Your day, {local.date().isoformat()}",
                    "Answers: 4 · earned ¥0.20",
                    "Time on tasks: 3 min → ¥4.00 per hour",  # 20 fen × 3600 / 180 s
                    "Accuracy on control tasks: 50% (1 of 2)",
                    "Balance: ¥0.00 available · ¥0.20 waiting for approval",
                ]
            )
            await h.run_job(SUMMARY_JOB, times=3)  # three more runs of the job
            await h.outbox_done()
        async with bot_on(server, fast) as h:
            await h.run_job(SUMMARY_JOB, times=5)  # five runs after a restart on the same database
            await h.outbox_done()  # a second summary, had one been queued, would be here now
            assert len(starting(h, busy, "📅")) == 1
            assert starting(h, idle, "📅") == [] and starting(h, yesterday, "📅") == []
            assert await h.query(
                "SELECT chat_id, dedupe_key, status FROM outbox WHERE kind = 'summary'"
            ) == [(1501, f"summary:1501:{local.date().isoformat()}", "sent")]
    assert (
        sum(
            1
            for c in server.calls("sendMessage")
            if c.params["chat_id"] == 1501 and str(c.params.get("text", "")).startswith("📅")
        )
        == 1
    )


# ------------------------------------------------------------------ 7. weekly summary


async def test_weekly_summary_is_a_png_chart_with_the_weeks_totals(cfg: Config) -> None:
    zone, local = zone_at(12)
    fast = tuned(
        dataclasses.replace(cfg, default_timezone=zone),
        summary_check_seconds=3600,
        daily_summary_time=time(11, 0),
        weekly_summary_day=local.weekday(),
    )
    async with running_bot(fast) as h:
        await seed(h, "week", 5)
        student = await join(h, 1601, "Li")
        await answer(h, student, 5)
        # Two of the answers were three days ago (earlier this week).
        earlier = to_db(datetime.now(UTC) - timedelta(days=3))
        old = [r[0] for r in await h.query("SELECT id FROM answers ORDER BY id LIMIT 2")]
        for table, column in (("answers", "id"), ("ledger", "answer_id")):
            await sql(
                h,
                f"UPDATE {table} SET created_at = ? WHERE {column} IN (?, ?)",  # noqa: S608
                (earlier, *old),
            )
        await sql(h, "UPDATE answers SET seconds = 24")  # 2 minutes in all
        assert h.app.job_queue is not None
        (job,) = h.app.job_queue.get_jobs_by_name("summaries")
        await job.run(h.app)  # the summaries job, run now instead of in an hour
        photo = await arrives(h, student, "📅")
        assert photo.photo is not None and photo.text is None
        assert len(h.server.calls("sendPhoto")) == 1
        stored = h.server.files[photo.photo[-1]["file_id"]]
        assert stored.data.startswith(PNG_SIGNATURE)
        assert len(stored.data) > 5_000
        assert (stored.width, stored.height) == (640, 360)
        start = (local.date() - timedelta(days=6)).isoformat()
        assert photo.caption == "\n".join(
            [
                f"📅 Your week, {start} to {local.date().isoformat()}",
                "This week: 5 answers · earned ¥0.25",
                "Time on tasks: 2 min → ¥7.50 per hour",
                "Today: 3 answers · earned ¥0.15",
                "Balance: ¥0.00 available · ¥0.25 waiting for approval",
            ]
        )


# ------------------------------------------------------------------ 8. settings, quiet hours


async def test_settings_menu_and_quiet_hours_hold_summaries_and_alerts(cfg: Config) -> None:
    night, local = zone_at(3)
    fast = tuned(
        cfg,
        # The test runs the summaries job itself, once the day's answers are in: a scheduled
        # run between the two answers would queue a summary of one (it is queued as it is).
        summary_check_seconds=3600,
        daily_summary_time=time(2, 0),
        weekly_summary_day=(local.weekday() + 1) % 7,
    )
    async with running_bot(fast) as h:
        await seed(h, "night", 2)
        student = await join(h, 1701, "Li")

        menu = await h.say(student, "/settings")
        assert menu.content.startswith(
            "⚙️ Settings\nNew-task alerts: on\nQuiet hours (no "
            "alerts or summaries): none\nTime zone: Asia/Shanghai"
        )
        assert button_texts(menu) == [
            "🔕 Turn alerts off",
            "🌙 Quiet hours",
            "🕒 Time zone",
            "English",
            "中文",
        ]
        toast, menu = await h.tap_and_wait_edit(student, menu, "🔕 Turn alerts off")
        assert toast["text"] == "Saved"
        assert "New-task alerts: off" in menu.content
        assert button_texts(menu)[0] == "🔔 Turn alerts on"
        assert await h.scalar("SELECT alerts FROM workers WHERE id = 1701") == 0
        _, menu = await h.tap_and_wait_edit(student, menu, "🔔 Turn alerts on")
        assert "New-task alerts: on" in menu.content
        assert await h.scalar("SELECT alerts FROM workers WHERE id = 1701") == 1

        _, zones = await h.tap_and_wait_edit(student, menu, "🕒 Time zone")
        assert zones.message_id == menu.message_id
        assert "Europe/London" in button_texts(zones)
        _, menu = await h.tap_and_wait_edit(student, zones, "Europe/London")
        assert "Time zone: Europe/London" in menu.content
        assert await h.scalar("SELECT timezone FROM workers WHERE id = 1701") == "Europe/London"
        assert (await h.say(student, "/timezone Mars/Base")).content == (
            "“Mars/Base” is not a time zone I know. Example: /timezone Europe/Paris"
        )
        assert (await h.say(student, "/timezone Europe/Paris")).content == (
            "Time zone set to Europe/Paris."
        )
        assert await h.scalar("SELECT timezone FROM workers WHERE id = 1701") == "Europe/Paris"
        assert (await h.say(student, f"/timezone {night}")).content == (
            f"Time zone set to {night}."
        )

        menu = await h.say(student, "/settings")
        _, quiet = await h.tap_and_wait_edit(student, menu, "🌙 Quiet hours")
        assert button_texts(quiet) == [
            "none",
            "22:00–08:00",
            "23:00–07:00",
            "00:00–08:00",
            "21:00–09:00",
            "◀ Back",
        ]
        _, menu = await h.tap_and_wait_edit(student, quiet, "22:00–08:00")
        assert "Quiet hours (no alerts or summaries): 22:00–08:00" in menu.content
        assert f"Time zone: {night} (your time now: 03:" in menu.content
        assert await h.query("SELECT quiet_start, quiet_end FROM workers WHERE id = 1701") == [
            (22 * 60, 8 * 60)
        ]

        # It is 03:xx for the student: the summary of today's work waits for 08:00.
        await answer(h, student, 2)
        await h.run_job(SUMMARY_JOB)
        await eventually(
            lambda: h.query("SELECT status, error FROM outbox WHERE kind = 'summary'"),
            [("pending", "quiet hours")],
        )
        # A new project's alert (the student is idle, alerts on) waits too.
        await seed(h, "later", 1)
        await eventually(
            lambda: h.query("SELECT status, error FROM outbox WHERE kind = 'alert'"),
            [("pending", "quiet hours")],
        )
        await h.run_job(SUMMARY_JOB, times=3)  # more runs of the job queue nothing more
        await h.outbox_done()  # and the sender, having looked, sent nothing
        morning = datetime.combine(local.date(), time(8, 0), tzinfo=ZoneInfo(night))
        rows = await h.query("SELECT kind, not_before FROM outbox ORDER BY id")
        assert [(k, datetime.fromisoformat(at)) for k, at in rows] == [
            ("summary", morning),
            ("alert", morning),
        ]
        assert starting(h, student, "📅") == [] and starting(h, student, "🆕") == []

        # At 08:00 both arrive (a sender whose clock the test moves on).
        await h.app.bot_data.outbox.stop()
        shift = morning - datetime.now(UTC) + timedelta(seconds=1)
        sender = OutboxSender(h.app.bot, h.db, now=lambda: datetime.now(UTC) + shift)
        h.app.bot_data.sender = sender
        await sender.start()
        summary = await arrives(h, student, "📅")
        assert summary.content.startswith(
            f"📅 Your day, {local.date().isoformat()}\nAnswers: 2 · earned ¥0.10"
        )
        await arrives(h, student, "🆕 New tasks in later")
        await eventually(lambda: h.query("SELECT DISTINCT status FROM outbox"), [("sent",)])


# ------------------------------------------------------------------ 9. Chinese


async def test_chinese_student_sees_balance_and_pay_notice_in_chinese(h: Harness) -> None:
    await seed(h, "zh", 2)
    student = await join(h, 1801, "小李", lang="zh-hans")
    await answer(h, student, 2)
    balance = await h.say(student, "/balance")
    assert balance.content == (
        "💰 你的余额\n可提现：¥0.00\n待审核：¥0.10\n已发放：¥0.00\n\n收入明细：\n"
        "答题：¥0.10\n奖励：¥0.00\n扣款：¥0.00\n退款与更正：¥0.00\n"
        "合计：¥0.10 = 可提现 + 待审核 + 已发放\n\n答题收入会在作答 24 小时后自动审核通过。"
    )
    admin = admin_of(h)
    await h.say(admin, "/approve zh")
    reply = await h.say(admin, "/payout 1801")
    assert reply.content.startswith("💸 Paid 1 student(s), ¥0.10 in all:")  # the admin: English
    ref, start, end = (await h.query("SELECT reference, period_start, period_end FROM payouts"))[0]
    notice = await arrives(h, student, "💸")
    assert notice.content == (
        f"💸 已发放：¥0.10\n对应 2 道题，时间 {local_day(start)} 至 "
        f"{local_day(end)}。\n参考号：{ref}"
    )
    balance = await h.say(student, "/balance")
    assert "已发放：¥0.10" in balance.content and "可提现：¥0.00" in balance.content
