"""The outbox: repository, quiet hours, the send limiter, alerts, and the sender's outcomes."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.config import Labeling
from bot.sender import OutboxSender, SendLimiter, retry_after_seconds
from bot.services import labeling, notify, uploads
from bot.services.notify import Notification
from db import outbox as outbox_repo
from db import workers as workers_repo
from db.connection import Database
from tests.botapi import WAIT

LABELS = Labeling(lease_minutes=10, overlap=1, sweep_seconds=30)


def note(chat_id: int, key: str, **kw: Any) -> Notification:
    return Notification(
        chat_id=chat_id, kind="test", dedupe_key=key, text=f"hello {chat_id}", **kw
    )


async def student(
    db: Database, user_id: int, t0: datetime, lang: str = "en", tz: str = "UTC"
) -> None:
    await labeling.register(
        db,
        user_id=user_id,
        first_name=f"s{user_id}",
        username=None,
        language=lang,
        timezone=tz,
        now=t0,
    )


async def scalar(db: Database, sql: str, params: tuple[Any, ...] = ()) -> Any:
    row = await db.fetchone(sql, params)
    assert row is not None
    return row[0]


# ---------------------------------------------------------------- repository


async def test_enqueue_counts_new_rows_and_ignores_repeated_keys(
    db: Database, t0: datetime
) -> None:
    assert await notify.enqueue(db, [note(1, "k1"), note(2, "k2")], t0) == 2
    assert await notify.enqueue(db, [note(1, "k1"), note(3, "k3")], t0) == 1
    assert await outbox_repo.counts(db) == {
        "pending": 3,
        "sending": 0,
        "sent": 0,
        "failed": 0,
        "unknown": 0,
    }


async def test_nothing_is_queued_for_a_student_who_blocked_the_bot(
    db: Database, t0: datetime
) -> None:
    await student(db, 1, t0)
    await student(db, 2, t0)
    async with db.transaction() as tx:
        assert await workers_repo.mark_blocked(tx, 2)
    assert await notify.enqueue(db, [note(1, "a"), note(2, "b"), note(77, "admin")], t0) == 2
    assert await outbox_repo.by_key(db, "b") is None


async def test_claim_takes_due_rows_in_id_order_and_marks_them_sending(
    db: Database, t0: datetime
) -> None:
    later = t0 + timedelta(minutes=5)
    await notify.enqueue(
        db, [note(1, "a"), note(2, "b", not_before=later), note(3, "c"), note(4, "d")], t0
    )
    async with db.transaction() as tx:
        rows = await outbox_repo.claim_due(tx, t0, 2)
    assert [(r.chat_id, r.status, r.attempts) for r in rows] == [
        (1, "sending", 1),
        (3, "sending", 1),
    ]
    async with db.transaction() as tx:  # chat 4 is busy: skipped; chat 2 is not due yet
        assert await outbox_repo.claim_due(tx, t0, 5, skip_chats=[4]) == []
        (row,) = await outbox_repo.claim_due(tx, t0, 5)
    assert row.chat_id == 4
    async with db.transaction() as tx:
        (row,) = await outbox_repo.claim_due(tx, later, 5)
    assert row.chat_id == 2
    assert await outbox_repo.next_due_at(db) is None


async def test_sent_failed_and_rescheduled_rows(db: Database, t0: datetime) -> None:
    await notify.enqueue(db, [note(1, "a"), note(2, "b"), note(3, "c"), note(4, "d")], t0)
    async with db.transaction() as tx:
        a, b, c, d = await outbox_repo.claim_due(tx, t0, 4)
        assert await outbox_repo.mark_sent(tx, a.id, t0)
        assert await outbox_repo.mark_failed(tx, b.id, "400: chat not found")
        assert await outbox_repo.reschedule(tx, c.id, t0 + timedelta(seconds=2), "timeout")
        assert await outbox_repo.reschedule(
            tx, d.id, t0 + timedelta(hours=8), "quiet hours", count_attempt=False
        )
        assert not await outbox_repo.mark_sent(tx, b.id, t0)  # only a row being sent
    got = {k: await outbox_repo.by_key(db, k) for k in "abcd"}
    assert got["a"] and got["a"].status == "sent" and got["a"].sent_at == t0
    assert got["b"] and (got["b"].status, got["b"].error) == ("failed", "400: chat not found")
    assert got["c"] and (got["c"].status, got["c"].attempts) == ("pending", 1)
    assert got["d"] and (got["d"].status, got["d"].attempts) == ("pending", 0)
    assert await outbox_repo.next_due_at(db) == t0 + timedelta(seconds=2)


async def test_rows_interrupted_by_a_crash_become_unknown_and_are_not_resent(
    db: Database, t0: datetime
) -> None:
    await notify.enqueue(db, [note(1, "a"), note(2, "b")], t0)
    async with db.transaction() as tx:
        await outbox_repo.claim_due(tx, t0, 1)  # the process dies after this
    async with db.transaction() as tx:
        assert await outbox_repo.recover_after_crash(tx) == 1
        rows = await outbox_repo.claim_due(tx, t0 + timedelta(hours=1), 10)
    assert [r.dedupe_key for r in rows] == ["b"]
    counts = await outbox_repo.counts(db)
    assert (counts["unknown"], counts["sending"]) == (1, 1)


async def test_the_claim_query_walks_the_partial_index_in_its_order(
    db: Database, t0: datetime
) -> None:
    rows = await db.fetchall(
        "EXPLAIN QUERY PLAN SELECT id FROM outbox INDEXED BY outbox_due"
        " WHERE status = 'pending' AND not_before <= ?"
        " AND chat_id NOT IN (SELECT value FROM json_each(?)) ORDER BY not_before, id LIMIT ?",
        (t0.isoformat(), "[]", 1),
    )
    plan = " / ".join(r["detail"] for r in rows)
    assert "USING INDEX outbox_due (not_before<?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan  # no sort of every due row for each claim


async def test_claim_takes_the_longest_due_first(db: Database, t0: datetime) -> None:
    await notify.enqueue(
        db,
        [
            note(1, "a", not_before=t0 + timedelta(seconds=5)),
            note(2, "b", not_before=t0),
            note(3, "c", not_before=t0),
        ],
        t0,
    )
    async with db.transaction() as tx:
        rows = await outbox_repo.claim_due(tx, t0 + timedelta(minutes=1), 3)
    assert [r.dedupe_key for r in rows] == ["b", "c", "a"]


# ---------------------------------------------------------------- payloads


def test_payload_round_trip_with_buttons_and_photo() -> None:
    n = Notification(
        1, "summary", "s:1", "chart", buttons=((("▶️ Go", "n"),),), photo=b"\x89PNG...."
    )
    content = notify.decode(notify.encode(n))
    assert content == notify.Content("chart", ((("▶️ Go", "n"),),), b"\x89PNG....")


def test_texts_are_cut_to_telegrams_limits_in_utf16_units() -> None:
    assert notify.fit("abc", 5) == "abc"
    assert notify.fit("abcdef", 5) == "abcd…"
    assert notify.fit("😀😀😀", 5) == "😀😀…"  # each emoji is two UTF-16 units
    long = Notification(1, "x", "k", "字" * 5000)
    assert len(notify.decode(notify.encode(long)).text) == notify.MAX_TEXT
    caption = Notification(1, "x", "k", "字" * 5000, photo=b"png")
    assert len(notify.decode(notify.encode(caption)).text) == notify.MAX_CAPTION


def test_callback_data_over_64_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="1-64 bytes"):
        Notification(1, "x", "k", "t", buttons=((("b", "x" * 65),),))


# ---------------------------------------------------------------- quiet hours


def at(hour: int, minute: int = 0, tz: str = "Asia/Shanghai") -> datetime:
    return datetime(2026, 3, 10, hour, minute, tzinfo=ZoneInfo(tz))


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (at(23, 0), datetime(2026, 3, 11, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))),
        (at(22, 0), datetime(2026, 3, 11, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))),
        (at(0, 0), at(8, 0)),
        (at(7, 59), at(8, 0)),
        (at(8, 0), None),
        (at(12, 0), None),
        (at(21, 59), None),
    ],
)
def test_quiet_hours_crossing_midnight(now: datetime, until: datetime | None) -> None:
    assert notify.quiet_until(now, 22 * 60, 8 * 60) == until


def test_quiet_hours_within_a_day_and_no_window() -> None:
    assert notify.quiet_until(at(13, 30), 13 * 60, 14 * 60) == at(14, 0)
    assert notify.quiet_until(at(14, 0), 13 * 60, 14 * 60) is None
    assert notify.quiet_until(at(12, 59), 13 * 60, 14 * 60) is None
    assert notify.quiet_until(at(3, 0), None, None) is None
    assert notify.quiet_until(at(3, 0), 180, 180) is None  # empty window


# ---------------------------------------------------------------- limiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limiter_spaces_sends_evenly_and_caps_any_one_second_window() -> None:
    clock = Clock()
    lim = SendLimiter(25, clock=clock)
    sent: list[float] = []
    chat = 0
    while clock.now < 1010:
        wait = lim.delay()
        if wait > 0:
            clock.now += wait
            continue
        chat += 1
        lim.record(chat)
        sent.append(clock.now)
    assert 245 <= len(sent) <= 251
    for i, start in enumerate(sent):  # no half-open 1-second window holds more than 25
        j = i
        while j < len(sent) and sent[j] < start + 1.0:
            j += 1
        assert j - i <= 25
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 0.04 - 1e-9


def test_limiter_one_message_per_chat_per_second() -> None:
    clock = Clock()
    lim = SendLimiter(25, clock=clock)
    lim.record(7)
    assert lim.busy_chats() == [7]
    assert lim.chat_delay(7) == pytest.approx(1.0)
    assert lim.chat_delay(8) == 0
    clock.now += 0.6
    assert lim.next_chat_free() == pytest.approx(0.4)
    clock.now += 0.4
    assert lim.busy_chats() == []
    assert lim.next_chat_free() is None


def test_limiter_counts_a_send_until_a_window_after_its_answer() -> None:
    clock = Clock()
    lim = SendLimiter(3, clock=clock)
    sends = []
    for chat in (1, 2, 3):
        assert lim.delay() == 0 or chat > 1
        clock.now += lim.delay()
        sends.append(lim.start(chat))
    # Three in flight: no fourth until one is answered, and then only a window later.
    assert lim.delay() > 0
    assert lim.busy_chats() == [1, 2, 3]
    assert lim.chat_delay(1) == float("inf")
    clock.now += 0.5
    lim.finish(sends[0])
    assert lim.delay() == pytest.approx(1.0)
    assert lim.chat_delay(1) == pytest.approx(1.0)
    lim.finish(sends[0])  # twice is harmless
    clock.now += 1.0
    assert lim.delay() == 0
    assert lim.busy_chats() == [2, 3]


@pytest.mark.parametrize("seed", range(5))
def test_no_server_window_holds_more_than_per_second_whatever_the_jitter(seed: int) -> None:
    """The server stamps each send anywhere between its start and its answer: with round
    trips of 1-150 ms, stamps bunch, yet no half-open 1-second window at the server holds
    more than `per_second`, and the pace stays per_second / (1 + round trip)."""
    import random

    rng = random.Random(seed)
    clock = Clock()
    lim = SendLimiter(29, clock=clock)
    events: list[tuple[float, int, Any]] = []  # (answer due, order, send) in flight
    stamps: list[float] = []
    order = itertools.count()
    chat = itertools.count(1)
    while len(stamps) < 2_000:
        while events and events[0][0] <= clock.now:  # answers that are back by now
            _, _, send = events.pop(0)
            lim.finish(send)
        wait = lim.delay()
        if wait > 0:
            clock.now = min(clock.now + wait, events[0][0]) if events else clock.now + wait
            continue
        send = lim.start(next(chat))
        rtt = rng.choice([0.001, 0.005, 0.15]) * rng.random()
        answered = clock.now + rtt
        stamps.append(clock.now + rng.random() * rtt)  # somewhere in between
        events.append((answered, next(order), send))
        events.sort(key=lambda e: (e[0], e[1]))
    stamps.sort()
    lo = 0
    for hi, at in enumerate(stamps):
        while stamps[lo] <= at - 1.0:
            lo += 1
        assert hi - lo + 1 <= 29
    assert len(stamps) / (stamps[-1] - stamps[0]) > 27  # about 29 / (1 + mean round trip)


def test_limiter_refuses_more_than_telegrams_30_per_second() -> None:
    with pytest.raises(ValueError, match="per_second"):
        SendLimiter(31)
    assert SendLimiter(30).per_second == 30


def test_retry_after_may_be_seconds_or_a_timedelta() -> None:
    assert retry_after_seconds(3) == 3.0
    assert retry_after_seconds(timedelta(seconds=1.5)) == 1.5


# ---------------------------------------------------------------- alerts (service)


async def seed_project(db: Database, t0: datetime, n: int = 3) -> int:
    rows = "\n".join(f"t{i},text {i}" for i in range(1, n + 1))
    request = uploads.parse_caption("/upload demo options=pos,neg")
    assert isinstance(request, uploads.UploadRequest)
    done = await uploads.import_file(
        db,
        admin_id=1,
        request=request,
        file_name="tasks.csv",
        data=f"id,text\n{rows}\n".encode(),
        now=t0,
        defaults=LABELS,
        minor_units=2,
    )
    assert isinstance(done, uploads.ImportDone), done
    return done.project.id


async def test_alerts_go_to_idle_students_with_alerts_on_once_per_interval(
    db: Database, t0: datetime
) -> None:
    for uid, lang in ((1, "en"), (2, "zh"), (3, "en"), (4, "en"), (5, "en")):
        await student(db, uid, t0, lang)
    project_id = await seed_project(db, t0)
    assert await labeling.next_task(db, 3, t0) is not None  # 3 holds a task
    async with db.transaction() as tx:
        await tx.execute("UPDATE workers SET alerts = 0 WHERE id = 4")
        await workers_repo.mark_blocked(tx, 5)
    hour = timedelta(hours=1)
    assert await notify.alert_idle_students(db, project_id, t0, hour) == 2
    rows = await db.fetchall("SELECT chat_id, kind, payload FROM outbox ORDER BY chat_id")
    assert [(r[0], r[1]) for r in rows] == [(1, "alert"), (2, "alert")]
    en, zh = (notify.decode(r[2]) for r in rows)
    assert en.text == "🆕 New tasks in demo. Tap below to start labeling."
    assert en.buttons == ((("▶️ Start labeling", "n"),),)
    assert zh.text.startswith("🆕 demo 有新任务")
    assert zh.buttons == ((("▶️ 开始标注", "n"),),)
    # Within the interval nobody is alerted again; after it, they are.
    assert (
        await notify.alert_idle_students(db, project_id, t0 + 59 * timedelta(minutes=1), hour) == 0
    )
    assert await notify.alert_idle_students(db, project_id, t0 + 2 * hour, hour) == 2


async def test_no_alerts_for_a_paused_project_or_one_the_student_finished(
    db: Database, t0: datetime
) -> None:
    await student(db, 1, t0)
    project_id = await seed_project(db, t0, n=1)
    card = await labeling.next_task(db, 1, t0)
    assert card is not None
    await labeling.answer(
        db,
        worker_id=1,
        assignment_id=card.assignment_id,
        option=0,
        chat_id=1,
        message_id=5,
        now=t0,
    )
    await student(db, 2, t0)
    async with db.transaction() as tx:
        await tx.execute("UPDATE projects SET status = 'paused'")
    assert await notify.alert_idle_students(db, project_id, t0, timedelta(hours=1)) == 0
    async with db.transaction() as tx:
        await tx.execute("UPDATE projects SET status = 'active'")
    # The only task is done: nobody has anything to do there.
    assert await notify.alert_idle_students(db, project_id, t0, timedelta(hours=1)) == 0


async def test_broadcast_skips_its_author_and_is_queued_once_per_command(
    db: Database, t0: datetime
) -> None:
    for uid in (1, 2, 3):
        await student(db, uid, t0)
    async with db.transaction() as tx:
        await tx.execute("UPDATE workers SET status = 'banned' WHERE id = 3")
    await student(db, 900, t0)  # the admin is a student too
    kw = {"origin_chat_id": 900, "origin_message_id": 55, "now": t0}
    assert await notify.broadcast(db, "Exam week: double pay!", **kw) == 2
    assert await notify.broadcast(db, "Exam week: double pay!", **kw) == 0  # re-delivered
    row = await outbox_repo.by_key(db, "broadcast:900:55:1")
    assert row is not None
    assert notify.decode(row.payload).text == "📢 Exam week: double pay!"


async def test_broadcast_is_in_each_students_language_and_skips_blocked_ones(
    db: Database, t0: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.texts import zh

    # Both catalogues say "📢 {text}"; a distinct Chinese wording shows which one was used.
    monkeypatch.setitem(zh.MESSAGES, "broadcast_message", "📢 通知：{text}")
    await student(db, 1, t0, lang="en")
    await student(db, 2, t0, lang="zh")
    await student(db, 3, t0, lang="zh")
    async with db.transaction() as tx:
        await workers_repo.mark_blocked(tx, 3)
    queued = await notify.broadcast(
        db, "Exam week", origin_chat_id=900, origin_message_id=7, now=t0
    )
    assert queued == 2
    texts = {}
    for uid in (1, 2, 3):
        row = await outbox_repo.by_key(db, f"broadcast:900:7:{uid}")
        texts[uid] = None if row is None else (row.chat_id, notify.decode(row.payload).text)
    assert texts == {1: (1, "📢 Exam week"), 2: (2, "📢 通知：Exam week"), 3: None}


# ---------------------------------------------------------------- the sender, with a fake bot


class FakeBot:
    """Records sends; `errors[chat_id]` is a list of exceptions to raise first."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str, Any]] = []
        self.sent_at: list[datetime] = []  # wall clock, as the outbox's not_before
        self.errors: dict[int, list[Exception]] = {}
        self.times: list[float] = []
        self.started: dict[int, float] = {}  # chat -> when its last send started
        self.delay = 0.0

    async def send_message(self, chat_id: int, text: str, reply_markup: Any = None) -> None:
        await self._maybe_fail(chat_id)
        self.sent.append((chat_id, text, reply_markup))
        self.sent_at.append(datetime.now(UTC))

    async def send_photo(
        self, chat_id: int, photo: bytes, caption: str | None = None, reply_markup: Any = None
    ) -> None:
        await self._maybe_fail(chat_id)
        self.sent.append((chat_id, f"[photo {len(photo)}] {caption}", reply_markup))

    async def _maybe_fail(self, chat_id: int) -> None:
        self.times.append(asyncio.get_running_loop().time())
        self.started[chat_id] = time.monotonic()
        if self.delay:
            await asyncio.sleep(self.delay)
        queue = self.errors.get(chat_id)
        if queue:
            raise queue.pop(0)


