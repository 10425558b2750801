"""Labelgram's benchmark, one command: `.venv/bin/python -m bench.run [options]`.

Measurements (each its own module, table and JSON key; all run by default, in this order,
about 11 minutes on a 2-core machine; pick some with --only):

* taps        N students tapping through tasks against the real bot process and against a
              bare python-telegram-bot bot on the same server (bench/taps.py; ~2.5 min).
* import      100,000 rows through /upload end to end (file download included) against a raw
              sqlite3 executemany of the same rows, and the bot's memory (bench/imports.py;
              ~20 s).
* next_task   the next-task query and the bot's whole hand-out of a task at 10k, 100k and 1M
              tasks (bench/next_task.py; ~45 s, most of it building the 1M database).
* fair_share  200 students of different speeds on 1,000 scarce tasks, allocation fifo and
              fair, through the services in simulated time (bench/fair_share.py; ~10 s).
* broadcast   one /broadcast to 10,000 students against a server that answers 429 above 30
              sends a second and 1 a second per chat, while 80 of them tap: time to the last
              delivery, most sends in any second, 429s, exactly once, and tap latency with
              and without the broadcast (bench/broadcast.py; ~7 min).

    .venv/bin/python -m bench.run                          # everything
    .venv/bin/python -m bench.run --only taps --think 0    # one measurement, its options
    .venv/bin/python -m bench.run --only import,next_task  # several
    .venv/bin/python -m bench.run --quick                  # a few seconds each: proves it works

Prints a Markdown table per measurement and stores the raw figures in
bench/results/latest.json, under a key per measurement and setting (for example
`taps/students=200/think=0.5-1.5`, `import/rows=100000`, `next_task/sizes=10k,100k,1M`,
`fair_share/students=200/tasks=1000/overlap=1`, `broadcast/students=10000/tappers=80`), so
that a run with other settings keeps the default run's figures. Exits with 1 if any
measurement found an error or a wrong result (a tap not recorded exactly once, an imported
row missing or doubled, a wrong next task, a task not answered exactly `overlap` times, a
student without the broadcast or with two copies).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import broadcast, fair_share, imports, next_task, report, taps
from bench.harness import ROOT

FULL = taps.TapOptions()
QUICK = taps.TapOptions(students=5, think=(0.0, 0.05), warmup=0.5, duration=2.0, tasks=2_000)
TASKS_PER_SECOND = 400  # upload enough tasks for this rate over the whole run

MEASUREMENTS = ("taps", "import", "next_task", "fair_share", "broadcast")
ALIASES = {
    "imports": "import",
    "query": "next_task",
    "next": "next_task",
    "fair": "fair_share",
    "broadcasts": "broadcast",
}

QUICK_IMPORT = imports.ImportOptions(rows=2_000, runs=1)
QUICK_QUERY = next_task.QueryOptions(
    sizes=(1_000, 3_000),
    students=20,
    live_answers_per_student=10,
    query_samples=300,
    issue_samples=60,
    breakdown_samples=30,
    rounds=1,
)
QUICK_FAIR = fair_share.FairOptions(students=20, tasks=60, overlap=2)
QUICK_BROADCAST = broadcast.BroadcastOptions(
    students=150, tappers=10, think=(0.2, 0.4), warmup=0.5, baseline=2.0
)


def think_range(text: str) -> tuple[float, float]:
    """ "0.5-1.5" (uniform between) or "0" (no think time)."""
    try:
        low, _, high = text.partition("-")
        pair = (float(low), float(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"think time {text!r}: use 0.5-1.5 or 0") from None
    if pair[0] < 0 or pair[1] < pair[0]:
        raise argparse.ArgumentTypeError(f"think time {text!r}: use 0.5-1.5 or 0")
    return pair


def measurement_list(text: str) -> list[str]:
    names = []
    for raw in text.split(","):
        name = ALIASES.get(raw.strip().lower(), raw.strip().lower())
        if name not in MEASUREMENTS:
            raise argparse.ArgumentTypeError(
                f"unknown measurement {raw!r}: use {', '.join(MEASUREMENTS)}"
            )
        if name not in names:
            names.append(name)
    return [n for n in MEASUREMENTS if n in names]


def size_list(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(
            int(s.strip().lower().replace("k", "000").replace("m", "000000"))
            for s in text.split(",")
        )
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes {text!r}: use 10k,100k,1M") from None
    if not sizes or min(sizes) < 100 or list(sizes) != sorted(sizes):
        raise argparse.ArgumentTypeError(f"sizes {text!r}: at least 100 each, smallest first")
    return sizes


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--only",
        type=measurement_list,
        default=list(MEASUREMENTS),
        metavar="LIST",
        help=f"measurements to run, comma-separated: {', '.join(MEASUREMENTS)} (default: all)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a few seconds each (proves it works): taps with 5 students for 2 s, "
        f"import of {QUICK_IMPORT.rows:,} rows, next task at "
        f"{QUICK_QUERY.sizes[0]:,} and {QUICK_QUERY.sizes[-1]:,} tasks, fair "
        f"share with {QUICK_FAIR.students} students on {QUICK_FAIR.tasks} tasks, "
        f"a broadcast to {QUICK_BROADCAST.students} students while "
        f"{QUICK_BROADCAST.tappers} tap; 1 run",
    )
    p.add_argument(
        "--runs",
        type=int,
        help="taps, import and broadcast: rounds; medians are reported (default 3; broadcast 1)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--json",
        type=Path,
        help="where to store the figures (default bench/results/latest.json; "
        "--quick stores nothing unless given)",
    )
    p.add_argument(
        "--app",
        type=Path,
        default=ROOT,
        metavar="DIR",
        help="taps and import: run Labelgram from this checkout, e.g. an unpacked "
        "`git archive` (default: this one)",
    )
    p.add_argument(
        "--py-spy",
        type=Path,
        metavar="DIR",
        help="taps and import: sample each bot with py-spy (pip install py-spy; not "
        "a dependency) while measured, into DIR; summarise with "
        "`python -m bench.profile DIR/*.txt`",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the working folders (databases, bot logs) and print where",
    )

    t = p.add_argument_group("taps")
    t.add_argument("--students", type=int, help=f"simulated students (default {FULL.students})")
    t.add_argument(
        "--think",
        type=think_range,
        help="seconds between an edit and the next tap, uniform: 0.5-1.5 (default) "
        "or 0 for maximum throughput (also the broadcast's tappers)",
    )
    t.add_argument("--duration", type=float, help=f"seconds measured (default {FULL.duration:g})")
    t.add_argument(
        "--warmup",
        type=float,
        help=f"seconds of tapping before measuring (default {FULL.warmup:g})",
    )
    t.add_argument("--tasks", type=int, help="tasks uploaded (default: enough for 400 taps/s)")
    t.add_argument(
        "--bots",
        default="labelgram,bare",
        help="which bots to measure, comma-separated (default labelgram,bare)",
    )

    i = p.add_argument_group("import")
    i.add_argument(
        "--import-rows",
        type=int,
        help=f"rows in the uploaded CSV (default {imports.ImportOptions.rows:,})",
    )

    q = p.add_argument_group("next_task")
    q.add_argument(
        "--query-sizes",
        type=size_list,
        metavar="SIZES",
        help="project sizes in tasks, smallest first; the ratio is largest / "
        "smallest (default 10k,100k,1M)",
    )
    q.add_argument(
        "--query-samples",
        type=int,
        metavar="N",
        help="timed next-task queries per size (default "
        f"{next_task.QueryOptions.query_samples:,}; `_issue` calls: a quarter)",
    )

    f = p.add_argument_group("fair_share")
    f.add_argument(
        "--fair-students", type=int, help=f"students (default {fair_share.FairOptions.students})"
    )
    f.add_argument(
        "--fair-tasks", type=int, help=f"tasks (default {fair_share.FairOptions.tasks:,})"
    )
    f.add_argument(
        "--fair-overlap",
        type=int,
        help=f"answers per task (default {fair_share.FairOptions.overlap})",
    )

    b = p.add_argument_group("broadcast")
    b.add_argument(
        "--broadcast-students",
        type=int,
        metavar="N",
        help=f"students the broadcast goes to (default {broadcast.BroadcastOptions.students:,})",
    )
    b.add_argument(
        "--tappers",
        type=int,
        metavar="N",
        help=f"of them, students tapping meanwhile (default {broadcast.BroadcastOptions.tappers})",
    )
    b.add_argument(
        "--baseline",
        type=float,
        metavar="SECONDS",
        help="seconds of taps measured before, with no broadcast (default "
        f"{broadcast.BroadcastOptions.baseline:g})",
    )
    b.add_argument(
        "--send-per-second",
        type=int,
        metavar="N",
        help="the bot's [notifications] send_per_second, 1-30 (default: the bot's own default)",
    )
    return p


def tap_options(args: argparse.Namespace) -> tuple[taps.TapOptions, int]:
    base = QUICK if args.quick else FULL
    opts = replace(
        base,
        students=args.students or base.students,
        think=args.think if args.think is not None else base.think,
        duration=args.duration if args.duration is not None else base.duration,
        warmup=args.warmup if args.warmup is not None else base.warmup,
        seed=args.seed,
        py_spy_dir=args.py_spy,
        app=args.app.resolve(),
    )
    tasks = args.tasks
    if tasks is None:
        tasks = (
            base.tasks
            if args.quick
            else int((opts.warmup + opts.duration + 10) * TASKS_PER_SECOND + 2 * opts.students)
        )
    runs = args.runs or (1 if args.quick else 3)
    return replace(opts, tasks=tasks), runs


def import_options(args: argparse.Namespace) -> imports.ImportOptions:
    base = QUICK_IMPORT if args.quick else imports.ImportOptions()
    return replace(
        base,
        rows=args.import_rows or base.rows,
        runs=args.runs or base.runs,
        app=args.app.resolve(),
        py_spy_dir=args.py_spy,
    )


def query_options(args: argparse.Namespace) -> next_task.QueryOptions:
    base = QUICK_QUERY if args.quick else next_task.QueryOptions()
    opts = replace(base, sizes=args.query_sizes or base.sizes, seed=args.seed)
    if args.query_samples:
        opts = replace(
            opts, query_samples=args.query_samples, issue_samples=max(1, args.query_samples // 4)
        )
    return opts


def fair_options(args: argparse.Namespace) -> fair_share.FairOptions:
    base = QUICK_FAIR if args.quick else fair_share.FairOptions()
    return replace(
        base,
        students=args.fair_students or base.students,
        tasks=args.fair_tasks or base.tasks,
        overlap=args.fair_overlap or base.overlap,
        seed=args.seed,
    )


# --------------------------------------------------------------------------------------------
# Each measurement: (section, JSON key, Markdown, problems)
# --------------------------------------------------------------------------------------------

Progress = Callable[[str], None]
Outcome = tuple[dict[str, Any], str, Callable[[dict[str, Any]], str], list[str]]


async def run_taps(args: argparse.Namespace, workroot: Path, progress: Progress) -> Outcome:
    opts, runs = tap_options(args)
    bots = [b.strip() for b in args.bots.split(",") if b.strip()]
    section = await taps.measure_runs(opts, runs, bots, workroot / "taps", progress=progress)
    low, high = opts.think
    think = f"{low:g}-{high:g}" if low != high else f"{low:g}"
    key = f"taps/students={opts.students}/think={think}" + ("/quick" if args.quick else "")
    failed = [
        f"taps, {name} run {k}: {run[name]['error_detail']} {run[name]['problems'][:3]}"
        for k, run in enumerate(section["runs"], 1)
        for name in run
        if run[name]["errors"] or not run[name]["correct"]
    ]
    return section, key, taps.markdown, failed


async def run_import(args: argparse.Namespace, workroot: Path, progress: Progress) -> Outcome:
    opts = import_options(args)
    section = await imports.measure_runs(opts, workroot / "import", progress=progress)
    failed = [
        f"import run {k}: {'; '.join(run['problems'])}"
        for k, run in enumerate(section["runs"], 1)
        if not run["correct"]
    ]
    return section, imports.key(opts, args.quick), imports.markdown, failed


async def run_next_task(args: argparse.Namespace, workroot: Path, progress: Progress) -> Outcome:
    opts = query_options(args)
    section = await next_task.measure(opts, workroot / "next_task", progress=progress)
    failed = [
        f"next task at {s['tasks']}: {'; '.join(s['problems'])}"
        for s in section["sizes"]
        if not s["correct"]
    ]
    return section, next_task.key(opts, args.quick), next_task.markdown, failed


async def run_fair_share(args: argparse.Namespace, workroot: Path, progress: Progress) -> Outcome:
    opts = fair_options(args)
    section = await fair_share.measure(opts, workroot / "fair_share", progress=progress)
    failed = [
        f"fair share, {mode}: {'; '.join(m['problems'])}"
        for mode, m in section["modes"].items()
        if not m["correct"]
    ]
    return section, fair_share.key(opts, args.quick), fair_share.markdown, failed


def broadcast_options(args: argparse.Namespace) -> broadcast.BroadcastOptions:
    base = QUICK_BROADCAST if args.quick else broadcast.BroadcastOptions()
    opts = replace(
        base,
        students=args.broadcast_students or base.students,
        tappers=args.tappers or base.tappers,
        think=args.think if args.think is not None else base.think,
        baseline=args.baseline if args.baseline is not None else base.baseline,
        send_per_second=args.send_per_second or base.send_per_second,
        runs=args.runs or base.runs,
        seed=args.seed,
        app=args.app.resolve(),
    )
    return replace(opts, tappers=min(opts.tappers, opts.students))


async def run_broadcast(args: argparse.Namespace, workroot: Path, progress: Progress) -> Outcome:
    opts = broadcast_options(args)
    section = await broadcast.measure_runs(opts, workroot / "broadcast", progress=progress)
    failed = [
        f"broadcast run {k}: {run['error_detail']} {run['problems'][:3]}"
        for k, run in enumerate(section["runs"], 1)
        if run["errors"] or not run["correct"]
    ]
    return section, broadcast.key(opts, args.quick), broadcast.markdown, failed


RUNNERS = {
    "taps": run_taps,
    "import": run_import,
    "next_task": run_next_task,
    "fair_share": run_fair_share,
    "broadcast": run_broadcast,
}


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    bots = [b.strip() for b in args.bots.split(",") if b.strip()]
    unknown = [b for b in bots if b not in taps.FLAVORS]
    if unknown or not bots:
        p.error(f"bad --bots ({', '.join(unknown)})")
    for name in (
        "runs",
        "students",
        "import_rows",
        "query_samples",
        "fair_students",
        "fair_tasks",
        "fair_overlap",
        "broadcast_students",
        "tappers",
    ):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.send_per_second is not None and not 1 <= args.send_per_second <= 30:
        p.error("--send-per-second must be between 1 and 30")
    if args.baseline is not None and args.baseline <= 0:
        p.error("--baseline must be more than 0")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = parser()
    args = p.parse_args(argv)
    check_args(p, args)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    path = args.json or (None if args.quick else report.LATEST)
    stamp = report.stamp(argv, args.app.resolve())
    workroot = Path(tempfile.mkdtemp(prefix="labelgram-bench-"))
    failed: list[str] = []
    try:
        for name in args.only:
            section, key, markdown, problems = asyncio.run(RUNNERS[name](args, workroot, progress))
            section.update(stamp)
            print(markdown(section) + "\n", flush=True)
            if path is not None:
                report.save(path, key, section)
                progress(f"figures stored in {path} under {key!r}")
            failed += problems
    finally:
        if args.keep:
            progress(f"working folders kept in {workroot}")
        else:
            shutil.rmtree(workroot, ignore_errors=True)

    for line in failed:
        print("PROBLEM " + line, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
