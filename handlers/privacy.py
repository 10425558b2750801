"""Students' privacy: /privacy (what is stored and why) and /forget_me (erasure)."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot.context import Ctx
from bot.money import format_amount
from bot.services import privacy
from bot.texts import t
from handlers.common import answer_query, lang_of, now

# Callback data of the confirmation buttons (own prefix: see bot.callbacks).
YES = "fm:y"
NO = "fm:n"


async def on_privacy(update: Update, context: Ctx) -> None:
    """/privacy: what is stored about the student, why, who sees it, how to erase it."""
    message = update.effective_message
    if message is None:
        return
    lang = await lang_of(update, context)
    await message.reply_text(t(lang, "privacy_info"))


async def on_forget_me(update: Update, context: Ctx) -> None:
    """/forget_me: ask first, with Yes, erase / Cancel."""
    message = update.effective_message
    if message is None:
        return
    lang = await lang_of(update, context)
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(t(lang, "forget_yes_button"), callback_data=YES),
                InlineKeyboardButton(t(lang, "forget_cancel_button"), callback_data=NO),
            ]
        ]
    )
    await message.reply_text(t(lang, "forget_confirm"), reply_markup=markup)


async def on_forget_button(update: Update, context: Ctx) -> None:
    """Yes: erase (unless money is owed or a dispute is open); Cancel: nothing changes."""
    query = update.callback_query
    if query is None:
        return
    lang = await lang_of(update, context)
    if query.data != YES:
        await answer_query(query)
        await query.edit_message_text(t(lang, "forget_cancelled"))
        return
    cfg = context.bot_data.cfg
    outcome = await privacy.forget(context.bot_data.database, query.from_user.id, now())
    if isinstance(outcome, privacy.Owed):

        def money(v: int) -> str:
            return format_amount(v, cfg.currency)

        text = t(
            lang,
            "forget_owed",
            total=money(outcome.pending + outcome.available),
            pending=money(outcome.pending),
            available=money(outcome.available),
        )
    elif isinstance(outcome, privacy.OpenDispute):
        text = t(lang, "forget_open_dispute")
    elif isinstance(outcome, privacy.NotRegistered):
        text = t(lang, "forget_not_registered")
    else:
        text = t(lang, "forget_done")
        # Nothing about them stays in memory either.
        context.bot_data.languages.pop(query.from_user.id, None)
        context.bot_data.members.discard(query.from_user.id)  # an erased student is a stranger
    await answer_query(query)
    await query.edit_message_text(text)


def register(app: Application) -> None:
    app.add_handler(CommandHandler("privacy", on_privacy))
    app.add_handler(CommandHandler("forget_me", on_forget_me))
    app.add_handler(CallbackQueryHandler(on_forget_button, pattern=r"^fm:[yn]$"))
