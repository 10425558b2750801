"""Quality control in the chat: /review held answers, /workers, /ban, /unban (admins), and
/me, where a student sees their own record."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CommandHandler

from bot import callbacks
from bot.context import Ctx
from bot.services import labeling, ledger, quality
from bot.services.ledger import NoticeSettings
from bot.texts import t
from handlers.common import answer_query, button, lang_of, mark_saved, now, wake_sender
from handlers.guard import ADMINS, REVIEWERS, button_for, command_for

MAX_LISTED = 40


def _pct(correct: int, total: int) -> str:
    return f"{round(100 * correct / total)}%" if total else "–"


async def _review_view(
    context: Ctx, lang: str, name: str
) -> tuple[str, InlineKeyboardMarkup | None]:
    item = await quality.next_review(context.bot_data.database, name)
    if item is None:
        return t(lang, "unknown_project", name=name[:40]), None
    f = item.flagged
    if f is None:
        return t(lang, "review_empty", project=item.project.name), None
    text = t(
        lang,
        "review_item",
        project=item.project.name,
        waiting=item.waiting,
        task=f.external_id or f"#{f.task_id}",
        student=f.worker_id,
        value=f.value,
        seconds=f"{f.seconds:g}",
        rule=f.rule or "-",
        text=f.text[:1500],
    )
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    t(lang, "btn_accept"), callback_data=callbacks.Review(f.answer_id, 1).pack()
                ),
                InlineKeyboardButton(
                    t(lang, "btn_reject"), callback_data=callbacks.Review(f.answer_id, 0).pack()
                ),
            ]
        ]
    )
    return text, markup


async def on_review(update: Update, context: Ctx) -> None:
    """/review <project>: the oldest held answer with Accept / Reject buttons."""
    message = update.effective_message
    if message is None:
        return
    lang = await lang_of(update, context)
    if not context.args:
        await message.reply_text(t(lang, "usage_project", command="review"))
        return
    text, markup = await _review_view(context, lang, context.args[0])
    await message.reply_text(text, reply_markup=markup)


async def on_review_button(update: Update, context: Ctx) -> None:
    """Accept / Reject: decide, tell the student, and show the next held answer in place."""
    got = await button(update, context, callbacks.Review)
    if got is None:
        return
    query, data, lang = got
    db, cfg = context.bot_data.database, context.bot_data.cfg
    decision = await quality.decide(
        db,
        answer_id=data.answer_id,
        accept=bool(data.accept),
        now=now(),
        notices=NoticeSettings.of(cfg),
    )
    if decision is None:
        await answer_query(query, t(lang, "review_gone"), alert=True)
        return
    if decision.deduction_id is not None:
        mark_saved(update, context)
        wake_sender(context)  # the student's deduction notice is queued with it
    await answer_query(
        query, t(lang, "review_accepted" if decision.accepted else "review_rejected")
    )
    text, markup = await _review_view(context, lang, decision.project)
    await query.edit_message_text(text, reply_markup=markup)


async def on_workers(update: Update, context: Ctx) -> None:
    """/workers <project>: students with answers, control accuracy, median seconds, status."""
    message = update.effective_message
    if message is None:
        return
    lang = await lang_of(update, context)
    if not context.args:
        await message.reply_text(t(lang, "usage_project", command="workers"))
        return
    found = await quality.student_records(context.bot_data.database, context.args[0], now())
    if found is None:
        await message.reply_text(t(lang, "unknown_project", name=context.args[0][:40]))
        return
    project, records = found
    if not records:
        await message.reply_text(t(lang, "workers_empty", project=project.name))
        return
    records.sort(key=lambda r: -r.answers)
    tz = await _zone_of(context, update)
    lines = [t(lang, "workers_title", project=project.name, count=len(records))]
    for r in records[:MAX_LISTED]:
        if r.status == "active" and r.paused_until is not None:
            # Kept out of this project by a rule: say until when and why (/unban lifts it).
            status = t(
                lang,
                "worker_paused",
                rule=r.paused_rule or "-",
                until=r.paused_until.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M"),
            )
        else:
            status = t(lang, "worker_" + r.status)
        lines.append(
            t(
                lang,
                "workers_line",
                student=r.worker_id,
                name=r.name[:20],
                answers=r.answers,
                accuracy=_pct(r.gold_correct, r.gold_total),
                gold=r.gold_total,
                median=f"{r.median_seconds:.1f}" if r.median_seconds is not None else "–",
                flagged=r.flagged,
                status=status,
            )
        )
    await message.reply_text("\n".join(lines))


async def _zone_of(context: Ctx, update: Update) -> str:
    """The time zone to show times in to the person who asked."""
    user = update.effective_user
    cfg = context.bot_data.cfg
    worker = await labeling.find_worker(context.bot_data.database, user.id) if user else None
    return worker.timezone if worker else cfg.default_timezone


def _ban_handler(banned: bool):
    command = "ban" if banned else "unban"

    async def handler(update: Update, context: Ctx) -> None:
        message = update.effective_message
        if message is None:
            return
        lang = await lang_of(update, context)
        db = context.bot_data.database
        if not context.args:
            await message.reply_text(t(lang, "usage_student", command=command))
            return
        student = await ledger.find_student(db, context.args[0])
        if student is None or not await quality.set_banned(db, student, banned, now()):
            await message.reply_text(t(lang, "money_no_student", ref=context.args[0][:40]))
            return
        await message.reply_text(
            t(lang, "banned_ok" if banned else "unbanned_ok", student=student)
        )

    handler.__doc__ = f"/{command} <student>."
    return handler


async def on_me(update: Update, context: Ctx) -> None:
    """/me: the student's own record per project: answers, accuracy, seconds per answer."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    lang = await lang_of(update, context)
    records = await quality.my_records(context.bot_data.database, user.id)
    if not records:
        await message.reply_text(t(lang, "me_empty"))
        return
    lines = [t(lang, "me_title")]
    for project, r in records:
        lines.append(
            t(
                lang,
                "me_line",
                project=project,
                answers=r.answers,
                accuracy=_pct(r.gold_correct, r.gold_total),
                correct=r.gold_correct,
                gold=r.gold_total,
                median=f"{r.median_seconds:.1f}" if r.median_seconds is not None else "–",
            )
        )
    await message.reply_text("\n".join(lines))


def register(app: Application) -> None:
    app.add_handler(command_for(REVIEWERS, "review", on_review))
    app.add_handler(button_for(REVIEWERS, on_review_button, pattern=r"^v:"))
    app.add_handler(command_for(ADMINS, "workers", on_workers))
    app.add_handler(command_for(ADMINS, "ban", _ban_handler(banned=True)))
    app.add_handler(command_for(ADMINS, "unban", _ban_handler(banned=False)))
    app.add_handler(CommandHandler("me", on_me))
