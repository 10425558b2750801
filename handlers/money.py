"""Money: /balance and /history for students, disputes, and the admins' bonus, deduction,
approval and payout commands. Every notice a change owes is queued by its service in the
change's own transaction; the handlers here only reply and wake the outbox sender."""

from __future__ import annotations

import contextlib
import io

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import callbacks
from bot.config import Config
from bot.context import Ctx
from bot.money import format_amount, parse_amount
from bot.services import labeling, ledger
from bot.services.ledger import Failed, NoticeSettings, Problem, reason_text, when
from bot.texts import t
from db.ledger import Entry
from handlers.common import answer_query, button, lang_of, mark_saved, now, wake_sender
from handlers.guard import ADMINS, button_for, command_for


def _entry_status(entry: Entry) -> str:
    if entry.kind == "payout":
        return "entry_status_payout"
    if entry.status == "approved" and entry.payout_id is not None:
        return "entry_status_paid"
    return "entry_status_" + entry.status


async def _student_tz(context: Ctx, user_id: int) -> str:
    worker = await labeling.find_worker(context.bot_data.database, user_id)
    return worker.timezone if worker else context.bot_data.cfg.default_timezone


async def on_balance(update: Update, context: Ctx) -> None:
    """/balance: available, waiting, paid out, and where every cent came from."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    lang = await lang_of(update, context)
    cfg = context.bot_data.cfg
    s = await ledger.balance(context.bot_data.database, user.id)

    def money(v: int) -> str:
        return format_amount(v, cfg.currency)

    text = t(
        lang,
        "balance",
        available=money(s.available),
        pending=money(s.pending),
        paid_out=money(s.paid_out),
        earned=money(s.earned),
        bonuses=money(s.bonuses),
        deductions=money(s.deductions),
        adjustments=money(s.adjustments),
        total=money(s.earned + s.bonuses + s.deductions + s.adjustments),
    )
    if s.pending:
        # Each project has its own approval delay (the config's is only the default).
        delays = await ledger.pending_delays(context.bot_data.database, user.id) or [
            cfg.labeling.approve_hours
        ]
        hours = str(delays[0]) if len(delays) == 1 else f"{delays[0]}–{delays[-1]}"
        text += "\n\n" + t(lang, "balance_pending_note", hours=hours)
        held = await ledger.held_for_review(context.bot_data.database, user.id)
        if held:
            text += "\n" + t(lang, "balance_held_note", amount=format_amount(held, cfg.currency))
    await message.reply_text(text)


def _history_view(
    history: ledger.History, lang: str, cfg: Config, tz: str
) -> tuple[str, InlineKeyboardMarkup | None]:
    if not history.entries:
        return t(lang, "history_empty"), None
    lines = [t(lang, "history_title", page=history.page + 1, pages=history.pages)]
    rows: list[list[InlineKeyboardButton]] = []
    for e in history.entries:
        line = t(
            lang,
            "history_line",
            when=when(e.created_at, tz),
            amount=format_amount(e.amount, cfg.currency),
            what=reason_text(e, lang),
            status=t(lang, _entry_status(e)),
        )
        if e.dispute_status:
            line += t(
                lang, "dispute_open_suffix", status=t(lang, "dispute_status_" + e.dispute_status)
            )
        lines.append(f"#{e.id} {line}")
        if e.kind == "deduction" and e.dispute_status is None:
            rows.append(
                [
                    InlineKeyboardButton(
                        t(lang, "btn_dispute", id=e.id),
                        callback_data=callbacks.OpenDispute(e.id).pack(),
                    )
                ]
            )
    nav = []
    if history.page > 0:
        nav.append(
            InlineKeyboardButton(
                t(lang, "btn_prev"), callback_data=callbacks.HistoryPage(history.page - 1).pack()
            )
        )
    if history.page + 1 < history.pages:
        nav.append(
            InlineKeyboardButton(
                t(lang, "btn_next"), callback_data=callbacks.HistoryPage(history.page + 1).pack()
            )
        )
    if nav:
        rows.append(nav)
    return "\n".join(lines), InlineKeyboardMarkup(rows) if rows else None


async def on_history(update: Update, context: Ctx) -> None:
    """/history: the latest ledger entries with their reasons, paged."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    lang = await lang_of(update, context)
    history = await ledger.history(context.bot_data.database, user.id, 0)
    text, markup = _history_view(
        history, lang, context.bot_data.cfg, await _student_tz(context, user.id)
    )
    await message.reply_text(text, reply_markup=markup)


async def on_history_page(update: Update, context: Ctx) -> None:
    """◀ ▶ under /history: show another page in place."""
    got = await button(update, context, callbacks.HistoryPage)
    if got is None:
        return
    query, data, lang = got
    await answer_query(query)
    history = await ledger.history(context.bot_data.database, query.from_user.id, data.page)
    text, markup = _history_view(
        history, lang, context.bot_data.cfg, await _student_tz(context, query.from_user.id)
    )
    await query.edit_message_text(text, reply_markup=markup)