@pytest.fixture
async def fake_bot(monkeypatch: pytest.MonkeyPatch) -> FakeBot:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # RetryAfter.retry_after is a timedelta
    return FakeBot()


@pytest.fixture
async def sender(db: Database, fake_bot: FakeBot) -> AsyncIterator[OutboxSender]:
    s = OutboxSender(
        fake_bot,
        db,
        poll_seconds=0.05,
        backoff_base=0.05,  # type: ignore[arg-type]
        max_attempts=3,
    )
    yield s
    await s.stop()


async def until(predicate: Any, timeout: float = WAIT) -> None:
    """Poll the database (the sender records results there; nothing to wait on instead)."""
    async with asyncio.timeout(timeout):
        while not await predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def all_settled(db: Database) -> bool:
    c = await outbox_repo.counts(db)
    return c["pending"] == 0 and c["sending"] == 0


async def test_sender_delivers_text_buttons_and_photos(
    db: Database, fake_bot: FakeBot, sender: OutboxSender
) -> None:
    now = datetime.now(UTC)
    await notify.enqueue(
        db,
        [
            Notification(1, "alert", "a", "New tasks", buttons=((("▶️ Start", "n"),),)),
            Notification(2, "summary", "b", "Your week", photo=b"\x89PNG chart"),
        ],
        now,
    )
    await sender.start()
    await until(lambda: all_settled(db))
    (c1, t1, m1), (c2, t2, m2) = sorted(fake_bot.sent, key=lambda s: s[0])
    assert (c1, t1) == (1, "New tasks")
    assert m1.inline_keyboard[0][0].callback_data == "n"
    assert (c2, t2, m2) == (2, "[photo 10] Your week", None)
    assert (await outbox_repo.counts(db))["sent"] == 2


