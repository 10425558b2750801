"""Import: 100,000 rows through `/upload`, end to end, against a raw `executemany`.

An admin sends a CSV document with the caption `/upload big options=a,b,c` to the real bot
over the test server; the time runs from sending the document to the final "✅ … tasks
added" report (the bot's getFile and download included). In the same run the same rows go
into a fresh database with the same schema (db.migrations) and pragmas as the bot's by one
plain `sqlite3` `executemany` in one transaction: the floor any import can reach. The ratio
is end to end / raw. Between the two, for where the time goes: the bot's parser alone
(bot.importing.parse_tasks) and the upload service alone (bot.services.uploads.import_file on
a fresh aiosqlite database, no Telegram), both in this process, and the phases seen at the
server (download, then parsing until the first progress edit, then writing until the report).

Memory: the bot's peak RSS (VmHWM) before the document is sent and after the report; a bot
that streams the file stays flat, one that holds it whole grows with the file. To show which,
one more upload of a bigger file (3× the rows by default, as many as fit in Telegram's 20 MB
download limit) in a fresh bot: the growth at both sizes side by side.

Write lock: how long the import's write transaction held the database (taps wait meanwhile),
read from the bot's own log line for the import.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import harness
from bench.harness import ADMIN_ID, BenchServer
from bench.report import fmt, machine_line, md_table
from bench.stats import median_of, ratio
from bench.taps import _PHRASES
from tests.botapi import ChatMessage

PROJECT = "big"
CAPTION = f"/upload {PROJECT} options=a,b,c"
FILE_NAME = "big.csv"
REPORT_TIMEOUT = 600.0
TARGET_ROWS = 100_000  # issue 6: an import of this many rows ≤ 1.5× the raw executemany
MAX_FILE_BYTES = 20 * 1024 * 1024  # Telegram's getFile limit: a bigger file is refused
# The bot's log line for a finished import (bot.services.uploads), with the time the write
# transaction took.
WRITE_LOCK_LOG = re.compile(r"imported \d+ tasks .* in one transaction of ([\d.]+) s")
# The statement db.tasks.insert_many runs, without its ON CONFLICT clause (a fresh project
# has no ids to skip; the UNIQUE index is checked either way).
RAW_INSERT = (
    "INSERT INTO tasks (project_id, external_id, text, payload, gold, needed, upload_id,"
    " explanation) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True)
class ImportOptions:
    rows: int = 100_000
    runs: int = 3
    app: Path = harness.ROOT  # the checkout whose Labelgram runs
    py_spy_dir: Path | None = None  # record the bot with py-spy during each import
    memory_factor: int = 3  # the memory run's file: this many times the rows (0: no such run)


def task_rows(rows: int) -> list[tuple[str, str]]:
    """(id, text) of every row, as the bot should store them."""
    return [(f"t{i}", f"#{i} {_PHRASES[i % len(_PHRASES)]}") for i in range(1, rows + 1)]


def task_csv(rows: list[tuple[str, str]]) -> bytes:
    lines = ["id,text", *(f'{ext},"{text}"' for ext, text in rows)]
    return ("\n".join(lines) + "\n").encode()


def memory_rows(opts: ImportOptions) -> int:
    """Rows in the memory run's file: memory_factor × rows, fewer if the file would be over
    the download limit (a 400,000-row file would be 23 MB)."""
    rows = opts.rows * opts.memory_factor
    while rows > opts.rows and len(task_csv(task_rows(rows))) > MAX_FILE_BYTES:
        rows = rows * 9 // 10 // 1000 * 1000 or rows * 9 // 10
    return rows


# --------------------------------------------------------------------------------------------
# The floor: plain sqlite3
# --------------------------------------------------------------------------------------------


def raw_executemany(path: Path, rows: list[tuple[str, str]]) -> float:
    """Seconds to insert the rows into a fresh, migrated database in one transaction
    (BEGIN … executemany … COMMIT), the parameters built beforehand."""
    con = harness.fresh_db(path)
    try:
        project_id, upload_id = harness.raw_project(con, PROJECT, overlap=1)
        params = [(project_id, ext, text, "{}", None, 1, upload_id, None) for ext, text in rows]
        start = time.perf_counter()
        con.execute("BEGIN IMMEDIATE")
        con.executemany(RAW_INSERT, params)
        con.execute("COMMIT")
        seconds = time.perf_counter() - start
        (stored,) = con.execute("SELECT COUNT(*) FROM tasks").fetchone()
    finally:
        con.close()
    if stored != len(rows):
        raise RuntimeError(f"raw executemany stored {stored} of {len(rows)} rows")
    return seconds


# --------------------------------------------------------------------------------------------
# The bot's own layers, in this process
# --------------------------------------------------------------------------------------------


def parse_seconds(data: bytes) -> float:
    from bot.importing import parse_tasks

    start = time.perf_counter()
    parsed = parse_tasks(data, FILE_NAME)
    seconds = time.perf_counter() - start
    if parsed.errors:
        raise RuntimeError(f"the parser rejected the file: {parsed.errors[:3]}")
    return seconds


async def service_seconds(path: Path, data: bytes, rows: int) -> float:
    """bot.services.uploads.import_file on a fresh database (aiosqlite, the bot's pragmas)."""
    from bot.config import Labeling
    from bot.services import uploads
    from db.connection import Database

    request = uploads.parse_caption(CAPTION)
    assert isinstance(request, uploads.UploadRequest)
    db = await Database.open(path)
    try:
        start = time.perf_counter()
        done = await uploads.import_file(
            db,
            admin_id=ADMIN_ID,
            request=request,
            file_name=FILE_NAME,
            data=data,
            now=datetime.now(UTC),
            defaults=Labeling(),
            minor_units=2,
        )
        seconds = time.perf_counter() - start
    finally:
        await db.close()
    if not isinstance(done, uploads.ImportDone) or done.added != rows:
        raise RuntimeError(f"import_file did not add {rows} tasks: {done!r}")
    return seconds


# --------------------------------------------------------------------------------------------
# End to end: the bot process over the test server
# --------------------------------------------------------------------------------------------


class ImportServer(BenchServer):
    """Remembers when each bot message in the admin's chat was sent or edited, and how."""

    def __init__(self) -> None:
        super().__init__()
        self.admin_events: list[tuple[float, int, str]] = []  # (time, message id, text)

    def _touch(self, msg: ChatMessage) -> None:
        super()._touch(msg)
        if msg.from_bot and msg.chat_id == ADMIN_ID:
            self.admin_events.append((time.monotonic(), msg.message_id, msg.content))


def _first_call(server: BenchServer, method: str) -> float | None:
    calls = server.calls(method)
    return calls[0].time if calls else None


async def upload_run(opts: ImportOptions, data: bytes, workdir: Path, tag: str) -> dict[str, Any]:
    """Start the bot, send the document, wait for the report, stop; times and memory."""
    async with ImportServer() as server:
        bot = harness.start_labelgram(server, workdir, opts.app)
        profiler: subprocess.Popen[bytes] | None = None
        try:
            await bot.wait_ready(server)
            admin = server.add_user(ADMIN_ID, "Admin", language_code="en")
            await asyncio.sleep(0.5)  # let start-up's own calls finish
            peak_before, rss_before = bot.peak_rss_mb(), bot.rss_mb()
            cpu_before = bot.cpu_seconds()
            profiler = harness.start_py_spy(
                bot.pid, REPORT_TIMEOUT, opts.py_spy_dir, f"import{tag}"
            )
            sent_at = time.monotonic()
            sent = await server.send_document(admin, FILE_NAME, data, caption=CAPTION)

            def final() -> ChatMessage | None:
                for msg in server.chat(admin):
                    if (
                        msg.message_id > sent.message_id
                        and msg.from_bot
                        and not msg.content.startswith("⏳")
                    ):
                        return msg
                return None

            report_msg = await server.wait_chat(ADMIN_ID, final, REPORT_TIMEOUT)
            done_at = next(
                at
                for at, mid, text in server.admin_events
                if mid == report_msg.message_id and not text.startswith("⏳")
            )
            cpu_after = bot.cpu_seconds()
            peak_after, rss_after = bot.peak_rss_mb(), bot.rss_mb()
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)  # py-spy writes its file when stopped
                await harness.wait_process(profiler)
            report = await bot.stop()
            log_text = await asyncio.to_thread(bot.log_path.read_text, errors="replace")
        finally:
            if profiler is not None and profiler.poll() is None:
                profiler.kill()
            bot.kill()
        download_at = _first_call(server, "downloadFile")
        get_file_at = _first_call(server, "getFile")
        progress = [
            at
            for at, mid, text in server.admin_events
            if mid == report_msg.message_id and text.startswith("⏳") and " of " in text
        ]
        api_errors = len(server.errors)

    seconds = done_at - sent_at
    lock = WRITE_LOCK_LOG.search(log_text)
    phases = {
        # update fetched, "⏳ Importing" sent, getFile asked
        "until_get_file_s": _round(get_file_at - sent_at if get_file_at else None),
        "download_s": _round(download_at - get_file_at if download_at and get_file_at else None),
        # parse the whole file + write the first batch, until the first progress edit
        "until_first_progress_s": _round(
            progress[0] - download_at if progress and download_at else None
        ),
        "after_first_progress_s": _round(done_at - progress[0] if progress else None),
    }
    return {
        "seconds": round(seconds, 3),
        "report": report_msg.content.splitlines()[0],
        "bot_cpu_s": (
            None if cpu_before is None or cpu_after is None else round(cpu_after - cpu_before, 2)
        ),
        "peak_rss_before_mb": _round(peak_before, 1),
        "peak_rss_after_mb": _round(peak_after, 1),
        "rss_before_mb": _round(rss_before, 1),
        "rss_after_mb": _round(rss_after, 1),
        "peak_rss_growth_mb": (
            None
            if peak_before is None or peak_after is None
            else round(peak_after - peak_before, 1)
        ),
        "write_lock_s": float(lock.group(1)) if lock else None,
        **phases,
        "progress_edits": len(progress),
        "api_errors": api_errors,
        "bot_log_errors": max(report.tracebacks, report.error_lines),
        "log_tail": report.log_tail if report.tracebacks or report.error_lines else "",
    }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def verify_bot_db(workdir: Path, rows: list[tuple[str, str]]) -> list[str]:
    """Every row of the file is in the bot's database exactly once, as sent, in file order."""
    con = sqlite3.connect(f"file:{workdir / 'labelgram.db'}?mode=ro", uri=True)
    try:
        stored = con.execute(
            "SELECT t.external_id, t.text FROM tasks t JOIN projects p ON p.id = t.project_id"
            " WHERE p.name = ? ORDER BY t.id",
            (PROJECT,),
        ).fetchall()
        counts = con.execute(
            "SELECT u.rows_added, u.rows_skipped FROM uploads u JOIN projects p"
            " ON p.id = u.project_id WHERE p.name = ?",
            (PROJECT,),
        ).fetchall()
    finally:
        con.close()
    problems = []
    if len(stored) != len(rows):
        problems.append(f"{len(stored)} tasks in the database for {len(rows)} rows")
    if len({ext for ext, _ in stored}) != len(stored):
        problems.append("an id is in the database twice")
    if stored != rows:
        wrong = sum(a != b for a, b in zip(stored, rows, strict=False))
        problems.append(f"{wrong} rows differ from the file (or are out of order)")
    if counts != [(len(rows), 0)]:
        problems.append(f"upload counts {counts}, expected [({len(rows)}, 0)]")
    return problems


