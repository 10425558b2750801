"""Notifications: what goes into the outbox, new-task alerts, broadcasts, quiet hours.

Nothing here talks to Telegram: messages are rendered into the outbox (in each student's
language, at the moment they are queued) and `bot.sender.OutboxSender` delivers them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from bot.texts import CATALOGS, t
from db import outbox as outbox_repo
from db import projects as projects_repo
from db import workers as workers_repo
from db.connection import Database, Tx

MAX_TEXT = 4096  # Telegram's limits, in UTF-16 code units
MAX_CAPTION = 1024
MAX_CALLBACK_BYTES = 64

KIND_ALERT = "alert"
KIND_BROADCAST = "broadcast"
START_CALLBACK = "n"  # bot.callbacks.NextTask().pack(): send the next task as a new message

Buttons = tuple[tuple[tuple[str, str], ...], ...]


@dataclass(frozen=True, slots=True)
class Notification:
    """One message for one chat. `buttons` are rows of (label, callback_data).

    `dedupe_key` names the logical message ("alert:3:1001:4242"): the same key is queued
    once, however often it is enqueued. `not_before` delays it (None: as soon as possible).
    """

    chat_id: int
    kind: str
    dedupe_key: str
    text: str
    buttons: Buttons = ()
    photo: bytes | None = None
    not_before: datetime | None = None

    def __post_init__(self) -> None:
        for row in self.buttons:
            for _label, data in row:
                if not 1 <= len(data.encode()) <= MAX_CALLBACK_BYTES:
                    raise ValueError(f"callback_data must be 1-64 bytes, got {data!r}")
        if not self.text and self.photo is None:
            raise ValueError("a notification needs a text or a photo")


@dataclass(frozen=True, slots=True)
class Content:
    """A queued message as the sender renders it."""

    text: str
    buttons: Buttons
    photo: bytes | None


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def fit(text: str, limit: int) -> str:
    """`text` cut to `limit` UTF-16 code units (Telegram's measure), ending in "…" if cut."""
    if _utf16_len(text) <= limit:
        return text
    out, used = [], 0
    for char in text:
        size = 2 if ord(char) > 0xFFFF else 1
        if used + size > limit - 1:
            break
        out.append(char)
        used += size
    return "".join(out) + "…"


def encode(n: Notification) -> str:
    """The outbox payload: JSON with the text (cut to Telegram's limit), buttons and photo."""
    limit = MAX_CAPTION if n.photo is not None else MAX_TEXT
    data: dict[str, object] = {"text": fit(n.text, limit)}
    if n.buttons:
        data["buttons"] = [[[label, cb] for label, cb in row] for row in n.buttons]
    if n.photo is not None:
        data["photo"] = base64.b64encode(n.photo).decode("ascii")
    return json.dumps(data, ensure_ascii=False)


def decode(payload: str) -> Content:
    data = json.loads(payload)
    buttons = tuple(
        tuple((str(label), str(cb)) for label, cb in row) for row in data.get("buttons", ())
    )
    photo = data.get("photo")
    return Content(
        text=str(data.get("text", "")),
        buttons=buttons,
        photo=base64.b64decode(photo) if photo else None,
    )


async def enqueue_in(tx: Tx, items: Iterable[Notification], now: datetime) -> int:
    """Queue notifications inside the caller's transaction; return how many were new.

    Notifications for a student who blocked the bot are dropped.
    """
    return await outbox_repo.enqueue_many(
        tx,
        (
            outbox_repo.NewMessage(
                chat_id=n.chat_id,
                kind=n.kind,
                dedupe_key=n.dedupe_key,
                payload=encode(n),
                not_before=n.not_before or now,
            )
            for n in items
        ),
        now,
    )


async def enqueue(db: Database, items: Iterable[Notification], now: datetime) -> int:
    """Queue notifications in one transaction; return how many were new (not duplicates)."""
    return await db.run(enqueue_in, items, now)


def quiet_until(
    local_now: datetime, quiet_start_min: int | None, quiet_end_min: int | None
) -> datetime | None:
    """When the quiet window around `local_now` ends, or None if it is not quiet now.

    Start and end are minutes after local midnight; the window includes its start and
    excludes its end, and may cross midnight (22:00–08:00 is 1320–480). No window (None)
    or an empty one (start == end) is never quiet. The result is in `local_now`'s zone.
    """
    if quiet_start_min is None or quiet_end_min is None or quiet_start_min == quiet_end_min:
        return None
    minute = local_now.hour * 60 + local_now.minute
    start, end = quiet_start_min % 1440, quiet_end_min % 1440
    today = local_now.date()
    end_time = time(end // 60, end % 60)
    if start < end:
        if start <= minute < end:
            return datetime.combine(today, end_time, tzinfo=local_now.tzinfo)
        return None
    # The window crosses midnight: quiet from `start` to midnight and from midnight to `end`.
    if minute >= start:
        return datetime.combine(today + timedelta(days=1), end_time, tzinfo=local_now.tzinfo)
    if minute < end:
        return datetime.combine(today, end_time, tzinfo=local_now.tzinfo)
    return None


def alert_key(project_id: int, worker_id: int, now: datetime, min_interval: timedelta) -> str:
    bucket = int(now.timestamp() // max(min_interval.total_seconds(), 1.0))
    return f"alert:{project_id}:{worker_id}:{bucket}"


async def alert_idle_students(
    db: Database, project_id: int, now: datetime, min_interval: timedelta
) -> int:
    """Queue a new-task alert for every idle student with alerts on; return how many.

    Idle: active, holding no task, and with a task in this project they never held. A
    student alerted for this project less than `min_interval` ago is left alone.
    """
    async with db.transaction() as tx:
        project = await projects_repo.get(tx, project_id)
        if project is None or project.status != "active":
            return 0
        students = await workers_repo.alert_candidates(tx, project_id, now - min_interval, now)
        items = [
            Notification(
                chat_id=w.id,
                kind=KIND_ALERT,
                dedupe_key=alert_key(project_id, w.id, now, min_interval),
                text=t(w.language, "alert_new_tasks", project=project.name),
                buttons=(((t(w.language, "btn_start"), START_CALLBACK),),),
            )
            for w in students
        ]
        queued = await enqueue_in(tx, items, now)
        await outbox_repo.record_alerts(tx, project_id, (w.id for w in students), now)
        return queued


async def broadcast(
    db: Database, text: str, *, origin_chat_id: int, origin_message_id: int, now: datetime
) -> int:
    """Queue `text` for every active student except its author; return how many were new.

    The key includes the admin's command message, so the same /broadcast delivered twice
    (Telegram re-sends updates after a crash) reaches nobody twice.
    """
    return await db.run(_broadcast, text, origin_chat_id, origin_message_id, now)


async def _broadcast(
    tx: Tx, text: str, origin_chat_id: int, origin_message_id: int, now: datetime
) -> int:
    # One statement in one hop, the message rendered once per language: queuing 10,000
    # holds taps back for a few milliseconds, not hundreds.
    payloads = {
        lang: encode(
            Notification(
                chat_id=0,
                kind=KIND_BROADCAST,
                dedupe_key="",
                text=t(lang, "broadcast_message", text=text),
            )
        )
        for lang in CATALOGS
    }
    return await outbox_repo.enqueue_for_active_students(
        tx,
        kind=KIND_BROADCAST,
        key_prefix=f"broadcast:{origin_chat_id}:{origin_message_id}:",
        payloads=payloads,
        fallback=payloads["en"],
        exclude=origin_chat_id,
        now=now,
    )
