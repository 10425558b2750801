"""The tap loop: N students tapping answers as fast as they think, against one bot process.

Each student sends /start, opens the first task, then repeatedly waits a think time, taps a
random answer on the task message and waits for the edit that shows the next task. The
latency is taken at the test server, from handing the callback update to the bot to the
edit arriving (`tap_records()`), plus from the tap itself (which includes the time the
update waited for the bot to fetch it).
"""

from __future__ import annotations

import asyncio
import random
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import harness
from bench.harness import BenchServer, BotProcess
from bench.report import fmt, machine_line, md_table
from bench.stats import median_of, ms, percentile, ratio
from tests.botapi import BotApiServer, ChatMessage, FakeUser

FIRST_STUDENT_ID = 2_000_001
NOISY_OTHER_CPU = 20.0  # % of a core used by other processes that makes a run suspect
STEP_TIMEOUT = 30.0  # one tap → edit; far beyond any sane latency, it only catches a lost edit
OPTIONS = ("a", "b", "c")
UPLOAD_CAPTION = "/upload bench options=a,b,c price=0.05"
PRICE_MINOR = 5
_PHRASES = (
    "The delivery was fast and the box was intact.",
    "The screen cracked after two days, very disappointed.",
    "It works as described, nothing special.",
    "快递很快，包装完好，好评。",
    "Customer service never answered my emails.",
    "Good value for the price, would buy again.",
)


@dataclass(frozen=True)
class TapOptions:
    students: int = 200
    think: tuple[float, float] = (0.5, 1.5)  # seconds, uniform between the two
    warmup: float = 3.0  # seconds of tapping after every student holds a task, not measured
    duration: float = 20.0  # seconds measured
    tasks: int = 20_000  # uploaded for Labelgram; each answer uses one (overlap 1)
    seed: int = 1
    py_spy_dir: Path | None = None  # record the bot with py-spy during the measured window
    app: Path = harness.ROOT  # the checkout whose Labelgram runs


@dataclass
class Tap:
    student: int
    query_id: str
    data: str
    tapped_at: float


@dataclass
class TapRun:
    """One bot measured once. Times in ms; `errors` is the sum of `error_detail`."""

    bot: str
    taps_per_s: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    tap_to_edit_p99_ms: float | None  # from the tap, so including the wait for getUpdates
    errors: int
    peak_rss_mb: float | None
    bot_cpu_ms_per_tap: float | None
    bot_cpu_pct: float | None  # of one core, during the window
    bench_cpu_pct: float  # the server and the students (this process), of one core
    other_cpu_pct: float | None  # everything else on the machine; high means a noisy run
    taps_measured: int
    window_s: float
    taps_total: int
    taps_acked: int
    answers_in_db: int | None
    correct: bool
    error_detail: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# The bots: how to start one, prepare it, enter the loop and check what it stored
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flavor:
    name: str
    label: str
    start: Callable[[BotApiServer, Path, Path], BotProcess]  # server, workdir, app checkout
    prepare: Callable[[BotApiServer, TapOptions], Awaitable[None]]
    enter_button: str | None  # tapped on the /start reply to get the first task
    answer_prefix: str  # callback data of the answer buttons (never Skip)
    verify: Callable[[Path, list[Tap]], tuple[int | None, list[str]]]


def task_csv(rows: int) -> bytes:
    lines = ["id,text"]
    lines += [f't{i},"#{i} {_PHRASES[i % len(_PHRASES)]}"' for i in range(1, rows + 1)]
    return ("\n".join(lines) + "\n").encode()


async def _upload_tasks(server: BotApiServer, opts: TapOptions) -> None:
    admin = server.add_user(harness.ADMIN_ID, "Admin", language_code="en")
    report = await harness.upload_tasks(
        server, admin, "bench.csv", task_csv(opts.tasks), UPLOAD_CAPTION
    )
    if f"{opts.tasks} tasks added" not in report:
        raise RuntimeError(f"the upload did not import {opts.tasks} tasks: {report}")


_ANSWER = re.compile(r"a:(\d+):(\d+)")


