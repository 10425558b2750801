"""kill -9 of the bot process in the middle of 1,000 taps from 50 students, then a restart.

The bot runs as a real process (`python -m bot --config ...`) against the fake Bot API
server. 50 students tap answers concurrently; after a random 400-600 taps the bot gets
SIGKILL, is started again on the same database, and the students carry on. Then:

* every tap the bot acknowledged with a "Saved" toast has exactly one answer row;
* no assignment has two answers, no answer has two earnings;
* for every student, the ledger's earnings equal the locked prices of their answered tasks;
* the leases held at the crash (students who walked away at the kill) and every lease still
  open at the end are released by the lease sweeper once they are past due: the scheduled
  job came back with the restarted process.

And kill -9 the moment a `/payout all` batch for 206 students is committed: after the restart
every payout has exactly one notice, queued with it and delivered once.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import re
import signal
import sqlite3
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import BenchServer, BotProcess, upload_tasks
from bot.sender import OutboxSender
from db.timefmt import to_db
from tests.botapi import WAIT, ChatMessage, FakeUser

ADMIN_ID = 1_000_001
TOKEN_ENV = "CRASH_BOT_TOKEN"
FIRST_STUDENT = 3_000_001
STUDENTS = 50
WALK_AWAY = 10  # students 0..9 stop at the kill and leave their leases held
TOTAL_TAPS = 1_000
TASKS = 1_300
PRICE_MINOR = 5
ANSWER_WAIT = 3.0
STEP_TIMEOUT = 20.0
PAST = "2000-01-01T00:00:00.000+00:00"
_ANSWER = re.compile(r"a:(\d+):(\d+)")


def _answer_datas(message: ChatMessage) -> list[str]:
    rows = (message.inline_markup or {}).get("inline_keyboard", [])
    return [
        b["callback_data"]
        for row in rows
        for b in row
        if _ANSWER.fullmatch(b.get("callback_data", ""))
    ]


def _task_csv(rows: int) -> bytes:
    lines = ["id,text"] + [f't{i},"Review number {i}: it works."' for i in range(1, rows + 1)]
    return ("\n".join(lines) + "\n").encode()


class Run:
    def __init__(self, server: BenchServer, workdir: Path) -> None:
        self.server = server
        self.workdir = workdir
        self.config = workdir / "config.toml"
        self.config.write_text(
            "[bot]\n"
            f'token_env = "{TOKEN_ENV}"\n'
            f"admin_ids = [{ADMIN_ID}]\n"
            'access = "open"\n'
            'admin_ids_env = ""\n'
            "[database]\n"
            'path = "labelgram.db"\n'
            "[labeling]\n"
            "sweep_seconds = 0.5\n"
            "min_seconds = 0\n"
            "[telegram]\n"
            f'api_base_url = "{server.base_url}"\n'
            f'file_base_url = "{server.base_file_url}"\n',
            encoding="utf-8",
        )
        self.starts = 0
        self.taps: dict[str, str] = {}  # query id -> callback data
        self.sent = 0
        self.limit = TOTAL_TAPS
        self.trouble: Counter[str] = Counter()
        self.limit_reached = asyncio.Event()

    async def start_bot(self) -> BotProcess:
        import os

        env = {k: v for k, v in os.environ.items() if not k.startswith("LABELGRAM_")}
        env[TOKEN_ENV] = self.server.token
        env["PYTHONUNBUFFERED"] = "1"
        self.starts += 1
        before = len(self.server.calls("deleteWebhook"))
        bot = BotProcess(
            f"labelgram-{self.starts}",
            [sys.executable, "-m", "bot", "--config", str(self.config)],
            env,
            self.workdir / f"bot{self.starts}.log",
        )
        deadline = time.monotonic() + 30
        while len(self.server.calls("deleteWebhook")) <= before:
            assert bot.proc.poll() is None, bot.log_tail()
            assert time.monotonic() < deadline, bot.log_tail()
            await asyncio.sleep(0.05)
        return bot

    async def enter(self, user: FakeUser) -> ChatMessage:
        sent = await self.server.send_text(user, "/start")
        menu = await self.server.reply_to(user, sent.message_id, STEP_TIMEOUT)
        await self.server.tap(user, menu, "n")
        return await self.server.reply_to(user, menu.message_id, STEP_TIMEOUT)

    async def student(
        self, user: FakeUser, message: ChatMessage, rng: random.Random, stop: asyncio.Event
    ) -> None:
        server = self.server
        while not stop.is_set() and self.sent < self.limit:
            message = server.message(user, message.message_id)
            answers = _answer_datas(message)
            if not answers:
                self.trouble["no_buttons"] += 1
                await asyncio.sleep(0.2)
                continue
            data = rng.choice(answers)
            edits = message.edit_count
            query_id = await server.tap(user, message, data)
            self.taps[query_id] = data
            self.sent += 1
            if self.sent >= self.limit:
                self.limit_reached.set()
            try:
                async with asyncio.timeout(ANSWER_WAIT):
                    await server.wait_chat(
                        user.id, lambda q=query_id: q in server.callback_answers, ANSWER_WAIT
                    )
                    await server.edited(user, message, edits, ANSWER_WAIT)
            except TimeoutError:
                self.trouble["no_answer_in_time"] += 1
                if stop.is_set():
                    return

    async def settle(self, seconds: float) -> None:
        """Wait (softly) until every tap sent so far was answered."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if all(q in self.server.callback_answers for q in self.taps):
                return
            await asyncio.sleep(0.1)


