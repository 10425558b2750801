"""Turning service results into what a person sees: message texts and inline keyboards."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import callbacks
from bot.config import Currency
from bot.importing import RowError
from bot.money import format_amount
from bot.services.labeling import Notice, TaskCard
from bot.texts import t

# Room left for the header, prompt and the line about the previous answer.
MAX_TASK_TEXT = 3500
MAX_MESSAGE = 4096


def task_text(card: TaskCard, lang: str, currency: Currency, before: str | None = None) -> str:
    """The task message: what happened to the previous one, project, price, text, prompt."""
    if card.price:
        header = t(lang, "task_header", project=card.project_name,
                   price=format_amount(card.price, currency))
    else:
        header = t(lang, "task_header_free", project=card.project_name)
    body = card.text
    if len(body) > MAX_TASK_TEXT:
        more = len(body) - MAX_TASK_TEXT
        body = body[:MAX_TASK_TEXT] + "\n" + t(lang, "task_shortened", more=more)
    if card.project_type == "rating":
        prompt = t(lang, "task_prompt_rating", low=card.options[0], high=card.options[-1])
    else:
        prompt = t(lang, "task_prompt_label")
    parts = [before, header, "", body, "", prompt] if before else [header, "", body, "", prompt]
    return "\n".join(parts)[:MAX_MESSAGE]


def task_keyboard(card: TaskCard, lang: str) -> InlineKeyboardMarkup:
    """One button per option (a row of numbers for ratings) and a Skip button."""
    buttons = [
        InlineKeyboardButton(option, callback_data=callbacks.Answer(card.assignment_id, i).pack())
        for i, option in enumerate(card.options)
    ]
    if card.project_type == "rating":
        rows = [buttons[i : i + 5] for i in range(0, len(buttons), 5)]
    else:
        per_row = 1 if max(len(o) for o in card.options) > 14 else 2
        rows = [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]
    skip = callbacks.Skip(card.assignment_id).pack()
    rows.append([InlineKeyboardButton(t(lang, "btn_skip"), callback_data=skip)])
    return InlineKeyboardMarkup(rows)


def start_keyboard(lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(t(lang, "btn_start"), callback_data=callbacks.NextTask().pack())]]
    )


def check_again_keyboard(lang: str) -> InlineKeyboardMarkup:
    data = callbacks.NextTask(in_place=True).pack()
    return InlineKeyboardMarkup([[InlineKeyboardButton(t(lang, "btn_check_again"),
                                                       callback_data=data)]])


def language_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[
            InlineKeyboardButton("English", callback_data=callbacks.SetLanguage("en").pack()),
            InlineKeyboardButton("中文", callback_data=callbacks.SetLanguage("zh").pack()),
        ]]
    )


def saved_line(value: str | None, price: int, lang: str, currency: Currency) -> str:
    if value is None:
        return t(lang, "skipped_line")
    if price:
        return t(lang, "saved_line", value=value, amount=format_amount(price, currency))
    return t(lang, "saved_line_free", value=value)


def saved_toast(value: str | None, price: int, lang: str, currency: Currency) -> str:
    if value is None:
        return t(lang, "toast_skipped")
    if price:
        return t(lang, "toast_saved", amount=format_amount(price, currency))
    return t(lang, "toast_saved_free")


def progress_bar(done: int, total: int, width: int = 10) -> tuple[str, int]:
    """('▓▓▓░░░░░░░', 30) for 3 of 10."""
    pct = int(done * 100 / total) if total else 0
    filled = round(width * done / total) if total else 0
    return "▓" * filled + "░" * (width - filled), pct


def problems_text(
    problems: tuple[RowError, ...], unit: str, file_name: str, lang: str, shown: int = 10
) -> str:
    """'Nothing was imported from x.csv. 3 problems:' and the first few, each with its line."""
    lines = [t(lang, "upload_rejected", file=file_name, count=len(problems))]
    for problem in problems[:shown]:
        message = t(lang, "err_" + problem.code, **problem.params)
        if problem.line:
            where = t(lang, "where_item" if unit == "item" else "where_line", n=problem.line)
            lines.append(t(lang, "upload_problem_line", where=where, message=message))
        else:
            lines.append(t(lang, "upload_problem_file", message=message))
    if len(problems) > shown:
        lines.append(t(lang, "upload_more_problems", more=len(problems) - shown))
    return "\n".join(lines)[:MAX_MESSAGE]


def notice_text(notice: Notice, lang: str, tz: str, currency: Currency) -> str:
    """A rule's message, with times in the student's zone and amounts in money."""
    values: dict[str, object] = {}
    for key, value in notice.params.items():
        if isinstance(value, datetime):
            values[key] = value.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M")
        elif key == "amount" and isinstance(value, int):
            values[key] = format_amount(value, currency)
        else:
            values[key] = value
    return t(lang, notice.key, **values).strip()


def held_text(held: tuple[Notice, ...], lang: str, tz: str, currency: Currency) -> str:
    if not held:
        return t(lang, "no_tasks")
    lines = [t(lang, "held_title")]
    lines += ["• " + notice_text(n, lang, tz, currency) for n in held]
    return "\n".join(lines)
