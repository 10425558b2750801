"""Turning service results into what a person sees: message texts and inline keyboards."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import callbacks
from bot.config import Currency
from bot.importing import RowError
from bot.money import format_amount
from bot.services import labelstudio
from bot.services.labeling import Notice, TaskCard
from bot.texts import t

MAX_MESSAGE = 4096
MAX_CAPTION = 1024
# A page of a task's text: leaves room in a 4096-character message for the header, the
# prompt, the page marker and the notes about the previous answer. Nothing is cut silently:
# a longer text is shown in pages with ◀ ▶ on the same message.
PAGE_CHARS = 3000
# A page of an image task's caption (Telegram allows 1024 characters in all).
CAPTION_PAGE_CHARS = 500


def task_body(card: TaskCard, lang: str) -> str:
    """The whole text a student must read: the item, or an A/B comparison's three parts."""
    if card.project_type == "pairwise":
        first, second = card.shown
        return "\n\n".join(
            [
                t(lang, "pair_prompt") + "\n" + card.payload.get("prompt", card.text),
                t(lang, "pair_first") + "\n" + first,
                t(lang, "pair_second") + "\n" + second,
            ]
        )
    return card.text


def paginate(text: str, size: int = PAGE_CHARS) -> list[str]:
    """Pages of at most `size` characters, cut at a line break or a space where possible."""
    pages = []
    while len(text) > size:
        cut = max(text.rfind("\n", 0, size), text.rfind(" ", 0, size))
        if cut < size // 2:  # no good break (e.g. Chinese without spaces): cut at the size
            cut = size
        pages.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    pages.append(text)
    return pages


def task_text(
    card: TaskCard, lang: str, currency: Currency, before: str | None = None, page: int = 0
) -> str:
    """The task message: what happened to the previous one, project, price, one page of the
    text (with its number when there are several), and what to do."""
    if card.price:
        header = t(
            lang,
            "task_header",
            project=card.project_name,
            price=format_amount(card.price, currency),
        )
    else:
        header = t(lang, "task_header_free", project=card.project_name)
    pages = paginate(task_body(card, lang))
    page = min(max(page, 0), len(pages) - 1)
    body = pages[page]
    if len(pages) > 1:
        body += "\n\n" + t(lang, "task_page", page=page + 1, pages=len(pages))
    hint = labelstudio.suggestion(card.payload)
    if hint is not None:
        body += "\n\n" + t(lang, "task_suggestion", value=hint)
    if card.project_type == "rating":
        prompt = t(lang, "task_prompt_rating", low=card.options[0], high=card.options[-1])
    elif card.project_type in ("multilabel", "correction"):
        prompt = t(lang, "task_prompt_" + card.project_type)
    elif card.project_type == "pairwise":
        prompt = t(lang, "task_prompt_pairwise")
    else:
        prompt = t(lang, "task_prompt_label")
    parts = [before, header, "", body, "", prompt] if before else [header, "", body, "", prompt]
    return "\n".join(parts)[:MAX_MESSAGE]


def task_photo(card: TaskCard) -> str:
    """What to send as an image task's photo: Telegram's file_id once known, else the URL."""
    return card.payload.get("image_file_id") or card.payload.get("image", "")


def task_caption(
    card: TaskCard, lang: str, currency: Currency, before: str | None = None, page: int = 0
) -> str:
    """An image task's caption (at most 1024 characters): what happened to the previous
    task, the header, a page of the item's text if any (◀ ▶ for the rest), the prompt."""
    if card.price:
        header = t(
            lang,
            "task_header",
            project=card.project_name,
            price=format_amount(card.price, currency),
        )
    else:
        header = t(lang, "task_header_free", project=card.project_name)
    prompt = t(lang, "task_prompt_image")
    head = "\n".join([before, header] if before else [header])
    text = card.text.strip()
    if not text:
        return "\n".join([head, "", prompt])[:MAX_CAPTION]
    pages = paginate(text, CAPTION_PAGE_CHARS)
    page = min(max(page, 0), len(pages) - 1)
    body = pages[page]
    if len(pages) > 1:
        body += "\n\n" + t(lang, "task_page", page=page + 1, pages=len(pages))
    return "\n".join([head, "", body, "", prompt])[:MAX_CAPTION]


def page_size(card: TaskCard) -> int:
    """Characters per page: a photo's caption holds far less than a message."""
    return CAPTION_PAGE_CHARS if card.project_type == "image" else PAGE_CHARS


