"""Where a bot's CPU time goes, from py-spy's collapsed stacks (`bench.run --py-spy DIR`).

    .venv/bin/python -m bench.profile /tmp/prof/labelgram-run1.txt [--ms-per-tap 9.5]

Prints the share of samples by the code that was running (the innermost frame's package) and
the busiest functions. Only innermost frames are used: py-spy's --nonblocking samples often
lose the outer part of an asyncio stack. bench.run samples with --gil, so only time holding
the GIL counts (the event loop's Python work; SQLite's C code in aiosqlite's thread runs
without it). With --ms-per-tap (the bot's CPU ms per tap in that run) shares become ms.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

from bench.report import md_table

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]*)(?::\d+)?\)$")

# Innermost frame's file → who spends the time (first match wins).
PACKAGES = (
    ("telegram/request", "PTB request layer"),
    ("telegram/", "PTB (objects, Bot, Application)"),
    ("httpx/", "httpx"),
    ("httpcore/", "httpcore"),
    ("h11/", "h11 (HTTP/1.1 parsing)"),
    ("anyio/", "anyio"),
    ("aiosqlite/", "aiosqlite"),
    ("sqlite3/", "sqlite3"),
    ("asyncio/", "asyncio event loop"),
    ("selectors", "asyncio event loop"),
    ("json/", "json"),
    ("logging/", "logging"),
    ("apscheduler/", "apscheduler"),
    ("bot/", "Labelgram bot/"),
    ("handlers/", "Labelgram handlers/"),
    ("db/", "Labelgram db/"),
    ("bench/", "bare bot"),
)


def read_stacks(path: Path) -> Counter[tuple[str, ...]]:
    """`frame;frame;… count` lines → {stack (outermost first): samples}."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def package(frame: str) -> str:
    match = _FRAME.match(frame)
    where = match.group("file") if match else frame
    for prefix, name in PACKAGES:
        if prefix in where or where.startswith(prefix.rstrip("/")):
            return name
    if "<frozen" in where or "importlib" in where:
        return "imports"
    return "other"


def summary(
    stacks: Counter[tuple[str, ...]], ms_per_tap: float | None = None, top: int = 15
) -> str:
    total = sum(stacks.values())
    by_package: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    for stack, count in stacks.items():
        by_package[package(stack[-1])] += count
        by_function[stack[-1]] += count

    def table(title: str, counts: list[tuple[str, int]]) -> str:
        headers = [title, "share"] + (["ms/tap"] if ms_per_tap else [])
        rows = []
        for name, count in counts:
            share = count / total
            rows.append(
                [name.replace("|", "\\|"), f"{share:.1%}"]
                + ([f"{share * ms_per_tap:.2f}"] if ms_per_tap else [])
            )
        return md_table(headers, rows)

    return "\n\n".join(
        [
            f"{total} samples",
            table("running code (innermost frame)", by_package.most_common()),
            table(f"top {top} functions", by_function.most_common(top)),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.profile",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("stacks", type=Path, nargs="+", help="py-spy --format raw output")
    p.add_argument("--ms-per-tap", type=float, help="the bot's CPU ms per tap in that run")
    p.add_argument("--top", type=int, default=15, help="how many functions to list")
    args = p.parse_args(argv)
    for path in args.stacks:
        print(f"### {path.name}\n\n{summary(read_stacks(path), args.ms_per_tap, args.top)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
