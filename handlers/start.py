"""Registration, help, language, and asking for a task (/start, /help, /language, /next)."""

from __future__ import annotations

import contextlib

from telegram import InputMediaPhoto, Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import callbacks, render
from bot.context import Ctx
from bot.services import access, labeling
from bot.services.labeling import Offer
from bot.texts import language_for, t
from handlers.common import button, is_admin, lang_of, now, remember_language, visible
from handlers.labeling import drop_buttons, remember_image, send_task_message


async def on_start(update: Update, context: Ctx) -> None:
    """Register the student and greet them with a "Start labeling" button."""
    user = update.effective_user
    message = update.effective_message
    if user is None or message is None:
        return
    cfg = context.bot_data.cfg
    db = context.bot_data.database
    profile = {
        "user_id": user.id,
        "first_name": user.first_name or "",
        "username": user.username,
        "language": language_for(user.language_code, cfg.default_language),
        "timezone": cfg.default_timezone,
        "now": now(),
    }
    code = context.args[0] if context.args and len(context.args) == 1 else None
    joined = None
    if code is not None and await labeling.find_worker(db, user.id) is None:
        # An invite link (?start=<code>) opened by someone new: the code decides.
        joined = await access.join(db, code, **profile)  # type: ignore[arg-type]
        if joined is None and (cfg.access == "invite" and not is_admin(context, user.id)):
            lang = language_for(user.language_code, cfg.default_language)
            await message.reply_text(t(lang, "invite_invalid"))
            return
    if (
        cfg.access == "invite"
        and not is_admin(context, user.id)
        and (await labeling.find_worker(db, user.id) is None)
    ):
        # The gate (handlers/access.py) stops strangers first; this is the backstop.
        lang = language_for(user.language_code, cfg.default_language)
        await message.reply_text(t(lang, "invite_only"))
        return
    worker, created = await labeling.register(db, **profile)  # type: ignore[arg-type]
    created = created or joined is not None
    remember_language(context, user.id, worker.language)
    lang = worker.language
    if created:
        text = t(lang, "welcome", name=user.first_name or "", currency=cfg.currency.code)
    else:
        text = t(lang, "welcome_back", name=user.first_name or "")
    await message.reply_text(text, reply_markup=render.start_keyboard(lang))


async def on_help(update: Update, context: Ctx) -> None:
    """List the commands (and the admin ones for admins)."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    lang = await lang_of(update, context)
    text = t(lang, "help", lease=context.bot_data.cfg.labeling.lease_minutes)
    if is_admin(context, user.id):
        text += t(lang, "help_admin")
    await message.reply_text(text)


async def on_language(update: Update, context: Ctx) -> None:
    """Offer English and Chinese."""
    message = update.effective_message
    if message is None:
        return
    lang = await lang_of(update, context)
    await message.reply_text(t(lang, "language_prompt"), reply_markup=render.language_keyboard())


async def on_set_language(update: Update, context: Ctx) -> None:
    """Switch the interface language (a button from /language)."""
    got = await button(update, context, callbacks.SetLanguage)
    if got is None:
        return
    query, data, _ = got
    if not await labeling.set_language(
        context.bot_data.database, query.from_user.id, data.language
    ):
        await query.answer(t(data.language, "not_registered"), show_alert=True)
        return
    remember_language(context, query.from_user.id, data.language)
    await query.answer()
    if visible(query.message) is not None:
        await query.edit_message_text(t(data.language, "language_set"))
    elif query.message is not None:  # one Telegram no longer shows the bot: say it anew
        await context.bot.send_message(query.message.chat.id, t(data.language, "language_set"))


async def send_task(update: Update, context: Ctx, offer: Offer, lang: str, *, edit: bool) -> None:
    """Show a task (or why there is none) as a new message, or in place of the tapped one."""
    query = update.callback_query
    tapped = query.message if query is not None else update.effective_message
    chat = update.effective_chat
    if tapped is None or chat is None:
        return
    message = visible(tapped)
    if message is None:
        # A message Telegram no longer shows the bot (an InaccessibleMessage, only its chat
        # and id): nothing of it to edit, the task (or why there is none) comes anew.
        if edit:
            await drop_buttons(context, tapped)
        edit = False
    cfg = context.bot_data.cfg
    card = offer.card
    if card is None:
        tz = cfg.default_timezone
        if offer.held:
            worker = await labeling.find_worker(context.bot_data.database, chat.id)
            tz = worker.timezone if worker else tz
        text = render.held_text(offer.held, lang, tz, cfg.currency)
        markup = render.check_again_keyboard(lang)
        if edit and message is not None and not message.photo:
            with contextlib.suppress(TelegramError):  # "not modified" when tapped twice
                await message.edit_text(text, reply_markup=markup)
            return
        await context.bot.send_message(chat.id, text, reply_markup=markup)
        return
    image = card.project_type == "image"
    if image:
        text = render.task_caption(card, lang, cfg.currency)
    else:
        text = render.task_text(card, lang, cfg.currency)
    markup = render.task_keyboard(card, lang)
    if edit and message is not None and card.message_id == message.message_id:
        return  # this message shows the task already
    if edit and message is not None and image == bool(message.photo):
        if image:  # photo after photo: picture, caption and keyboard in one edit
            edited = await message.edit_media(
                InputMediaPhoto(render.task_photo(card), caption=text), reply_markup=markup
            )
            await remember_image(context, card, edited)
        else:
            await message.edit_text(text, reply_markup=markup)
        shown = message
    else:
        if edit and message is not None:  # text cannot turn into photo: a new one, old
            with contextlib.suppress(TelegramError):  # buttons gone
                await message.edit_reply_markup(None)
        shown = await send_task_message(context, chat.id, card, text, markup)
    if card.message_id == shown.message_id:
        return
    await labeling.attach_message(
        context.bot_data.database, card.assignment_id, chat.id, shown.message_id
    )
    if card.message_id and card.chat_id:
        # The task was on screen elsewhere: say where it went, so only one copy has buttons.
        with contextlib.suppress(TelegramError):
            if image:
                await context.bot.edit_message_caption(
                    chat_id=card.chat_id, message_id=card.message_id, caption=t(lang, "task_moved")
                )
            else:
                await context.bot.edit_message_text(
                    t(lang, "task_moved"), chat_id=card.chat_id, message_id=card.message_id
                )


async def on_next(update: Update, context: Ctx) -> None:
    """/next: the task the student holds, or a new one."""
    user = update.effective_user
    if user is None:
        return
    lang = await lang_of(update, context)
    if await labeling.find_worker(context.bot_data.database, user.id) is None:
        await on_start(update, context)
        return
    offer = await labeling.offer(context.bot_data.database, user.id, now())
    await send_task(update, context, offer, lang, edit=False)


async def on_next_button(update: Update, context: Ctx) -> None:
    """The "Start labeling" / "Check again" buttons."""
    got = await button(update, context, callbacks.NextTask)
    if got is None:
        return
    query, data, lang = got
    await query.answer()
    offer = await labeling.offer(context.bot_data.database, query.from_user.id, now())
    await send_task(update, context, offer, lang, edit=data.in_place)


def register(app: Application) -> None:
    app.add_handler(CommandHandler("start", on_start))
    app.add_handler(CommandHandler("help", on_help))
    app.add_handler(CommandHandler("language", on_language))
    app.add_handler(CommandHandler("next", on_next))
    app.add_handler(CallbackQueryHandler(on_set_language, pattern=r"^l:"))
    app.add_handler(CallbackQueryHandler(on_next_button, pattern=r"^n(:e)?$"))
