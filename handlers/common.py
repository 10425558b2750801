"""Small helpers every handler module shares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar, overload

from telegram import CallbackQuery, MaybeInaccessibleMessage, Message, Update
from telegram.error import BadRequest

from bot import callbacks
from bot.context import Ctx
from bot.services import labeling
from bot.texts import language_for, t

_MAX_CACHED = 100_000
T = TypeVar("T")
U = TypeVar("U")


def now() -> datetime:
    return datetime.now(UTC)


async def lang_of(update: Update, context: Ctx) -> str:
    """The language to answer this user in: theirs if registered, else from Telegram."""
    user = update.effective_user
    data = context.bot_data
    if user is None:
        return data.cfg.default_language
    cached = data.languages.get(user.id)
    if cached is not None:
        return cached
    worker = await labeling.find_worker(data.database, user.id)
    lang = (
        worker.language if worker else language_for(user.language_code, data.cfg.default_language)
    )
    remember_language(context, user.id, lang)
    return lang


def remember_language(context: Ctx, user_id: int, lang: str) -> None:
    cache = context.bot_data.languages
    if len(cache) >= _MAX_CACHED:
        cache.clear()
    cache[user_id] = lang


OWNER, ADMIN, REVIEWER = "owner", "admin", "reviewer"


def role_of(context: Ctx, user_id: int) -> str | None:
    """'owner' (the config's admin_ids, always), 'admin' or 'reviewer' (the roles table,
    held in bot_data.roles), or None; no query."""
    if user_id in context.bot_data.cfg.admin_ids:
        return OWNER
    return context.bot_data.roles.get(user_id)


def is_owner(context: Ctx, user_id: int) -> bool:
    return user_id in context.bot_data.cfg.admin_ids


def is_admin(context: Ctx, user_id: int) -> bool:
    """May this person do admin things: owners and admins (not reviewers)."""
    return role_of(context, user_id) in (OWNER, ADMIN)


def visible(message: MaybeInaccessibleMessage | None) -> Message | None:
    """The tapped message, if Telegram still shows it to the bot; else None. For an old
    message a callback query carries only its chat, id and date 0 (an InaccessibleMessage;
    python-telegram-bot 22 parses it as a Message without content, is_accessible False),
    so nothing of it (photo or text) says what it shows, and its shortcuts cannot edit it."""
    if isinstance(message, Message) and message.is_accessible:
        return message
    return None


async def answer_query(
    query: CallbackQuery, text: str | None = None, *, alert: bool = False
) -> None:
    """Answer a callback query; one Telegram no longer accepts (a re-delivered update) is
    not an error worth reporting."""
    try:
        await query.answer(text, show_alert=alert)
    except BadRequest as exc:
        if (
            "query is too old" not in str(exc).lower()
            and "query id is invalid" not in str(exc).lower()
        ):
            raise


def mark_saved(update: Update, context: Ctx) -> None:
    """This update's change is committed: should a Telegram call after it fail, the error
    handler says it was saved (not "nothing was saved, try again", which would have the
    person repeat it). Forgotten when the update is done (bot.app.LabelgramApplication)."""
    context.bot_data.saved_updates.add(update.update_id)


def wake_sender(context: Ctx) -> None:
    """A service queued notices with its change: have the outbox sender look now."""
    sender = context.bot_data.sender
    if sender is not None:
        sender.wake()


@overload
async def button(
    update: Update, context: Ctx, kind: type[T], /
) -> tuple[CallbackQuery, T, str] | None: ...
@overload
async def button(
    update: Update, context: Ctx, kind: type[T], other: type[U], /
) -> tuple[CallbackQuery, T | U, str] | None: ...
async def button(
    update: Update, context: Ctx, *kinds: type
) -> tuple[CallbackQuery, Any, str] | None:
    """The tapped query, its callback data parsed as one of `kinds`, and the language to
    answer in; None (after a polite toast) when the data is none of them."""
    query = update.callback_query
    if query is None:
        return None
    lang = await lang_of(update, context)
    data = callbacks.parse(query.data)
    if not isinstance(data, kinds):
        await answer_query(query, t(lang, "bad_button"), alert=True)
        return None
    return query, data, lang