# --------------------------------------------------------------------------------------------
# Runs, medians, the table
# --------------------------------------------------------------------------------------------


async def measure_runs(
    opts: ImportOptions, workroot: Path, progress: Callable[[str], None] = print
) -> dict[str, Any]:
    rows = task_rows(opts.rows)
    data = task_csv(rows)
    runs: list[dict[str, Any]] = []
    for k in range(1, opts.runs + 1):
        workdir = workroot / f"import-run{k}"
        await asyncio.to_thread(workdir.mkdir, parents=True)
        run = {
            "raw_s": round(raw_executemany(workdir / "raw.db", rows), 3),
            "parse_s": round(parse_seconds(data), 3),
            "service_s": round(await service_seconds(workdir / "service.db", data, opts.rows), 3),
        }
        run.update(await upload_run(opts, data, workdir / "bot", f"-run{k}"))
        problems = verify_bot_db(workdir / "bot", rows)
        if run["api_errors"] or run["bot_log_errors"]:
            problems.append(
                f"{run['api_errors']} API errors, {run['bot_log_errors']} bot log "
                f"errors {run['log_tail']}"
            )
        if f"{opts.rows} tasks added" not in run["report"]:
            problems.append(f"the report does not say {opts.rows} tasks added: {run['report']}")
        run["ratio"] = ratio(run["seconds"], run["raw_s"])
        run["correct"] = not problems
        run["problems"] = problems
        runs.append(run)
        progress(
            f"import run {k}/{opts.runs}: end to end {run['seconds']} s, raw "
            f"{run['raw_s']} s ({run['ratio']}×), peak RSS {run['peak_rss_before_mb']} → "
            f"{run['peak_rss_after_mb']} MiB, write lock {run['write_lock_s']} s"
            + ("" if not problems else ", INCORRECT")
        )
    numeric = [
        {k: v for k, v in r.items() if k not in ("problems", "log_tail", "report")} for r in runs
    ]
    med = median_of(numeric)
    med["ratio"] = ratio(med["seconds"], med["raw_s"])  # of the medians
    options = {
        **asdict(opts),
        "app": str(opts.app),
        "file_mb": round(len(data) / 2**20, 2),
        "py_spy_dir": None if opts.py_spy_dir is None else str(opts.py_spy_dir),
    }
    memory = [_memory_size(opts.rows, len(data), med)]
    correct = all(r["correct"] for r in runs)
    if opts.memory_factor > 1:
        big_run = await memory_run(opts, workroot / "import-memory", progress)
        memory.append(big_run)
        correct = correct and big_run["correct"]
    return {"options": options, "runs": runs, "median": med, "memory": memory, "correct": correct}


