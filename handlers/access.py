"""Who may work: the invite-only gate, and /invite, /invites, /revoke (admins).

In invite mode the gate runs in group -2, before everything else: a message or button
from someone who is neither registered nor an admin gets one polite line asking for an
invite link and nothing else. `/start <code>` passes through to on_start, which registers
the person if the code is usable. Registered students are remembered in bot_data.members,
so after the first update they cost no query here.
"""

from __future__ import annotations

from datetime import UTC, datetime

from telegram import Update
from telegram.ext import Application, ApplicationHandlerStop, TypeHandler

from bot.context import Ctx
from bot.services import access, labeling
from bot.texts import t
from handlers.common import answer_query, lang_of, now, role_of
from handlers.guard import ADMINS, command_for

DEFAULT_DAYS = 7
_MAX_MEMBERS = 100_000


def remember_member(context: Ctx, user_id: int) -> None:
    members = context.bot_data.members
    if len(members) >= _MAX_MEMBERS:
        members.clear()
    members.add(user_id)


def _start_with_code(update: Update) -> bool:
    message = update.message
    text = (message.text or "") if message is not None else ""
    parts = text.split()
    return len(parts) == 2 and parts[0].split("@")[0].lower() == "/start"


async def gate(update: Update, context: Ctx) -> None:
    """Invite mode: stop every message and button from an unknown stranger."""
    user = update.effective_user
    if user is None or (update.message is None and update.callback_query is None):
        return  # member updates, edits and the like are not a stranger asking for anything
    if role_of(context, user.id) is not None or user.id in context.bot_data.members:
        return
    if await labeling.find_worker(context.bot_data.database, user.id) is not None:
        remember_member(context, user.id)
        return
    if _start_with_code(update):
        return  # on_start checks the code
    lang = await lang_of(update, context)
    if update.callback_query is not None:
        await answer_query(update.callback_query, t(lang, "invite_only"), alert=True)
    elif update.message is not None:
        await update.message.reply_text(t(lang, "invite_only"))
    raise ApplicationHandlerStop


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _parse(args: list[str]) -> tuple[int, str | None, int] | None:
    """`[uses] [project] [days]`: numbers are uses then days, a word is the project."""
    numbers: list[int] = []
    project: str | None = None
    for arg in args:
        if arg.isdigit():
            numbers.append(int(arg))
        elif project is None:
            project = arg
        else:
            return None
    if len(numbers) > 2:
        return None
    uses = numbers[0] if numbers else 1
    days = numbers[1] if len(numbers) > 1 else DEFAULT_DAYS
    if not 1 <= uses <= access.MAX_USES or not 1 <= days <= access.MAX_DAYS:
        return None
    return uses, project, days


async def on_invite(update: Update, context: Ctx) -> None:
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    lang = await lang_of(update, context)
    parsed = _parse(context.args or [])
    if parsed is None:
        await message.reply_text(t(lang, "invite_usage"))
        return
    uses, project, days = parsed
    try:
        code, invite = await access.create_invite(
            context.bot_data.database,
            uses=uses,
            project=project,
            days=days,
            created_by=user.id,
            now=now(),
        )
    except access.UnknownProject:
        await message.reply_text(t(lang, "invite_unknown_project", project=project))
        return
    link = f"https://t.me/{context.bot.username}?start={code}"
    await message.reply_text(
        t(
            lang,
            "invite_created",
            uses=uses,
            project=invite.project_name or t(lang, "invite_any_project"),
            expires=_when(invite.expires_at),
            link=link,
        )
    )


async def on_invites(update: Update, context: Ctx) -> None:
    message = update.effective_message
    if message is None:
        return
    lang = await lang_of(update, context)
    invites = await access.usable_invites(context.bot_data.database, now())
    if not invites:
        await message.reply_text(t(lang, "invites_none"))
        return
    lines = [
        t(
            lang,
            "invites_line",
            code=i.code,
            left=i.uses_left,
            uses=i.uses,
            project=i.project_name or t(lang, "invite_any_project"),
            expires=_when(i.expires_at),
        )
        for i in invites
    ]
    await message.reply_text("\n".join(lines))


async def on_revoke(update: Update, context: Ctx) -> None:
    message = update.effective_message
    if message is None:
        return
    lang = await lang_of(update, context)
    args = context.args or []
    if len(args) != 1:
        await message.reply_text(t(lang, "revoke_usage"))
        return
    code = args[0]
    if await access.revoke(context.bot_data.database, code, now()):
        await message.reply_text(t(lang, "revoke_done", code=code))
    else:
        await message.reply_text(t(lang, "revoke_unknown", code=code))


def register(app: Application) -> None:
    if app.bot_data.cfg.access == "invite":
        app.add_handler(TypeHandler(Update, gate), group=-2)
    app.add_handler(command_for(ADMINS, "invite", on_invite))
    app.add_handler(command_for(ADMINS, "invites", on_invites))
    app.add_handler(command_for(ADMINS, "revoke", on_revoke))