async def on_dispute(update: Update, context: Ctx) -> None:
    """⚖️ Dispute: open a dispute on one of the student's own deductions."""
    got = await button(update, context, callbacks.OpenDispute)
    if got is None:
        return
    query, data, lang = got
    db, cfg = context.bot_data.database, context.bot_data.cfg
    result = await ledger.open_dispute(
        db,
        query.from_user.id,
        data.entry_id,
        now(),
        name=query.from_user.full_name,
        notices=NoticeSettings.of(cfg),
    )
    if isinstance(result, Failed):
        key = (
            "dispute_already"
            if result.problem is Problem.ALREADY_DISPUTED
            else "dispute_not_disputable"
        )
        await answer_query(query, t(lang, key), alert=True)
        return
    mark_saved(update, context)
    wake_sender(context)  # the admins' notices are queued with the dispute
    _, entry = result
    amount = format_amount(entry.amount, cfg.currency)
    await answer_query(query, t(lang, "dispute_sent", id=entry.id, amount=amount), alert=True)


async def on_resolve(update: Update, context: Ctx) -> None:
    """Uphold / Refund under a dispute (admins only: declared in register)."""
    got = await button(update, context, callbacks.ResolveDispute)
    if got is None:
        return
    query, data, lang = got
    cfg = context.bot_data.cfg
    result = await ledger.resolve_dispute(
        context.bot_data.database,
        admin_id=query.from_user.id,
        dispute_id=data.dispute_id,
        refund=bool(data.refund),
        now=now(),
        notices=NoticeSettings.of(cfg),
    )
    if isinstance(result, Failed):
        await answer_query(query, t(lang, "dispute_gone"), alert=True)
        # Take the stale buttons away (another admin decided); a message that has none
        # already (a tap on an old keyboard) would answer "message is not modified".
        if getattr(query.message, "reply_markup", None) is not None:
            with contextlib.suppress(BadRequest):
                await query.edit_message_reply_markup(None)
        return
    mark_saved(update, context)
    wake_sender(context)  # the student's notice is queued with the decision
    await answer_query(query)
    amount = format_amount(-result.entry.amount, cfg.currency)
    key = "dispute_resolved_refunded" if data.refund else "dispute_resolved_upheld"
    await query.edit_message_text(t(lang, key, id=result.dispute.id, amount=amount))


async def _parse_money_command(
    update: Update, context: Ctx, usage: str
) -> tuple[int, int, str, str] | None:
    """(student id, amount, reason, lang) from '/cmd <student> <amount> <reason…>'."""
    message = update.effective_message
    assert message is not None
    lang = await lang_of(update, context)
    args = context.args or []
    if len(args) < 2:
        await message.reply_text(t(lang, usage))
        return None
    student = await ledger.find_student(context.bot_data.database, args[0])
    if student is None:
        await message.reply_text(t(lang, "money_no_student", ref=args[0][:40]))
        return None
    amount = parse_amount(args[1], context.bot_data.cfg.currency.minor_units)
    if amount is None or amount == 0:
        await message.reply_text(t(lang, "money_bad_amount", value=args[1][:40]))
        return None
    reason = " ".join(args[2:]).strip()
    if not reason:
        await message.reply_text(t(lang, "money_no_reason"))
        return None
    return student, amount, reason, lang


def _manual_handler(kind: str):
    usage = "usage_" + kind

    async def handler(update: Update, context: Ctx) -> None:
        parsed = await _parse_money_command(update, context, usage)
        message, user = update.effective_message, update.effective_user
        if parsed is None or message is None or user is None:
            return
        student, amount, reason, lang = parsed
        db, cfg = context.bot_data.database, context.bot_data.cfg
        make = ledger.bonus if kind == "bonus" else ledger.deduct
        entry = await make(
            db,
            admin_id=user.id,
            worker_id=student,
            amount=amount,
            reason=reason,
            now=now(),
            notices=NoticeSettings.of(cfg),
            request=f"{message.chat.id}:{message.message_id}",
        )
        if isinstance(entry, Failed):
            key = {
                Problem.NO_REASON: "money_no_reason",
                Problem.NO_SUCH_STUDENT: "money_no_student",
            }.get(entry.problem, "money_bad_amount")
            await message.reply_text(t(lang, key, ref=str(student), value=str(amount)))
            return
        mark_saved(update, context)
        wake_sender(context)  # the student's notice is queued with the entry
        # "Deduction of ¥0.10", not "Deduction of -¥0.10": the word already says which way.
        money = format_amount(abs(entry.amount), cfg.currency)
        done = "bonus_done" if kind == "bonus" else "deduct_done"
        await message.reply_text(t(lang, done, amount=money, student=student, id=entry.id))

    handler.__doc__ = f"/{kind} <student> <amount> <reason>: a {kind} with its reason."
    return handler


