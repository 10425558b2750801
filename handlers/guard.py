"""Who may run a handler, declared where it is registered.

`command_for(ADMINS, "payout", on_payout)` is a CommandHandler: it matches exactly what
CommandHandler("payout") matches (python-telegram-bot's own reading of the bot_command
entity: capitals, /payout@bot, and whatever a crafted entity covers), then runs on_payout for
owners and admins and answers anyone else with one polite line that says nothing about what
exists. Matching and guarding are one decision taken by one handler, so there is no second
list of names and no second idea of where a command ends. Buttons (`button_for`) and other
messages, such as files (`message_for`), work the same way. Roles are read from memory
(bot_data.roles and the config's admin_ids), with no query.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from re import Pattern
from typing import Any

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler
from telegram.ext.filters import BaseFilter

from bot.context import Ctx
from bot.texts import t
from handlers.common import ADMIN, OWNER, REVIEWER, answer_query, lang_of, role_of

ADMINS = frozenset({OWNER, ADMIN})
# Reviewers review held answers (/review, v: buttons) and see /stats; admins may too.
REVIEWERS = frozenset({OWNER, ADMIN, REVIEWER})
OWNERS = frozenset({OWNER})

Callback = Callable[[Update, Ctx], Coroutine[Any, Any, Any]]


def may(roles: frozenset[str], update: Update, context: Ctx) -> bool:
    """Does the sender of this update have one of these roles?"""
    user = update.effective_user
    return user is not None and role_of(context, user.id) in roles


async def refuse(update: Update, context: Ctx) -> None:
    """The same polite line for everything someone may not do, in their language."""
    lang = await lang_of(update, context)
    if update.callback_query is not None:
        await answer_query(update.callback_query, t(lang, "not_allowed"), alert=True)
    elif update.effective_message is not None:
        await update.effective_message.reply_text(t(lang, "not_allowed"))


class _ForRoles:
    """Mixed into a handler class: it matches as that class does; the callback runs only for
    `roles`, anyone else is refused (and nothing else handles the update)."""

    __slots__ = ()
    roles: frozenset[str]

    async def handle_update(
        self, update: Update, application: Any, check_result: object, context: Ctx
    ) -> Any:
        if may(self.roles, update, context):
            run = super().handle_update  # type: ignore[misc]
            return await run(update, application, check_result, context)
        await refuse(update, context)
        return None


class RoleCommandHandler(_ForRoles, CommandHandler[Ctx, Any]):
    __slots__ = ("roles",)


class RoleCallbackQueryHandler(_ForRoles, CallbackQueryHandler[Ctx, Any]):
    __slots__ = ("roles",)


class RoleMessageHandler(_ForRoles, MessageHandler[Ctx, Any]):
    __slots__ = ("roles",)


def command_for(
    roles: frozenset[str], command: str, callback: Callback, **kwargs: Any
) -> RoleCommandHandler:
    """/command for these roles only (CommandHandler's matching, any keyword it takes)."""
    handler = RoleCommandHandler(command, callback, **kwargs)
    handler.roles = roles
    return handler


def button_for(
    roles: frozenset[str], callback: Callback, pattern: str | Pattern[str]
) -> RoleCallbackQueryHandler:
    """Buttons whose callback data matches `pattern`, for these roles only."""
    handler = RoleCallbackQueryHandler(callback, pattern=pattern)
    handler.roles = roles
    return handler


def message_for(
    roles: frozenset[str], message_filter: BaseFilter, callback: Callback
) -> RoleMessageHandler:
    """Messages that pass `message_filter` (a file, a captioned photo), for these roles only."""
    handler = RoleMessageHandler(message_filter, callback)
    handler.roles = roles
    return handler