async def test_retry_after_pauses_everything_then_retries_the_row(
    db: Database, fake_bot: FakeBot, sender: OutboxSender
) -> None:
    fake_bot.errors[1] = [RetryAfter(1)]
    await notify.enqueue(db, [note(1, "a"), note(2, "b"), note(3, "c")], datetime.now(UTC))
    await sender.start()
    await until(lambda: all_settled(db))
    assert sorted(c for c, _, _ in fake_bot.sent) == [1, 2, 3]
    assert sender.stats["retry_after"] == 1
    # The first try failed; nothing went out for a second after it.
    assert fake_bot.times[1] - fake_bot.times[0] >= 0.95
    row = await outbox_repo.by_key(db, "a")
    assert row is not None and (row.status, row.attempts) == ("sent", 1)


async def test_forbidden_marks_the_student_blocked_and_drops_their_other_messages(
    db: Database, t0: datetime, fake_bot: FakeBot, sender: OutboxSender
) -> None:
    await student(db, 1, t0)
    fake_bot.errors[1] = [Forbidden("Forbidden: bot was blocked by the user")]
    now = datetime.now(UTC)
    await notify.enqueue(db, [note(1, "a"), note(1, "b", not_before=now)], now)
    await sender.start()
    await until(lambda: all_settled(db))
    assert fake_bot.sent == []
    worker = await workers_repo.get(db, 1)
    assert worker is not None and worker.status == "blocked"
    assert (await outbox_repo.counts(db))["failed"] == 2
    assert await notify.enqueue(db, [note(1, "later")], now) == 0