def _verify_labelgram(workdir: Path, acked: list[Tap]) -> tuple[int | None, list[str]]:
    """Every acknowledged tap is exactly one answer row (worker, assignment, value), paid once,
    and no task was answered twice (overlap 1)."""
    expected = Counter()
    for tap in acked:
        match = _ANSWER.fullmatch(tap.data)
        assert match is not None, tap.data
        expected[(tap.student, int(match.group(1)), OPTIONS[int(match.group(2))])] += 1
    con = sqlite3.connect(f"file:{workdir / 'labelgram.db'}?mode=ro", uri=True)
    try:
        stored = Counter(
            (w, a, v)
            for w, a, v in con.execute("SELECT worker_id, assignment_id, value FROM answers")
        )
        (per_task_dupes,) = con.execute(
            "SELECT COUNT(*) - COUNT(DISTINCT task_id) FROM answers"
        ).fetchone()
        (earnings, paid) = con.execute(
            "SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM ledger WHERE kind = 'earning'"
        ).fetchone()
    finally:
        con.close()
    total = sum(stored.values())
    problems = []
    if any(n > 1 for n in expected.values()):
        problems.append("the same assignment was acknowledged twice")
    if total != len(acked):
        problems.append(f"{total} answers in the database for {len(acked)} acknowledged taps")
    missing, extra = expected - stored, stored - expected
    if missing:
        problems.append(f"{sum(missing.values())} acknowledged taps missing from the database")
    if extra:
        problems.append(f"{sum(extra.values())} answers in the database nobody tapped")
    if per_task_dupes:
        problems.append(f"{per_task_dupes} tasks answered twice with overlap 1")
    if earnings != total or paid != total * PRICE_MINOR:
        problems.append(f"{earnings} earnings ({paid} fen) for {total} answers")
    return total, problems


async def _nothing(server: BotApiServer, opts: TapOptions) -> None:
    return None


def _verify_nothing(workdir: Path, acked: list[Tap]) -> tuple[int | None, list[str]]:
    return None, []


LABELGRAM = Flavor(
    name="labelgram",
    label="Labelgram",
    start=harness.start_labelgram,
    prepare=_upload_tasks,
    enter_button="n",
    answer_prefix="a:",
    verify=_verify_labelgram,
)
BARE = Flavor(
    name="bare",
    label="bare PTB bot",
    start=harness.start_bare,
    prepare=_nothing,
    enter_button=None,
    answer_prefix="a:",
    verify=_verify_nothing,
)
FLAVORS = {f.name: f for f in (LABELGRAM, BARE)}


# --------------------------------------------------------------------------------------------
# The students
# --------------------------------------------------------------------------------------------


def _callback_datas(message: ChatMessage) -> list[str]:
    rows = (message.inline_markup or {}).get("inline_keyboard", [])
    return [b["callback_data"] for row in rows for b in row if "callback_data" in b]


class Classroom:
    """The simulated students of one run and what they did."""

    def __init__(self, server: BenchServer, flavor: Flavor, opts: TapOptions) -> None:
        self.server = server
        self.flavor = flavor
        self.opts = opts
        self.taps: list[Tap] = []
        self.trouble: Counter[str] = Counter()
        self.holding = 0  # students who have their first task on screen
        self.all_holding = asyncio.Event()
        self.stop = asyncio.Event()

    async def student(self, index: int) -> None:
        server, flavor = self.server, self.flavor
        rng = random.Random(self.opts.seed * 1_000_003 + index)  # noqa: S311 - not crypto
        user = server.add_user(FIRST_STUDENT_ID + index, f"s{index}", language_code="en")
        try:
            message = await self._enter(user)
        except TimeoutError:
            self.trouble["no_first_task"] += 1
            return
        finally:
            self.holding += 1
            if self.holding == self.opts.students:
                self.all_holding.set()
        low, high = self.opts.think
        while not self.stop.is_set():
            if high > 0:
                await asyncio.sleep(rng.uniform(low, high))
                if self.stop.is_set():
                    break
            answers = [d for d in _callback_datas(message) if d.startswith(flavor.answer_prefix)]
            if not answers:
                self.trouble["ran_out_of_tasks"] += 1
                return
            data = rng.choice(answers)
            edits = message.edit_count
            tapped_at = time.monotonic()
            query_id = await server.tap(user, message, data)
            self.taps.append(Tap(user.id, query_id, data, tapped_at))
            try:
                await server.edited(user, message, edits, STEP_TIMEOUT)
            except TimeoutError:
                self.trouble["tap_not_edited"] += 1
                return

    async def _enter(self, user: FakeUser) -> ChatMessage:
        sent = await self.server.send_text(user, "/start")
        message = await self.server.reply_to(user, sent.message_id, STEP_TIMEOUT)
        if self.flavor.enter_button is not None:
            await self.server.tap(user, message, self.flavor.enter_button)
            message = await self.server.reply_to(user, message.message_id, STEP_TIMEOUT)
        return message


