"""/broadcast for admins, and the new-task alerts that admin actions trigger.

Both go through the outbox (bot.sender.OutboxSender): paced under Telegram's limits, never
sent twice, skipped for students who blocked the bot. /broadcast is registered for admins
only (handlers.guard).
"""

from __future__ import annotations

import logging
import math
import re

from telegram import Update
from telegram.ext import Application

from bot.context import Ctx
from bot.services import notify
from bot.texts import t
from handlers.common import lang_of, now
from handlers.guard import ADMINS, command_for

log = logging.getLogger(__name__)

_BROADCAST = re.compile(r"^/broadcast(?:@\w+)?(?:\s+(.*))?$", re.DOTALL)


def broadcast_text(message_text: str | None) -> str:
    """What follows /broadcast, line breaks kept; "" if nothing does."""
    match = _BROADCAST.match(message_text or "")
    return (match.group(1) or "").strip() if match else ""


async def on_broadcast(update: Update, context: Ctx) -> None:
    """/broadcast <text>: queue the text for every active student."""
    message = update.effective_message
    if message is None:
        return
    lang = await lang_of(update, context)
    text = broadcast_text(message.text)
    if not text:
        await message.reply_text(t(lang, "broadcast_usage"))
        return
    data = context.bot_data
    queued = await notify.broadcast(
        data.database,
        text,
        origin_chat_id=message.chat_id,
        origin_message_id=message.message_id,
        now=now(),
    )
    if not queued:
        await message.reply_text(t(lang, "broadcast_nobody"))
        return
    data.outbox.wake()
    seconds = math.ceil(queued / data.outbox.limiter.per_second)
    await message.reply_text(t(lang, "broadcast_queued", count=queued, seconds=seconds))


async def alert_new_work(context: Ctx, project_id: int) -> None:
    """Tell idle students with alerts on that a project has work: call it after an upload
    added tasks and after /resume. Never fails the admin's command: problems are logged."""
    try:
        queued = await context.bot_data.outbox.alert_new_work(project_id)
    except Exception:
        log.exception("new-task alerts for project %d could not be queued", project_id)
        return
    if queued:
        log.info("queued %d new-task alerts for project %d", queued, project_id)


def register(app: Application) -> None:
    app.add_handler(command_for(ADMINS, "broadcast", on_broadcast))
