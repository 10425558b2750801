"""Next-task query: how the time to find a student's next task grows with the project.

For each size (10k, 100k and 1M tasks by default) a database with the real schema
(db.migrations) is built with plain sqlite3 `executemany`, in a realistic state:

* one project (overlap 3, options a/b/c) with a control (gold) task every 100 ids;
* the first half of its regular tasks done, each answered by 3 of the 200 students days ago
  (an assignment and an answer row each);
* then a live hour, simulated with the bot's own rule (each student gets the first open task
  they have not held): students with skewed speeds (a log-normal think time per student)
  answer 20 tasks each on average and skip one in twenty (a skipped task goes back to the
  pool, but never to the student who skipped it), so the front of the queue is a mix of tasks
  answered once or twice, held right now by someone, or already held by the student asking;
  every student ends holding one task (the one on their screen).

The live hour is the same at every size: only the project's size changes.

Then, on that database:

* `db.tasks.NEXT_OPEN_TASK_SQL` alone, on a plain sqlite3 connection with the bot's pragmas,
  for random students (after one warm-up query each); every answer is checked against the
  simulation (the first open regular task the student never held);
* the bot's whole `labeling._issue` (what a tap runs after recording its answer: standings,
  active projects, the next-task query, the control-task mix, fair share, the assignment,
  the counters, the card) through the service on an aiosqlite `Database`, for random
  students: in a transaction their current task is closed as answered, `_issue` is timed,
  and the transaction is rolled back so every sample sees the same state.
"""

from __future__ import annotations

import asyncio
import heapq
import random
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import harness
from bench.report import fmt, machine_line, md_table
from bench.stats import median_of, ms, percentile, ratio
from bench.taps import _PHRASES, NOISY_OTHER_CPU

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
LIVE_WINDOW = timedelta(hours=1)
GOLD_EVERY = 100
FIRST_STUDENT_ID = 3_000_001
PROJECT = "big"
TARGET_SIZE = 1_000_000  # issue 6: next-task p99 ≤ 5 ms at this size, ≤ 2× the 10k one


@dataclass(frozen=True)
class QueryOptions:
    sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    students: int = 200
    overlap: int = 3
    done_share: float = 0.5  # of the regular tasks, the lowest ids
    live_answers_per_student: int = 20  # in the simulated live hour, on average
    skip_share: float = 0.05  # of the live hour's taps, Skip instead of an answer
    query_samples: int = 6_000  # NEXT_OPEN_TASK_SQL on plain sqlite3
    issue_samples: int = 1_500  # labeling._issue through the service
    breakdown_samples: int = 500  # again, timing each statement
    rounds: int = 3  # the samples are split over rounds; medians of the rounds' percentiles
    seed: int = 1


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def think_medians(
    students: int, rng: random.Random, median: float = 10.0, sigma: float = 1.0
) -> list[float]:
    """Each student's own median think time in seconds, log-normal: a few very fast students,
    a long tail of slow ones (with the defaults the fastest 10% think under 3 s, the slowest
    10% over 35 s)."""
    return [median * rng.lognormvariate(0.0, sigma) for _ in range(students)]


# --------------------------------------------------------------------------------------------
# The state: built in Python (the simulation), written with executemany
# --------------------------------------------------------------------------------------------


@dataclass
class Live:
    """The front of the queue after the live hour: who holds which task."""

    held_by: dict[int, set[int]]  # task id → students who held it (answered, skipped, now)
    taken: dict[int, int]  # task id → answers + in flight (a skip gives its slot back)
    answered: dict[int, int]  # task id → answers in the live hour
    current: dict[int, tuple[int, datetime]]  # student → (task held now, issued at)
    history: list[tuple[int, int, datetime, datetime, str]]  # task, student, issued, closed,
    # and 'answered' or 'skipped'
    frontier: int  # the first task id of the live hour