async def test_network_errors_back_off_and_give_up_after_max_attempts(
    db: Database, fake_bot: FakeBot, sender: OutboxSender
) -> None:
    fake_bot.errors[1] = [TimedOut(), NetworkError("Bad Gateway (502)")]
    fake_bot.errors[2] = [NetworkError("x"), NetworkError("x"), NetworkError("x")]
    fake_bot.errors[3] = [BadRequest("Bad Request: chat not found")]
    await notify.enqueue(db, [note(1, "a"), note(2, "b"), note(3, "c")], datetime.now(UTC))
    await sender.start()
    await until(lambda: all_settled(db))
    rows = {k: await outbox_repo.by_key(db, k) for k in "abc"}
    assert rows["a"] and (rows["a"].status, rows["a"].attempts) == ("sent", 3)
    assert rows["b"] and (rows["b"].status, rows["b"].attempts) == ("failed", 3)
    assert rows["c"] and (rows["c"].status, rows["c"].attempts) == ("failed", 1)
    assert rows["c"].error == "400: Chat not found"


async def test_quiet_hours_hold_messages_until_the_window_ends(
    db: Database, t0: datetime, fake_bot: FakeBot, sender: OutboxSender
) -> None:
    await student(db, 1, t0, tz="Asia/Shanghai")
    await student(db, 2, t0, tz="Asia/Shanghai")
    now = datetime.now(UTC)
    local = now.astimezone(ZoneInfo("Asia/Shanghai"))
    start = (local.hour * 60 + local.minute - 60) % 1440  # quiet from an hour ago…
    end = (start + 180) % 1440  # …for three hours
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE workers SET quiet_start = ?, quiet_end = ? WHERE id = 1", (start, end)
        )
    await notify.enqueue(db, [note(1, "a"), note(2, "b")], now)
    await sender.start()
    await until(lambda: _sent(db, "b"))
    await until(lambda: _held(db, "a"))  # the sender looked at it and put it off
    assert [c for c, _, _ in fake_bot.sent] == [2]
    row = await outbox_repo.by_key(db, "a")
    assert row is not None and (row.status, row.attempts, row.error) == (
        "pending",
        0,
        "quiet hours",
    )
    wait = (row.not_before - now).total_seconds()
    assert 7000 < wait <= 7260  # about two hours, to the end of the window


