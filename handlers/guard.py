"""The one admin guard: every admin command, file and button from anyone else stops here.

It runs in group -1, before all other handlers, with a polite refusal that says nothing
about what exists.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    MessageHandler,
    filters,
)

from bot.context import Ctx
from bot.texts import t
from handlers.common import ADMIN, OWNER, REVIEWER, answer_query, lang_of, role_of

# What a reviewer may do of the admin commands and buttons: review held answers, see stats.
REVIEWER_COMMANDS = ("review", "stats")
REVIEWER_BUTTONS = ("v",)


def _reviewer_may(update: Update) -> bool:
    """A /review or /stats text, or a review (v:) button; never a file or anything else."""
    query = update.callback_query
    if query is not None:
        prefix = (query.data or "").split(":", 1)[0]
        return prefix in REVIEWER_BUTTONS and ":" in (query.data or "")
    message = update.effective_message
    if message is None or message.text is None or message.effective_attachment:
        return False
    return bool(_REVIEWER_PATTERN.match(message.text))


async def guard(update: Update, context: Ctx) -> None:
    """Stop any admin update from someone whose role does not allow it, with a polite
    refusal and no details. The role is read once, from memory (bot_data.roles)."""
    user = update.effective_user
    role = role_of(context, user.id) if user is not None else None
    if role in (OWNER, ADMIN) or (role == REVIEWER and _reviewer_may(update)):
        return
    lang = await lang_of(update, context)
    if update.callback_query is not None:
        await answer_query(update.callback_query, t(lang, "not_allowed"), alert=True)
    elif update.effective_message is not None:
        await update.effective_message.reply_text(t(lang, "not_allowed"))
    raise ApplicationHandlerStop


def command_pattern(commands: Iterable[str]) -> re.Pattern[str]:
    """Whatever CommandHandler would take for one of these commands: any capitals
    ("/STATS" is /stats to it) and anything after the name that cannot continue it
    ("/stats@bot x", "/stats,x")."""
    names = "|".join(sorted(commands, key=len, reverse=True))
    return re.compile(rf"^/({names})(?![A-Za-z0-9_])", re.IGNORECASE)


_REVIEWER_PATTERN = command_pattern(REVIEWER_COMMANDS)


def register(app: Application, commands: Iterable[str], button_prefixes: Iterable[str]) -> None:
    pattern = command_pattern(commands)
    admin_update = filters.Regex(pattern) | filters.CaptionRegex(pattern) | filters.Document.ALL
    app.add_handler(MessageHandler(admin_update, guard), group=-1)
    prefixes = "|".join(button_prefixes)
    app.add_handler(CallbackQueryHandler(guard, pattern=rf"^({prefixes}):"), group=-1)
