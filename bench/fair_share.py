"""Fair share: how evenly scarce tasks spread over students of different speeds.

200 students and 1,000 tasks (overlap 1 by default), once with `allocation=fifo` and once
with `allocation=fair`, through the bot's services (bot.services.uploads.import_file, then
labeling.register / offer / answer) on a real SQLite file, no Telegram. Time is simulated:
each student has their own median think time, drawn log-normally (a few students tap every
couple of seconds, most take ten or more), and each answer takes that median times a little
noise; students arrive within the first minute (as after a new-tasks alert). A student
without a task (none left open, or told to wait their turn) asks again after about half a
minute. The run ends when every task has its answers.

Per mode: students who got at least one task (active), tasks per active student (min, median,
max, standard deviation, Gini coefficient: 0 is perfectly even) and the share of all
answers taken by the fastest 10% of students.
"""

from __future__ import annotations

import asyncio
import heapq
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.report import fmt, machine_line, md_table
from bench.stats import gini

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
FIRST_STUDENT_ID = 4_000_001
ADMIN_ID = 1_000_001
PROJECT = "scarce"
MODES = ("fifo", "fair")


@dataclass(frozen=True)
class FairOptions:
    students: int = 200
    tasks: int = 1_000
    overlap: int = 1
    modes: tuple[str, ...] = MODES
    think_median: float = 10.0  # seconds, the median student's median
    think_sigma: float = 1.0  # spread of students' medians (log-normal)
    arrive_within: float = 60.0  # seconds
    retry_after: float = 30.0  # seconds, ± 50%
    seed: int = 1
    max_hours: float = 20.0  # give up (and say so) if the tasks are not done by then


def speeds(opts: FairOptions) -> list[float]:
    """Each student's median think time in seconds (the same for both modes)."""
    rng = random.Random(opts.seed)  # noqa: S311 - not crypto
    return [
        opts.think_median * rng.lognormvariate(0.0, opts.think_sigma) for _ in range(opts.students)
    ]


async def simulate(opts: FairOptions, mode: str, path: Path) -> dict[str, Any]:
    """One mode on a fresh database at `path`: run until every task has `overlap` answers."""
    from bot.config import Labeling
    from bot.services import labeling, uploads
    from bot.services.labeling import Refused
    from db.connection import Database

    rng = random.Random(opts.seed + 1)  # noqa: S311 - not crypto
    random.seed(opts.seed)  # the services draw from `random` (control-task mix)
    medians = speeds(opts)
    students = [FIRST_STUDENT_ID + k for k in range(opts.students)]
    needed = opts.tasks * opts.overlap
    db = await Database.open(path)
    started = time.perf_counter()
    counts: Counter[str] = Counter()
    try:
        request = uploads.parse_caption(
            f"/upload {PROJECT} options=a,b,c overlap={opts.overlap} allocation={mode}"
        )
        assert isinstance(request, uploads.UploadRequest)
        rows = "\n".join(
            f"t{i},Item number {i}: is this review positive?" for i in range(1, opts.tasks + 1)
        )
        done = await uploads.import_file(
            db,
            admin_id=ADMIN_ID,
            request=request,
            file_name="scarce.csv",
            data=f"id,text\n{rows}\n".encode(),
            now=T0,
            defaults=Labeling(),
            minor_units=2,
        )
        assert isinstance(done, uploads.ImportDone), done

        cards: dict[int, Any] = {}
        events = [(rng.uniform(0, opts.arrive_within), k, k) for k in range(opts.students)]
        heapq.heapify(events)
        seq = opts.students
        answered = 0
        registered: set[int] = set()
        at = 0.0
        while events and answered < needed:
            at, _, k = heapq.heappop(events)
            if at > opts.max_hours * 3600:
                break
            student, now = students[k], T0 + timedelta(seconds=at)
            card = cards.pop(student, None)
            if student not in registered:
                await labeling.register(
                    db,
                    user_id=student,
                    first_name=f"s{k}",
                    username=None,
                    language="en",
                    timezone="UTC",
                    now=now,
                )
                registered.add(student)
            if card is not None:
                out = await labeling.answer(
                    db,
                    worker_id=student,
                    assignment_id=card.assignment_id,
                    option=rng.randrange(3),
                    chat_id=student,
                    message_id=1,
                    now=now,
                )
                if isinstance(out, Refused):
                    counts[f"refused_{out.reason}"] += 1
                    offer = await labeling.offer(db, student, now)
                    card, held = offer.card, offer.held
                else:
                    answered += 1
                    card, held = out.next, out.held
            else:
                counts["asks"] += 1
                offer = await labeling.offer(db, student, now)
                card, held = offer.card, offer.held
            if card is not None:
                cards[student] = card
                wait = max(1.0, medians[k] * rng.lognormvariate(0.0, 0.25))
            else:
                counts[
                    "held_fair_share"
                    if any(n.key == "hold_fair_share" for n in held)
                    else "nothing_open"
                ] += 1
                wait = opts.retry_after * rng.uniform(0.5, 1.5)
            seq += 1
            heapq.heappush(events, (at + wait, seq, k))
        wall = time.perf_counter() - started
        per_student = {
            r[0]: r[1]
            for r in await db.fetchall(
                "SELECT worker_id, COUNT(*) FROM answers GROUP BY worker_id"
            )
        }
        problems = await check(db, opts)
    finally:
        await db.close()
    if answered < needed:
        problems.append(f"only {answered} of {needed} answers after {opts.max_hours} h")
    return summary(
        opts,
        mode,
        medians,
        [per_student.get(s, 0) for s in students],
        virtual_s=at,
        wall_s=wall,
        counts=counts,
        problems=problems,
    )