async def _sent(db: Database, key: str) -> bool:
    row = await outbox_repo.by_key(db, key)
    return row is not None and row.status == "sent"


async def _held(db: Database, key: str) -> bool:
    row = await outbox_repo.by_key(db, key)
    return row is not None and row.status == "pending" and row.error is not None


async def _claimed(db: Database, key: str) -> bool:
    row = await outbox_repo.by_key(db, key)
    return row is not None and row.status == "sending"


async def test_stop_lets_the_send_in_flight_finish_and_claims_nothing_more(
    db: Database, fake_bot: FakeBot, sender: OutboxSender
) -> None:
    fake_bot.delay = 0.3
    await notify.enqueue(db, [note(i, f"k{i}") for i in range(1, 40)], datetime.now(UTC))
    await sender.start()
    await until(lambda: _any_sending(db))
    await sender.stop()
    counts = await outbox_repo.counts(db)
    assert counts["sending"] == 0
    assert counts["sent"] == len(fake_bot.sent) >= 1
    assert counts["pending"] == 39 - counts["sent"]


async def _any_sending(db: Database) -> bool:
    return (await outbox_repo.counts(db))["sending"] > 0


async def test_stopping_during_a_429_pause_leaves_untried_rows_pending(
    db: Database, fake_bot: FakeBot, sender: OutboxSender
) -> None:
    fake_bot.errors[1] = [RetryAfter(30)]
    await notify.enqueue(db, [note(1, "a"), note(2, "b"), note(3, "c")], datetime.now(UTC))
    await sender.start()
    await until(lambda: _rescheduled(db, "a"))
    await until(lambda: _claimed(db, "b"))  # the next row is claimed, waits for the pause to end
    await sender.stop()
    assert fake_bot.sent == []
    rows = {k: await outbox_repo.by_key(db, k) for k in "abc"}
    assert all(
        r is not None and (r.status, r.attempts) == ("pending", 0) for r in rows.values()
    ), rows
    assert rows["a"] is not None and rows["a"].error == "429: retry after 30 s"


