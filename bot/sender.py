"""The outbox sender: delivers queued notifications under Telegram's limits, exactly once.

One asyncio task claims due outbox rows one at a time, right before sending each, so a
crash leaves at most the few in-flight rows undecided (they become 'unknown' at the next
start and are not resent; see db/outbox.py). Pacing is the sender's own `SendLimiter`,
not an AIORateLimiter on the whole bot, so button taps never queue behind a broadcast:

- at most `per_second` (default 25, never above Telegram's 30) sends in any sliding
  one-second window, spaced evenly rather than in bursts;
- at most one send per chat per second (rows for a chat written to less than a second ago
  stay pending and are claimed later);
- a few sends in flight at once, so one slow request does not drag the rate down.

Outcomes: sent; 429 RetryAfter → the whole sender pauses for retry_after and the row is
retried first afterwards; 403 Forbidden → the student is marked 'blocked' and the row
'failed', and nothing is queued for them again; 400 Bad Request → 'failed'; network
errors, timeouts and 5xx → retried with exponential backoff (1 s … 5 min), 'failed' after
`max_attempts`. A student in their quiet hours (their own time zone) is not written to:
the row waits until the window ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError

from bot.services import notify
from bot.services.notify import Content
from db import outbox as outbox_repo
from db import workers as workers_repo
from db.connection import Database
from db.outbox import OutboxRow

log = logging.getLogger(__name__)

TELEGRAM_MAX_PER_SECOND = 30


def _utcnow() -> datetime:
    return datetime.now(UTC)


def retry_after_seconds(value: int | float | timedelta) -> float:
    """RetryAfter.retry_after is an int (PTB < 22.2 style) or a timedelta (PTB_TIMEDELTA)."""
    if isinstance(value, timedelta):
        return max(value.total_seconds(), 0.0)
    return max(float(value), 0.0)


class SendLimiter:
    """Sliding-window pacing: at most `per_second` sends per `window` seconds overall,
    at least `window / per_second` apart, and one per chat per `per_chat_seconds`.

    The clock is injected so tests can drive it; nothing here sleeps.
    """

    def __init__(
        self,
        per_second: int = 25,
        *,
        per_chat_seconds: float = 1.0,
        window: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= per_second <= TELEGRAM_MAX_PER_SECOND:
            raise ValueError(f"per_second must be 1..{TELEGRAM_MAX_PER_SECOND}, "
                             f"got {per_second}")
        self.per_second = per_second
        self.window = window
        self.per_chat_seconds = per_chat_seconds
        self._spacing = window / per_second
        self._clock = clock
        self._sent: deque[float] = deque()
        self._chat_last: dict[int, float] = {}

    def _prune(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self.window:
            self._sent.popleft()
        if self._chat_last:
            cutoff = now - self.per_chat_seconds
            for chat in [c for c, at in self._chat_last.items() if at <= cutoff]:
                del self._chat_last[chat]

    def delay(self) -> float:
        """Seconds to wait before the next send is allowed overall (0: send now)."""
        now = self._clock()
        self._prune(now)
        wait = 0.0
        if len(self._sent) >= self.per_second:
            wait = self._sent[0] + self.window - now
        if self._sent:
            wait = max(wait, self._sent[-1] + self._spacing - now)
        return max(wait, 0.0)

    def chat_delay(self, chat_id: int) -> float:
        """Seconds before this chat may be written to again."""
        last = self._chat_last.get(chat_id)
        if last is None:
            return 0.0
        return max(last + self.per_chat_seconds - self._clock(), 0.0)

    def busy_chats(self) -> list[int]:
        """Chats written to less than `per_chat_seconds` ago."""
        self._prune(self._clock())
        return list(self._chat_last)

    def next_chat_free(self) -> float | None:
        """Seconds until the first busy chat frees up, or None if no chat is busy."""
        self._prune(self._clock())
        if not self._chat_last:
            return None
        return max(min(self._chat_last.values()) + self.per_chat_seconds - self._clock(), 0.0)

    def record(self, chat_id: int) -> None:
        """Count a send to `chat_id` now."""
        now = self._clock()
        self._sent.append(now)
        self._chat_last[chat_id] = now


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _markup(content: Content) -> InlineKeyboardMarkup | None:
    if not content.buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row]
         for row in content.buttons]
    )


class OutboxSender:
    """Start in post_init (`await start()`), stop in post_shutdown (`await stop()`).

    Call `wake()` after queuing something so it goes out at once; otherwise the sender
    looks at the outbox about once a second.
    """

    def __init__(
        self,
        bot: Bot,
        db: Database,
        *,
        per_second: int = 25,
        per_chat_seconds: float = 1.0,
        concurrency: int = 6,
        poll_seconds: float = 1.0,
        max_attempts: int = 6,
        backoff_base: float = 1.0,
        backoff_cap: float = 300.0,
        stop_timeout: float = 20.0,
        alert_interval: timedelta = timedelta(hours=1),
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._bot = bot
        self._db = db
        self.limiter = SendLimiter(min(per_second, TELEGRAM_MAX_PER_SECOND),
                                   per_chat_seconds=per_chat_seconds)
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._poll = poll_seconds
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self.stop_timeout = stop_timeout
        self.alert_interval = alert_interval
        self._now = now
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._paused_until = 0.0
        self.stats: Counter[str] = Counter()

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> int:
        """Settle rows a crash left mid-send, then start sending; return how many were left."""
        if self.running:
            return 0
        async with self._db.transaction() as tx:
            unknown = await outbox_repo.recover_after_crash(tx)
        if unknown:
            log.warning("%d notifications were being sent when the bot stopped; "
                        "marked unknown, not resent", unknown)
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="outbox-sender")
        return unknown

    async def stop(self) -> None:
        """Claim nothing more, let the sends in flight finish (up to stop_timeout), stop."""
        self._stop.set()
        self._wake.set()
        deadline = asyncio.get_running_loop().time() + self.stop_timeout
        # The loop first (it may still hand off the row it claimed), then the sends.
        late = await self._finish({self._task} if self._task else set(), deadline)
        late += await self._finish(set(self._in_flight), deadline)
        if late:
            log.warning("outbox sender stopped with %d sends unfinished", late)
        self._task = None

    @staticmethod
    async def _finish(tasks: set[asyncio.Task[None]], deadline: float) -> int:
        """Wait for `tasks` until `deadline`, cancel the rest; return how many were cancelled."""
        pending = {t for t in tasks if not t.done()}
        if not pending:
            return 0
        remaining = max(deadline - asyncio.get_running_loop().time(), 0.0)
        _, late = await asyncio.wait(pending, timeout=remaining)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)
        return len(late)

    def wake(self) -> None:
        """Something was queued: look at the outbox now instead of at the next poll."""
        self._wake.set()

    async def alert_new_work(self, project_id: int) -> int:
        """Queue new-task alerts for idle students of a project, and send them."""
        queued = await notify.alert_idle_students(
            self._db, project_id, self._now(), self.alert_interval
        )
        if queued:
            self.wake()
        return queued

    # ------------------------------------------------------------------ the loop

    async def _sleep(self, seconds: float, event: asyncio.Event | None = None) -> None:
        """Sleep, cut short by stop() (or by `event`)."""
        waiter = event or self._stop
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter.wait(), timeout=max(seconds, 0.0))

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self._step()
            except Exception:
                log.exception("outbox sender: unexpected error; retrying shortly")
                await self._sleep(self._poll)

    async def _step(self) -> None:
        """Wait for room, claim one due row and hand it to a send task (or wait for work)."""
        await self._slots.acquire()
        handed_off = False
        try:
            if self._stop.is_set():
                return
            pause = self._paused_until - time.monotonic()
            if pause > 0:  # Telegram said 429: nothing goes out until retry_after has passed
                await self._sleep(pause)
                return
            self._wake.clear()
            now = self._now()
            async with self._db.transaction() as tx:
                rows = await outbox_repo.claim_due(
                    tx, now, 1, skip_chats=self.limiter.busy_chats()
                )
            if not rows:
                await self._sleep(await self._idle_seconds(now), self._wake)
                return
            row = rows[0]
            if not await self._may_send(row, now):
                return
            # The claim and the checks above overlap the wait for the next slot.
            while (wait := max(self.limiter.delay(), self._paused_until - time.monotonic())) > 0:
                if self._stop.is_set():
                    await self._put_back(row)
                    return
                await self._sleep(wait)
            self.limiter.record(row.chat_id)
            task = asyncio.create_task(self._deliver(row), name=f"outbox-{row.id}")
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
            handed_off = True
        finally:
            if not handed_off:
                self._slots.release()

    async def _put_back(self, row: OutboxRow) -> None:
        """Return a claimed row that was not tried (stopping during a pause) to the queue."""
        async with self._db.transaction() as tx:
            await outbox_repo.reschedule(tx, row.id, self._now(), count_attempt=False)

    async def _idle_seconds(self, now: datetime) -> float:
        """How long to wait when nothing could be claimed."""
        wait = self._poll
        chat_free = self.limiter.next_chat_free()
        if chat_free is not None:
            wait = min(wait, chat_free + 0.01)
        due = await outbox_repo.next_due_at(self._db)
        if due is not None and due > now:
            wait = min(wait, (due - now).total_seconds() + 0.01)
        return wait

    async def _may_send(self, row: OutboxRow, now: datetime) -> bool:
        """Settle rows for blocked students and students in quiet hours without sending."""
        person = await workers_repo.recipient(self._db, row.chat_id)
        if person is None:
            return True  # not a student (an admin chat): no quiet hours
        if person.status == "blocked":
            async with self._db.transaction() as tx:
                await outbox_repo.mark_failed(tx, row.id, "blocked: the student blocked the bot")
            self.stats["blocked"] += 1
            return False
        local_now = now.astimezone(_zone(person.timezone))
        until = notify.quiet_until(local_now, person.quiet_start, person.quiet_end)
        if until is None:
            return True
        async with self._db.transaction() as tx:
            await outbox_repo.reschedule(tx, row.id, until.astimezone(UTC), "quiet hours",
                                         count_attempt=False)
        self.stats["quiet"] += 1
        return False

    # ------------------------------------------------------------------ one send

    async def _deliver(self, row: OutboxRow) -> None:
        try:
            await self._deliver_one(row)
        except Exception:
            log.exception("outbox row %d: could not record the result", row.id)
        finally:
            self._slots.release()

    async def _send(self, row: OutboxRow, content: Content) -> None:
        markup = _markup(content)
        if content.photo is not None:
            await self._bot.send_photo(row.chat_id, content.photo,
                                       caption=content.text or None, reply_markup=markup)
        else:
            await self._bot.send_message(row.chat_id, content.text, reply_markup=markup)

    async def _deliver_one(self, row: OutboxRow) -> None:
        try:
            content = notify.decode(row.payload)
            await self._send(row, content)
        except RetryAfter as exc:
            seconds = retry_after_seconds(exc.retry_after)
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)
            log.warning("Telegram flood control: pausing the outbox for %.1f s", seconds)
            self.stats["retry_after"] += 1
            async with self._db.transaction() as tx:
                await outbox_repo.reschedule(
                    tx, row.id, self._now() + timedelta(seconds=seconds),
                    f"429: retry after {seconds:g} s", count_attempt=False,
                )
        except Forbidden as exc:
            log.info("chat %d cannot be reached (%s); marked blocked", row.chat_id, exc.message)
            self.stats["blocked"] += 1
            async with self._db.transaction() as tx:
                await workers_repo.mark_blocked(tx, row.chat_id)
                await outbox_repo.mark_failed(tx, row.id, f"403: {exc.message}")
        except (BadRequest, ChatMigrated) as exc:
            # BadRequest is a NetworkError subclass: it must be caught before the retry branch.
            log.warning("outbox row %d refused by Telegram: %s", row.id, exc.message)
            self.stats["failed"] += 1
            async with self._db.transaction() as tx:
                await outbox_repo.mark_failed(tx, row.id, f"400: {exc.message}")
        except TelegramError as exc:  # NetworkError, TimedOut, 5xx
            await self._retry_later(row, f"{type(exc).__name__}: {exc.message}")
        except (ValueError, KeyError, TypeError) as exc:  # a payload we cannot render
            log.exception("outbox row %d has a broken payload", row.id)
            self.stats["failed"] += 1
            async with self._db.transaction() as tx:
                await outbox_repo.mark_failed(tx, row.id, f"payload: {exc!r}")
        else:
            self.stats["sent"] += 1
            async with self._db.transaction() as tx:
                await outbox_repo.mark_sent(tx, row.id, self._now())

    async def _retry_later(self, row: OutboxRow, error: str) -> None:
        async with self._db.transaction() as tx:
            if row.attempts >= self._max_attempts:
                log.warning("outbox row %d failed after %d attempts: %s",
                            row.id, row.attempts, error)
                self.stats["failed"] += 1
                await outbox_repo.mark_failed(tx, row.id, error)
                return
            seconds = min(self._backoff_cap, self._backoff_base * 2 ** (row.attempts - 1))
            self.stats["retried"] += 1
            await outbox_repo.reschedule(tx, row.id, self._now() + timedelta(seconds=seconds),
                                         error)
