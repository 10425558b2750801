"""Money students can trust: balances, history, approvals, bonuses, deductions, payouts,
disputes. Every change is a ledger entry with a reason the student can read, and the notice
it owes (to the student, or to the admins) is queued in the outbox in the same transaction,
rendered in the recipient's language: a crash or a failed Telegram call after the commit
cannot lose it, and a change rolled back sends nothing."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot import callbacks
from bot.config import Config, Currency
from bot.money import format_amount
from bot.services import notify
from bot.services.notify import Notification
from bot.texts import t
from db import disputes as disputes_repo
from db import ledger as ledger_repo
from db import payouts as payouts_repo
from db import projects as projects_repo
from db import workers as workers_repo
from db.connection import Database, Tx
from db.disputes import Dispute
from db.ledger import Entry, Sums
from db.payouts import Payout

HISTORY_PAGE = 8
MAX_REASON = 300


class Problem(StrEnum):
    NO_SUCH_STUDENT = "no_such_student"
    NO_REASON = "no_reason"
    BAD_AMOUNT = "bad_amount"
    NOT_DISPUTABLE = "not_disputable"
    ALREADY_DISPUTED = "already_disputed"
    NO_SUCH_DISPUTE = "no_such_dispute"
    ALREADY_RESOLVED = "already_resolved"


@dataclass(frozen=True, slots=True)
class NoticeSettings:
    """What the notices a money change queues need from the config: the currency, the
    language and time zone for someone with no workers row (an admin who never sent /start),
    and who hears about a new dispute."""

    currency: Currency
    default_language: str = "en"
    default_timezone: str = "Asia/Shanghai"
    admin_ids: frozenset[int] = frozenset()

    @classmethod
    def of(cls, cfg: Config) -> NoticeSettings:
        return cls(cfg.currency, cfg.default_language, cfg.default_timezone, cfg.admin_ids)


@dataclass(frozen=True, slots=True)
class Failed:
    problem: Problem


@dataclass(frozen=True, slots=True)
class History:
    entries: list[Entry]
    page: int
    pages: int


@dataclass(frozen=True, slots=True)
class Resolution:
    dispute: Dispute
    entry: Entry
    refund_entry_id: int | None


def when(moment: datetime, tz: str) -> str:
    return moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def reason_text(entry: Entry, lang: str) -> str:
    return t(lang, "reason_" + entry.reason, **entry.reason_params)


async def _language(tx: Tx, person: int, notices: NoticeSettings) -> str:
    """The language to write to `person` in, read inside the change's transaction."""
    worker = await workers_repo.get(tx, person)
    return worker.language if worker else notices.default_language


def deduction_notice(
    worker_id: int, entry_id: int, amount: int, reason: str, lang: str, currency: Currency
) -> Notification:
    """The student's deduction notice with its Dispute button; `amount` without its sign
    ("Deduction ¥0.10": the word already says which way), `reason` rendered in `lang`."""
    return Notification(
        chat_id=worker_id,
        kind="deduct",
        dedupe_key=f"ledger:{entry_id}",
        text=t(lang, "notice_deduction", amount=format_amount(amount, currency), reason=reason),
        buttons=(
            ((t(lang, "btn_dispute", id=entry_id), callbacks.OpenDispute(entry_id).pack()),),
        ),
    )


async def balance(db: Database, worker_id: int) -> Sums:
    return await ledger_repo.sums(db, worker_id)


async def held_for_review(db: Database, worker_id: int) -> int:
    return await ledger_repo.held_for_review(db, worker_id)


async def pending_delays(db: Database, worker_id: int) -> list[int]:
    """The approval delays (hours) of the projects this worker's pending earnings are in."""
    return await ledger_repo.pending_delays(db, worker_id)