def _db(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, isolation_level=None, timeout=10)
    con.execute("PRAGMA busy_timeout = 10000")
    return con


async def test_kill_9_mid_taps_loses_and_doubles_nothing(tmp_path: Path) -> None:
    rng = random.Random()  # the seed is in the figures
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    kill_at = rng.randint(400, 600)
    db_path = tmp_path / "labelgram.db"
    async with BenchServer() as server:
        run = Run(server, tmp_path)
        bot = await run.start_bot()
        try:
            admin = server.add_user(ADMIN_ID, "Admin", language_code="en")
            report = await upload_tasks(
                server,
                admin,
                "crash.csv",
                _task_csv(TASKS),
                "/upload crash options=a,b,c price=0.05 min_seconds=0",
                seconds=60,
            )
            assert f"{TASKS} tasks added" in report, report
            users = [
                server.add_user(FIRST_STUDENT + i, f"s{i}", language_code="en")
                for i in range(STUDENTS)
            ]
            screens = await asyncio.gather(*(run.enter(u) for u in users))
            rngs = [random.Random(seed * 1000 + i) for i in range(STUDENTS)]

            # Phase 1: tap until kill_at taps are out, then SIGKILL with taps in flight.
            run.limit = kill_at
            stop = asyncio.Event()
            tasks = [
                asyncio.create_task(run.student(u, m, r, stop))
                for u, m, r in zip(users, screens, rngs, strict=True)
            ]
            await run.limit_reached.wait()
            bot.proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(bot.proc.wait, 10)
            stop.set()
            acked_before_kill = {
                q: dict(a) for q, a in server.callback_answers.items() if q in run.taps
            }
            sent_before_kill = run.sent
            await asyncio.gather(*tasks)
            bot.kill()

            con = _db(db_path)
            held_at_crash = [
                a
                for (a,) in con.execute(
                    "SELECT a.id FROM assignments a JOIN workers w ON w.id = a.worker_id"
                    " WHERE a.status = 'open' AND w.id < ?",
                    (FIRST_STUDENT + WALK_AWAY,),
                )
            ]
            con.close()

            # Restart on the same database; the unconfirmed updates come again.
            bot = await run.start_bot()
            await run.settle(15)
            run.limit = TOTAL_TAPS
            stop = asyncio.Event()
            tasks = [
                asyncio.create_task(run.student(u, m, r, stop))
                for u, m, r in list(zip(users, screens, rngs, strict=True))[WALK_AWAY:]
            ]
            await asyncio.wait_for(asyncio.gather(*tasks), 4 * WAIT)
            await run.settle(15)

            # Every lease still open (including those held at the crash) is made past due;
            # the restarted sweeper must release them all.
            con = _db(db_path)
            open_now = [
                a for (a,) in con.execute("SELECT id FROM assignments WHERE status = 'open'")
            ]
            con.execute("UPDATE assignments SET expires_at = ? WHERE status = 'open'", (PAST,))
            deadline = time.monotonic() + WAIT
            while con.execute("SELECT COUNT(*) FROM assignments WHERE status = 'open'").fetchone()[
                0
            ]:
                assert time.monotonic() < deadline, "the sweeper did not release the leases"
                await asyncio.sleep(0.1)
            con.close()
        finally:
            stop_report = await bot.stop()
        assert stop_report.exit_code == 0, stop_report.log_tail

    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        answers = Counter(a for (a,) in con.execute("SELECT assignment_id FROM answers"))
        status = dict(con.execute("SELECT id, status FROM assignments"))
        per_worker = dict(
            con.execute(
                "SELECT w.id, COALESCE(SUM(a.price), 0) FROM workers w"
                " LEFT JOIN answers n ON n.worker_id = w.id"
                " LEFT JOIN assignments a ON a.id = n.assignment_id"
                " GROUP BY w.id"
            )
        )
        earned = dict(
            con.execute(
                "SELECT w.id, COALESCE(SUM(l.amount), 0) FROM workers w"
                " LEFT JOIN ledger l ON l.worker_id = w.id AND l.kind = 'earning'"
                " GROUP BY w.id"
            )
        )
        doubled_pay = con.execute(
            "SELECT COUNT(*) - COUNT(DISTINCT answer_id) FROM ledger WHERE kind = 'earning'"
        ).fetchone()[0]
        prices = {
            p
            for (p,) in con.execute(
                "SELECT DISTINCT a.price FROM answers n"
                " JOIN assignments a ON a.id = n.assignment_id"
            )
        }
        stuck = con.execute(
            "SELECT COUNT(*) FROM tasks t WHERE in_flight != (SELECT COUNT(*) FROM assignments a"
            " WHERE a.task_id = t.id AND a.status = 'open')"
        ).fetchone()[0]
    finally:
        con.close()

    saved = {
        q: int(_ANSWER.fullmatch(run.taps[q]).group(1))  # type: ignore[union-attr]
        for q, a in server.callback_answers.items()
        if q in run.taps and (a.get("text") or "").startswith("Saved")
    }
    saved_before_kill = [q for q in saved if q in acked_before_kill]
    lost = [q for q, a in saved.items() if answers[a] != 1]
    doubled = [a for a, n in answers.items() if n > 1]
    figures = (
        f"seed={seed} kill_at={kill_at} taps_sent={run.sent} sent_before_kill={sent_before_kill}"
        f" acked_before_kill={len(acked_before_kill)} saved_before_kill={len(saved_before_kill)}"
        f" saved_total={len(saved)} answers={sum(answers.values())} lost={len(lost)}"
        f" doubled={len(doubled)} held_at_crash={len(held_at_crash)}"
        f" released_at_end={len(open_now)} trouble={dict(run.trouble)}"
    )
    print(figures)
    assert run.sent >= TOTAL_TAPS - STUDENTS, figures
    assert len(saved_before_kill) >= kill_at // 2, figures
    assert not lost, figures
    assert not doubled, figures
    assert Counter(saved.values()).most_common(1)[0][1] == 1, figures  # one "Saved" per task
    assert sum(answers.values()) >= len(saved), figures
    assert doubled_pay == 0, figures
    assert prices == {PRICE_MINOR}, figures
    assert per_worker == earned, figures
    assert held_at_crash, figures
    # A walk-away student's tap in flight at the kill is redelivered and answers its lease.
    tapped = {int(_ANSWER.fullmatch(d).group(1)) for d in run.taps.values()}  # type: ignore[union-attr]
    unanswered = [a for a in held_at_crash + open_now if a not in tapped]
    assert unanswered, figures
    assert all(status[a] == "expired" for a in unanswered), figures
    assert all(status[a] in ("expired", "answered") for a in held_at_crash), figures
    assert stuck == 0, figures


