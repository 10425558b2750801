"""The hot path: a tap on an answer or Skip button records it and shows the next task."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import (
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    MaybeInaccessibleMessage,
    Message,
    Update,
)
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

from bot import callbacks, render
from bot.context import Ctx
from bot.services import labeling
from bot.services.labeling import Refused, Saved
from bot.texts import t
from handlers.common import answer_query, button, lang_of, mark_saved, now, visible

log = logging.getLogger(__name__)


async def on_task_button(update: Update, context: Ctx) -> None:
    """Record the tapped answer (or skip) once, then turn this message into the next task."""
    got = await button(update, context, callbacks.Answer, callbacks.Skip)
    if got is None:
        return
    query, data, lang = got
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
    mark_saved(update, context)
    toast = render.saved_toast(outcome.value, outcome.price, lang, context.bot_data.cfg.currency)
    text, markup = await after_answer(context, outcome, lang, query.from_user.id)
    if message is None:  # too old for Telegram to include: only the toast can be shown
        await query.answer(toast)
        return
    nxt = outcome.next
    next_image = nxt is not None and nxt.project_type == "image"
    shown = visible(message)
    if shown is None or bool(shown.photo) != next_image:
        # A message Telegram no longer shows the bot (an InaccessibleMessage: only its chat
        # and id), or photo → text or text → photo (a message cannot change kind): the next
        # task is a new message and the old one keeps its content without buttons.
        await asyncio.gather(answer_query(query, toast), drop_buttons(context, message))
        await show_anew(context, message.chat.id, nxt, text, markup)
        return
    if nxt is not None and next_image:
        # Image after image: new photo, caption and keyboard in one edit.
        media = InputMediaPhoto(render.task_photo(nxt), caption=text)
        _, edited = await asyncio.gather(
            query.answer(toast), query.edit_message_media(media, reply_markup=markup)
        )
        await remember_image(context, nxt, edited)
        return
    # Two Bot API calls per tap, sent together: the toast and the edit in place.
    await asyncio.gather(query.answer(toast), query.edit_message_text(text, reply_markup=markup))


async def remember_image(context: Ctx, card: labeling.TaskCard, shown: object) -> None:
    """An image first sent by its URL: keep the file_id Telegram gave it for later sends."""
    if card.payload.get("image_file_id") or not isinstance(shown, Message) or not shown.photo:
        return
    await labeling.remember_image(
        context.bot_data.database, card.assignment_id, shown.photo[-1].file_id
    )


async def drop_buttons(context: Ctx, message: MaybeInaccessibleMessage) -> None:
    """Take the buttons off a message that is no longer where its task is shown; one that
    has none, or is gone, is left as it is."""
    with contextlib.suppress(BadRequest):
        await context.bot.edit_message_reply_markup(
            chat_id=message.chat.id, message_id=message.message_id, reply_markup=None
        )


async def show_anew(
    context: Ctx,
    chat_id: int,
    card: labeling.TaskCard | None,
    text: str,
    markup: InlineKeyboardMarkup,
) -> None:
    """Send a task (or what replaces it) as a new message, and make that message the one
    its assignment is shown in."""
    shown = await send_task_message(context, chat_id, card, text, markup)
    if card is not None:
        await labeling.attach_message(
            context.bot_data.database, card.assignment_id, shown.chat.id, shown.message_id
        )


async def send_task_message(
    context: Ctx,
    chat_id: int,
    card: labeling.TaskCard | None,
    text: str,
    markup: InlineKeyboardMarkup,
) -> Message:
    """A task (or what replaces it) as a new message: a photo with its caption for an image
    task (the file_id when known, else the URL, whose file_id is then kept)."""
    if card is None or card.project_type != "image":
        return await context.bot.send_message(
            chat_id, text[: render.MAX_MESSAGE], reply_markup=markup
        )
    shown = await context.bot.send_photo(
        chat_id, render.task_photo(card), caption=text[: render.MAX_CAPTION], reply_markup=markup
    )
    await remember_image(context, card, shown)
    return shown


async def after_answer(
    context: Ctx, outcome: Saved, lang: str, user_id: int
) -> tuple[str, InlineKeyboardMarkup]:
    """What the student sees after an answer: what was saved, any rule that fired, then the
    next task (or why there is none), with a Comment button where the project takes them."""
    cfg = context.bot_data.cfg
    before = render.saved_line(outcome.value, outcome.price, lang, cfg.currency)
    tz = cfg.default_timezone
    if outcome.notices or outcome.held:  # rare: only then is the student's zone needed
        worker = await labeling.find_worker(context.bot_data.database, user_id)
        tz = worker.timezone if worker else tz
    for notice in outcome.notices:
        before += "\n" + render.notice_text(notice, lang, tz, cfg.currency)
    if outcome.next is None:
        text = before + "\n\n" + render.held_text(outcome.held, lang, tz, cfg.currency)
        markup = render.check_again_keyboard(lang)
    elif outcome.next.project_type == "image":
        text = render.task_caption(outcome.next, lang, cfg.currency, before=before)
        markup = render.task_keyboard(outcome.next, lang)
    else:
        text = render.task_text(outcome.next, lang, cfg.currency, before=before)
        markup = render.task_keyboard(outcome.next, lang)
    if outcome.comment_on is not None:
        comment = InlineKeyboardButton(
            t(lang, "btn_comment"), callback_data=callbacks.Comment(outcome.comment_on).pack()
        )
        markup = InlineKeyboardMarkup([*markup.inline_keyboard, (comment,)])
    return text, markup


async def on_toggle(update: Update, context: Ctx) -> None:
    """A multi-label option: tick or untick it; only the keyboard changes."""
    got = await button(update, context, callbacks.Toggle)
    if got is None:
        return
    query, data, lang = got
    card = await labeling.toggle(
        context.bot_data.database,
        worker_id=query.from_user.id,
        assignment_id=data.assignment_id,
        option=data.option,
        now=now(),
    )
    if isinstance(card, Refused):
        await answer_query(query, t(lang, "refused_" + card.reason.value), alert=True)
        return
    markup = render.task_keyboard(card, lang)
    if visible(query.message) is None:  # gone from the bot's view: show it anew
        await answer_query(query)
        if query.message is not None:
            await drop_buttons(context, query.message)
            await show_anew(
                context, query.message.chat.id, card, _task_view(context, card, lang), markup
            )
        return
    await asyncio.gather(answer_query(query), query.edit_message_reply_markup(markup))


def _task_view(context: Ctx, card: labeling.TaskCard, lang: str, page: int = 0) -> str:
    """The text (or, for an image task, the caption) that shows this task's page."""
    currency = context.bot_data.cfg.currency
    if card.project_type == "image":
        return render.task_caption(card, lang, currency, page=page)
    return render.task_text(card, lang, currency, page=page)