async def history(db: Database, worker_id: int, page: int) -> History:
    """Entries newest first, HISTORY_PAGE at a time; an out-of-range page shows the last."""
    total = await ledger_repo.count(db, worker_id)
    pages = max(1, -(-total // HISTORY_PAGE))
    page = min(max(page, 0), pages - 1)
    entries = await ledger_repo.page(db, worker_id, page * HISTORY_PAGE, HISTORY_PAGE)
    return History(entries=entries, page=page, pages=pages)


async def approve_due(db: Database, now: datetime) -> int:
    """Job: approve earnings that have waited their project's approval delay."""
    approved = 0
    async with db.transaction() as tx:
        for project in await projects_repo.all_projects(tx):
            cutoff = now - timedelta(hours=project.approve_hours)
            approved += await ledger_repo.approve_due(tx, project.id, cutoff, now)
    return approved


async def approve_now(
    db: Database, now: datetime, *, project: str | None = None, worker_id: int | None = None
) -> int | None:
    """Approve pending earnings early (one project, one student, or all). None: no project."""
    async with db.transaction() as tx:
        project_id = None
        if project is not None:
            found = await projects_repo.get_by_name(tx, project)
            if found is None:
                return None
            project_id = found.id
        return await ledger_repo.approve_all_pending(
            tx, now, project_id=project_id, worker_id=worker_id
        )


def _reason_text(reason: str) -> str | None:
    text = " ".join(reason.split())
    return text[:MAX_REASON] if text else None


async def bonus(
    db: Database,
    *,
    admin_id: int,
    worker_id: int,
    amount: int,
    reason: str,
    now: datetime,
    notices: NoticeSettings,
    request: str | None = None,
) -> Entry | Failed:
    """A bonus, approved at once, with the admin's reason; the student's notice is queued.

    `request` names the admin's command ('<chat id>:<message id>'): the same command
    delivered again returns the entry it made the first time and changes nothing."""
    return await _manual(
        db, admin_id, worker_id, amount, reason, now, "bonus", None, notices, request
    )


async def deduct(
    db: Database,
    *,
    admin_id: int,
    worker_id: int,
    amount: int,
    reason: str,
    now: datetime,
    notices: NoticeSettings,
    task_id: int | None = None,
    request: str | None = None,
) -> Entry | Failed:
    """A deduction, which must say why; the student's notice (with a Dispute button) is
    queued. `request` as for `bonus`."""
    return await _manual(
        db, admin_id, worker_id, -amount, reason, now, "deduction", task_id, notices, request
    )


async def _manual(
    db: Database,
    admin_id: int,
    worker_id: int,
    amount: int,
    reason: str,
    now: datetime,
    kind: str,
    task_id: int | None,
    notices: NoticeSettings,
    request: str | None,
) -> Entry | Failed:
    text = _reason_text(reason)
    if text is None:
        return Failed(Problem.NO_REASON)
    if amount == 0 or abs(amount) > 10_000_000:
        return Failed(Problem.BAD_AMOUNT)
    async with db.transaction() as tx:
        if request is not None:
            done = await ledger_repo.by_request(tx, request)
            if done is not None:  # this very command again: its entry and notice exist
                return done
        student = await workers_repo.get(tx, worker_id)
        if student is None:
            return Failed(Problem.NO_SUCH_STUDENT)
        entry_id = await ledger_repo.add(
            tx,
            worker_id=worker_id,
            amount=amount,
            kind=kind,
            reason=f"{kind}_manual",
            reason_params={"text": text},
            task_id=task_id,
            status="approved",
            created_by=admin_id,
            now=now,
            request=request,
        )
        entry = await ledger_repo.get(tx, entry_id)
        assert entry is not None
        lang = student.language
        if kind == "bonus":
            money = format_amount(amount, notices.currency)
            notice = Notification(
                chat_id=worker_id,
                kind="bonus",
                dedupe_key=f"ledger:{entry_id}",
                text=t(lang, "notice_bonus", amount=money, reason=text),
            )
        else:
            notice = deduction_notice(worker_id, entry_id, -amount, text, lang, notices.currency)
        await notify.enqueue_in(tx, [notice], now)
        return entry


async def payout(
    db: Database,
    *,
    admin_id: int,
    now: datetime,
    notices: NoticeSettings,
    worker_id: int | None = None,
) -> list[Payout]:
    """Pay out every approved, unpaid balance (one student or all) in one transaction, with
    each student's pay notice (one per payout, keyed by its id) queued in it too.

    Each entry is settled by exactly one payout: running it again pays nothing twice.
    """
    made: list[Payout] = []
    items: list[Notification] = []
    async with db.transaction() as tx:
        up_to = await ledger_repo.max_id(tx)
        for due in await ledger_repo.unpaid(tx, worker_id):
            if due.amount <= 0:
                continue  # deductions outweigh earnings: nothing to pay yet
            paid = await payouts_repo.create(
                tx,
                worker_id=due.worker_id,
                amount=due.amount,
                period_start=due.first_at,
                period_end=due.last_at,
                answers=due.answers,
                created_by=admin_id,
                now=now,
            )
            await ledger_repo.settle(tx, due.worker_id, paid.id, up_to)
            await ledger_repo.add(
                tx,
                worker_id=due.worker_id,
                amount=-due.amount,
                kind="payout",
                reason="payout_sent",
                reason_params={"reference": paid.reference},
                status="approved",
                created_by=admin_id,
                payout_id=paid.id,
                now=now,
            )
            made.append(paid)
            items.append(await _payout_notice(tx, paid, notices))
        await notify.enqueue_in(tx, items, now)
    return made


async def _payout_notice(tx: Tx, paid: Payout, notices: NoticeSettings) -> Notification:
    student = await workers_repo.get(tx, paid.worker_id)
    lang = student.language if student else notices.default_language
    tz = student.timezone if student else notices.default_timezone
    return Notification(
        chat_id=paid.worker_id,
        kind="payout",
        dedupe_key=f"payout:{paid.id}",
        text=t(
            lang,
            "notice_payout",
            amount=format_amount(paid.amount, notices.currency),
            answers=paid.answers,
            start=when(paid.period_start, tz)[:10],
            end=when(paid.period_end, tz)[:10],
            reference=paid.reference,
        ),
    )


async def recent_payouts(db: Database, limit: int = 20) -> list[Payout]:
    return await payouts_repo.recent(db, limit)


async def payouts_csv(db: Database, minor_units: int) -> tuple[bytes, int]:
    """All payouts as CSV for the finance team (amounts in the main unit, exact)."""
    rows = await payouts_repo.all_payouts(db)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        [
            "reference",
            "student_id",
            "amount",
            "answers",
            "period_start",
            "period_end",
            "paid_at",
            "paid_by",
        ]
    )
    unit = 10**minor_units
    for p in rows:
        amount = (
            f"{p.amount // unit}.{p.amount % unit:0{minor_units}d}"
            if minor_units
            else str(p.amount)
        )
        writer.writerow(
            [
                p.reference,
                p.worker_id,
                amount,
                p.answers,
                p.period_start.isoformat(),
                p.period_end.isoformat(),
                p.created_at.isoformat(),
                p.created_by,
            ]
        )
    return out.getvalue().encode("utf-8-sig"), len(rows)


async def open_dispute(
    db: Database,
    worker_id: int,
    entry_id: int,
    now: datetime,
    *,
    name: str,
    notices: NoticeSettings,
) -> tuple[Dispute, Entry] | Failed:
    """A student (`name`, as the admins will read it) contests one of their own deductions
    (once); each admin's notice, with Uphold / Refund buttons, is queued."""
    async with db.transaction() as tx:
        entry = await ledger_repo.get(tx, entry_id)
        if entry is None or entry.worker_id != worker_id or entry.kind != "deduction":
            return Failed(Problem.NOT_DISPUTABLE)
        dispute = await disputes_repo.open_for(tx, entry_id, worker_id, now)
        if dispute is None:
            return Failed(Problem.ALREADY_DISPUTED)
        amount = format_amount(entry.amount, notices.currency)
        items = []
        for admin_id in sorted(notices.admin_ids):
            lang = await _language(tx, admin_id, notices)
            items.append(
                Notification(
                    chat_id=admin_id,
                    kind="dispute",
                    dedupe_key=f"dispute:{dispute.id}:{admin_id}",
                    text=t(
                        lang,
                        "dispute_admin",
                        id=dispute.id,
                        name=name,
                        student=worker_id,
                        amount=amount,
                        reason=reason_text(entry, lang),
                        when=when(entry.created_at, notices.default_timezone),
                    ),
                    buttons=(
                        (
                            (
                                t(lang, "btn_uphold"),
                                callbacks.ResolveDispute(dispute.id, 0).pack(),
                            ),
                            (
                                t(lang, "btn_refund"),
                                callbacks.ResolveDispute(dispute.id, 1).pack(),
                            ),
                        ),
                    ),
                )
            )
        await notify.enqueue_in(tx, items, now)
        return dispute, entry


async def resolve_dispute(
    db: Database,
    *,
    admin_id: int,
    dispute_id: int,
    refund: bool,
    now: datetime,
    notices: NoticeSettings,
) -> Resolution | Failed:
    """Uphold a deduction, or refund it with an adjustment entry naming the dispute; the
    student's notice of the decision is queued."""
    async with db.transaction() as tx:
        dispute = await disputes_repo.get(tx, dispute_id)
        if dispute is None:
            return Failed(Problem.NO_SUCH_DISPUTE)
        status = "refunded" if refund else "upheld"
        if not await disputes_repo.resolve(tx, dispute_id, status, admin_id, now):
            return Failed(Problem.ALREADY_RESOLVED)
        entry = await ledger_repo.get(tx, dispute.ledger_id)
        assert entry is not None
        refund_id = None
        if refund:
            refund_id = await ledger_repo.add(
                tx,
                worker_id=dispute.worker_id,
                amount=-entry.amount,
                kind="adjustment",
                reason="adjustment_refund",
                reason_params={"entry": entry.id},
                task_id=entry.task_id,
                status="approved",
                created_by=admin_id,
                now=now,
            )
        resolved = await disputes_repo.get(tx, dispute_id)
        assert resolved is not None
        lang = await _language(tx, dispute.worker_id, notices)
        amount = format_amount(-entry.amount, notices.currency)
        text = (
            t(lang, "notice_refund", id=entry.id, amount=amount)
            if refund
            else t(
                lang,
                "notice_upheld",
                id=entry.id,
                amount=amount,
                reason=reason_text(entry, lang),
            )
        )
        notice = Notification(
            chat_id=dispute.worker_id,
            kind="dispute",
            dedupe_key=f"dispute-result:{dispute_id}",
            text=text,
        )
        await notify.enqueue_in(tx, [notice], now)
        return Resolution(dispute=resolved, entry=entry, refund_entry_id=refund_id)


async def find_student(db: Database, ref: str) -> int | None:
    """A student named by Telegram id or @username."""
    ref = ref.strip()
    if ref.lstrip("@").isdigit() and not ref.startswith("@"):
        worker = await workers_repo.get(db, int(ref))
        return worker.id if worker else None
    worker = await workers_repo.get_by_username(db, ref.lstrip("@"))
    return worker.id if worker else None