async def check(db: Any, opts: FairOptions) -> list[str]:
    """Every task answered exactly `overlap` times, by different students, and done."""
    problems = []
    rows = await db.fetchall(
        "SELECT t.id, t.status, t.answers, t.in_flight, COUNT(a.id), COUNT(DISTINCT a.worker_id)"
        " FROM tasks t LEFT JOIN answers a ON a.task_id = t.id GROUP BY t.id"
    )
    if len(rows) != opts.tasks:
        problems.append(f"{len(rows)} tasks in the database, {opts.tasks} uploaded")
    wrong = [
        tuple(r)
        for r in rows
        if not (r[1] == "done" and r[2] == r[4] == r[5] == opts.overlap and r[3] == 0)
    ]
    if wrong:
        problems.append(
            f"{len(wrong)} tasks not answered exactly {opts.overlap} times by "
            f"different students (id, status, answers, in flight, answer rows, "
            f"students): {wrong[:5]}"
        )
    (total,) = await db.fetchone("SELECT COUNT(*) FROM answers")
    if total != opts.tasks * opts.overlap:
        problems.append(f"{total} answers for {opts.tasks} tasks × overlap {opts.overlap}")
    return problems


def summary(
    opts: FairOptions,
    mode: str,
    medians: list[float],
    per_student: list[int],
    *,
    virtual_s: float,
    wall_s: float,
    counts: Counter[str],
    problems: list[str],
) -> dict[str, Any]:
    active = [n for n in per_student if n > 0]
    total = sum(per_student)
    fastest = sorted(range(len(medians)), key=medians.__getitem__)[: max(1, len(medians) // 10)]
    return {
        "mode": mode,
        "students": len(per_student),
        "active": len(active),
        "min": min(active, default=0),
        "median": statistics.median(active) if active else None,
        "max": max(active, default=0),
        "stdev": round(statistics.pstdev(active), 2) if active else None,
        "gini": None if not active else round(gini(active) or 0.0, 3),
        "gini_all_students": None if not total else round(gini(per_student) or 0.0, 3),
        "fastest_10pct_share": round(sum(per_student[k] for k in fastest) / total, 3)
        if total
        else None,
        "answers": total,
        "virtual_minutes": round(virtual_s / 60, 1),
        "wall_s": round(wall_s, 1),
        "asks": counts["asks"],
        "held_fair_share": counts["held_fair_share"],
        "nothing_open": counts["nothing_open"],
        "refused": sum(v for k, v in counts.items() if k.startswith("refused_")),
        "correct": not problems,
        "problems": problems,
    }


async def measure(
    opts: FairOptions, workroot: Path, progress: Callable[[str], None] = print
) -> dict[str, Any]:
    await asyncio.to_thread(workroot.mkdir, parents=True, exist_ok=True)
    modes = {}
    for mode in opts.modes:
        result = await simulate(opts, mode, workroot / f"fair-{mode}.db")
        modes[mode] = result
        progress(
            f"fair share, {mode}: {result['active']} active students, tasks each "
            f"{result['min']}–{result['max']}, Gini {result['gini']}, fastest 10% took "
            f"{result['fastest_10pct_share']}" + ("" if result["correct"] else ", INCORRECT")
        )
    medians = sorted(speeds(opts))
    fastest = medians[: max(1, len(medians) // 10)]
    options = {
        **asdict(opts),
        "modes": list(opts.modes),
        "fastest_10pct_think_s": round(max(fastest), 1),
        "median_think_s": round(statistics.median(medians), 1),
        "slowest_think_s": round(max(medians), 1),
    }
    return {
        "options": options,
        "modes": modes,
        "correct": all(m["correct"] for m in modes.values()),
    }


def markdown(section: dict[str, Any]) -> str:
    o = section["options"]
    title = (
        f"**Fair share**: {o['students']} students, {o['tasks']:,} tasks (overlap "
        f"{o['overlap']}), through the services with simulated time; students' median "
        f"think times log-normal (fastest 10% under {o['fastest_10pct_think_s']:g} s, "
        f"median {o['median_think_s']:g} s, slowest {o['slowest_think_s']:g} s), arriving "
        f"within {o['arrive_within']:g} s, asking again after ~{o['retry_after']:g} s "
        f"when they get nothing. {machine_line(section['machine'])}. "
        f"`{section['command']}`"
    )
    headers = [
        "allocation",
        "active students",
        "tasks per active student min / median / max",
        "std dev",
        "Gini",
        "fastest 10% took",
        "done after (simulated min)",
        "told to wait",
    ]
    rows = [
        [
            f"`{m['mode']}`",
            str(m["active"]),
            f"{m['min']} / {_num(m['median'])} / {m['max']}",
            fmt(m["stdev"]),
            fmt(m["gini"]),
            "–" if m["fastest_10pct_share"] is None else f"{m['fastest_10pct_share']:.0%}",
            fmt(m["virtual_minutes"]),
            str(m["held_fair_share"]),
        ]
        for m in section["modes"].values()
    ]
    correct = section["correct"]
    note = (
        f"Correctness: {'OK' if correct else 'FAILED'}: in each mode every task answered "
        f"exactly {o['overlap']} time(s), by different students, and done."
        + (
            ""
            if correct
            else " " + "; ".join(p for m in section["modes"].values() for p in m["problems"])
        )
    )
    return "\n".join([title, "", md_table(headers, rows), "", note])


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


def key(opts: FairOptions, quick: bool) -> str:
    return f"fair_share/students={opts.students}/tasks={opts.tasks}/overlap={opts.overlap}" + (
        "/quick" if quick else ""
    )
