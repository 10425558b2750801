"""The hot path: a tap on an answer or Skip button records it and shows the next task."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler

from bot import callbacks, render
from bot.context import Ctx
from bot.services import labeling
from bot.services.labeling import Refused
from bot.texts import t
from handlers.common import answer_query, lang_of, now

log = logging.getLogger(__name__)


async def on_task_button(update: Update, context: Ctx) -> None:
    """Record the tapped answer (or skip) once, then turn this message into the next task."""
    query = update.callback_query
    if query is None:
        return
    data = callbacks.parse(query.data)
    lang = await lang_of(update, context)
    if not isinstance(data, callbacks.Answer | callbacks.Skip):
        await answer_query(query, t(lang, "bad_button"), alert=True)
        return
    message = query.message
    chat_id = message.chat.id if message else None
    message_id = message.message_id if message else None
    db = context.bot_data.database
    if isinstance(data, callbacks.Answer):
        outcome = await labeling.answer(
            db,
            worker_id=query.from_user.id,
            assignment_id=data.assignment_id,
            option=data.option,
            chat_id=chat_id,
            message_id=message_id,
            now=now(),
        )
    else:
        outcome = await labeling.skip(
            db,
            worker_id=query.from_user.id,
            assignment_id=data.assignment_id,
            chat_id=chat_id,
            message_id=message_id,
            now=now(),
        )
    if isinstance(outcome, Refused):
        await answer_query(query, t(lang, "refused_" + outcome.reason.value), alert=True)
        return

    cfg = context.bot_data.cfg
    toast = render.saved_toast(outcome.value, outcome.price, lang, cfg.currency)
    before = render.saved_line(outcome.value, outcome.price, lang, cfg.currency)
    tz = cfg.default_timezone
    if outcome.notices or outcome.held:  # rare: only then is the student's zone needed
        worker = await labeling.find_worker(db, query.from_user.id)
        tz = worker.timezone if worker else tz
    for notice in outcome.notices:
        before += "\n" + render.notice_text(notice, lang, tz, cfg.currency)
    if outcome.next is None:
        text = before + "\n\n" + render.held_text(outcome.held, lang, tz, cfg.currency)
        markup = render.check_again_keyboard(lang)
    else:
        text = render.task_text(outcome.next, lang, cfg.currency, before=before)
        markup = render.task_keyboard(outcome.next, lang)
    if message is None:  # too old for Telegram to include: only the toast can be shown
        await query.answer(toast)
        return
    # Two Bot API calls per tap, sent together: the toast and the edit in place.
    await asyncio.gather(query.answer(toast), query.edit_message_text(text, reply_markup=markup))


async def on_page_or_guide(update: Update, context: Ctx) -> None:
    """◀ ▶ through a long task, the Guide, and back: only this message changes."""
    query = update.callback_query
    if query is None:
        return
    data = callbacks.parse(query.data)
    lang = await lang_of(update, context)
    if not isinstance(data, callbacks.Page | callbacks.Guide):
        await answer_query(query, t(lang, "bad_button"), alert=True)
        return
    card = await labeling.card_for(context.bot_data.database, query.from_user.id,
                                   data.assignment_id, now())
    if isinstance(card, Refused):
        await answer_query(query, t(lang, "refused_" + card.reason.value), alert=True)
        return
    await answer_query(query)
    if isinstance(data, callbacks.Guide):
        text, markup = render.guide_view(card, lang)
    else:
        text = render.task_text(card, lang, context.bot_data.cfg.currency, page=data.page)
        markup = render.task_keyboard(card, lang, page=data.page)
    with contextlib.suppress(BadRequest):  # "not modified": the page shown already
        await query.edit_message_text(text, reply_markup=markup)


async def on_unknown_button(update: Update, context: Ctx) -> None:
    """Any other callback data (old or forged): a polite toast, nothing else."""
    if update.callback_query is not None:
        lang = await lang_of(update, context)
        await answer_query(update.callback_query, t(lang, "bad_button"), alert=True)


def register(app: Application) -> None:
    app.add_handler(CallbackQueryHandler(on_task_button, pattern=r"^[as]:"))
    app.add_handler(CallbackQueryHandler(on_page_or_guide, pattern=r"^[pi]:"))
    # Registered last in group 0: only callback data no other handler took reaches it.
    app.add_handler(CallbackQueryHandler(on_unknown_button))
