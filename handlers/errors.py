"""The one error handler: log first, tell the person to try again, alert the admins briefly."""

from __future__ import annotations

import contextlib
import logging
import time

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application

from bot.context import Ctx
from bot.texts import t
from handlers.common import lang_of

log = logging.getLogger(__name__)
ALERT_EVERY_SECONDS = 60.0
_last_alert = {"at": 0.0}


async def on_error(update: object, context: Ctx) -> None:
    """Log the failure, then tell the person the truth: "nothing was saved, please try
    again", or, when the change had committed before the failure, that it was saved and
    needs no second try."""
    log.error("update failed", exc_info=context.error)
    if not isinstance(update, Update):
        return
    lang = context.bot_data.cfg.default_language
    with contextlib.suppress(Exception):
        lang = await lang_of(update, context)
    key = "saved_not_shown" if update.update_id in context.bot_data.saved_updates else "try_again"
    with contextlib.suppress(TelegramError):
        if update.callback_query is not None:
            await update.callback_query.answer(t(lang, key), show_alert=True)
        elif update.effective_message is not None:
            await update.effective_message.reply_text(t(lang, key))
    await _alert_admins(context)


async def _alert_admins(context: Ctx) -> None:
    """One short line to each admin, at most once a minute; never the token or a traceback."""
    if time.monotonic() - _last_alert["at"] < ALERT_EVERY_SECONDS:
        return
    _last_alert["at"] = time.monotonic()
    error = context.error
    text = f"⚠️ Labelgram error: {type(error).__name__}"
    text = text.replace(context.bot_data.cfg.token, "***")
    for admin_id in context.bot_data.cfg.admin_ids:
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(admin_id, text)


def register(app: Application) -> None:
    app.add_error_handler(on_error)
