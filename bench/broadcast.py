"""One /broadcast to 10,000 students under Telegram's flood limits, while 80 students tap.

The test server answers 429 above 30 messages a second overall and above 1 a second per chat
(`FloodLimits(global_methods=FLOOD_SENDS_ONLY)`: Telegram's broadcast limit is about messages
sent, not about the edits that answer a student's own tap). The run:

1. Before the bot starts, the database is prepared through the db/ layer and the services:
   `students` registered (as /start would, in one transaction) and a project with enough
   tasks for the tappers, imported with the upload service (an upload through the bot would
   alert 10,000 idle students).
2. The bot starts; `tappers` of those students /start and tap as in bench/taps.py (its
   `Classroom`): think, tap, wait for the edit that shows the next task. The flood limiter is
   switched on once they all hold a task: their greeting and first task are two messages
   within a second in one chat, setting up, not what is measured.
3. `baseline` seconds of tapping are measured with no broadcast.
4. The admin sends `/broadcast <text>` over the test server; tapping goes on until the last
   student has the message.

Figures: time from the command to the last delivery; messages a second; the most sends the
server's flood limiter counted in any sliding 1-second window (its own timestamps); 429s;
whether every student got the broadcast exactly once (and the outbox says 'sent' for each);
and the tap latency — as in bench/taps.py, from the server handing the callback update to the
bot to the edit arriving (a broadcast message landing in a tapper's chat meanwhile is not
taken for the answer) — with no broadcast and during it, in the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import harness, taps
from bench.harness import BenchServer, BotProcess
from bench.report import fmt, machine_line, md_table
from bench.stats import median_of, ms, percentile
from bot.config import Labeling, Notifications
from bot.services import uploads
from bot.texts import t
from db import outbox as outbox_repo
from db import workers as workers_repo
from db.connection import Database, Tx
from tests.botapi import FLOOD_SENDS_ONLY, SEND_METHODS, FloodLimits, max_per_window

TEXT = "Exam week: every answer pays double until Sunday."
TIMEZONE = "Asia/Shanghai"
STALL_SECONDS = 30.0  # no delivery for this long: the broadcast is stuck, stop waiting
POLL = 0.25
TARGET_SECONDS = 360.0  # 10,000 students in 6 minutes (Telegram's 30 a second: 5.6)
TARGET_P99_MS = 30.0
SERVER_LIMIT = 30
GC_FREEZE_EVERY = 5.0  # seconds; see _keep_gc_small


@dataclass(frozen=True)
class BroadcastOptions:
    students: int = 10_000
    tappers: int = 80  # among the students; ~80 taps a second at think 0.5-1.5 s
    think: tuple[float, float] = (0.5, 1.5)
    warmup: float = 3.0  # seconds of tapping after every tapper holds a task, not measured
    baseline: float = 20.0  # seconds of tapping measured with no broadcast
    send_per_second: int | None = None  # the bot's [notifications] pace; None: its default
    runs: int = 1
    seed: int = 1
    app: Path = harness.ROOT

    @property
    def pace(self) -> int:
        return self.send_per_second or Notifications().send_per_second

    def tasks(self) -> int:
        """Enough tasks for every tapper through the whole run, with room to spare."""
        low, high = self.think
        rate = self.tappers / max((low + high) / 2, 0.05)
        seconds = self.warmup + self.baseline + self.students / max(self.pace - 4, 1) + 30
        return math.ceil(rate * seconds) + 2 * self.tappers


def key(opts: BroadcastOptions, quick: bool) -> str:
    pace = f"/pace={opts.send_per_second}" if opts.send_per_second else ""
    return f"broadcast/students={opts.students}/tappers={opts.tappers}{pace}" + (
        "/quick" if quick else ""
    )


# --------------------------------------------------------------------------------------------
# The database, prepared before the bot starts
# --------------------------------------------------------------------------------------------


def student_ids(opts: BroadcastOptions) -> list[int]:
    """The students; the first `tappers` are the ids taps.Classroom gives its students."""
    return [taps.FIRST_STUDENT_ID + i for i in range(opts.students)]


async def _register(tx: Tx, ids: list[int], now: datetime) -> int:
    for k, uid in enumerate(ids):
        await workers_repo.insert_or_refresh(tx, uid, f"s{k}", None, "en", TIMEZONE, now)
    return len(ids)


async def prepare(path: Path, opts: BroadcastOptions) -> None:
    """Register the students and import the tappers' tasks into a new database at `path`."""
    db = await Database.open(path)
    try:
        now = datetime.now(UTC)
        await db.run(_register, student_ids(opts), now)
        request = uploads.parse_caption(taps.UPLOAD_CAPTION)
        assert isinstance(request, uploads.UploadRequest), request
        done = await uploads.import_file(
            db,
            admin_id=harness.ADMIN_ID,
            request=request,
            file_name="bench.csv",
            data=taps.task_csv(opts.tasks()),
            now=now,
            defaults=Labeling(),
            minor_units=2,
        )
        if not isinstance(done, uploads.ImportDone):
            raise RuntimeError(f"the tasks could not be imported: {done}")
    finally:
        await db.close()