class Built:
    """A database of one size and the facts needed to check the query's answers."""

    def __init__(
        self,
        path: Path,
        size: int,
        opts: QueryOptions,
        live: Live,
        project_id: int,
        seconds: float,
        counts: dict[str, int],
    ) -> None:
        self.path, self.size, self.opts, self.live = path, size, opts, live
        self.project_id, self.build_seconds, self.counts = project_id, seconds, counts

    @property
    def students(self) -> list[int]:
        return [FIRST_STUDENT_ID + i for i in range(self.opts.students)]

    def expected_next(self, student: int) -> int | None:
        """The first open regular task this student never held (the query's specification,
        computed from the simulation, not from SQL)."""
        live, overlap = self.live, self.opts.overlap
        for task in range(live.frontier, self.size + 1):
            if _takes(live, student, overlap, task):
                return task
        return None

    def skipped_before_next(self, student: int) -> int:
        """Open regular tasks the query passes over for this student (ones they held)."""
        live, overlap = self.live, self.opts.overlap
        nxt = self.expected_next(student) or self.size + 1
        return sum(
            1
            for task in range(live.frontier, nxt)
            if not _is_gold(task) and live.taken.get(task, 0) < overlap
        )


def _is_gold(task_id: int) -> bool:
    return task_id % GOLD_EVERY == 0


def _takes(live: Live, student: int, overlap: int, task: int) -> bool:
    """Whether the bot would hand this regular task to this student."""
    if _is_gold(task) or live.taken.get(task, 0) >= overlap:
        return False
    return student not in live.held_by.get(task, ())


def simulate_live(frontier: int, size: int, opts: QueryOptions, rng: random.Random) -> Live:
    """The live hour: students answer (or now and then skip) at their own pace, each getting
    the first open regular task (answers + in flight < overlap) they have not held; all end
    holding one."""
    students = [FIRST_STUDENT_ID + i for i in range(opts.students)]
    medians = think_medians(opts.students, rng)
    live = Live({}, {}, {}, {}, [], frontier)
    held_by, taken, answered, current = live.held_by, live.taken, live.answered, live.current
    low = frontier  # every regular task below is full
    start = NOW - LIVE_WINDOW
    total = opts.live_answers_per_student * opts.students
    # Students arrive in the first minutes of the hour; events: (seconds from start, k).
    events = [(rng.uniform(0, 300), k) for k in range(opts.students)]
    heapq.heapify(events)
    done = 0
    while events:
        at, k = heapq.heappop(events)
        student = students[k]
        moment = start + timedelta(seconds=at)
        if student in current:
            task, issued = current.pop(student)
            if rng.random() < opts.skip_share:
                taken[task] -= 1
                low = min(low, task)  # it can be handed out again
                live.history.append((task, student, issued, moment, "skipped"))
            else:
                answered[task] = answered.get(task, 0) + 1
                live.history.append((task, student, issued, moment, "answered"))
                done += 1
        # The next task, also after the last answer: everyone ends holding one.
        while low <= size and (_is_gold(low) or taken.get(low, 0) >= opts.overlap):
            low += 1
        task = low
        while task <= size and not _takes(live, student, opts.overlap, task):
            task += 1
        if task > size:
            raise RuntimeError("the simulated live hour ran out of tasks: use a bigger size")
        held_by.setdefault(task, set()).add(student)
        taken[task] = taken.get(task, 0) + 1
        current[student] = (task, moment)
        if done < total:
            think = medians[k] * rng.lognormvariate(0.0, 0.25)
            heapq.heappush(events, (at + max(1.0, think), k))
    return live


