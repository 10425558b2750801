"""Small helpers every handler module shares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

from telegram import CallbackQuery, Update
from telegram.error import BadRequest

from bot import callbacks
from bot.context import Ctx
from bot.services import labeling
from bot.texts import language_for, t

_MAX_CACHED = 100_000
T = TypeVar("T")


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


def wake_sender(context: Ctx) -> None:
    """A service queued notices with its change: have the outbox sender look now."""
    sender = context.bot_data.sender
    if sender is not None:
        sender.wake()


async def button(
    update: Update, context: Ctx, kind: type[T]
) -> tuple[CallbackQuery, T, str] | None:
    """The tapped query, its callback data parsed as `kind`, and the language to answer in;
    None (after a polite toast) when the data is not a `kind`."""
    query = update.callback_query
    if query is None:
        return None
    lang = await lang_of(update, context)
    data = callbacks.parse(query.data)
    if not isinstance(data, kind):
        await answer_query(query, t(lang, "bad_button"), alert=True)
        return None
    return query, data, lang