async def _rescheduled(db: Database, key: str) -> bool:
    row = await outbox_repo.by_key(db, key)
    return row is not None and row.status == "pending" and row.error is not None


async def test_a_row_refused_with_429_keeps_its_place_in_the_queue(
    db: Database, fake_bot: FakeBot, sender: OutboxSender
) -> None:
    fake_bot.errors[1] = [RetryAfter(1)]
    await notify.enqueue(db, [note(i, f"k{i}") for i in range(1, 6)], datetime.now(UTC))
    await sender.start()
    await until(lambda: all_settled(db))
    order = [c for c, _, _ in fake_bot.sent]
    assert sorted(order) == [1, 2, 3, 4, 5]
    assert order.index(1) < order.index(3)  # retried before the rows queued after it


async def test_rows_of_many_blocked_students_are_settled_without_sending(
    db: Database, t0: datetime, fake_bot: FakeBot, sender: OutboxSender
) -> None:
    now = datetime.now(UTC)
    for uid in range(1, 63):
        await student(db, uid, t0)
    await notify.enqueue(db, [note(uid, f"k{uid}") for uid in range(1, 63)], now)
    async with db.transaction() as tx:  # they blocked the bot after the broadcast was queued
        for uid in range(1, 62):
            await workers_repo.mark_blocked(tx, uid)
    await sender.start()
    await until(lambda: all_settled(db))
    assert [c for c, _, _ in fake_bot.sent] == [62]
    assert sender.stats["blocked"] == 61  # more than one claim's worth, settled all the same
    assert (await outbox_repo.counts(db))["failed"] == 61