def _memory_size(rows: int, size: int, run: dict[str, Any]) -> dict[str, Any]:
    return {
        "rows": rows,
        "file_mb": round(size / 2**20, 2),
        "peak_rss_before_mb": run["peak_rss_before_mb"],
        "peak_rss_after_mb": run["peak_rss_after_mb"],
        "peak_rss_growth_mb": run["peak_rss_growth_mb"],
        "seconds": run["seconds"],
        "write_lock_s": run["write_lock_s"],
    }


async def memory_run(
    opts: ImportOptions, workdir: Path, progress: Callable[[str], None] = print
) -> dict[str, Any]:
    """One upload of the bigger file in a fresh bot: its peak RSS growth (and times)."""
    rows = task_rows(memory_rows(opts))
    data = task_csv(rows)
    await asyncio.to_thread(workdir.mkdir, parents=True)
    run = await upload_run(replace(opts, py_spy_dir=None), data, workdir / "bot", "-memory")
    problems = verify_bot_db(workdir / "bot", rows)
    if run["api_errors"] or run["bot_log_errors"]:
        problems.append(
            f"{run['api_errors']} API errors, {run['bot_log_errors']} bot log "
            f"errors {run['log_tail']}"
        )
    result = {
        **_memory_size(len(rows), len(data), run),
        "correct": not problems,
        "problems": problems,
    }
    progress(
        f"import memory run: {len(rows):,} rows, end to end {run['seconds']} s, peak RSS "
        f"{run['peak_rss_before_mb']} → {run['peak_rss_after_mb']} MiB, write lock "
        f"{run['write_lock_s']} s" + ("" if not problems else ", INCORRECT")
    )
    return result