async def outbox_counts(path: Path) -> dict[str, int]:
    db = await Database.open(path, migrate=False)
    try:
        return await outbox_repo.counts(db, kind="broadcast")
    finally:
        await db.close()


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clocks:
    at: float
    bot_cpu: float | None
    bench_cpu: float
    all_cpu: float | None


def clocks(bot: BotProcess) -> Clocks:
    return Clocks(
        time.monotonic(), bot.cpu_seconds(), time.process_time(), harness.system_busy_seconds()
    )


def cpu_pct(a: Clocks, b: Clocks, seconds: float) -> tuple[float | None, float | None]:
    """Of one core over the interval: the bot, and everything but the bot and this process."""
    if a.bot_cpu is None or b.bot_cpu is None or seconds <= 0:
        return None, None
    bot = b.bot_cpu - a.bot_cpu
    other = None
    if a.all_cpu is not None and b.all_cpu is not None:
        other = max(0.0, b.all_cpu - a.all_cpu - bot - (b.bench_cpu - a.bench_cpu))
        other = round(other * 100 / seconds, 1)
    return round(bot * 100 / seconds, 1), other


class Deliveries:
    """The broadcast as the server received it, read incrementally from its request log."""

    def __init__(self, server: BenchServer, text: str) -> None:
        self.server = server
        self.text = text
        self.per_chat: Counter[int] = Counter()
        self.last_at: float | None = None
        self.first_at: float | None = None
        self.other_sends = 0
        self._seen = len(server.requests)

    def update(self) -> int:
        log = self.server.requests
        new, self._seen = log[self._seen :], len(log)
        for call in new:
            if call.method not in SEND_METHODS or call.status != 200:
                continue
            if call.params.get("text") == self.text:
                self.per_chat[int(call.params["chat_id"])] += 1
                self.first_at = call.time if self.first_at is None else self.first_at
                self.last_at = call.time
            else:
                self.other_sends += 1
        return len(self.per_chat)


async def _keep_gc_small() -> None:
    """Move what this process holds out of the garbage collector's sight every few seconds.

    The test server keeps every request, message and tap it saw; over a 6-minute run its
    full collections grow to pauses of 100-300 ms in which it stamps nothing, and taps
    answered meanwhile would look that much slower. The bot does the same with its start-up
    state (gc.freeze in post_init)."""
    while True:
        gc.freeze()
        await asyncio.sleep(GC_FREEZE_EVERY)


def _tap_figures(
    room: taps.Classroom, records: dict[str, Any], start: float, end: float
) -> dict[str, Any]:
    latencies = [
        r.latency
        for tap in room.taps
        if (r := records.get(tap.query_id))
        and start <= r.handed_out_at < end
        and r.latency is not None
    ]
    done = [
        r
        for tap in room.taps
        if (r := records.get(tap.query_id))
        and r.responded_at is not None
        and start <= r.responded_at < end
    ]
    seconds = max(end - start, 1e-9)
    return {
        "taps": len(latencies),
        "taps_per_s": round(len(done) / seconds, 2),
        "p50_ms": ms(percentile(latencies, 50)),
        "p90_ms": ms(percentile(latencies, 90)),
        "p99_ms": ms(percentile(latencies, 99)),
        "max_ms": ms(max(latencies, default=None)),
    }


# --------------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------------


async def measure(
    opts: BroadcastOptions, workdir: Path, progress: Callable[[str], None] = print
) -> dict[str, Any]:
    """Prepare, start the server and the bot, tap, broadcast, stop, check."""
    db_path = workdir / "labelgram.db"
    began = time.monotonic()
    await prepare(db_path, opts)
    progress(
        f"broadcast: {opts.students:,} students and {opts.tasks():,} tasks prepared in "
        f"{time.monotonic() - began:.1f} s"
    )
    text = t("en", "broadcast_message", text=TEXT)
    ids = student_ids(opts)
    limits = FloodLimits(global_per_second=SERVER_LIMIT, global_methods=FLOOD_SENDS_ONLY)
    trouble: Counter[str] = Counter()
    freezer = asyncio.ensure_future(_keep_gc_small())
    try:
        run = await _measure(opts, workdir, db_path, text, ids, limits, trouble, progress)
    finally:
        freezer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await freezer
        gc.unfreeze()
    return run