# --------------------------------------------------------------------------------------------
# One measured run
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The measured interval and the CPU time spent in it."""

    start: float
    end: float
    bot_cpu: float | None  # seconds of the bot process
    bench_cpu: float  # seconds of this process: the server and the students
    other_cpu: float | None  # seconds used by anything else on the machine

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def __contains__(self, at: float | None) -> bool:
        return at is not None and self.start <= at < self.end


async def measure(flavor: Flavor, opts: TapOptions, workdir: Path, tag: str = "") -> TapRun:
    """Start the server and the bot, run the students, stop everything, check the result."""
    async with BenchServer() as server:
        bot = flavor.start(server, workdir, opts.app)
        try:
            await bot.wait_ready(server)
            await flavor.prepare(server, opts)
            room = Classroom(server, flavor, opts)
            window = await _drive(room, bot, f"{flavor.name}{tag}")
            # The toast is sent together with the edit and may arrive just after it.
            answers = server.callback_answers
            queries = [t.query_id for t in room.taps]
            try:
                await server.wait_until(lambda: all(q in answers for q in queries), timeout=10)
            except AssertionError:
                room.trouble["tap_not_answered"] += sum(q not in answers for q in queries)
            report = await bot.stop()
        finally:
            bot.kill()
        records = {r.query_id: r for r in server.tap_records()}
        api_errors = len(server.errors)

    acked = [
        t for t in room.taps if t.query_id in answers and not answers[t.query_id]["show_alert"]
    ]
    answers_in_db, problems = flavor.verify(workdir, acked)
    # Throughput: edits that arrived in the window. Latency: taps handed out in the window.
    done = [r for t in room.taps if (r := records.get(t.query_id)) and r.responded_at in window]
    latencies = [
        r.latency
        for t in room.taps
        if (r := records.get(t.query_id)) and r.handed_out_at in window and r.latency is not None
    ]
    from_tap = [
        r.responded_at - t.tapped_at
        for t in room.taps
        if t.tapped_at in window and (r := records.get(t.query_id)) and r.responded_at
    ]
    detail = {
        "api_errors": api_errors,
        "bot_log_errors": max(report.tracebacks, report.error_lines),
        "bot_exit": int(report.exit_code != 0),
        "refused_taps": sum(q in answers for q in queries) - len(acked),
        **room.trouble,
    }
    cpu = window.bot_cpu
    return TapRun(
        bot=flavor.name,
        taps_per_s=round(len(done) / window.seconds, 2),
        p50_ms=ms(percentile(latencies, 50)),
        p90_ms=ms(percentile(latencies, 90)),
        p99_ms=ms(percentile(latencies, 99)),
        max_ms=ms(max(latencies, default=None)),
        tap_to_edit_p99_ms=ms(percentile(from_tap, 99)),
        errors=sum(detail.values()),
        peak_rss_mb=None if report.peak_rss_mb is None else round(report.peak_rss_mb, 1),
        bot_cpu_ms_per_tap=round(cpu * 1000 / len(done), 3) if cpu is not None and done else None,
        bot_cpu_pct=None if cpu is None else round(cpu * 100 / window.seconds, 1),
        bench_cpu_pct=round(window.bench_cpu * 100 / window.seconds, 1),
        other_cpu_pct=(
            None if window.other_cpu is None else round(window.other_cpu * 100 / window.seconds, 1)
        ),
        taps_measured=len(done),
        window_s=round(window.seconds, 3),
        taps_total=len(room.taps),
        taps_acked=len(acked),
        answers_in_db=answers_in_db,
        correct=not problems and bool(room.taps) and len(acked) == len(room.taps),
        error_detail={k: v for k, v in detail.items() if v},
        problems=problems + ([report.log_tail] if detail["bot_log_errors"] else []),
    )


async def _drive(room: Classroom, bot: BotProcess, name: str) -> Window:
    """Students enter, tap through the warm-up and the measured window, then finish their
    last tap."""
    opts = room.opts
    students = [asyncio.ensure_future(room.student(i)) for i in range(opts.students)]
    try:
        async with asyncio.timeout(STEP_TIMEOUT * 2):
            await room.all_holding.wait()
        await asyncio.sleep(opts.warmup)
        profiler = harness.start_py_spy(bot.pid, opts.duration, opts.py_spy_dir, name)
        start, cpu0, bench0, all0 = _clocks(bot)
        await asyncio.sleep(opts.duration)
        end, cpu1, bench1, all1 = _clocks(bot)
        room.stop.set()
        await asyncio.gather(*students)
        await harness.wait_process(profiler)
    finally:
        for task in students:
            task.cancel()
    bot_cpu = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
    other = None
    if bot_cpu is not None and all0 is not None and all1 is not None:
        other = max(0.0, all1 - all0 - bot_cpu - (bench1 - bench0))
    return Window(start, end, bot_cpu, bench1 - bench0, other)


def _clocks(bot: BotProcess) -> tuple[float, float | None, float, float | None]:
    """Now, and CPU seconds so far of: the bot, this process, the whole machine."""
    return (
        time.monotonic(),
        bot.cpu_seconds(),
        time.process_time(),
        harness.system_busy_seconds(),
    )


# --------------------------------------------------------------------------------------------
# Several runs: medians, ratios and the table
# --------------------------------------------------------------------------------------------


async def measure_runs(
    opts: TapOptions,
    runs: int,
    bots: list[str],
    workroot: Path,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """`runs` rounds of every bot (alternating which goes first); raw runs, medians, ratios."""
    rounds: list[dict[str, Any]] = []
    for k in range(1, runs + 1):
        order = bots if k % 2 else bots[::-1]
        row = {}
        for name in order:
            result = await measure(
                FLAVORS[name], opts, workroot / f"run{k}-{name}", tag=f"-run{k}"
            )
            row[name] = result.as_dict()
            progress(
                f"run {k}/{runs} {name}: {result.taps_per_s} taps/s, "
                f"p99 {result.p99_ms} ms, errors {result.errors}, "
                f"other processes {result.other_cpu_pct} % CPU"
                + ("" if result.correct else ", INCORRECT")
            )
        rounds.append(row)
    medians = {name: median_of(r[name] for r in rounds) for name in bots}
    ratios = {}
    if "labelgram" in medians and "bare" in medians:
        ours, bare = medians["labelgram"], medians["bare"]
        ratios = {
            key: ratio(ours[key], bare[key])
            for key in (
                "taps_per_s",
                "p50_ms",
                "p90_ms",
                "p99_ms",
                "tap_to_edit_p99_ms",
                "bot_cpu_ms_per_tap",
                "peak_rss_mb",
            )
        }
    options = {**asdict(opts), "runs": runs, "bots": bots}
    options["py_spy_dir"] = None if opts.py_spy_dir is None else str(opts.py_spy_dir)
    options["app"] = str(opts.app)
    return {"options": options, "runs": rounds, "median": medians, "ratio": ratios}


def think_text(think: tuple[float, float]) -> str:
    low, high = think
    if high == 0:
        return "no think time"
    return f"think {low:g}–{high:g} s" if low != high else f"think {low:g} s"


def markdown(section: dict[str, Any]) -> str:
    """The README table: one row per bot (medians) and the ratio ours / bare."""
    o = section["options"]
    runs = o["runs"]
    version = f" Labelgram {section['app_version']}." if section.get("app_version") else ""
    title = (
        f"**Tap loop**: {o['students']} students, {think_text(tuple(o['think']))}, "
        f"{o['duration']:g} s measured after {o['warmup']:g} s warm-up, "
        + (f"median of {runs} runs" if runs > 1 else "1 run")
        + f".{version} {machine_line(section['machine'])}. `{section['command']}`"
    )
    headers = [
        "bot",
        "taps/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "tap→edit p99 ms",
        "bot CPU ms/tap",
        "bot CPU %",
        "peak RSS MiB",
        "errors",
    ]
    keys = [
        "taps_per_s",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "tap_to_edit_p99_ms",
        "bot_cpu_ms_per_tap",
        "bot_cpu_pct",
        "peak_rss_mb",
        "errors",
    ]
    rows = [
        [FLAVORS[name].label] + [fmt(med[k]) for k in keys]
        for name, med in section["median"].items()
    ]
    if section["ratio"]:
        r = section["ratio"]
        rows.append(["**ours / bare**"] + [fmt(r[k], "×") if k in r else "" for k in keys])
    results = [run[name] for run in section["runs"] for name in run]
    bench_cpu = max(r["bench_cpu_pct"] for r in results)
    other_cpu = max((r["other_cpu_pct"] or 0.0) for r in results)
    notes = [
        "p50/p90/p99: from the server handing the tap to the bot to the edit arriving; "
        "tap→edit also counts the wait until the bot fetched the update. CPU % is of one "
        f"core; the server and the students used at most {bench_cpu:g} %, other processes "
        f"at most {other_cpu:g} %"
        + (" (the machine was busy: noisy figures)." if other_cpu > NOISY_OTHER_CPU else "."),
    ]
    runs_with_db = [run["labelgram"] for run in section["runs"] if "labelgram" in run]
    if runs_with_db:
        correct = all(run[name]["correct"] for run in section["runs"] for name in run)
        notes.append(
            f"Correctness: {'OK' if correct else 'FAILED'}: answers in the database "
            f"{[r['answers_in_db'] for r in runs_with_db]} for acknowledged taps "
            f"{[r['taps_acked'] for r in runs_with_db]}, none twice."
        )
    return "\n".join([title, "", md_table(headers, rows), "", *notes])