def build(path: Path, size: int, opts: QueryOptions) -> Built:
    rng = random.Random(opts.seed)  # noqa: S311 - not crypto
    started = time.perf_counter()
    con = harness.fresh_db(path)
    try:
        # Bulk load: a big page cache, no syncing, and the secondary indexes built once at the
        # end (from their own definitions, so the schema is unchanged).
        con.execute("PRAGMA cache_size = -262144")
        con.execute("PRAGMA synchronous = OFF")
        con.execute("BEGIN")
        indexes = con.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            " AND tbl_name IN ('tasks', 'assignments', 'answers')"
        ).fetchall()
        for name, _ in indexes:
            con.execute(f'DROP INDEX "{name}"')
        project_id, upload_id = harness.raw_project(con, PROJECT, overlap=opts.overlap, price=5)
        students = [FIRST_STUDENT_ID + i for i in range(opts.students)]
        joined = _ts(NOW - timedelta(days=30))
        con.executemany(
            "INSERT INTO workers (id, first_name, language, timezone, joined_at)"
            " VALUES (?, ?, 'en', 'UTC', ?)",
            [(s, f"s{s}", joined) for s in students],
        )

        regular = [t for t in range(1, size + 1) if not _is_gold(t)]
        done_count = int(len(regular) * opts.done_share)
        frontier = regular[done_count] if done_count < len(regular) else size + 1
        live = simulate_live(frontier, size, opts, rng)

        def status(task: int) -> tuple[int, int, str]:
            if _is_gold(task):
                return 0, 0, "open"
            if task < frontier:
                return opts.overlap, 0, "done"
            answers = live.answered.get(task, 0)
            in_flight = live.taken.get(task, 0) - answers
            state = (
                "done"
                if answers >= opts.overlap
                else "full"
                if answers + in_flight >= opts.overlap
                else "open"
            )
            return answers, in_flight, state

        def task_rows() -> Iterator[tuple[Any, ...]]:
            for t in range(1, size + 1):
                answers, in_flight, state = status(t)
                yield (
                    t,
                    project_id,
                    f"t{t}",
                    f"#{t} {_PHRASES[t % len(_PHRASES)]}",
                    "a" if _is_gold(t) else None,
                    opts.overlap,
                    answers,
                    in_flight,
                    state,
                    upload_id,
                )

        con.executemany(
            "INSERT INTO tasks (id, project_id, external_id, text, gold, needed, answers,"
            " in_flight, status, upload_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            task_rows(),
        )

        # The done half: 3 answers each, days ago, by students in turn.
        past = NOW - timedelta(days=7)

        def done_assignments() -> Iterator[tuple[Any, ...]]:
            n = opts.students
            for j, task in enumerate(regular[:done_count]):
                issued = _ts(past + timedelta(seconds=j))
                closed = _ts(past + timedelta(seconds=j + 20))
                for k in range(opts.overlap):
                    yield (
                        task,
                        students[(j * opts.overlap + k) % n],
                        project_id,
                        5,
                        issued,
                        closed,
                        "answered",
                        closed,
                    )

        def live_assignments() -> Iterator[tuple[Any, ...]]:
            for task, student, issued, closed, state in live.history:
                yield (
                    task,
                    student,
                    project_id,
                    5,
                    _ts(issued),
                    _ts(issued + timedelta(minutes=10)),
                    state,
                    _ts(closed),
                )
            for student, (task, issued) in live.current.items():
                yield (
                    task,
                    student,
                    project_id,
                    5,
                    _ts(issued),
                    _ts(NOW + timedelta(hours=2)),
                    "open",
                    None,
                )

        insert_assignment = (
            "INSERT INTO assignments (task_id, worker_id, project_id, price, issued_at,"
            " expires_at, status, closed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        con.executemany(insert_assignment, done_assignments())
        con.executemany(insert_assignment, live_assignments())
        con.execute(
            "INSERT INTO answers (assignment_id, task_id, worker_id, project_id, value, seconds,"
            " created_at) SELECT id, task_id, worker_id, project_id, 'a', 20.0, closed_at"
            " FROM assignments WHERE status = 'answered'"
        )
        for _, sql in indexes:
            con.execute(sql)
        con.execute("COMMIT")
        con.execute("ANALYZE")  # what a long-running bot's `PRAGMA optimize` would leave
        counts = {
            name: con.execute(sql).fetchone()[0]
            for name, sql in (
                ("tasks", "SELECT COUNT(*) FROM tasks"),
                (
                    "open_regular",
                    "SELECT COUNT(*) FROM tasks WHERE status = 'open' AND gold IS NULL",
                ),
                ("done", "SELECT COUNT(*) FROM tasks WHERE status = 'done'"),
                ("assignments", "SELECT COUNT(*) FROM assignments"),
                ("answers", "SELECT COUNT(*) FROM answers"),
                ("held_now", "SELECT COUNT(*) FROM assignments WHERE status = 'open'"),
            )
        }
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    counts["file_mb"] = round(path.stat().st_size / 2**20, 1)
    return Built(path, size, opts, live, project_id, time.perf_counter() - started, counts)


# --------------------------------------------------------------------------------------------
# The measurements
# --------------------------------------------------------------------------------------------


def time_query(
    built: Built, rng: random.Random, samples: int
) -> tuple[list[float], list[str], str]:
    """NEXT_OPEN_TASK_SQL for random students: seconds per query, problems, query plan."""
    from db.tasks import NEXT_OPEN_TASK_SQL

    con = sqlite3.connect(built.path, isolation_level=None)
    try:
        for pragma in harness.APP_PRAGMAS:
            con.execute(pragma)
        plan = " / ".join(
            row[-1]
            for row in con.execute(
                "EXPLAIN QUERY PLAN " + NEXT_OPEN_TASK_SQL, (built.project_id, 0)
            )
        )
        problems = []
        for student in built.students:  # warm-up, and the answers checked
            row = con.execute(NEXT_OPEN_TASK_SQL, (built.project_id, student)).fetchone()
            got = row[0] if row else None
            want = built.expected_next(student)
            if got != want:
                problems.append(f"student {student}: the query gave task {got}, expected {want}")
        students = built.students
        pid = built.project_id
        times = []
        clock = time.perf_counter
        for _ in range(samples):
            params = (pid, rng.choice(students))
            start = clock()
            con.execute(NEXT_OPEN_TASK_SQL, params).fetchone()
            times.append(clock() - start)
    finally:
        con.close()
    return times, problems[:10], plan


class _Rollback(Exception):
    pass


class StatementTimer:
    """Times every statement the bot's transactions run (db.connection.Tx) while `on`."""

    METHODS = ("fetchone", "fetchall", "execute", "insert")

    def __init__(self) -> None:
        self.on = False
        self.times: defaultdict[str, list[float]] = defaultdict(list)
        self._originals: dict[str, Any] = {}

    def __enter__(self) -> StatementTimer:
        from db.connection import Tx

        for name in self.METHODS:
            original = self._originals[name] = getattr(Tx, name)

            async def timed(tx: Any, sql: str, params: Any = (), _original: Any = original) -> Any:
                if not self.on:
                    return await _original(tx, sql, params)
                start = time.perf_counter()
                try:
                    return await _original(tx, sql, params)
                finally:
                    self.times[sql].append(time.perf_counter() - start)

            setattr(Tx, name, timed)
        return self

    def __exit__(self, *exc: object) -> None:
        from db.connection import Tx

        for name, original in self._originals.items():
            setattr(Tx, name, original)


async def time_issue(
    built: Built, rng: random.Random, samples: int, timer: StatementTimer | None = None
) -> tuple[list[float], list[str]]:
    """labeling._issue through the service, each sample rolled back; the first pass (one
    per student, not timed) checks what it hands out."""
    from bot.services import labeling
    from db import assignments as assignments_repo
    from db import tasks as tasks_repo
    from db.connection import Database

    random.seed(built.opts.seed)  # the control-task mix in _pick_task draws from `random`
    db = await Database.open(built.path)
    times: list[float] = []
    problems: list[str] = []
    students = built.students
    try:
        for n in range(samples + len(students)):
            warmup = n < len(students)
            student = students[n] if warmup else rng.choice(students)
            try:
                async with db.transaction() as tx:
                    held = await assignments_repo.open_for_worker(tx, student)
                    assert held is not None
                    await assignments_repo.close(tx, held.id, "answered", NOW)
                    await tasks_repo.bump(tx, held.task_id, answers=1, in_flight=-1)
                    if timer is not None:
                        timer.on = not warmup
                    start = time.perf_counter()
                    offer = await labeling._issue(tx, student, NOW, None, None)
                    elapsed = time.perf_counter() - start
                    if timer is not None:
                        timer.on = False
                    if warmup:
                        problems += await _check_offer(tx, built, student, offer)
                    raise _Rollback
            except _Rollback:
                pass
            if not warmup:
                times.append(elapsed)
    finally:
        await db.close()
    return times, problems[:10]


def breakdown(timer: StatementTimer, issues: int) -> list[dict[str, Any]]:
    """Per statement: calls and ms per `_issue`, and its own p99, busiest first."""
    rows = [
        {
            "sql": " ".join(sql.split()),
            "calls_per_issue": round(len(ts) / issues, 2),
            "ms_per_issue": round(sum(ts) * 1000 / issues, 4),
            "p99_ms": ms(percentile(ts, 99)),
        }
        for sql, ts in timer.times.items()
    ]
    return sorted(rows, key=lambda r: -r["ms_per_issue"])


async def _check_offer(tx: Any, built: Built, student: int, offer: Any) -> list[str]:
    """The card is a task the student never held: the next regular one, or a control task."""
    if offer.card is None:
        return [f"student {student}: no task issued ({offer.held})"]
    row = await tx.fetchone(
        "SELECT a.task_id, t.gold, (SELECT COUNT(*) FROM assignments b WHERE b.task_id ="
        " a.task_id AND b.worker_id = a.worker_id) FROM assignments a JOIN tasks t"
        " ON t.id = a.task_id WHERE a.id = ?",
        (offer.card.assignment_id,),
    )
    task, gold, rows = row[0], row[1], row[2]
    if rows != 1:
        return [f"student {student}: task {task} held twice"]
    if gold is None and task != built.expected_next(student):
        return [f"student {student}: issued task {task}, expected {built.expected_next(student)}"]
    return []


async def measure(
    opts: QueryOptions, workroot: Path, progress: Callable[[str], None] = print
) -> dict[str, Any]:
    """Build every size, then time them in rounds (alternating the order, so a noisy moment
    on the machine does not land on one size only); per size, the median over the rounds of
    each round's p50 and p99."""
    await asyncio.to_thread(workroot.mkdir, parents=True, exist_ok=True)
    builts = []
    for size in opts.sizes:
        built = await asyncio.to_thread(build, workroot / f"tasks-{size}.db", size, opts)
        builts.append(built)
        progress(
            f"next task: built {size:,} tasks in {built.build_seconds:.1f} s "
            f"({built.counts['file_mb']} MiB)"
        )
    rng = random.Random(opts.seed)  # noqa: S311 - not crypto
    rounds: dict[int, list[dict[str, Any]]] = {b.size: [] for b in builts}
    problems: dict[int, list[str]] = {b.size: [] for b in builts}
    plans: dict[int, str] = {}
    try:
        for r in range(opts.rounds):
            for built in builts if r % 2 == 0 else builts[::-1]:
                cpu0, busy0 = time.process_time(), harness.system_busy_seconds()
                wall0 = time.perf_counter()
                query, found, plans[built.size] = time_query(
                    built, rng, max(1, opts.query_samples // opts.rounds)
                )
                issue, wrong = await time_issue(
                    built, rng, max(1, opts.issue_samples // opts.rounds)
                )
                wall = time.perf_counter() - wall0
                busy1, cpu1 = harness.system_busy_seconds(), time.process_time()
                other = (
                    None
                    if busy0 is None or busy1 is None
                    else max(0.0, busy1 - busy0 - (cpu1 - cpu0)) * 100 / wall
                )
                problems[built.size] += found + wrong
                rounds[built.size].append(
                    {
                        "query_p50_ms": _ms3(percentile(query, 50)),
                        "query_p99_ms": _ms3(percentile(query, 99)),
                        "query_max_ms": _ms3(max(query)),
                        "issue_p50_ms": ms(percentile(issue, 50)),
                        "issue_p99_ms": ms(percentile(issue, 99)),
                        "issue_max_ms": ms(max(issue)),
                        "other_cpu_pct": None if other is None else round(other, 1),
                    }
                )
        sizes = []
        for built in builts:
            # A last pass timing each statement of _issue (the timing wrapper costs a little).
            with StatementTimer() as timer:
                await time_issue(built, rng, opts.breakdown_samples, timer)
            med = median_of(rounds[built.size])
            walks = [built.skipped_before_next(s) for s in built.students]
            row = {
                "tasks": built.size,
                **{k: v for k, v in built.counts.items() if k != "tasks"},
                "build_s": round(built.build_seconds, 1),
                **med,
                "walk_mean": round(sum(walks) / len(walks), 2),
                "walk_max": max(walks),
                "query_max_ms": max(x["query_max_ms"] for x in rounds[built.size]),
                "issue_max_ms": max(x["issue_max_ms"] for x in rounds[built.size]),
                "other_cpu_pct": max((x["other_cpu_pct"] or 0.0) for x in rounds[built.size]),
                "plan": plans[built.size],
                "issue_statements": breakdown(timer, opts.breakdown_samples),
                "rounds": rounds[built.size],
                "correct": not problems[built.size],
                "problems": problems[built.size][:10],
            }
            sizes.append(row)
            progress(
                f"next task at {built.size:,} tasks: query p50 {row['query_p50_ms']} ms, "
                f"p99 {row['query_p99_ms']} ms; _issue p50 {row['issue_p50_ms']} ms, p99 "
                f"{row['issue_p99_ms']} ms" + ("" if row["correct"] else ", INCORRECT")
            )
    finally:
        for built in builts:
            await asyncio.to_thread(_remove, built.path)
    small, big = sizes[0], sizes[-1]
    ratios = {
        k: ratio(big[k], small[k])
        for k in ("query_p50_ms", "query_p99_ms", "issue_p50_ms", "issue_p99_ms")
    }
    options = {**asdict(opts), "sizes": list(opts.sizes)}
    return {
        "options": options,
        "sizes": sizes,
        "ratio": ratios,
        "correct": all(s["correct"] for s in sizes),
    }


def _remove(path: Path) -> None:
    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        (path.parent / name).unlink(missing_ok=True)


def _ms3(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 4)


def markdown(section: dict[str, Any]) -> str:
    o, sizes, r = section["options"], section["sizes"], section["ratio"]
    title = (
        f"**Next-task query**: one project (overlap {o['overlap']}, a control task every "
        f"{GOLD_EVERY}), {o['done_share']:.0%} done, {o['students']} students after a "
        f"live hour; {o['query_samples']:,} queries and {o['issue_samples']:,} `_issue` "
        f"calls for random students per size in {o['rounds']} rounds (medians of the "
        f"rounds' percentiles). {machine_line(section['machine'])}. "
        f"`{section['command']}`"
    )
    headers = [
        "tasks",
        "open",
        "assignments",
        "query p50 ms",
        "query p99 ms",
        "query max ms",
        "`_issue` p50 ms",
        "`_issue` p99 ms",
        "DB MiB",
    ]
    rows = [
        [
            f"{s['tasks']:,}",
            f"{s['open_regular']:,}",
            f"{s['assignments']:,}",
            _fmt_ms(s["query_p50_ms"]),
            _fmt_ms(s["query_p99_ms"]),
            _fmt_ms(s["query_max_ms"]),
            fmt(s["issue_p50_ms"]),
            fmt(s["issue_p99_ms"]),
            fmt(s["file_mb"]),
        ]
        for s in sizes
    ]
    big, small = sizes[-1]["tasks"], sizes[0]["tasks"]
    rows.append(
        [
            f"**{_short(big)} / {_short(small)}**",
            "",
            "",
            fmt(r["query_p50_ms"], "×"),
            fmt(r["query_p99_ms"], "×"),
            "",
            fmt(r["issue_p50_ms"], "×"),
            fmt(r["issue_p99_ms"], "×"),
            "",
        ]
    )
    p99 = sizes[-1]["query_p99_ms"]
    met = p99 is not None and p99 <= 5 and r["query_p99_ms"] is not None and r["query_p99_ms"] <= 2
    verdict = "met" if met else "not met"
    if big < TARGET_SIZE:
        verdict += f" (the target is for {_short(TARGET_SIZE)} tasks)"
    notes = [
        "query: `db.tasks.NEXT_OPEN_TASK_SQL` alone on plain sqlite3 (statement cached, "
        "bot's pragmas); `_issue`: the bot's whole hand-out of a next task through the "
        "service on aiosqlite (about ten statements, each a hop to aiosqlite's thread), "
        "rolled back after each sample.",
        f"Target p99 ≤ 5 ms at {_short(big)}, ratio ≤ 2: query p99 {_fmt_ms(p99)} ms, ratio "
        f"{fmt(r['query_p99_ms'], '×')} — {verdict}. The bot's whole `_issue` at "
        f"{_short(big)}: p99 {fmt(sizes[-1]['issue_p99_ms'])} ms, ratio "
        f"{fmt(r['issue_p99_ms'], '×')}.",
        f"The query passes over at most {max(x['walk_max'] for x in sizes)} open task(s) a "
        f"student already held (mean {sizes[-1]['walk_mean']:g}) before the one it returns. "
        f"Plan: `{sizes[-1]['plan']}`. Other processes used at most "
        f"{max(x['other_cpu_pct'] for x in sizes):g} % of a core while timing"
        + (
            " (a busy machine: noisy p99s)."
            if max(x["other_cpu_pct"] for x in sizes) > NOISY_OTHER_CPU
            else "."
        ),
        f"Correctness: {'OK' if section['correct'] else 'FAILED'}: for every student the "
        "query and `_issue` gave the first open regular task they never held (or a control "
        "task they never held), as the simulation says."
        + ("" if section["correct"] else " " + "; ".join(p for s in sizes for p in s["problems"])),
    ]
    return "\n".join(
        [title, "", md_table(headers, rows), "", *notes, "", statements_table(sizes[0], sizes[-1])]
    )


def statements_table(small: dict[str, Any], big: dict[str, Any], top: int = 6) -> str:
    """Where `_issue`'s time goes, statement by statement, at the smallest and largest size."""
    before = {r["sql"]: r for r in small["issue_statements"]}
    rows = []
    for r in big["issue_statements"][:top]:
        text = r["sql"] if len(r["sql"]) <= 70 else r["sql"][:69] + "…"
        was = before.get(r["sql"])
        rows.append(
            [
                f"`{text}`",
                fmt(r["calls_per_issue"]),
                "–" if was is None else f"{was['ms_per_issue']:.3f}",
                f"{r['ms_per_issue']:.3f}",
                fmt(r["p99_ms"]),
            ]
        )
    s, b = _short(small["tasks"]), _short(big["tasks"])
    headers = [
        "`_issue` statement (busiest first)",
        "calls per `_issue`",
        f"ms per `_issue` at {s}",
        f"at {b}",
        f"its p99 ms at {b}",
    ]
    return md_table(headers, rows)


def _fmt_ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _short(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def key(opts: QueryOptions, quick: bool) -> str:
    return (
        "next_task/sizes=" + ",".join(_short(s) for s in opts.sizes) + ("/quick" if quick else "")
    )
