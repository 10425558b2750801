"""Running the real Labelgram application against the Bot API test server."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from telegram.ext import Application

from bot.app import ALLOWED_UPDATES, build_application
from bot.config import Config
from bot.texts import language_for, t
from db.connection import Database
from db.timefmt import to_db
from tests.botapi import WAIT, BotApiServer, ChatMessage, FakeUser, button_data
from tests.conftest import ADMIN_ID

ROOT = Path(__file__).resolve().parent.parent


async def spawn_bot(
    *args: str,
    env: dict[str, str] | None = None,
    stderr: int = asyncio.subprocess.STDOUT,
    **kwargs: Any,
) -> asyncio.subprocess.Process:
    """`python -m bot <args>` as a real process started from the repository root, its
    stdout piped (stderr joined to it unless `stderr` says otherwise)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
        **kwargs,
    )


T = TypeVar("T")
POLL = 0.02  # seconds between looks at state nothing signals (SQLite, the application)


async def until(
    get: Callable[[], Awaitable[T]],
    ok: Callable[[T], object] = bool,
    *,
    timeout: float = WAIT,
    description: str = "a condition",
) -> T:
    """Poll an async getter (state the bot keeps in SQLite: there is nothing to wait on) until
    `ok(value)` holds; return that value. Raises AssertionError with the last value."""
    deadline = time.monotonic() + timeout
    while not ok(value := await get()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{description}: still {value!r} after {timeout}s")
        await asyncio.sleep(POLL)
    return value


@dataclasses.dataclass
class Harness:
    """The server, the running bot, and shortcuts for acting as a person."""

    server: BotApiServer
    app: Application
    cfg: Config

    @property
    def db(self) -> Database:
        return self.app.bot_data.database

    async def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in await self.db.fetchall(sql, params)]

    async def scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        rows = await self.query(sql, params)
        return rows[0][0]

    async def say(self, user: FakeUser, text: str, timeout: float = WAIT) -> ChatMessage:
        """Send a text and wait for the bot's reply."""
        sent = await self.server.send_text(user, text)
        return await self.server.wait_for_message(user, after=sent, timeout=timeout)

    async def upload(
        self, user: FakeUser, name: str, data: bytes, caption: str | None, timeout: float = WAIT
    ) -> ChatMessage:
        """Send a file and wait until the bot's reply stops saying it is importing."""
        sent = await self.server.send_document(user, name, data, caption=caption)
        reply = await self.server.wait_for_message(user, after=sent, timeout=timeout)
        return await self.server.wait_until(
            lambda: (
                (m := self.server.message(user, reply.message_id))
                and not (m.content or "").startswith("⏳")
                and m
            ),
            timeout=timeout,
            user=user,
            description="the import to finish",
        )

    async def handled(self, timeout: float = WAIT) -> None:
        """Wait until the bot has handled every update the server holds: each was handed out
        and its handler returned (with all it wrote and queued), its background edits done.

        What a handler does after the reply a test waits for (new-task alerts after an
        upload's report, the work after a toast) is finished once this returns."""

        def idle() -> bool:
            return (
                not self.server.pending_updates
                and self.app.update_queue.empty()
                and self.app.update_processor.current_concurrent_updates == 0
                and not self.app.bot_data.background
            )

        deadline = time.monotonic() + timeout
        calm = 0
        while calm < 2:  # twice in a row: an update taken off the queue has started
            calm = calm + 1 if idle() else 0
            if time.monotonic() > deadline:
                raise AssertionError(f"updates still being handled after {timeout}s")
            await asyncio.sleep(POLL)

    async def outbox_done(self, timeout: float = WAIT) -> None:
        """Wait until the updates are handled and the outbox has nothing it may send now:
        every row sent (and written down), failed or unknown, or held for later (quiet
        hours, a retry). A message the outbox owes anyone has then reached the server."""
        await self.handled(timeout)
        await until(
            lambda: self.scalar(
                "SELECT COUNT(*) FROM outbox WHERE status = 'sending'"
                " OR (status = 'pending' AND not_before <= ?)",
                (to_db(datetime.now(UTC)),),
            ),
            lambda busy: busy == 0,
            timeout=timeout,
            description="the outbox to send what is due",
        )

    async def run_job(self, name: str, times: int = 1) -> None:
        """Run a scheduled job (bot/app.py names them) `times` times now, each to its end, as
        its schedule would: proof that more runs of it change nothing, without waiting."""
        assert self.app.job_queue is not None
        (job,) = self.app.job_queue.get_jobs_by_name(name)
        for _ in range(times):
            await job.run(self.app)

    async def export(self, user: FakeUser, args: str, timeout: float = 30) -> list[ChatMessage]:
        """Send /export <args>, wait for its progress message to say it is done and return
        the documents sent (the first export starts the worker process: a generous timeout)."""
        sent = await self.server.send_text(user, f"/export {args}")
        status = await self.server.wait_for_message(user, after=sent, timeout=timeout)
        assert (status.content or "").startswith("⏳"), status.content
        done = await self.server.wait_until(
            lambda: (
                (m := self.server.message(user, status.message_id))
                and not (m.content or "").startswith("⏳")
                and m
            ),
            timeout=timeout,
            user=user,
            description="the export to finish",
        )
        assert done.content.startswith("✅"), done.content
        return [
            m
            for m in self.server.messages(user)
            if m.message_id > status.message_id and m.document is not None
        ]

    async def upload_tasks(self, caption: str, rows: int) -> None:
        """The admin uploads tasks t1…t<rows> ("Item number i") with this caption."""
        admin = self.server.add_user(ADMIN_ID, "Ada", language_code="en")
        body = "".join(f"t{i},Item number {i}\n" for i in range(1, rows + 1))
        reply = await self.upload(admin, "tasks.csv", f"id,text\n{body}".encode(), caption)
        assert f"{rows} tasks added" in reply.content, reply.content

    async def start_labeling(self, user_id: int, lang: str = "en") -> ChatMessage:
        """A student (Telegram language `lang`) sends /start, taps "Start labeling" in their
        language and gets the first task message."""
        student = self.server.add_user(user_id, f"s{user_id}", language_code=lang)
        welcome = await self.say(student, "/start")
        ours = language_for(lang, self.cfg.default_language)  # as the bot picks it
        await self.tap(student, welcome, t(ours, "btn_start"))
        return await self.server.wait_for_message(student, after=welcome)

    async def tap(self, user: FakeUser, message: ChatMessage, button: str) -> dict[str, Any]:
        """Tap the button with this text and wait for the toast."""
        query_id = await self.server.tap(user, message.message_id, button_data(message, button))
        return await self.server.wait_for_answer(query_id)

    async def tap_and_wait_edit(
        self, user: FakeUser, message: ChatMessage, button: str
    ) -> tuple[dict[str, Any], ChatMessage]:
        """Tap, then wait for the toast and for the message to change."""
        before = self.server.message(user, message.message_id).edit_count
        answer = await self.tap(user, message, button)
        edited = await self.server.wait_until(
            lambda: (m := self.server.message(user, message.message_id)).edit_count > before and m,
            user=user,
            description="the task message to be edited",
        )
        return answer, edited


@asynccontextmanager
async def running_bot(
    cfg: Config, tmp_path: Path | None = None, **server_kwargs: Any
) -> AsyncIterator[Harness]:
    """Start the test server and the real application polling it; stop both afterwards."""
    async with (
        BotApiServer(token=cfg.token, **server_kwargs) as server,
        bot_on(server, cfg) as harness,
    ):
        yield harness


@asynccontextmanager
async def bot_on(server: BotApiServer, cfg: Config) -> AsyncIterator[Harness]:
    """The real application against an already running server, so it can be restarted on
    the same database while the server (and what the students saw) stays."""
    cfg = dataclasses.replace(
        cfg,
        telegram=dataclasses.replace(
            cfg.telegram, api_base_url=server.base_url, file_base_url=server.base_file_url
        ),
    )
    app = build_application(cfg)
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1, allowed_updates=ALLOWED_UPDATES)
    await app.start()
    try:
        yield Harness(server=server, app=app, cfg=cfg)
    finally:
        await app.updater.stop()
        await app.stop()
        assert app.post_shutdown is not None
        await app.post_shutdown(app)
        await app.shutdown()