def markdown(section: dict[str, Any]) -> str:
    o, m = section["options"], section["median"]
    runs = o["runs"]
    version = f" Labelgram {section['app_version']}." if section.get("app_version") else ""
    title = (
        f"**Import**: {o['rows']:,} rows ({o['file_mb']:g} MiB CSV) by `/upload`, "
        + (f"median of {runs} runs" if runs > 1 else "1 run")
        + f".{version} {machine_line(section['machine'])}. `{section['command']}`"
    )
    growth = (
        None
        if m["peak_rss_after_mb"] is None or m["peak_rss_before_mb"] is None
        else round(m["peak_rss_after_mb"] - m["peak_rss_before_mb"], 1)
    )
    rows = [
        ["raw `sqlite3` executemany (same rows, schema, pragmas)", fmt(m["raw_s"]), "1.00×"],
        [
            "the bot's parser alone (`parse_tasks`)",
            fmt(m["parse_s"]),
            fmt(ratio(m["parse_s"], m["raw_s"]), "×"),
        ],
        [
            "the upload service alone (`import_file`, no Telegram)",
            fmt(m["service_s"]),
            fmt(ratio(m["service_s"], m["raw_s"]), "×"),
        ],
        [
            '**end to end**: document sent → "✅ … tasks added"',
            fmt(m["seconds"]),
            "**" + fmt(m["ratio"], "×") + "**",
        ],
    ]
    table = md_table(["import of the same rows", "seconds", "× raw"], rows)
    phases = md_table(
        ["end to end, seen at the server", "seconds"],
        [
            ["update fetched, status sent, getFile", fmt(m["until_get_file_s"])],
            ["file download", fmt(m["download_s"])],
            [
                "parse + first batch written (until the first progress edit)",
                fmt(m["until_first_progress_s"]),
            ],
            ["rest of the writing, until the report", fmt(m["after_first_progress_s"])],
            ["bot CPU during the import", fmt(m["bot_cpu_s"])],
        ],
    )
    memory = md_table(
        ["bot memory", "before", "after", "growth"],
        [
            [
                "peak RSS (VmHWM), MiB",
                fmt(m["peak_rss_before_mb"]),
                fmt(m["peak_rss_after_mb"]),
                fmt(growth),
            ],
            [
                "RSS now, MiB",
                fmt(m["rss_before_mb"]),
                fmt(m["rss_after_mb"]),
                fmt(
                    None
                    if m["rss_after_mb"] is None or m["rss_before_mb"] is None
                    else round(m["rss_after_mb"] - m["rss_before_mb"], 1)
                ),
            ],
        ],
    )
    sizes = md_table(
        ["file", "MiB", "peak RSS growth, MiB", "end to end, s", "write lock held, s"],
        [
            [
                f"{size['rows']:,} rows",
                fmt(size["file_mb"]),
                fmt(size["peak_rss_growth_mb"]),
                fmt(size["seconds"]),
                fmt(size.get("write_lock_s")),
            ]
            for size in section.get("memory", [])
        ],
    )
    correct = section["correct"]
    big_problems = [p for size in section.get("memory", []) for p in size.get("problems", [])]
    note = (
        f"Correctness: {'OK' if correct else 'FAILED'}: every row in the bot's database "
        "exactly once, as sent, in file order; upload counts match."
        + (
            ""
            if correct
            else " "
            + "; ".join([p for r in section["runs"] for p in r["problems"]] + big_problems)
        )
    )
    verdict = "met" if m["ratio"] is not None and m["ratio"] <= 1.5 else "not met"
    if o["rows"] != TARGET_ROWS:
        verdict += f" (the target is for {TARGET_ROWS:,} rows)"
    target = (
        f"Target ≤ 1.5× raw: {fmt(m['ratio'], '×')} — {verdict}. Peak RSS grows "
        f"{fmt(growth)} MiB for a {o['file_mb']:g} MiB file."
    )
    lock = (
        f" The write transaction (taps wait for it) held the database "
        f"{fmt(m.get('write_lock_s'))} s."
    )
    return "\n".join(
        [
            title,
            "",
            table,
            "",
            phases,
            "",
            memory,
            "",
            "Memory by file size (each size in a fresh bot; the first row is the "
            "median run above):",
            "",
            sizes,
            "",
            target + lock,
            note,
        ]
    )


def key(opts: ImportOptions, quick: bool) -> str:
    return f"import/rows={opts.rows}" + ("/quick" if quick else "")
