"""What every measurement needs: the Bot API test server and a bot running as a process.

`BenchServer` is the test server from tests/botapi.py with cheap per-chat wake-ups (its own
wait helpers wake every waiter on every API call: with 200 students and a few hundred calls a
second that is tens of thousands of wake-ups a second in the load generator). `BotProcess`
starts Labelgram or the bare bot against it, reads its CPU time and peak memory from /proc,
and stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests.botapi import BotApiServer, ChatMessage, FakeUser

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:BENCH-labelgram-token"  # noqa: S105 - the test server's fake token
TOKEN_ENV = "BENCH_BOT_TOKEN"  # noqa: S105 - a variable name
ADMIN_ID = 1_000_001
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0

T = TypeVar("T")


class BenchServer(BotApiServer):
    """The Bot API test server; `wait_chat` wakes only the waiters of the chat that changed."""

    def __init__(self, **kwargs: Any) -> None:
        if not callable(getattr(BotApiServer, "_touch", None)):
            raise RuntimeError("tests/botapi.py changed: BenchServer needs its _touch(msg) hook")
        super().__init__(token=TOKEN, **kwargs)
        self._chat_waiters: defaultdict[int, list[asyncio.Future[None]]] = defaultdict(list)

    def _touch(self, msg: ChatMessage) -> None:
        # Called by the server for every new, edited or deleted message.
        super()._touch(msg)
        if msg.from_bot:
            for fut in self._chat_waiters.pop(msg.chat_id, ()):
                if not fut.done():
                    fut.set_result(None)

    async def wait_chat(
        self, chat_id: int, predicate: Callable[[], T | None], seconds: float
    ) -> T:
        """Wait until `predicate()` is truthy, re-checked when a bot message of this chat
        changes; raises TimeoutError."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(seconds):
            while True:
                result = predicate()
                if result:
                    return result
                fut: asyncio.Future[None] = loop.create_future()
                self._chat_waiters[chat_id].append(fut)
                await fut

    async def reply_to(self, user: FakeUser, after: int, seconds: float) -> ChatMessage:
        """The first bot message in the chat newer than message id `after`."""

        def find() -> ChatMessage | None:
            found = None
            for msg in reversed(self.chat(user)):
                if msg.message_id <= after:
                    break
                if msg.from_bot and not msg.deleted:
                    found = msg
            return found

        return await self.wait_chat(user.id, find, seconds)

    async def edited(
        self, user: FakeUser, message: ChatMessage, edits_before: int, seconds: float
    ) -> ChatMessage:
        """Wait until `message` has been edited more than `edits_before` times."""
        return await self.wait_chat(
            user.id, lambda: message if message.edit_count > edits_before else None, seconds
        )


async def upload_tasks(
    server: BotApiServer,
    admin: FakeUser,
    file_name: str,
    data: bytes,
    caption: str,
    seconds: float = 120,
) -> str:
    """Send a file as the admin and wait for the final import report; returns its text."""
    sent = await server.send_document(admin, file_name, data, caption=caption)
    status = await server.wait_for_message(admin, after=sent, timeout=seconds)
    done = await server.wait_until(
        lambda: (
            (m := server.message(admin, status.message_id))
            and not m.content.startswith("⏳")
            and m
        ),
        timeout=seconds,
        user=admin,
        description="the import to finish",
    )
    return done.content


# --------------------------------------------------------------------------------------------
# Bot processes
# --------------------------------------------------------------------------------------------

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def system_busy_seconds() -> float | None:
    """CPU time all processes on the machine have used (all cores, Linux /proc/stat), so a
    measurement can tell how much of the machine something else took."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(f) for f in fields]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / _CLK_TCK


@dataclass
class ProcessReport:
    """What a bot process left behind once stopped."""

    peak_rss_mb: float | None
    exit_code: int | None
    tracebacks: int
    error_lines: int
    log_tail: str


class BotProcess:
    """One bot as a child process, logging to a file; always stop() it (in a finally)."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], log_path: Path, cwd: Path = ROOT
    ) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
            argv,
            cwd=cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self._peak_rss_mb: float | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def wait_ready(self, server: BotApiServer, seconds: float = READY_TIMEOUT) -> None:
        """Wait until the bot's start-up is done: python-telegram-bot deletes any webhook
        just before its first getUpdates (which the server logs only when it returns)."""
        deadline = time.monotonic() + seconds
        while not (server.calls("deleteWebhook") or server.calls("getUpdates")):
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode} at start-up:\n"
                    + self.log_tail()
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.name} did not start polling within {seconds} s:\n" + self.log_tail()
                )
            await asyncio.sleep(0.05)

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the process so far (Linux /proc only)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK

    def peak_rss_mb(self) -> float | None:
        """VmHWM (peak resident set size) in MiB, while the process is alive."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return self._peak_rss_mb
        match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        if match:
            self._peak_rss_mb = int(match.group(1)) / 1024
        return self._peak_rss_mb

    def rss_mb(self) -> float | None:
        """VmRSS (resident set size now) in MiB, while the process is alive."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        return int(match.group(1)) / 1024 if match else None

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    async def stop(self) -> ProcessReport:
        """Read peak memory, then SIGTERM (SIGKILL if it hangs) and collect the log.

        Asynchronous because the bot talks to the server on this event loop while it stops.
        """
        peak = self.peak_rss_mb()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(self.proc.wait, STOP_TIMEOUT)
        self.kill()
        text = self.log_path.read_text(errors="replace")
        return ProcessReport(
            peak_rss_mb=peak,
            exit_code=self.proc.returncode,
            tracebacks=text.count("Traceback (most recent call last)"),
            error_lines=len(re.findall(r"^.*\b(ERROR|CRITICAL)\b", text, re.MULTILINE)),
            log_tail="\n".join(text.splitlines()[-40:]),
        )

    def kill(self) -> None:
        """Last resort for a finally block: make sure nothing is left running."""
        if self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
        if not self._log.closed:
            self._log.close()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABELGRAM_")}
    env[TOKEN_ENV] = TOKEN
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_labelgram(
    server: BotApiServer, workdir: Path, app: Path = ROOT, extra_config: str = ""
) -> BotProcess:
    """The real bot: `python -m bot --config <workdir>/config.toml`, database in workdir.

    `app` is the checkout whose code runs (it is the working directory, so its `bot` package
    is imported), e.g. an unpacked `git archive` to compare two versions. `extra_config` is
    TOML appended to the config (more tables, e.g. "[notifications]\nsend_per_second = 30\n").
    """
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.toml"
    config.write_text(
        "[bot]\n"
        f'token_env = "{TOKEN_ENV}"\n'
        # The simulated students register with a bare /start.
        'access = "open"\n'
        f"admin_ids = [{ADMIN_ID}]\n"
        'admin_ids_env = ""\n'
        "[database]\n"
        'path = "labelgram.db"\n'
        "[telegram]\n"
        f'api_base_url = "{server.base_url}"\n'
        f'file_base_url = "{server.base_file_url}"\n'
        # LABELGRAM_BENCH_TRANSPORT=aiohttp measures the bot on bot/transport.py.
        f'transport = "{os.environ.get("LABELGRAM_BENCH_TRANSPORT", "httpx")}"\n' + extra_config,
        encoding="utf-8",
    )
    argv = [sys.executable, "-m", "bot", "--config", str(config)]
    return BotProcess("labelgram", argv, _env(), workdir / "labelgram.log", cwd=app)


