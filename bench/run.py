"""Labelgram's benchmark, one command: `.venv/bin/python -m bench.run [options]`.

Measurements (more will join them, each as a module with its own options and table):

* taps: N students tapping through tasks against the real bot process and against a bare
  python-telegram-bot bot on the same server (bench/taps.py).

Prints a Markdown table and stores the raw figures in bench/results/latest.json, under a key
per measurement and setting, so that a run with `--think 0` keeps the default run's figures.
Exits with 1 if any run had an error or a tap not recorded exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from bench import report, taps
from bench.harness import ROOT

FULL = taps.TapOptions()
QUICK = taps.TapOptions(students=5, think=(0.0, 0.05), warmup=0.5, duration=2.0, tasks=2_000)
TASKS_PER_SECOND = 400  # upload enough tasks for this rate over the whole run


def think_range(text: str) -> tuple[float, float]:
    """"0.5-1.5" (uniform between) or "0" (no think time)."""
    try:
        low, _, high = text.partition("-")
        pair = (float(low), float(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"think time {text!r}: use 0.5-1.5 or 0") from None
    if pair[0] < 0 or pair[1] < pair[0]:
        raise argparse.ArgumentTypeError(f"think time {text!r}: use 0.5-1.5 or 0")
    return pair


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="a few seconds: 5 students, 2 s measured, 1 run (proves it works)")
    p.add_argument("--students", type=int, help=f"simulated students (default {FULL.students})")
    p.add_argument("--think", type=think_range,
                   help="seconds between an edit and the next tap, uniform: 0.5-1.5 (default) "
                        "or 0 for maximum throughput")
    p.add_argument("--duration", type=float, help=f"seconds measured (default {FULL.duration:g})")
    p.add_argument("--warmup", type=float,
                   help=f"seconds of tapping before measuring (default {FULL.warmup:g})")
    p.add_argument("--runs", type=int, help="rounds; medians are reported (default 3)")
    p.add_argument("--tasks", type=int, help="tasks uploaded (default: enough for 400 taps/s)")
    p.add_argument("--bots", default="labelgram,bare",
                   help="which bots to measure, comma-separated (default labelgram,bare)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", type=Path,
                   help="where to store the figures (default bench/results/latest.json; "
                        "--quick stores nothing unless given)")
    p.add_argument("--py-spy", type=Path, metavar="DIR",
                   help="sample each bot with py-spy (pip install py-spy; not a dependency) "
                        "during the measured window into DIR; summarise with "
                        "`python -m bench.profile DIR/*.txt`")
    p.add_argument("--app", type=Path, default=ROOT, metavar="DIR",
                   help="run Labelgram from this checkout, e.g. an unpacked `git archive` "
                        "(default: this one)")
    p.add_argument("--keep", action="store_true",
                   help="keep the working folders (databases, bot logs) and print where")
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
        tasks = base.tasks if args.quick else int(
            (opts.warmup + opts.duration + 10) * TASKS_PER_SECOND + 2 * opts.students)
    runs = args.runs or (1 if args.quick else 3)
    return replace(opts, tasks=tasks), runs


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    opts, runs = tap_options(args)
    bots = [b.strip() for b in args.bots.split(",") if b.strip()]
    unknown = [b for b in bots if b not in taps.FLAVORS]
    if unknown or not bots or runs < 1 or opts.students < 1:
        parser().error(f"bad --bots/--runs/--students ({', '.join(unknown)})")

    workroot = Path(tempfile.mkdtemp(prefix="labelgram-bench-"))
    try:
        section = asyncio.run(taps.measure_runs(
            opts, runs, bots, workroot, progress=lambda line: print(line, file=sys.stderr)))
    finally:
        if args.keep:
            print(f"working folders kept in {workroot}", file=sys.stderr)
        else:
            shutil.rmtree(workroot, ignore_errors=True)

    stamp = report.stamp(argv, opts.app)
    section.update(stamp)
    print(taps.markdown(section))

    path = args.json or (None if args.quick else report.LATEST)
    if path is not None:
        low, high = opts.think
        think = f"{low:g}-{high:g}" if low != high else f"{low:g}"
        key = f"taps/students={opts.students}/think={think}"
        if args.quick:
            key += "/quick"
        report.save(path, key, section)
        print(f"\nfigures stored in {path} under {key!r}", file=sys.stderr)

    failed = [f"{name} run {k}: {run[name]['error_detail']} {run[name]['problems'][:3]}"
              for k, run in enumerate(section["runs"], 1) for name in run
              if run[name]["errors"] or not run[name]["correct"]]
    for line in failed:
        print("PROBLEM " + line, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