async def _measure(
    opts: BroadcastOptions,
    workdir: Path,
    db_path: Path,
    text: str,
    ids: list[int],
    limits: FloodLimits,
    trouble: Counter[str],
    progress: Callable[[str], None],
) -> dict[str, Any]:
    extra = (
        f"[notifications]\nsend_per_second = {opts.send_per_second}\n"
        if opts.send_per_second
        else ""
    )
    async with BenchServer() as server:
        for k, uid in enumerate(ids):
            server.add_user(uid, f"s{k}", language_code="en")
        admin = server.add_user(harness.ADMIN_ID, "Admin", language_code="en")
        bot = harness.start_labelgram(server, workdir, opts.app, extra_config=extra)
        try:
            await bot.wait_ready(server)
            tap_opts = taps.TapOptions(
                students=opts.tappers, think=opts.think, seed=opts.seed, app=opts.app
            )
            room = taps.Classroom(server, taps.LABELGRAM, tap_opts)
            phases = await _drive(
                server, bot, room, admin, text, ids, opts, limits, trouble, progress
            )
            answers = server.callback_answers
            queries = [tap.query_id for tap in room.taps]
            try:
                await server.wait_until(lambda: all(q in answers for q in queries), timeout=10)
            except AssertionError:
                trouble["tap_not_answered"] += sum(q not in answers for q in queries)
            report = await bot.stop()
        finally:
            bot.kill()
        records = {r.query_id: r for r in server.tap_records(edits_only=True)}
        deliveries: Deliveries = phases["deliveries"]
        deliveries.update()  # anything sent while the bot stopped
        api_errors = len(server.errors)
        flood_429 = server.stats["flood_429"]
        statuses_429 = sum(1 for c in server.requests if c.status == 429)
        counted = list(server.flood_counted)

    outbox = await outbox_counts(db_path)
    acked = [
        tap
        for tap in room.taps
        if tap.query_id in answers and not answers[tap.query_id]["show_alert"]
    ]
    answers_in_db, problems = taps.LABELGRAM.verify(workdir, acked)

    per_chat = deliveries.per_chat
    expected = set(ids)
    missing = len(expected - set(per_chat))
    twice = sum(1 for c, n in per_chat.items() if c in expected and n > 1)
    strangers = sum(1 for c in per_chat if c not in expected)
    if missing:
        problems.append(f"{missing} students never got the broadcast")
    if twice:
        problems.append(f"{twice} students got the broadcast more than once")
    if strangers:
        problems.append(f"{strangers} chats that are no student got the broadcast")
    if outbox["sent"] != opts.students or sum(outbox.values()) != opts.students:
        problems.append(f"outbox rows of the broadcast: {outbox}")

    t0, b0, b1 = phases["command_at"], phases["baseline"][0], phases["baseline"][1]
    last = deliveries.last_at
    total = None if last is None else last - t0
    during_end = last if last is not None else phases["end"].at
    broadcast_counted = [c for c in counted if t0 <= c <= during_end]
    detail = {
        "api_errors": api_errors,
        "bot_log_errors": max(report.tracebacks, report.error_lines),
        "bot_exit": int(report.exit_code != 0),
        "missing": missing,
        "twice": twice,
        "strangers": strangers,
        "refused_taps": sum(q in answers for q in queries) - len(acked),
        **trouble,
    }
    base_cpu, base_other = cpu_pct(
        phases["baseline_clocks"][0], phases["baseline_clocks"][1], b1 - b0
    )
    bc_cpu, bc_other = cpu_pct(phases["command_clocks"], phases["end"], phases["end"].at - t0)
    run = {
        "students": opts.students,
        "send_per_second": opts.pace,
        "total_s": None if total is None else round(total, 2),
        "messages_per_s": None if not total else round(len(per_chat) / total, 2),
        "queued_reply_ms": phases["queued_reply_ms"],
        "first_delivery_ms": (
            None if deliveries.first_at is None else ms(deliveries.first_at - t0)
        ),
        "max_in_any_second": max_per_window(counted),
        "max_in_any_second_broadcast": max_per_window(broadcast_counted),
        "flood_429": flood_429,
        "http_429": statuses_429,
        "delivered": len(per_chat),
        "exactly_once": not (missing or twice or strangers),
        "outbox": outbox,
        "other_sends_during": phases["other_sends_during"],
        "baseline": {
            **_tap_figures(room, records, b0, b1),
            "seconds": round(b1 - b0, 2),
            "bot_cpu_pct": base_cpu,
            "other_cpu_pct": base_other,
        },
        "during": {
            **_tap_figures(room, records, t0, during_end),
            "seconds": round(during_end - t0, 2),
            "bot_cpu_pct": bc_cpu,
            "other_cpu_pct": bc_other,
        },
        "taps_total": len(room.taps),
        "taps_acked": len(acked),
        "answers_in_db": answers_in_db,
        "peak_rss_mb": None if report.peak_rss_mb is None else round(report.peak_rss_mb, 1),
        "errors": sum(detail.values()),
        "error_detail": {k: v for k, v in detail.items() if v},
        "problems": problems + ([report.log_tail] if detail["bot_log_errors"] else []),
    }
    run["correct"] = (
        not problems and run["exactly_once"] and bool(room.taps) and len(acked) == len(room.taps)
    )
    return run