def start_bare(server: BotApiServer, workdir: Path, app: Path = ROOT) -> BotProcess:
    """The baseline: bench/bare_bot.py (from this checkout whatever `app` is)."""
    workdir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "bench.bare_bot", server.base_url, server.base_file_url]
    return BotProcess("bare", argv, _env(), workdir / "bare.log")


# --------------------------------------------------------------------------------------------
# Databases built with plain sqlite3 (the real schema, for measurements without the bot)
# --------------------------------------------------------------------------------------------

# What db.connection.Database.open sets on the bot's connection.
APP_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 5000",
    "PRAGMA temp_store = MEMORY",
)


def fresh_db(path: Path) -> sqlite3.Connection:
    """A new database file migrated with db.migrations.MIGRATIONS (its user_version set, so
    the bot's Database.open finds nothing to do), with the bot's pragmas, in autocommit mode
    (explicit BEGIN … COMMIT)."""
    from db.migrations import MIGRATIONS

    if path.exists():
        raise FileExistsError(path)
    con = sqlite3.connect(path, isolation_level=None)
    for pragma in APP_PRAGMAS:
        con.execute(pragma)
    for script in MIGRATIONS:
        con.executescript(script)
    con.execute("PRAGMA user_version = " + str(len(MIGRATIONS)))
    return con


def raw_project(
    con: sqlite3.Connection,
    name: str,
    *,
    overlap: int,
    price: int = 0,
    created_at: str = "2026-11-01T00:00:00.000+00:00",
) -> tuple[int, int]:
    """A label project with options a, b, c and its upload row; (project id, upload id)."""
    project_id = con.execute(
        "INSERT INTO projects (name, type, options, price, overlap, lease_seconds, created_by,"
        ' created_at) VALUES (?, \'label\', \'["a", "b", "c"]\', ?, ?, 600, ?, ?)',
        (name, price, overlap, ADMIN_ID, created_at),
    ).lastrowid
    upload_id = con.execute(
        "INSERT INTO uploads (project_id, admin_id, file_name, checksum, format, rows_added,"
        " rows_skipped, created_at) VALUES (?, ?, 'bench.csv', '', 'csv', 0, 0, ?)",
        (project_id, ADMIN_ID, created_at),
    ).lastrowid
    assert project_id is not None
    assert upload_id is not None
    return project_id, upload_id


# --------------------------------------------------------------------------------------------
# Profiling
# --------------------------------------------------------------------------------------------


def start_py_spy(
    pid: int, seconds: float, out_dir: Path | None, name: str
) -> subprocess.Popen[bytes] | None:
    """Sample a bot with py-spy (if `out_dir` is given) for `seconds`, into collapsed stacks
    `<out_dir>/<name>.txt` (one line per stack with its sample count)."""
    if out_dir is None:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    exe = Path(sys.executable).parent / "py-spy"
    argv = [
        str(exe if exe.exists() else "py-spy"),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        "250",
        "--nonblocking",
        "--gil",
        "--format",
        "raw",
        "--output",
        str(out_dir / f"{name}.txt"),
    ]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603


async def wait_process(proc: subprocess.Popen[bytes] | None, seconds: float = 30) -> None:
    """Wait for a helper process without blocking the event loop; kill it if it hangs."""
    if proc is None:
        return
    try:
        await asyncio.to_thread(proc.wait, seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