async def test_the_limiter_counts_each_send_until_its_answer(
    db: Database, fake_bot: FakeBot
) -> None:
    fake_bot.delay = 0.05
    # A chat stays busy for `per_chat` after its answer: long here, so that a slow machine
    # still finds every window open when it looks.
    per_chat = 60.0
    sender = OutboxSender(fake_bot, db, poll_seconds=0.05, per_chat_seconds=per_chat)  # type: ignore[arg-type]
    await notify.enqueue(db, [note(i, f"k{i}") for i in range(1, 4)], datetime.now(UTC))
    await sender.start()
    try:
        await until(lambda: all_settled(db))
        assert len(fake_bot.sent) == 3
        # Answered sends stay in the window for `per_chat` after their answer (which came
        # `delay` after the start, at the earliest); none in flight.
        assert sorted(sender.limiter.busy_chats()) == [1, 2, 3]
        for chat in (1, 2, 3):
            left = sender.limiter.chat_delay(chat)
            answered = fake_bot.started[chat] + fake_bot.delay
            assert answered + per_chat - time.monotonic() <= left <= per_chat, chat
    finally:
        await sender.stop()


async def test_new_task_alerts_go_out_a_second_after_the_command(
    db: Database, t0: datetime, fake_bot: FakeBot, sender: OutboxSender
) -> None:
    await student(db, 1, t0)
    project_id = await seed_project(db, t0)
    await sender.start()
    before = datetime.now(UTC)
    assert await sender.alert_new_work(project_id) == 1
    after = datetime.now(UTC)
    row = await db.fetchone("SELECT not_before FROM outbox")
    assert row is not None
    due = datetime.fromisoformat(row[0])
    second = timedelta(seconds=1)  # not on top of the bot's reply to the admin in the same chat
    stored = timedelta(milliseconds=1)  # times are stored to the millisecond, cut down
    assert before + second - stored <= due <= after + second
    await until(lambda: all_settled(db))
    assert [c for c, _, _ in fake_bot.sent] == [1]
    assert fake_bot.sent_at[0] >= due  # it waited for that second