def _answer_buttons(card: TaskCard, lang: str) -> list[list[InlineKeyboardButton]]:
    def button(text: str, i: int) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            text, callback_data=callbacks.Answer(card.assignment_id, i).pack()
        )

    if card.project_type == "pairwise":
        labels = [t(lang, "btn_pair_" + key) for key in ("first", "second", "tie", "both_bad")]
        buttons = [button(text, i) for i, text in enumerate(labels)]
        return [buttons[:2], buttons[2:]]
    if card.project_type == "correction":
        return [
            [
                button(t(lang, "btn_no_correction"), 0),
                InlineKeyboardButton(
                    t(lang, "btn_correct"),
                    callback_data=callbacks.Correct(card.assignment_id).pack(),
                ),
            ]
        ]
    if card.project_type == "multilabel":
        n = len(card.options)
        ticks = [
            InlineKeyboardButton(
                ("☑ " if card.draft & (1 << i) else "☐ ") + option,
                callback_data=callbacks.Toggle(card.assignment_id, i).pack(),
            )
            for i, option in enumerate(card.options)
        ]
        rows = [ticks[i : i + 2] for i in range(0, n, 2)]
        done = [button(t(lang, "btn_done"), n)]
        if card.allow_none:
            done.append(button(t(lang, "btn_none_of_these"), n + 1))
        return [*rows, done]
    hint = labelstudio.suggestion(card.payload)
    buttons = [
        button(("💡 " if option == hint else "") + option, i)
        for i, option in enumerate(card.options)
    ]
    if card.project_type == "rating":
        return [buttons[i : i + 5] for i in range(0, len(buttons), 5)]
    per_row = 1 if max(len(o) for o in card.options) > 14 else 2
    return [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]


def task_keyboard(card: TaskCard, lang: str, page: int = 0) -> InlineKeyboardMarkup:
    """The answer buttons (always reachable), ◀ ▶ for a long text, Guide and Skip."""
    rows = _answer_buttons(card, lang)
    pages = len(paginate(task_body(card, lang), page_size(card)))
    if pages > 1:
        page = min(max(page, 0), pages - 1)
        nav = []
        if page > 0:
            nav.append(
                InlineKeyboardButton(
                    "◀", callback_data=callbacks.Page(card.assignment_id, page - 1).pack()
                )
            )
        nav.append(
            InlineKeyboardButton(
                f"{page + 1}/{pages}",
                callback_data=callbacks.Page(card.assignment_id, page).pack(),
            )
        )
        if page + 1 < pages:
            nav.append(
                InlineKeyboardButton(
                    "▶", callback_data=callbacks.Page(card.assignment_id, page + 1).pack()
                )
            )
        rows.append(nav)
    last = []
    if card.instructions or card.example_file_id:
        last.append(
            InlineKeyboardButton(
                t(lang, "btn_guide"), callback_data=callbacks.Guide(card.assignment_id).pack()
            )
        )
    last.append(
        InlineKeyboardButton(
            t(lang, "btn_skip"), callback_data=callbacks.Skip(card.assignment_id).pack()
        )
    )
    rows.append(last)
    return InlineKeyboardMarkup(rows)


def guide_view(card: TaskCard, lang: str) -> tuple[str, InlineKeyboardMarkup]:
    """The project's instructions in place of the task, with a way back to it."""
    text = t(lang, "guide_title", project=card.project_name) + "\n\n" + card.instructions
    back = InlineKeyboardButton(
        t(lang, "btn_back_to_task"), callback_data=callbacks.Page(card.assignment_id, 0).pack()
    )
    return text[:MAX_MESSAGE], InlineKeyboardMarkup([[back]])


def start_keyboard(lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(t(lang, "btn_start"), callback_data=callbacks.NextTask().pack())]]
    )


def check_again_keyboard(lang: str) -> InlineKeyboardMarkup:
    data = callbacks.NextTask(in_place=True).pack()
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(t(lang, "btn_check_again"), callback_data=data)]]
    )


def language_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("English", callback_data=callbacks.SetLanguage("en").pack()),
                InlineKeyboardButton("中文", callback_data=callbacks.SetLanguage("zh").pack()),
            ]
        ]
    )


def shown_value(value: str) -> str:
    """An answer as a person reads it: a multi-label set joined, a long correction cut."""
    if value.startswith("["):
        try:
            chosen = json.loads(value)
        except ValueError:
            chosen = None
        if isinstance(chosen, list):
            return ", ".join(map(str, chosen)) or "—"
    return value if len(value) <= 60 else value[:59] + "…"


def saved_line(value: str | None, price: int, lang: str, currency: Currency) -> str:
    if value is not None:
        value = shown_value(value)
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