async def _drive(
    server: BenchServer,
    bot: BotProcess,
    room: taps.Classroom,
    admin: Any,
    text: str,
    ids: list[int],
    opts: BroadcastOptions,
    limits: FloodLimits,
    trouble: Counter[str],
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Tappers enter and tap; the flood limiter goes on; the baseline window; the broadcast
    until the last delivery."""
    students = [asyncio.ensure_future(room.student(i)) for i in range(opts.tappers)]
    try:
        async with asyncio.timeout(taps.STEP_TIMEOUT * 2):
            await room.all_holding.wait()
        await asyncio.sleep(1.0)  # a second after the last first task, per chat
        server.flood_limits = limits
        await asyncio.sleep(opts.warmup)
        base_start = clocks(bot)
        await asyncio.sleep(opts.baseline)
        base_end = clocks(bot)
        progress(
            f"broadcast: {len(room.taps)} taps so far; /broadcast to "
            f"{opts.students:,} students at {opts.pace} a second"
        )

        deliveries = Deliveries(server, text)
        sends_before = server.stats["sendMessage"]
        command_clocks = clocks(bot)
        command = await server.send_text(admin, f"/broadcast {TEXT}")
        try:
            reply = await server.reply_to(admin, command.message_id, 60)
            queued_ms = ms(time.monotonic() - command_clocks.at)
            if f"{opts.students}" not in reply.content.replace(",", ""):
                trouble["wrong_queued_reply"] += 1
        except TimeoutError:
            queued_ms = None
            trouble["no_queued_reply"] += 1
        deadline = command_clocks.at + opts.students / 10 + 120
        last_progress, count, shown = time.monotonic(), 0, time.monotonic()
        while count < len(ids):
            await asyncio.sleep(POLL)
            now = time.monotonic()
            if (new := deliveries.update()) > count:
                count, last_progress = new, now
            if now - shown > 30:
                progress(f"broadcast: {count:,} delivered after {now - command_clocks.at:.0f} s")
                shown = now
            if now - last_progress > STALL_SECONDS or now > deadline:
                trouble["broadcast_stalled"] += 1
                break
        end = clocks(bot)
        other_sends = (
            server.stats["sendMessage"] - sends_before - sum(deliveries.per_chat.values())
        )
        room.stop.set()
        await asyncio.gather(*students)
    finally:
        for task in students:
            task.cancel()
    return {
        "baseline": (base_start.at, base_end.at),
        "baseline_clocks": (base_start, base_end),
        "command_at": command_clocks.at,
        "command_clocks": command_clocks,
        "queued_reply_ms": queued_ms,
        "end": end,
        "deliveries": deliveries,
        "other_sends_during": other_sends,
    }


# --------------------------------------------------------------------------------------------
# Several runs and the table
# --------------------------------------------------------------------------------------------


def _flat(run: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in run.items() if not isinstance(v, dict)}
    for phase in ("baseline", "during"):
        out.update({f"{phase}_{k}": v for k, v in run[phase].items()})
    return out


async def measure_runs(
    opts: BroadcastOptions, workroot: Path, progress: Callable[[str], None] = print
) -> dict[str, Any]:
    runs = []
    for k in range(1, opts.runs + 1):
        run = await measure(opts, workroot / f"run{k}", progress)
        runs.append(run)
        progress(
            f"broadcast run {k}/{opts.runs}: {run['delivered']:,} delivered in "
            f"{run['total_s']} s, max {run['max_in_any_second']} in any second, "
            f"{run['flood_429']} × 429, tap p99 {run['baseline']['p99_ms']} ms → "
            f"{run['during']['p99_ms']} ms during it, errors {run['errors']}"
            + ("" if run["correct"] else f", INCORRECT {run['problems'][:3]}")
        )
    options = {
        **asdict(opts),
        "app": str(opts.app),
        "tasks": opts.tasks(),
        "send_per_second": opts.pace,
        "server_limit": SERVER_LIMIT,
        "server_counts": "sends only (not edits); 1 a second per chat",
    }
    return {"options": options, "runs": runs, "median": median_of(_flat(r) for r in runs)}


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def markdown(section: dict[str, Any]) -> str:
    o, m = section["options"], section["median"]
    runs = o["runs"]
    low, high = o["think"]
    version = f" Labelgram {section['app_version']}." if section.get("app_version") else ""
    title = (
        f"**Broadcast**: one /broadcast to {o['students']:,} students, sender at "
        f"{o['send_per_second']} a second, against a server answering 429 above "
        f"{o['server_limit']} sends in any second (edits not counted) and above 1 a "
        f"second per chat, while {o['tappers']} of them tap (think {low:g}–{high:g} s); "
        + (f"median of {runs} runs" if runs > 1 else "1 run")
        + f".{version} {machine_line(section['machine'])}. `{section['command']}`"
    )
    headers = [
        "phase",
        "seconds",
        "messages/s",
        "max sends in any 1 s",
        "429s",
        "taps/s",
        "tap p50 ms",
        "tap p90 ms",
        "tap p99 ms",
        "tap max ms",
        "bot CPU %",
    ]
    rows = [
        [
            "no broadcast",
            fmt(m["baseline_seconds"]),
            "–",
            "–",
            "–",
            fmt(m["baseline_taps_per_s"]),
            fmt(m["baseline_p50_ms"]),
            fmt(m["baseline_p90_ms"]),
            fmt(m["baseline_p99_ms"]),
            fmt(m["baseline_max_ms"]),
            fmt(m["baseline_bot_cpu_pct"]),
        ],
        [
            f"broadcast to {o['students']:,}",
            fmt(m["total_s"]),
            fmt(m["messages_per_s"]),
            fmt(m["max_in_any_second"]),
            fmt(m["flood_429"]),
            fmt(m["during_taps_per_s"]),
            fmt(m["during_p50_ms"]),
            fmt(m["during_p90_ms"]),
            fmt(m["during_p99_ms"]),
            fmt(m["during_max_ms"]),
            fmt(m["during_bot_cpu_pct"]),
        ],
    ]
    results = section["runs"]
    exact = all(r["exactly_once"] for r in results)
    correct = all(r["correct"] for r in results)
    other = max((r[p]["other_cpu_pct"] or 0.0) for r in results for p in ("baseline", "during"))
    total = m["total_s"]
    target_s = TARGET_SECONDS * o["students"] / 10_000
    notes = [
        "seconds: from the admin's command to the last delivery at the server (no broadcast: "
        "the window measured). Max sends: the server's flood limiter's own count, whole run. "
        "Tap latency: from the server handing the tap to the bot to the edit arriving. "
        f"CPU % is of one core; other processes used at most {other:g} %"
        + (" (the machine was busy: noisy figures)." if other > taps.NOISY_OTHER_CPU else "."),
        f"Correctness: {'OK' if correct else 'FAILED'}: every student got the broadcast "
        f"exactly once: {'yes' if exact else 'NO'} ({[r['delivered'] for r in results]} "
        f"delivered, outbox {[r['outbox'].get('sent') for r in results]} sent); answers in "
        f"the database {[r['answers_in_db'] for r in results]} for acknowledged taps "
        f"{[r['taps_acked'] for r in results]}; errors {[r['errors'] for r in results]}.",
        f"Targets: 0 × 429 {_mark(all(r['flood_429'] == 0 for r in results))}, ≤ "
        f"{o['server_limit']} in any second "
        f"{_mark(all(r['max_in_any_second'] <= o['server_limit'] for r in results))}, "
        f"≤ {target_s:g} s {_mark(total is not None and total <= target_s)}, tap p99 ≤ "
        f"{TARGET_P99_MS:g} ms during it "
        f"{_mark(m['during_p99_ms'] is not None and m['during_p99_ms'] <= TARGET_P99_MS)}.",
    ]
    return "\n".join([title, "", md_table(headers, rows), "", *notes])
