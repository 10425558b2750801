"""Daily and weekly earnings summaries, due at a set local time in each student's zone.

One per student per local day at most: its outbox dedupe key names the student and the
day, so a restart never sends a second one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.charts import weekly_earnings_png
from bot.config import Currency
from bot.money import format_amount
from bot.services.notify import Notification
from bot.texts import t
from db import ledger as ledger_repo
from db import summaries as summaries_repo
from db import workers as workers_repo
from db.connection import Database
from db.summaries import Activity


@dataclass(frozen=True, slots=True)
class SummarySettings:
    daily_time: time
    weekly_day: int  # Monday is 0
    currency: Currency


def summary_key(worker_id: int, day: date) -> str:
    return f"summary:{worker_id}:{day.isoformat()}"


def hourly_pay(earned: int, seconds: float) -> int | None:
    """Effective pay per hour in minor units, from server-side time on task (None if < 1 min)."""
    if seconds < 60:
        return None
    return round(earned * 3600 / seconds)


def _lines(lang: str, act: Activity, currency: Currency) -> list[str]:
    lines = [
        t(lang, "summary_answers", answers=act.answers, earned=format_amount(act.earned, currency))
    ]
    hourly = hourly_pay(act.earned, act.seconds)
    if hourly is not None:
        lines.append(
            t(
                lang,
                "summary_hourly",
                minutes=round(act.seconds / 60),
                hourly=format_amount(hourly, currency),
            )
        )
    if act.gold_answered:
        pct = round(100 * act.gold_correct / act.gold_answered)
        lines.append(
            t(lang, "summary_accuracy", pct=pct, correct=act.gold_correct, total=act.gold_answered)
        )
    return lines


# How a chart is drawn: `await render(weekly_earnings_png, days, currency)`, off the event
# loop (the bot passes its worker process's Offload.run).
Render = Callable[..., Awaitable[bytes]]


async def due_summaries(
    db: Database, now: datetime, settings: SummarySettings, render: Render = asyncio.to_thread
) -> list[Notification]:
    """Every summary that is due now and not yet queued."""
    already = await summaries_repo.summary_keys_since(db, now - timedelta(days=3))
    items: list[Notification] = []
    for worker_id in await summaries_repo.active_since(db, now - timedelta(days=8)):
        worker = await workers_repo.get(db, worker_id)
        if worker is None or worker.status != "active":
            continue
        tz = ZoneInfo(worker.timezone)
        local = now.astimezone(tz)
        if local.time() < settings.daily_time:
            continue
        key = summary_key(worker_id, local.date())
        if key in already:
            continue
        item = await _summary(
            db, worker_id, worker.language, tz, local.date(), key, settings, render
        )
        if item is not None:
            items.append(item)
    return items


async def _summary(
    db: Database,
    worker_id: int,
    lang: str,
    tz: ZoneInfo,
    day: date,
    key: str,
    settings: SummarySettings,
    render: Render,
) -> Notification | None:
    cur = settings.currency
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = start + timedelta(days=1)
    today = await summaries_repo.activity(db, worker_id, start, end)
    sums = await ledger_repo.sums(db, worker_id)
    balance = t(
        lang,
        "summary_balance",
        available=format_amount(sums.available, cur),
        pending=format_amount(sums.pending, cur),
    )
    if day.weekday() != settings.weekly_day:
        if not (today.answers or today.ledger_entries):
            return None
        text = "\n".join(
            [
                t(lang, "summary_title_daily", date=day.isoformat()),
                *_lines(lang, today, cur),
                balance,
            ]
        )
        return Notification(chat_id=worker_id, kind="summary", dedupe_key=key, text=text)

    week_start = start - timedelta(days=6)
    week = await summaries_repo.activity(db, worker_id, week_start, end)
    if not (week.answers or week.ledger_entries):
        return None
    per_day = {week_start.date() + timedelta(days=i): 0 for i in range(7)}
    for moment, amount in await summaries_repo.earnings_between(db, worker_id, week_start, end):
        local_day = moment.astimezone(tz).date()
        if local_day in per_day:
            per_day[local_day] += amount
    chart = await render(
        weekly_earnings_png, [(d.strftime("%m-%d"), v) for d, v in per_day.items()], cur
    )
    text = "\n".join(
        [
            t(
                lang,
                "summary_title_weekly",
                start=week_start.date().isoformat(),
                end=day.isoformat(),
            ),
            t(
                lang,
                "summary_week_total",
                answers=week.answers,
                earned=format_amount(week.earned, cur),
            ),
            *_lines(lang, week, cur)[1:],
            t(
                lang,
                "summary_today",
                answers=today.answers,
                earned=format_amount(today.earned, cur),
            ),
            balance,
        ]
    )
    return Notification(chat_id=worker_id, kind="summary", dedupe_key=key, text=text, photo=chart)
