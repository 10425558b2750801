"""The ledger's promises, on the services and a real SQLite file."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import Currency
from bot.services import labeling, ledger, notify
from bot.services.ledger import Failed, NoticeSettings, Problem
from db.connection import Database
from tests.test_labeling_service import count, seed, student

TELL = NoticeSettings(Currency(), admin_ids=frozenset({9}))


async def answer_all(db: Database, worker: int, now: datetime) -> int:
    """Answer every task this worker can get; return how many."""
    done = 0
    card = await labeling.next_task(db, worker, now)
    while card is not None:
        now += timedelta(seconds=5)  # a plausible reading time: no rule holds the answer
        out = await labeling.answer(
            db,
            worker_id=worker,
            assignment_id=card.assignment_id,
            option=0,
            chat_id=worker,
            message_id=1,
            now=now,
        )
        assert isinstance(out, labeling.Saved)
        done += 1
        card = out.next
    return done


async def test_earnings_equal_answers_times_locked_prices(db: Database, t0: datetime) -> None:
    await seed(db, t0, n=3, caption="/upload p options=a,b price=0.05 overlap=2")
    await student(db, 1, t0)
    await student(db, 2, t0)
    card = await labeling.next_task(db, 1, t0)  # locked at ¥0.05
    assert card is not None
    await seed(db, t0, n=4, caption="/upload p price=0.07")
    await answer_all(db, 1, t0)
    await answer_all(db, 2, t0)
    for worker, earned, prices in await ledger.ledger_repo.earnings_by_worker(db):
        assert earned == prices, worker
    sums = await ledger.balance(db, 1)
    assert sums.earned == 5 + 7 * 3  # the first at the old price, the rest at the new
    assert sums.pending == sums.earned
    assert sums.available == 0


async def test_approval_delay_then_payout_once(db: Database, t0: datetime) -> None:
    await seed(db, t0, n=2, caption="/upload p options=a,b price=0.05")
    await student(db, 1, t0)
    await answer_all(db, 1, t0)
    assert await ledger.approve_due(db, t0 + timedelta(hours=23)) == 0
    assert await ledger.approve_due(db, t0 + timedelta(hours=24, minutes=1)) == 2
    sums = await ledger.balance(db, 1)
    assert (sums.pending, sums.available) == (0, 10)

    later = t0 + timedelta(days=2)
    first = await ledger.payout(db, admin_id=9, now=later, notices=TELL)
    assert [(p.worker_id, p.amount, p.answers) for p in first] == [(1, 10, 2)]
    assert first[0].reference == f"LG-{later:%Y%m%d}-000001"
    assert await ledger.payout(db, admin_id=9, now=later, notices=TELL) == []  # nothing twice
    sums = await ledger.balance(db, 1)
    assert (sums.available, sums.paid_out, sums.earned) == (0, 10, 10)
    assert await count(db, "SELECT COUNT(*) FROM ledger WHERE payout_id = 1") == 3


async def test_bonus_deduction_need_reasons_and_balance_adds_up(
    db: Database, t0: datetime
) -> None:
    await seed(db, t0, n=2, caption="/upload p options=a,b price=0.50")
    await student(db, 1, t0)
    await answer_all(db, 1, t0)
    assert await ledger.deduct(
        db, admin_id=9, worker_id=1, amount=20, reason="  ", now=t0, notices=TELL
    ) == Failed(Problem.NO_REASON)
    assert await ledger.bonus(
        db, admin_id=9, worker_id=77, amount=5, reason="x", now=t0, notices=TELL
    ) == Failed(Problem.NO_SUCH_STUDENT)
    bonus = await ledger.bonus(
        db, admin_id=9, worker_id=1, amount=30, reason="great work", now=t0, notices=TELL
    )
    cut = await ledger.deduct(
        db,
        admin_id=9,
        worker_id=1,
        amount=20,
        reason="copied answers on task 2",
        now=t0,
        notices=TELL,
    )
    assert not isinstance(bonus, Failed)
    assert not isinstance(cut, Failed)
    assert cut.amount == -20
    assert cut.reason_params == {"text": "copied answers on task 2"}
    sums = await ledger.balance(db, 1)
    assert sums.pending == 100
    assert sums.available == 10  # +30 bonus −20 deduction, approved at once
    assert sums.earned + sums.bonuses + sums.deductions + sums.adjustments == (
        sums.pending + sums.available + sums.paid_out
    )


async def test_dispute_refund_round_trip(db: Database, t0: datetime) -> None:
    await student(db, 1, t0)
    await student(db, 2, t0)
    cut = await ledger.deduct(
        db, admin_id=9, worker_id=1, amount=20, reason="late", now=t0, notices=TELL
    )
    assert not isinstance(cut, Failed)
    assert await ledger.open_dispute(db, 2, cut.id, t0, name="Wang", notices=TELL) == Failed(
        Problem.NOT_DISPUTABLE
    )
    opened = await ledger.open_dispute(db, 1, cut.id, t0, name="Li", notices=TELL)
    assert not isinstance(opened, Failed)
    dispute, entry = opened
    assert entry.id == cut.id
    assert await ledger.open_dispute(db, 1, cut.id, t0, name="Li", notices=TELL) == Failed(
        Problem.ALREADY_DISPUTED
    )
    done = await ledger.resolve_dispute(
        db, admin_id=9, dispute_id=dispute.id, refund=True, now=t0, notices=TELL
    )
    assert not isinstance(done, Failed)
    assert done.dispute.status == "refunded"
    assert done.refund_entry_id is not None
    again = await ledger.resolve_dispute(
        db, admin_id=9, dispute_id=dispute.id, refund=False, now=t0, notices=TELL
    )
    assert again == Failed(Problem.ALREADY_RESOLVED)
    sums = await ledger.balance(db, 1)
    assert (sums.deductions, sums.adjustments, sums.available) == (-20, 20, 0)


async def test_history_pages_newest_first(db: Database, t0: datetime) -> None:
    await student(db, 1, t0)
    for i in range(1, 12):
        await ledger.bonus(
            db,
            admin_id=9,
            worker_id=1,
            amount=i,
            reason=f"b{i}",
            now=t0 + timedelta(minutes=i),
            notices=TELL,
        )
    first = await ledger.history(db, 1, 0)
    assert (first.page, first.pages) == (0, 2)
    assert [e.amount for e in first.entries] == [11, 10, 9, 8, 7, 6, 5, 4]
    last = await ledger.history(db, 1, 99)
    assert last.page == 1
    assert [e.amount for e in last.entries] == [3, 2, 1]


async def test_each_change_queues_its_notice_with_it_in_the_recipients_language(
    db: Database, t0: datetime
) -> None:
    await labeling.register(
        db, user_id=1, first_name="Li", username=None, language="zh", timezone="UTC", now=t0
    )

    async def outbox() -> list[tuple[str, int, str, tuple]]:
        rows = await db.fetchall("SELECT dedupe_key, chat_id, payload FROM outbox ORDER BY id")
        return [
            (key, chat, (c := notify.decode(payload)).text, c.buttons)
            for key, chat, payload in rows
        ]

    bonus = await ledger.bonus(
        db, admin_id=9, worker_id=1, amount=30, reason=" great   work ", now=t0, notices=TELL
    )
    cut = await ledger.deduct(
        db, admin_id=9, worker_id=1, amount=10, reason="late", now=t0, notices=TELL
    )
    refused = await ledger.deduct(
        db, admin_id=9, worker_id=1, amount=10, reason=" ", now=t0, notices=TELL
    )
    assert not isinstance(bonus, Failed)
    assert not isinstance(cut, Failed)
    assert refused == Failed(Problem.NO_REASON)
    opened = await ledger.open_dispute(db, 1, cut.id, t0, name="Li Lei", notices=TELL)
    assert not isinstance(opened, Failed)
    dispute = opened[0]
    done = await ledger.resolve_dispute(
        db, admin_id=9, dispute_id=dispute.id, refund=True, now=t0, notices=TELL
    )
    assert not isinstance(done, Failed)
    (paid,) = await ledger.payout(db, admin_id=9, now=t0, notices=TELL)
    assert await outbox() == [
        (f"ledger:{bonus.id}", 1, "🎁 奖励 ¥0.30：great work", ()),
        (
            f"ledger:{cut.id}",
            1,
            "➖ 扣款 ¥0.10：late\n如果你认为有误，请点击“申诉”，项目组会重新审核。",
            (((f"⚖️ 申诉 #{cut.id}", f"d:{cut.id}"),),),
        ),
        (  # admin 9 never sent /start: the default language and time zone
            f"dispute:{dispute.id}:9",
            9,
            f"⚖️ Dispute #{dispute.id} from Li Lei (1):\n-¥0.10 — deduction: late\n"
            f"Made on {t0.astimezone(ZoneInfo('Asia/Shanghai')):%Y-%m-%d %H:%M}.",
            ((("Uphold", f"r:{dispute.id}:0"), ("Refund", f"r:{dispute.id}:1")),),
        ),
        (
            f"dispute-result:{dispute.id}",
            1,
            f"✅ 你对记录 #{cut.id} 的申诉已通过：退还 ¥0.10。",
            (),
        ),
        (
            f"payout:{paid.id}",
            1,
            f"💸 已发放：¥0.30\n对应 0 道题，时间 {t0:%Y-%m-%d} 至 {t0:%Y-%m-%d}。\n"
            f"参考号：{paid.reference}",
            (),
        ),
    ]
    assert await ledger.payout(db, admin_id=9, now=t0, notices=TELL) == []
    assert len(await outbox()) == 5  # nothing paid twice, nothing told twice