async def on_approve(update: Update, context: Ctx) -> None:
    """/approve [project | student | all]: approve pending earnings before the delay."""
    message = update.effective_message
    if message is None:
        return
    lang = await lang_of(update, context)
    db = context.bot_data.database
    if not context.args:  # approving everything must be asked for explicitly
        await message.reply_text(t(lang, "usage_approve"))
        return
    arg = context.args[0]
    project = worker = None
    if arg.lower() != "all":
        worker = (
            await ledger.find_student(db, arg)
            if arg.lstrip("@").isdigit() or arg.startswith("@")
            else None
        )
        if worker is None and arg.startswith("@"):  # no project name has an "@"
            await message.reply_text(t(lang, "money_no_student", ref=arg[:40]))
            return
        if worker is None:
            project = arg
    count = await ledger.approve_now(db, now(), project=project, worker_id=worker)
    if count is None:
        await message.reply_text(t(lang, "unknown_project", name=arg[:40]))
        return
    await message.reply_text(t(lang, "approve_done", count=count))


async def on_payout(update: Update, context: Ctx) -> None:
    """/payout <student|all>: pay approved balances once, and tell each student."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    lang = await lang_of(update, context)
    db, cfg = context.bot_data.database, context.bot_data.cfg
    if not context.args:
        await message.reply_text(t(lang, "usage_payout"))
        return
    worker_id = None
    if context.args[0].lower() != "all":
        worker_id = await ledger.find_student(db, context.args[0])
        if worker_id is None:
            await message.reply_text(t(lang, "money_no_student", ref=context.args[0][:40]))
            return
    paid = await ledger.payout(
        db, admin_id=user.id, now=now(), notices=NoticeSettings.of(cfg), worker_id=worker_id
    )
    if not paid:
        await message.reply_text(t(lang, "payout_none"))
        return
    mark_saved(update, context)
    wake_sender(context)  # each student's pay notice is queued with their payout
    lines = [
        t(
            lang,
            "payout_done",
            count=len(paid),
            total=format_amount(sum(p.amount for p in paid), cfg.currency),
        )
    ]
    for p in paid[:30]:
        lines.append(
            t(
                lang,
                "payout_line",
                reference=p.reference,
                student=p.worker_id,
                amount=format_amount(p.amount, cfg.currency),
                answers=p.answers,
            )
        )
    await message.reply_text("\n".join(lines))


async def on_payouts(update: Update, context: Ctx) -> None:
    """/payouts: the latest payouts."""
    message = update.effective_message
    if message is None:
        return
    lang = await lang_of(update, context)
    cfg = context.bot_data.cfg
    recent = await ledger.recent_payouts(context.bot_data.database)
    if not recent:
        await message.reply_text(t(lang, "payouts_empty"))
        return
    lines = [t(lang, "payouts_title")] + [
        t(
            lang,
            "payouts_line",
            when=when(p.created_at, cfg.default_timezone),
            reference=p.reference,
            student=p.worker_id,
            amount=format_amount(p.amount, cfg.currency),
            answers=p.answers,
        )
        for p in recent
    ]
    await message.reply_text("\n".join(lines))


async def on_export_payouts(update: Update, context: Ctx) -> None:
    """/export_payouts: every payout as CSV for the finance team."""
    message = update.effective_message
    if message is None:
        return
    lang = await lang_of(update, context)
    data, rows = await ledger.payouts_csv(
        context.bot_data.database, context.bot_data.cfg.currency.minor_units
    )
    if rows == 0:
        await message.reply_text(t(lang, "payouts_empty"))
        return
    await message.reply_document(
        document=io.BytesIO(data),
        filename="payouts.csv",
        caption=t(lang, "export_payouts_caption", rows=rows),
    )


def register(app: Application) -> None:
    app.add_handler(CommandHandler("balance", on_balance))
    app.add_handler(CommandHandler("history", on_history))
    app.add_handler(CallbackQueryHandler(on_history_page, pattern=r"^h:"))
    app.add_handler(CallbackQueryHandler(on_dispute, pattern=r"^d:"))
    # Admins only: Uphold / Refund under a dispute, and every command that moves money.
    app.add_handler(button_for(ADMINS, on_resolve, pattern=r"^r:"))
    app.add_handler(command_for(ADMINS, "bonus", _manual_handler("bonus")))
    app.add_handler(command_for(ADMINS, "deduct", _manual_handler("deduct")))
    app.add_handler(command_for(ADMINS, "approve", on_approve))
    app.add_handler(command_for(ADMINS, "payout", on_payout))
    app.add_handler(command_for(ADMINS, "payouts", on_payouts))
    app.add_handler(command_for(ADMINS, "export_payouts", on_export_payouts))
