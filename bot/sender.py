"""The outbox sender: delivers queued notifications under Telegram's limits, exactly once.

One asyncio task claims due outbox rows one at a time, right before sending each, so a
crash leaves at most the few rows in flight (or just delivered) undecided: they become
'unknown' at the next start and are not resent (see db/outbox.py). Claiming a row — with
writing down the deliveries since the last claim, and settling on the way the rows of
blocked students and of students in their quiet hours — is one transaction and one hop to
the database thread: one short write per message, so a 10,000-student broadcast does not
hold up the taps that share the connection. (A delivery is written down with the next
claim, a spacing later, and by stop().) Pacing is the sender's own `SendLimiter`, not an
AIORateLimiter on the whole bot, so button taps never queue behind a broadcast:

- at most `per_second` (default 29, never above Telegram's 30) sends in any sliding
  one-second window *as Telegram sees it*, whatever the network jitter (see SendLimiter),
  spaced evenly rather than in bursts; the default leaves one message a second of
  Telegram's 30 to the bot's direct replies (an admin's "queued" confirmation), which do
  not go through the outbox;
- at most one send per chat per second, counted the same way (rows for a chat written to
  less than a second ago stay pending and are claimed later);
- a few sends in flight at once, so one slow request does not drag the rate down.

Outcomes: sent; 429 RetryAfter → the whole sender pauses for retry_after and the row is
retried first afterwards (it keeps its place in the queue); 403 Forbidden → the student is
marked 'blocked' and the row 'failed', and nothing is queued for them again; 400 Bad
Request → 'failed'; network errors, timeouts and 5xx → retried with exponential backoff
(1 s … 5 min), 'failed' after `max_attempts`. A student in their quiet hours (their own
time zone) is not written to: the row waits until the window ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError

from bot.services import notify
from bot.services.notify import Content
from db import outbox as outbox_repo
from db import workers as workers_repo
from db.connection import Database, Tx
from db.outbox import OutboxRow

log = logging.getLogger(__name__)

TELEGRAM_MAX_PER_SECOND = 30
DEFAULT_PER_SECOND = 29  # one a second of Telegram's 30 left to the bot's direct replies
SETTLE_PER_CLAIM = 50  # rows of blocked / quiet students settled in one claim, at most


def _utcnow() -> datetime:
    return datetime.now(UTC)


def retry_after_seconds(value: int | float | timedelta) -> float:
    """RetryAfter.retry_after is an int (PTB < 22.2 style) or a timedelta (PTB_TIMEDELTA)."""
    if isinstance(value, timedelta):
        return max(value.total_seconds(), 0.0)
    return max(float(value), 0.0)


class Send:
    """One send as the limiter counts it: from its start until `window` after its answer."""

    __slots__ = ("chat_id", "ended", "started")

    def __init__(self, chat_id: int, started: float) -> None:
        self.chat_id = chat_id
        self.started = started
        self.ended: float | None = None  # None while the request is in flight


class SendLimiter:
    """Sliding-window pacing that holds as the *server* counts: at most `per_second` sends in
    any `window` seconds, at least `window / per_second` apart, and one per chat per
    `per_chat_seconds`.

    Telegram stamps a send somewhere between the moment we start it and the moment its
    answer is back; network jitter moves the stamp around inside that interval and bunches
    sends that left evenly spaced. So a send counts from its `start()` until `window`
    seconds after its `finish()` (while in flight, it counts for as long as it takes). Then
    of any `per_second + 1` sends, the last one started at least `window` after an earlier
    one was answered, so their stamps are at least `window` apart: no window as the server
    sees it holds more than `per_second`, whatever the jitter. The price is the round trip:
    the pace is `per_second / (window + round trip)` (28.7 a second at 29 and 10 ms).
    The spacing keeps to a grid (a send that starts a little late does not push the ones
    after it back), so the sleeps' own lateness does not slow the pace down.
    A chat is busy the same way, from the start of a send until `per_chat_seconds` after
    its answer.

    The clock is injected so tests can drive it; nothing here sleeps.
    """

    def __init__(
        self,
        per_second: int = DEFAULT_PER_SECOND,
        *,
        per_chat_seconds: float = 1.0,
        window: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= per_second <= TELEGRAM_MAX_PER_SECOND:
            raise ValueError(f"per_second must be 1..{TELEGRAM_MAX_PER_SECOND}, got {per_second}")
        self.per_second = per_second
        self.window = window
        self.per_chat_seconds = per_chat_seconds
        self._spacing = window / per_second
        self._clock = clock
        self._sends: list[Send] = []  # in start order, until `window` after their answer
        self._next_start: float | None = None  # the spacing's grid: the next slot
        self._chat_busy: dict[int, float] = {}  # chat → busy until (inf while in flight)

    def _prune(self, now: float) -> None:
        cutoff = now - self.window
        if self._sends and any(s.ended is not None and s.ended <= cutoff for s in self._sends):
            self._sends = [s for s in self._sends if s.ended is None or s.ended > cutoff]
        if self._chat_busy:
            for chat in [c for c, until in self._chat_busy.items() if until <= now]:
                del self._chat_busy[chat]

    def delay(self) -> float:
        """Seconds to wait before the next send is allowed overall (0: send now)."""
        now = self._clock()
        self._prune(now)
        wait = 0.0
        excess = len(self._sends) - self.per_second + 1
        if excess > 0:
            ends = sorted(s.ended for s in self._sends if s.ended is not None)
            # Answers still outstanding: look again after one spacing at the latest.
            wait = ends[excess - 1] + self.window - now if len(ends) >= excess else self._spacing
        if self._next_start is not None:
            wait = max(wait, self._next_start - now)
        return max(wait, 0.0)

    def chat_delay(self, chat_id: int) -> float:
        """Seconds before this chat may be written to again (inf while a send to it is out)."""
        until = self._chat_busy.get(chat_id)
        if until is None:
            return 0.0
        return max(until - self._clock(), 0.0)

    def busy_chats(self) -> list[int]:
        """Chats with a send in flight or answered less than `per_chat_seconds` ago."""
        self._prune(self._clock())
        return list(self._chat_busy)

    def next_chat_free(self) -> float | None:
        """Seconds until the first busy chat frees up (inf if only sends in flight keep chats
        busy), or None if no chat is busy."""
        self._prune(self._clock())
        if not self._chat_busy:
            return None
        return max(min(self._chat_busy.values()) - self._clock(), 0.0)

    def start(self, chat_id: int) -> Send:
        """Count a send to `chat_id` starting now; call `finish()` when its answer is back."""
        now = self._clock()
        send = Send(chat_id, now)
        self._sends.append(send)
        slot = self._next_start
        # Late by less than a spacing: the next slot stays on the grid. Later (idle): afresh.
        base = slot if slot is not None and now - slot < self._spacing else now
        self._next_start = base + self._spacing
        self._chat_busy[chat_id] = math.inf
        return send

    def finish(self, send: Send) -> None:
        """The answer to `send` is back (or it failed): its window starts closing now."""
        if send.ended is not None:
            return
        now = self._clock()
        send.ended = now
        if self._chat_busy.get(send.chat_id) == math.inf:
            self._chat_busy[send.chat_id] = now + self.per_chat_seconds

    def record(self, chat_id: int) -> None:
        """Count a send to `chat_id` that started and was answered now."""
        self.finish(self.start(chat_id))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _markup(content: Content) -> InlineKeyboardMarkup | None:
    if not content.buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(label, callback_data=data) for label, data in row]
            for row in content.buttons
        ]
    )


# ---------------------------------------------------------------------- database work
# Each function below is one transaction run in the database thread (`Database.run`): one
# hop, however many statements.


@dataclass(frozen=True, slots=True)
class Claim:
    """What one claim found: the row to send now (or None), when the next pending row is
    due (when there is none to send), and the rows settled without sending."""

    row: OutboxRow | None
    next_due: datetime | None = None
    blocked: int = 0
    quiet: int = 0
    more: bool = False  # stopped after SETTLE_PER_CLAIM settled rows: claim again at once


async def claim_next(
    tx: Tx, now: datetime, busy_chats: list[int], sent: list[tuple[int, datetime]]
) -> Claim:
    """Write down the rows `sent` since the last claim, then claim the next due row a student
    may get now. Rows for blocked students are failed and rows for students in their quiet
    hours wait until the hours end, on the way."""
    await outbox_repo.mark_sent_many(tx, sent)
    blocked = quiet = 0
    for _ in range(SETTLE_PER_CLAIM):
        rows = await outbox_repo.claim_due(tx, now, 1, skip_chats=busy_chats)
        if not rows:
            return Claim(None, await outbox_repo.next_due_at(tx), blocked, quiet)
        row = rows[0]
        person = await workers_repo.recipient(tx, row.chat_id)
        if person is None:  # not a student (an admin chat): no quiet hours
            return Claim(row, None, blocked, quiet)
        if person.status == "blocked":
            await outbox_repo.mark_failed(tx, row.id, "blocked: the student blocked the bot")
            blocked += 1
            continue
        local_now = now.astimezone(_zone(person.timezone))
        until = notify.quiet_until(local_now, person.quiet_start, person.quiet_end)
        if until is None:
            return Claim(row, None, blocked, quiet)
        await outbox_repo.reschedule(
            tx, row.id, until.astimezone(UTC), "quiet hours", count_attempt=False
        )
        quiet += 1
    return Claim(None, None, blocked, quiet, more=True)


async def _requeue(
    tx: Tx, row_id: int, not_before: datetime, error: str | None, count_attempt: bool
) -> bool:
    return await outbox_repo.reschedule(tx, row_id, not_before, error, count_attempt=count_attempt)


async def _blocked(tx: Tx, row_id: int, chat_id: int, error: str) -> None:
    await workers_repo.mark_blocked(tx, chat_id)
    await outbox_repo.mark_failed(tx, row_id, error)


# ---------------------------------------------------------------------- the sender


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
        per_second: int = DEFAULT_PER_SECOND,
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
        self.limiter = SendLimiter(
            min(per_second, TELEGRAM_MAX_PER_SECOND), per_chat_seconds=per_chat_seconds
        )
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
        self._sent: list[tuple[int, datetime]] = []  # delivered, written down at the next claim
        self.stats: Counter[str] = Counter()

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> int:
        """Settle rows a crash left mid-send, then start sending; return how many were left."""
        if self.running:
            return 0
        unknown = await self._db.run(outbox_repo.recover_after_crash)
        if unknown:
            log.warning(
                "%d notifications were being sent when the bot stopped; "
                "marked unknown, not resent",
                unknown,
            )
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
        sent, self._sent = self._sent, []
        if sent:
            await self._db.run(outbox_repo.mark_sent_many, sent)

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
        """Queue new-task alerts for idle students of a project, to go out a second from now.

        The upload or /resume that calls this has just been answered in the admin's chat, and
        the admin may be a student too: Telegram allows about one message a second per chat,
        and the alert should not land in the middle of that exchange. The alerts are queued
        as of the moment they go out."""
        at = self._now() + timedelta(seconds=self.limiter.per_chat_seconds)
        queued = await notify.alert_idle_students(self._db, project_id, at, self.alert_interval)
        if queued:
            self.wake()  # it sleeps until they are due
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
            sent, self._sent = self._sent, []
            try:
                claim = await self._db.run(claim_next, now, self.limiter.busy_chats(), sent)
            except BaseException:
                self._sent[:0] = sent  # not written down: keep them for the next try
                raise
            if claim.blocked:
                self.stats["blocked"] += claim.blocked
            if claim.quiet:
                self.stats["quiet"] += claim.quiet
            row = claim.row
            if row is None:
                if not claim.more:
                    await self._sleep(self._idle_seconds(now, claim.next_due), self._wake)
                return
            # The claim overlaps the wait for the next slot.
            while (wait := max(self.limiter.delay(), self._paused_until - time.monotonic())) > 0:
                if self._stop.is_set():
                    await self._put_back(row)
                    return
                await self._sleep(wait)
            send = self.limiter.start(row.chat_id)
            task = asyncio.create_task(self._deliver(row, send), name=f"outbox-{row.id}")
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
            handed_off = True
        finally:
            if not handed_off:
                self._slots.release()

    async def _put_back(self, row: OutboxRow) -> None:
        """Return a claimed row that was not tried (stopping during a pause) to the queue,
        in its place."""
        await self._db.run(_requeue, row.id, row.not_before, None, False)

    def _idle_seconds(self, now: datetime, due: datetime | None) -> float:
        """How long to wait when nothing could be claimed."""
        wait = self._poll
        chat_free = self.limiter.next_chat_free()
        if chat_free is not None:
            wait = min(wait, chat_free + 0.01)
        if due is not None and due > now:
            wait = min(wait, (due - now).total_seconds() + 0.01)
        return wait

    # ------------------------------------------------------------------ one send

    async def _deliver(self, row: OutboxRow, send: Send) -> None:
        try:
            await self._deliver_one(row, send)
        except Exception:
            log.exception("outbox row %d: could not record the result", row.id)
        finally:
            self.limiter.finish(send)
            self._slots.release()

    async def _send(self, row: OutboxRow, content: Content) -> None:
        markup = _markup(content)
        if content.photo is not None:
            await self._bot.send_photo(
                row.chat_id, content.photo, caption=content.text or None, reply_markup=markup
            )
        else:
            await self._bot.send_message(row.chat_id, content.text, reply_markup=markup)

    async def _deliver_one(self, row: OutboxRow, send: Send) -> None:
        try:
            content = notify.decode(row.payload)
            try:
                await self._send(row, content)
            finally:
                self.limiter.finish(send)  # the answer is back: the window starts closing
        except RetryAfter as exc:
            seconds = retry_after_seconds(exc.retry_after)
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)
            log.warning("Telegram flood control: pausing the outbox for %.1f s", seconds)
            self.stats["retry_after"] += 1
            # The pause holds everything back; the row keeps its place, so it goes first.
            await self._db.run(
                _requeue, row.id, row.not_before, f"429: retry after {seconds:g} s", False
            )
        except Forbidden as exc:
            log.info("chat %d cannot be reached (%s); marked blocked", row.chat_id, exc.message)
            self.stats["blocked"] += 1
            await self._db.run(_blocked, row.id, row.chat_id, f"403: {exc.message}")
        except (BadRequest, ChatMigrated) as exc:
            # BadRequest is a NetworkError subclass: it must be caught before the retry branch.
            log.warning("outbox row %d refused by Telegram: %s", row.id, exc.message)
            self.stats["failed"] += 1
            await self._db.run(outbox_repo.mark_failed, row.id, f"400: {exc.message}")
        except TelegramError as exc:  # NetworkError, TimedOut, 5xx
            await self._retry_later(row, f"{type(exc).__name__}: {exc.message}")
        except (ValueError, KeyError, TypeError) as exc:  # a payload we cannot render
            log.exception("outbox row %d has a broken payload", row.id)
            self.stats["failed"] += 1
            await self._db.run(outbox_repo.mark_failed, row.id, f"payload: {exc!r}")
        else:
            self.stats["sent"] += 1
            self._sent.append((row.id, self._now()))
            self._wake.set()  # an idle loop writes it down now; a busy one at its next claim

    async def _retry_later(self, row: OutboxRow, error: str) -> None:
        if row.attempts >= self._max_attempts:
            log.warning("outbox row %d failed after %d attempts: %s", row.id, row.attempts, error)
            self.stats["failed"] += 1
            await self._db.run(outbox_repo.mark_failed, row.id, error)
            return
        seconds = min(self._backoff_cap, self._backoff_base * 2 ** (row.attempts - 1))
        self.stats["retried"] += 1
        await self._db.run(_requeue, row.id, self._now() + timedelta(seconds=seconds), error, True)
