"""/settings: alerts, quiet hours, time zone and language, all with buttons in one message."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import callbacks
from bot.callbacks import Setting
from bot.context import Ctx
from bot.services import settings as settings_service
from bot.services.settings import QUIET_PRESETS, ZONES, PersonalSettings
from bot.texts import t
from handlers.common import answer_query, button, lang_of, now


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _quiet_text(lang: str, quiet: tuple[int, int] | None) -> str:
    if quiet is None:
        return t(lang, "settings_quiet_off")
    return f"{_hhmm(quiet[0])}–{_hhmm(quiet[1])}"


def _button(text: str, data: Setting | callbacks.SetLanguage) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=data.pack())


def _menu(lang: str, s: PersonalSettings, moment: datetime) -> tuple[str, InlineKeyboardMarkup]:
    local = moment.astimezone(ZoneInfo(s.timezone)).strftime("%H:%M")
    text = t(
        lang,
        "settings",
        alerts=t(lang, "settings_on" if s.alerts else "settings_off"),
        quiet=_quiet_text(lang, s.quiet),
        timezone=s.timezone,
        local=local,
        language="English" if s.language == "en" else "中文",
    )
    rows = [
        [
            _button(
                t(lang, "btn_alerts_off" if s.alerts else "btn_alerts_on"),
                Setting("a", 0 if s.alerts else 1),
            )
        ],
        [
            _button(t(lang, "btn_quiet"), Setting("q")),
            _button(t(lang, "btn_timezone"), Setting("z")),
        ],
        [
            _button("English", callbacks.SetLanguage("en")),
            _button("中文", callbacks.SetLanguage("zh")),
        ],
    ]
    return text, InlineKeyboardMarkup(rows)


def _quiet_menu(lang: str) -> tuple[str, InlineKeyboardMarkup]:
    rows = [
        [_button(_quiet_text(lang, window), Setting("q", i))]
        for i, window in enumerate(QUIET_PRESETS)
    ]
    rows.append([_button(t(lang, "btn_back"), Setting("m"))])
    return t(lang, "settings_quiet_prompt"), InlineKeyboardMarkup(rows)


def _zone_menu(lang: str) -> tuple[str, InlineKeyboardMarkup]:
    buttons = [_button(zone, Setting("z", i)) for i, zone in enumerate(ZONES)]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([_button(t(lang, "btn_back"), Setting("m"))])
    return t(lang, "settings_zone_prompt"), InlineKeyboardMarkup(rows)


async def on_settings(update: Update, context: Ctx) -> None:
    """/settings: the menu."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    lang = await lang_of(update, context)
    current = await settings_service.get(context.bot_data.database, user.id)
    if current is None:
        await message.reply_text(t(lang, "not_registered"))
        return
    text, markup = _menu(lang, current, now())
    await message.reply_text(text, reply_markup=markup)


async def on_setting_button(update: Update, context: Ctx) -> None:
    """A button in the settings menu: change one setting and show the menu again."""
    got = await button(update, context, Setting)
    if got is None:
        return
    query, data, lang = got
    db, user_id = context.bot_data.database, query.from_user.id
    if data.what == "q" and data.value is None:
        await answer_query(query)
        text, markup = _quiet_menu(lang)
        await query.edit_message_text(text, reply_markup=markup)
        return
    if data.what == "z" and data.value is None:
        await answer_query(query)
        text, markup = _zone_menu(lang)
        await query.edit_message_text(text, reply_markup=markup)
        return
    ok = True
    if data.what == "a" and data.value is not None:
        ok = await settings_service.set_alerts(db, user_id, bool(data.value))
    elif data.what == "q" and data.value is not None:
        ok = await settings_service.set_quiet(db, user_id, data.value)
    elif data.what == "z" and data.value is not None:
        ok = data.value < len(ZONES) and await settings_service.set_timezone(
            db, user_id, ZONES[data.value]
        )
    current = await settings_service.get(db, user_id)
    if not ok or current is None:
        await answer_query(query, t(lang, "bad_button"), alert=True)
        return
    await answer_query(query, None if data.what == "m" else t(lang, "settings_saved"))
    text, markup = _menu(lang, current, now())
    await query.edit_message_text(text, reply_markup=markup)


async def on_timezone(update: Update, context: Ctx) -> None:
    """/timezone <IANA name>: any zone, for places the buttons don't list."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    lang = await lang_of(update, context)
    name = (context.args or [""])[0]
    if not name:
        await message.reply_text(t(lang, "settings_zone_usage"))
        return
    if not await settings_service.set_timezone(context.bot_data.database, user.id, name):
        await message.reply_text(t(lang, "settings_bad_zone", name=name[:60]))
        return
    await message.reply_text(t(lang, "settings_zone_set", timezone=name))


def register(app: Application) -> None:
    app.add_handler(CommandHandler("settings", on_settings))
    app.add_handler(CommandHandler("timezone", on_timezone))
    app.add_handler(CallbackQueryHandler(on_setting_button, pattern=r"^g:"))
