"""/role <user id or @username> admin|reviewer|none: owners give and take roles.

Owners are the config's admin_ids and cannot be changed here; /role is registered for
owners only (handlers.guard), anyone else gets the same polite refusal.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application

from bot.context import Ctx
from bot.texts import t
from db import roles as roles_db
from db import workers
from handlers.common import is_owner, lang_of, now
from handlers.guard import OWNERS, command_for

_CHOICES = {"admin": "admin", "reviewer": "reviewer", "none": None}


async def _target(context: Ctx, who: str) -> int | None:
    """A Telegram user id, or @username of someone the bot knows."""
    if who.lstrip("-").isdigit():
        return int(who)
    worker = await workers.get_by_username(context.bot_data.database, who.lstrip("@"))
    return worker.id if worker else None


async def on_role(update: Update, context: Ctx) -> None:
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    lang = await lang_of(update, context)
    args = context.args or []
    if len(args) != 2 or args[1].lower() not in _CHOICES:
        await message.reply_text(t(lang, "role_usage"))
        return
    target = await _target(context, args[0])
    if target is None:
        await message.reply_text(t(lang, "role_unknown_user", user=args[0]))
        return
    if is_owner(context, target):
        await message.reply_text(t(lang, "role_owner_fixed", user=target))
        return
    role = _CHOICES[args[1].lower()]
    async with context.bot_data.database.transaction() as tx:
        change = await roles_db.set_role(tx, target, role, by=user.id, now=now())
    cache = context.bot_data.roles
    if role is None:
        cache.pop(target, None)
    else:
        cache[target] = role
    if change.old_role == change.new_role:
        await message.reply_text(
            t(lang, "role_unchanged", user=target, role=change.new_role or "none")
        )
        return
    await message.reply_text(
        t(
            lang,
            "role_changed",
            user=target,
            old=change.old_role or "none",
            new=change.new_role or "none",
        )
    )


def register(app: Application) -> None:
    app.add_handler(command_for(OWNERS, "role", on_role))
