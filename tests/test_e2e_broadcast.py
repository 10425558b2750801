"""The outbox over real HTTP: broadcasts under Telegram's flood limits, restarts, blocked
students, 429s, quiet hours and new-task alerts, checked on screen and in SQLite."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from bot.config import Config
from bot.sender import OutboxSender
from bot.services import labeling
from tests.botapi import (
    FLOOD_METHODS,
    FLOOD_PER_CHAT_METHODS,
    FLOOD_SENDS_ONLY,
    WAIT,
    BotApiServer,
    ChatMessage,
    FakeUser,
    FloodLimits,
    button_texts,
    max_per_window,
)
from tests.conftest import ADMIN_ID
from tests.e2e import Harness, bot_on

CSV = "id,text\nr1,The delivery was fast.\nr2,The box was crushed.\nr3,It works.\n"
# Sends the outbox keeps in flight at once (the application uses the default).
CONCURRENCY = inspect.signature(OutboxSender).parameters["concurrency"].default


@pytest.fixture(autouse=True)
def _timedelta_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # PTB 22 warns on int retry_after otherwise


@asynccontextmanager
async def flood_limited(cfg: Config) -> AsyncIterator[Harness]:
    async with (
        BotApiServer(token=cfg.token, flood_limits=True) as server,
        bot_on(server, cfg) as h,
    ):
        yield h


async def students(
    h: Harness, ids: range | list[int], *, lang: str = "en", tz: str = "UTC"
) -> list[FakeUser]:
    """Registered students (straight through the service: /start replies would spend the
    flood budget the test is about)."""
    users = []
    for uid in ids:
        users.append(h.server.add_user(uid, f"s{uid}", language_code=lang))
        await labeling.register(
            h.db,
            user_id=uid,
            first_name=f"s{uid}",
            username=None,
            language=lang,
            timezone=tz,
            now=datetime.now(UTC),
        )
    return users


async def pace(h: Harness, user: FakeUser) -> None:
    """Wait until the bot may write to this chat again: the test server answers 429 to a
    second message within a second, and a reply to an admin command is not paced."""
    last = [
        c.time
        for c in h.server.requests
        if c.method in FLOOD_PER_CHAT_METHODS and c.params.get("chat_id") == user.id
    ]
    if last:
        await asyncio.sleep(max(0.0, max(last) + 1.05 - time.monotonic()))


async def say(h: Harness, user: FakeUser, text: str) -> ChatMessage:
    await pace(h, user)
    return await h.say(user, text)


def bot_messages(h: Harness, user: FakeUser) -> list[str]:
    return [m.content for m in h.server.messages(user)]


def sends(h: Harness) -> list[float]:
    return [c.time for c in h.server.requests if c.method in FLOOD_METHODS]


async def eventually(get: Any, expected: Any, timeout: float = WAIT) -> None:
    """Poll an async getter until it returns `expected` (for results recorded after a send)."""
    async with asyncio.timeout(timeout):
        while (value := await get()) != expected:  # noqa: ASYNC110 - polls SQLite
            await asyncio.sleep(0.05)
    assert value == expected


async def outbox_counts(h: Harness) -> dict[str, int]:
    return dict(await h.query("SELECT status, COUNT(*) FROM outbox GROUP BY status"))


async def test_broadcast_to_200_students_stays_under_the_flood_limits(cfg: Config) -> None:
    async with flood_limited(cfg) as h:
        crowd = await students(h, range(10_001, 10_201))
        admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
        reply = await h.say(admin, "/broadcast Exam week: every answer pays double.\nGood luck!")
        assert "Queued for 200 student(s)" in reply.content
        await h.server.wait_until(
            lambda: all(h.server.messages(u) for u in crowd),
            description="every student's message",
        )
        await h.outbox_done()  # every row sent and written down: anything extra is in now
        for user in crowd:
            assert bot_messages(h, user) == ["📢 Exam week: every answer pays double.\nGood luck!"]
        assert h.server.stats["flood_429"] == 0
        assert max_per_window(sends(h)) <= 30
        times = sorted(
            c.time for c in h.server.calls("sendMessage") if c.params["chat_id"] != ADMIN_ID
        )
        assert len(times) == 200
        assert times[-1] - times[0] < 12  # ~7 s at 29 per second
        assert await outbox_counts(h) == {"sent": 200}


async def test_restart_mid_broadcast_sends_nobody_a_second_copy(cfg: Config) -> None:
    async with BotApiServer(token=cfg.token, flood_limits=True) as server:
        async with bot_on(server, cfg) as h:
            crowd = await students(h, range(20_001, 20_101))
            admin = server.add_user(ADMIN_ID, "Ada", language_code="en")
            await h.say(admin, "/broadcast Maintenance tonight.")
            await server.wait_until(
                lambda: sum(bool(server.messages(u)) for u in crowd) >= 50,
                description="half the broadcast",
            )
        # Stopped mid-broadcast; the sends in flight finished and were recorded.
        reached = sum(bool(server.messages(u)) for u in crowd)
        assert 50 <= reached < 100
        async with bot_on(server, cfg) as h:
            await server.wait_until(
                lambda: all(server.messages(u) for u in crowd),
                description="the rest of the broadcast",
            )
            await h.outbox_done()
            assert all(bot_messages(h, u) == ["📢 Maintenance tonight."] for u in crowd)
            assert await outbox_counts(h) == {"sent": 100}
        assert server.stats["flood_429"] == 0


async def test_a_crash_with_a_send_in_flight_never_resends_it(cfg: Config) -> None:
    async with BotApiServer(token=cfg.token, flood_limits=True) as server:
        slow_chat = 30_003
        never = asyncio.Event()

        async def hang(method: str, params: dict[str, Any]) -> None:
            if method == "sendMessage" and params.get("chat_id") == slow_chat:
                await never.wait()  # no answer before the process dies, however long that takes

        server.fault = hang
        async with bot_on(server, cfg) as h:
            crowd = await students(h, range(30_001, 30_011))
            h.app.bot_data.outbox.stop_timeout = 0.2  # the crash: it dies with that send open
            await h.say(server.add_user(ADMIN_ID, "Ada"), "/broadcast Hello")
            await server.wait_until(
                lambda: sum(bool(server.messages(u)) for u in crowd) >= 5,
                description="a few sends",
            )
        others = [u for u in crowd if u.id != slow_chat]
        async with bot_on(server, cfg) as h:
            await server.wait_until(
                lambda: all(server.messages(u) for u in others),
                description="everyone else's message",
            )
            await h.outbox_done()
            # Whether Telegram delivered the interrupted send is unknowable; it is not
            # tried again, so nobody can get two copies.
            assert all(len(server.messages(u)) == 1 for u in others)
            assert server.messages(slow_chat) == []
            assert await outbox_counts(h) == {"sent": 9, "unknown": 1}
            assert (
                await h.scalar("SELECT chat_id FROM outbox WHERE status = 'unknown'") == slow_chat
            )


async def test_a_student_who_blocked_the_bot_is_marked_and_skipped(cfg: Config) -> None:
    async with flood_limited(cfg) as h:
        crowd = await students(h, range(40_001, 40_021))
        crowd[3].blocked = True
        admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
        await h.say(admin, "/broadcast First")
        await h.server.wait_until(
            lambda: all(h.server.messages(u) for u in crowd if not u.blocked)
        )
        await eventually(
            lambda: h.scalar("SELECT status FROM workers WHERE id = ?", (crowd[3].id,)), "blocked"
        )
        assert await h.query(
            "SELECT status, error FROM outbox WHERE chat_id = ?", (crowd[3].id,)
        ) == [("failed", "403: Forbidden: bot was blocked by the user")]
        reply = await say(h, admin, "/broadcast Second")
        assert "Queued for 19 student(s)" in reply.content
        await h.server.wait_until(
            lambda: all(len(h.server.messages(u)) == 2 for u in crowd if not u.blocked)
        )
        tried = [c for c in h.server.calls("sendMessage") if c.params["chat_id"] == crowd[3].id]
        assert len(tried) == 1  # tried once, never again


async def test_a_429_pauses_the_sender_for_retry_after_then_it_completes(cfg: Config) -> None:
    async with flood_limited(cfg) as h:
        crowd = await students(h, range(50_001, 50_041))
        fired: list[float] = []

        def flood_once(method: str, params: dict[str, Any]) -> tuple[int, str, int] | None:
            if method == "sendMessage" and params.get("chat_id") == 50_010 and not fired:
                fired.append(asyncio.get_running_loop().time())
                return 429, "Too Many Requests: retry after 2", 2
            return None

        h.server.fault = flood_once
        await h.say(h.server.add_user(ADMIN_ID, "Ada"), "/broadcast Paced")
        await h.server.wait_until(lambda: all(h.server.messages(u) for u in crowd))
        await h.outbox_done()
        assert all(len(h.server.messages(u)) == 1 for u in crowd)
        assert h.server.stats["fault"] == 1
        assert h.server.stats["flood_429"] == 0
        (too_many,) = [c for c in h.server.requests if c.status == 429]
        after = sorted(
            c.time - too_many.time for c in h.server.calls("sendMessage") if c.time > too_many.time
        )
        # Sends already on their way when the 429 came back (at most the other slots) may
        # land at any time; every send after them waited out the pause.
        in_flight = CONCURRENCY - 1
        assert len(after) > in_flight
        assert min(after[in_flight:]) >= 1.9  # nothing new went out during the pause
        row = await h.query("SELECT status, attempts FROM outbox WHERE chat_id = 50010")
        assert row == [("sent", 1)]


async def test_a_student_in_quiet_hours_gets_nothing_until_they_end(cfg: Config) -> None:
    async with flood_limited(cfg) as h:
        awake, sleeper = await students(h, [60_001, 60_002], tz="Asia/Shanghai")
        local = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai"))
        start = (local.hour * 60 + local.minute - 30) % 1440  # began half an hour ago…
        end = (start + 90) % 1440  # …and ends in about an hour
        await _sql(
            h,
            "UPDATE workers SET quiet_start = ?, quiet_end = ? WHERE id = ?",
            (start, end, sleeper.id),
        )
        # A sender whose clock the test can move forward.
        offset = timedelta()
        old = h.app.bot_data.outbox
        await old.stop()
        sender = OutboxSender(h.app.bot, h.db, now=lambda: datetime.now(UTC) + offset)
        h.app.bot_data.sender = sender
        await sender.start()

        await h.say(h.server.add_user(ADMIN_ID, "Ada"), "/broadcast Night shift bonus")
        await h.server.wait_for_message(awake)
        await h.outbox_done()  # the sleeper's row was looked at: held, not sent
        assert h.server.messages(sleeper) == []
        ((status, not_before, error),) = await h.query(
            "SELECT status, not_before, error FROM outbox WHERE chat_id = ?", (sleeper.id,)
        )
        assert (status, error) == ("pending", "quiet hours")
        ends = datetime.fromisoformat(not_before)
        assert (
            ends.astimezone(ZoneInfo("Asia/Shanghai")).hour * 60
            + ends.astimezone(ZoneInfo("Asia/Shanghai")).minute
            == end
        )
        assert timedelta(minutes=58) < ends - datetime.now(UTC) <= timedelta(minutes=60)

        offset = ends - datetime.now(UTC) + timedelta(seconds=1)  # the window is over
        sender.wake()
        msg = await h.server.wait_for_message(sleeper)
        assert msg.content == "📢 Night shift bonus"


async def _sql(h: Harness, sql: str, params: tuple[Any, ...] = ()) -> None:
    async with h.db.transaction() as tx:
        await tx.execute(sql, params)


async def test_an_upload_alerts_idle_students_only_and_resume_alerts_newcomers(
    cfg: Config,
) -> None:
    async with flood_limited(cfg) as h:
        admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
        reply = await h.upload(
            admin, "reviews.csv", CSV.encode(), "/upload reviews options=positive,negative"
        )
        assert "3 tasks added" in reply.content
        # The upload's alert pass runs after its report: let it find nobody before anyone joins.
        await h.handled()
        idle, holder, silent, sleeper = await students(
            h, [70_001, 70_002, 70_003, 70_004], tz="Asia/Shanghai"
        )
        assert await labeling.next_task(h.db, holder.id, datetime.now(UTC)) is not None
        await _sql(h, "UPDATE workers SET alerts = 0 WHERE id = ?", (silent.id,))
        local = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai"))
        start = (local.hour * 60 + local.minute - 30) % 1440
        await _sql(
            h,
            "UPDATE workers SET quiet_start = ?, quiet_end = ? WHERE id = ?",
            (start, (start + 120) % 1440, sleeper.id),
        )

        more = "id,text\nr4,Arrived late.\nr5,Great value.\n"
        await pace(h, admin)
        reply = await h.upload(admin, "more.csv", more.encode(), "/upload reviews")
        assert "2 tasks added" in reply.content
        alert = await h.server.wait_for_message(idle)
        assert alert.content == "🆕 New tasks in reviews. Tap below to start labeling."
        assert button_texts(alert) == ["▶️ Start labeling"]
        await h.outbox_done()  # the alerts all queued, sent, or held for the sleeper
        for user in (holder, silent, sleeper):
            assert h.server.messages(user) == [], user.id
        rows = await h.query("SELECT chat_id, status FROM outbox ORDER BY chat_id")
        assert rows == [(idle.id, "sent"), (sleeper.id, "pending")]  # the sleeper: later

        # The alert's button hands out a task (the student taps a second after the alert:
        # the test server, like Telegram, refuses a second message to a chat within one).
        await pace(h, idle)
        await h.tap(idle, alert, "▶️ Start labeling")
        task = await h.server.wait_for_message(idle, after=alert)
        assert "reviews" in task.content
        assert button_texts(task)[:2] == ["positive", "negative"]

        # /pause takes the holder's task back; /resume alerts the students not alerted yet
        # (the holder, and a newcomer in Chinese), nobody twice within the interval.
        newcomer = (await students(h, [70_005], lang="zh"))[0]
        await say(h, admin, "/pause reviews")
        await say(h, admin, "/resume reviews")
        got = await h.server.wait_for_message(newcomer)
        assert got.content == "🆕 reviews 有新任务。点击下方按钮开始标注。"
        assert button_texts(got) == ["▶️ 开始标注"]
        await h.server.wait_for_message(holder)
        await h.outbox_done()
        assert len(h.server.messages(idle)) == 2  # the alert and the task, nothing more
        assert h.server.messages(silent) == []
        assert h.server.stats["flood_429"] == 0


@pytest.mark.parametrize(
    ("limits", "edit_status"),
    [
        (FloodLimits(), 429),  # the default: edits count towards the 30 a second too
        (FloodLimits(global_methods=FLOOD_SENDS_ONLY), 200),  # Telegram's broadcast limit
    ],
)
async def test_the_flood_limiter_may_count_sends_only(
    limits: FloodLimits, edit_status: int
) -> None:
    async with BotApiServer(flood_limits=limits) as server, aiohttp.ClientSession() as http:

        async def call(method: str, **params: Any) -> tuple[int, dict[str, Any]]:
            data = {k: str(v) for k, v in params.items()}
            async with http.post(f"{server.api_url}/{method}", data=data) as response:
                return response.status, await response.json()

        users = [server.add_user(90_000 + i) for i in range(31)]
        first = await call("sendMessage", chat_id=users[0].id, text="task")
        assert first[0] == 200
        for user in users[1:30]:
            assert (await call("sendMessage", chat_id=user.id, text="news"))[0] == 200
        # 30 sends within the second: an edit answering a tap is refused only if edits count.
        status, _ = await call(
            "editMessageText",
            chat_id=users[0].id,
            text="next task",
            message_id=first[1]["result"]["message_id"],
        )
        assert status == edit_status
        assert (await call("sendMessage", chat_id=users[30].id, text="news"))[0] == 429
        assert len(server.flood_counted) == 30  # what the global limit let through


async def test_broadcast_usage_and_guard(cfg: Config) -> None:
    async with flood_limited(cfg) as h:
        admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
        reply = await h.say(admin, "/broadcast")
        assert reply.content.startswith("Usage: /broadcast <text>")
        reply = await say(h, admin, "/broadcast   hi")
        assert (
            reply.content == "There is nobody to send it to (or this broadcast was "
            "queued already)."
        )
        (student,) = await students(h, [80_001])
        reply = await h.say(student, "/broadcast free money")
        assert reply.content == "Sorry, only project admins can do that."
        assert await h.scalar("SELECT COUNT(*) FROM outbox") == 0