# ------------------------------------------------------------------ kill -9 after a payout batch

FIRST_PAYEE = 4_000_001
PAYEES = 200
# The sender keeps this many sends in flight; rows in flight at a crash are never resent
# (db/outbox.py: 'unknown', a student must not get a copy twice). Decoy students' notices,
# held unanswered by the server, fill those slots, so the kill finds no pay notice in flight
# and every one of them must be delivered exactly once after the restart.
DECOYS = inspect.signature(OutboxSender).parameters["concurrency"].default


async def test_kill_9_as_a_payout_batch_commits_then_every_payout_is_told_once(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "labelgram.db"
    payees = [FIRST_PAYEE + i for i in range(PAYEES)]
    decoys = [FIRST_PAYEE + PAYEES + i for i in range(DECOYS)]
    server = BenchServer()  # typed as itself (its __aenter__ says BotApiServer)
    async with server:
        run = Run(server, tmp_path)
        bot = await run.start_bot()
        try:
            admin = server.add_user(ADMIN_ID, "Admin", language_code="en")
            users = {uid: server.add_user(uid, f"p{uid}", language_code="en") for uid in payees}
            users |= {uid: server.add_user(uid, f"d{uid}", language_code="en") for uid in decoys}
            stamp = to_db(datetime.now(UTC))
            con = _db(db_path)
            con.execute("BEGIN IMMEDIATE")
            for uid in payees + decoys:
                con.execute(
                    "INSERT INTO workers (id, first_name, language, timezone, joined_at)"
                    " VALUES (?, ?, 'en', 'UTC', ?)",
                    (uid, f"p{uid}", stamp),
                )
            for uid in payees:  # approved earnings, unpaid
                con.execute(
                    "INSERT INTO ledger (worker_id, amount, kind, reason, status, created_at)"
                    " VALUES (?, 5, 'earning', 'earning', 'approved', ?)",
                    (uid, stamp),
                )
            con.execute("COMMIT")
            con.close()

            held: list[int] = []
            release = asyncio.Event()

            async def hold() -> None:
                await release.wait()  # cancelled when the killed bot's connection drops

            def fault(method: str, params: dict[str, Any]) -> Any:
                chat = params.get("chat_id")
                if method == "sendMessage" and chat in decoys and not release.is_set():
                    held.append(chat)
                    return hold()
                return None

            server.fault = fault
            for uid in decoys:  # a bonus each: their notices occupy the sender
                sent = await server.send_text(admin, f"/bonus {uid} 0.01 decoy")
                await server.reply_to(admin, sent.message_id, STEP_TIMEOUT)
            await server.wait_until(
                lambda: len(held) == DECOYS, timeout=STEP_TIMEOUT, description="the decoys held"
            )

            def kill_once_paid() -> float:
                """SIGKILL the bot the moment its payouts are visible to another reader."""
                watcher = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
                deadline = time.monotonic() + 60
                try:
                    while not watcher.execute("SELECT COUNT(*) FROM payouts").fetchone()[0]:
                        assert time.monotonic() < deadline, "no payout was committed"
                        time.sleep(0.0005)
                    bot.proc.send_signal(signal.SIGKILL)
                    return time.monotonic()
                finally:
                    watcher.close()

            killer = asyncio.create_task(asyncio.to_thread(kill_once_paid))
            await server.send_text(admin, "/payout all")
            await killer
            await asyncio.to_thread(bot.proc.wait, 10)
            bot.kill()
            con = _db(db_path)
            at_kill = con.execute(
                "SELECT (SELECT COUNT(*) FROM payouts),"
                " (SELECT COUNT(*) FROM outbox WHERE kind = 'payout'),"
                " (SELECT COUNT(*) FROM outbox WHERE kind = 'payout' AND status != 'pending')"
            ).fetchone()
            con.close()
            told_at_kill = sum(
                1
                for uid in payees + decoys
                for m in server.messages(users[uid])
                if m.content.startswith("💸")
            )

            # Restart on the same database; the server answers everyone again.
            release.set()
            server.fault = None
            bot = await run.start_bot()
            con = _db(db_path)
            deadline = time.monotonic() + 60
            while con.execute(
                "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')"
            ).fetchone()[0]:
                assert time.monotonic() < deadline, "the outbox did not drain"
                await asyncio.sleep(0.1)
            con.close()
            again = await server.send_text(admin, "/payout all")
            rerun = await server.reply_to(admin, again.message_id, STEP_TIMEOUT)
        finally:
            stop_report = await bot.stop()
        assert stop_report.exit_code == 0, stop_report.log_tail

    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        payouts = con.execute(
            "SELECT id, worker_id, reference FROM payouts ORDER BY id"
        ).fetchall()
        notices = dict(
            con.execute("SELECT dedupe_key, status FROM outbox WHERE kind = 'payout'").fetchall()
        )
    finally:
        con.close()
    pay_messages = {
        uid: [m.content for m in server.messages(users[uid]) if m.content.startswith("💸")]
        for uid in payees + decoys
    }
    figures = (
        f"payouts_at_kill={at_kill[0]} notices_queued_at_kill={at_kill[1]}"
        f" notices_claimed_at_kill={at_kill[2]} delivered_at_kill={told_at_kill}"
        f" payouts={len(payouts)} notices={len(notices)}"
        f" delivered={sum(len(v) for v in pay_messages.values())}"
        f" students_told_twice={sum(1 for v in pay_messages.values() if len(v) > 1)}"
        f" students_never_told={sum(1 for v in pay_messages.values() if not v)}"
    )
    print(figures)
    assert at_kill[0] == PAYEES + DECOYS, figures  # the whole batch had committed
    assert told_at_kill == 0, figures  # so the restarted bot had to deliver every notice
    assert rerun.content == "Nothing to pay out: no approved, unpaid balance.", figures
    assert sorted(w for _, w, _ in payouts) == sorted(payees + decoys), figures
    assert notices == {f"payout:{pid}": "sent" for pid, _, _ in payouts}, figures
    for _, uid, reference in payouts:
        assert len(pay_messages[uid]) == 1, figures
        assert pay_messages[uid][0].endswith(f"Reference: {reference}"), figures