async def on_expect_text(update: Update, context: Ctx) -> None:
    """✏️ Correct it / 💬 Comment: ask for the text with a reply field opened for it."""
    got = await button(update, context, callbacks.Correct, callbacks.Comment)
    if got is None:
        return
    query, data, lang = got
    if query.message is None:
        return
    kind, ref = (
        ("correction", data.assignment_id)
        if isinstance(data, callbacks.Correct)
        else ("comment", data.answer_id)
    )
    result = await labeling.expect_text(
        context.bot_data.database, worker_id=query.from_user.id, kind=kind, ref_id=ref, now=now()
    )
    if isinstance(result, Refused):
        await answer_query(query, t(lang, "refused_" + result.reason.value), alert=True)
        return
    await answer_query(query)
    if result is not None:  # a correction: the text to start from, easy to copy
        prompt = t(lang, "ask_correction") + "\n\n" + result.text
        placeholder = t(lang, "placeholder_correction")
    else:
        prompt, placeholder = t(lang, "ask_comment"), t(lang, "placeholder_comment")
    await context.bot.send_message(
        query.message.chat.id,
        prompt[: render.MAX_MESSAGE],
        reply_markup=ForceReply(input_field_placeholder=placeholder[:64]),
    )


async def on_text(update: Update, context: Ctx) -> None:
    """A student's text: the correction or comment they were asked for, else a hint."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or message.text is None:
        return
    lang = await lang_of(update, context)
    outcome = await labeling.receive_text(
        context.bot_data.database, worker_id=user.id, text=message.text, now=now()
    )
    if outcome is None:
        await message.reply_text(t(lang, "text_not_expected"))
        return
    if isinstance(outcome, Refused):
        await message.reply_text(t(lang, "refused_" + outcome.reason.value))
        return
    if isinstance(outcome, labeling.Commented):
        await message.reply_text(t(lang, "comment_saved"))
        return
    if outcome.shown_in is not None:  # the corrected task's buttons are spent
        with contextlib.suppress(BadRequest):
            await context.bot.edit_message_reply_markup(*outcome.shown_in, reply_markup=None)
    text, markup = await after_answer(context, outcome, lang, user.id)
    if outcome.next is not None and outcome.next.project_type == "image":
        shown = await send_task_message(context, message.chat.id, outcome.next, text, markup)
    else:
        shown = await message.reply_text(text, reply_markup=markup)
    if outcome.next is not None:
        await labeling.attach_message(
            context.bot_data.database, outcome.next.assignment_id, shown.chat.id, shown.message_id
        )


async def on_page_or_guide(update: Update, context: Ctx) -> None:
    """◀ ▶ through a long task, the Guide, and back: only this message changes."""
    got = await button(update, context, callbacks.Page, callbacks.Guide)
    if got is None:
        return
    query, data, lang = got
    card = await labeling.card_for(
        context.bot_data.database, query.from_user.id, data.assignment_id, now()
    )
    if isinstance(card, Refused):
        await answer_query(query, t(lang, "refused_" + card.reason.value), alert=True)
        return
    await answer_query(query)
    message = query.message
    if message is None:
        return
    if isinstance(data, callbacks.Guide) and card.example_file_id:
        # An example image comes as its own photo under the task, which stays as it is.
        caption = t(lang, "guide_title", project=card.project_name) + "\n\n" + card.instructions
        await context.bot.send_photo(
            message.chat.id,
            card.example_file_id,
            caption=caption[: render.MAX_CAPTION],
            reply_to_message_id=message.message_id if visible(message) else None,
        )
        return
    if isinstance(data, callbacks.Guide):
        text, markup = render.guide_view(card, lang)
    else:
        text = _task_view(context, card, lang, data.page)
        markup = render.task_keyboard(card, lang, page=data.page)
    shown = visible(message)
    if shown is None:  # gone from the bot's view: this page comes anew
        await drop_buttons(context, message)
        await show_anew(context, message.chat.id, card, text, markup)
        return
    with contextlib.suppress(BadRequest):  # "not modified": the page shown already
        if shown.photo:  # an image task: the Guide and the way back change only the caption
            await query.edit_message_caption(text[: render.MAX_CAPTION], reply_markup=markup)
        else:
            await query.edit_message_text(text, reply_markup=markup)


async def on_unknown_button(update: Update, context: Ctx) -> None:
    """Any other callback data (old or forged): a polite toast, nothing else."""
    if update.callback_query is not None:
        lang = await lang_of(update, context)
        await answer_query(update.callback_query, t(lang, "bad_button"), alert=True)


def register(app: Application) -> None:
    app.add_handler(CallbackQueryHandler(on_task_button, pattern=r"^[as]:"))
    app.add_handler(CallbackQueryHandler(on_page_or_guide, pattern=r"^[pi]:"))
    app.add_handler(CallbackQueryHandler(on_toggle, pattern=r"^t:"))
    app.add_handler(CallbackQueryHandler(on_expect_text, pattern=r"^[ek]:"))
    app.add_handler(
        MessageHandler(filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE, on_text)
    )
    # Registered last in group 0: only callback data no other handler took reaches it.
    app.add_handler(CallbackQueryHandler(on_unknown_button))
