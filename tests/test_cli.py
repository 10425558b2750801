"""`labelgram check`, `labelgram backup` and `labelgram restore`, run as the command runs.

getMe is real HTTP against the Bot API test server; `bot.cli.main` runs in a thread (it
starts its own event loop) or as a subprocess, while the test's loop serves the API or
writes to the database.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import sys
from pathlib import Path

import pytest

from bot.cli import main
from db.connection import Database
from db.migrations import MIGRATIONS
from tests.botapi import BotApiServer
from tests.conftest import TOKEN
from tests.e2e import spawn_bot

SECRET = TOKEN.partition(":")[2]
LATEST = len(MIGRATIONS)


def write_config(
    tmp_path: Path, api_base_url: str, *, token: str = TOKEN, extra: str = ""
) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        "[bot]\n"
        f'token = "{token}"\n'
        "admin_ids = [1]\n"
        "[telegram]\n"
        f'api_base_url = "{api_base_url}"\n' + extra,
        encoding="utf-8",
    )
    return path


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run `labelgram argv…` in a thread; return its exit status, stdout and stderr."""
    code = await asyncio.to_thread(main, list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def old_database(path: Path) -> None:
    """A database as the first release left it: only migration 1 applied."""
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def worker_ids(path: Path) -> list[int]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return [row[0] for row in conn.execute("SELECT id FROM workers ORDER BY id")]
    finally:
        conn.close()


async def add_workers(db: Database, ids: range, padding: int = 0) -> None:
    async with db.transaction() as tx:
        await tx.executemany(
            "INSERT INTO workers (id, first_name, language, timezone, joined_at)"
            " VALUES (?, ?, 'en', 'UTC', '2026-11-27T12:00:00+00:00')",
            [(i, "x" * padding) for i in ids],
        )


# ---------------------------------------------------------------- check


async def test_check_passes_on_a_good_config_as_a_real_process(tmp_path: Path) -> None:
    async with BotApiServer(token=TOKEN) as server:
        config = write_config(tmp_path, server.base_url)
        db = await Database.open(tmp_path / "labelgram.db")
        await db.close()
        proc = await spawn_bot("check", "--config", str(config), stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    stdout, stderr = out.decode(), err.decode()
    assert proc.returncode == 0, stdout + stderr
    assert stderr == ""
    assert "@labelgram_test_bot" in stdout
    assert f"schema {LATEST} of {LATEST}, up to date" in stdout
    assert "123456:***" in stdout
    assert TOKEN not in stdout and SECRET not in stdout
    assert stdout.rstrip().endswith("check: all good")


async def test_check_never_creates_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with BotApiServer(token=TOKEN) as server:
        config = write_config(tmp_path, server.base_url)
        code, out, err = await cli(capsys, "check", "--config", str(config))
    assert code == 0, out + err
    assert "not created yet" in out
    assert not (tmp_path / "labelgram.db").exists()


async def test_check_names_every_broken_key_and_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path,
        "ftp://nowhere",
        extra='[locale]\ndefault_timezone = "Mars/Base"\n[labeling]\noverlap = 0\n',
    )
    code, out, err = await cli(capsys, "--config", str(config), "check")
    assert code == 2
    lines = err.splitlines()
    for key in ("telegram.api_base_url", "locale.default_timezone", "labeling.overlap"):
        assert sum(key in line for line in lines) == 1, err
    assert all(line.startswith("labelgram: ") for line in lines)
    assert "3 problems" in lines[-1]
    assert "@" not in out  # nothing else was checked
    assert TOKEN not in out + err


async def test_check_reports_pending_migrations_and_leaves_them_pending(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old_database(tmp_path / "labelgram.db")
    async with BotApiServer(token=TOKEN) as server:
        config = write_config(tmp_path, server.base_url)
        code, out, err = await cli(capsys, "check", "--config", str(config))
    assert code == 0, out + err
    pending = LATEST - 1
    assert f"schema 1 of {LATEST}, {pending} migration" in out
    assert "pending (run the bot to apply them)" in out
    assert user_version(tmp_path / "labelgram.db") == 1


async def test_check_refuses_a_database_newer_than_the_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conn = sqlite3.connect(tmp_path / "labelgram.db")
    conn.execute("PRAGMA user_version = " + str(LATEST + 1))
    conn.close()
    async with BotApiServer(token=TOKEN) as server:
        config = write_config(tmp_path, server.base_url)
        code, out, err = await cli(capsys, "check", "--config", str(config))
    assert code == 1
    assert "newer than this code" in err and "refuse" in err
    assert "@labelgram_test_bot" in out  # the other checks still ran


async def test_check_reports_an_unreadable_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "labelgram.db").write_bytes(b"not a database at all " * 100)
    async with BotApiServer(token=TOKEN) as server:
        config = write_config(tmp_path, server.base_url)
        code, _, err = await cli(capsys, "check", "--config", str(config))
    assert code == 1
    assert "labelgram.db cannot be read" in err


async def test_check_tells_a_refused_token_from_an_unreachable_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "123456:WRONG-token-for-this-server"
    async with BotApiServer(token=TOKEN) as server:
        config = write_config(tmp_path, server.base_url, token=wrong)
        refused = await cli(capsys, "check", "--config", str(config))
    config = write_config(tmp_path, f"http://127.0.0.1:{closed_port()}/bot")
    unreachable = await cli(capsys, "check", "--config", str(config), "--timeout", "3")

    assert refused[0] == 1 and unreachable[0] == 1
    assert "Telegram refused the token" in refused[2]
    assert "cannot reach" not in refused[2]
    assert "cannot reach api_base_url http://127.0.0.1:" in unreachable[2]
    assert "refused the token" not in unreachable[2]
    for token, (_, out, err) in ((wrong, refused), (TOKEN, unreachable)):
        assert token not in out + err
        assert token.partition(":")[2] not in out + err


# ---------------------------------------------------------------- backup and restore


async def test_backup_while_writing_keeps_every_row_committed_before_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:1/bot")
    db = await Database.open(tmp_path / "labelgram.db")
    await add_workers(db, range(1, 5001), padding=400)  # a few MB, so the copy takes a while
    committed = 5000
    stop, tick = asyncio.Event(), asyncio.Event()

    async def writer() -> None:
        nonlocal committed
        while not stop.is_set():
            await add_workers(db, range(committed + 1, committed + 2))
            committed += 1
            tick.set()

    async def until(count: int) -> None:
        while committed < count:
            tick.clear()
            await tick.wait()

    task = asyncio.create_task(writer())
    try:
        await until(5050)  # the writer is going
        before = committed
        code, out, err = await cli(
            capsys, "backup", str(tmp_path / "copy.db"), "--config", str(config)
        )
        after = committed
        await until(after + 20)  # and carries on after the backup
    finally:
        stop.set()
        await task
        await db.close()

    assert code == 0, out + err
    assert after > before, (before, after)  # rows were written during the backup
    assert f"schema {LATEST} of {LATEST}, integrity ok" in out
    ids = worker_ids(tmp_path / "copy.db")
    # A consistent snapshot: every row committed before the backup started, and a gap-free
    # prefix of the writes that went on during it.
    assert ids == list(range(1, len(ids) + 1))
    assert before <= len(ids) <= after, (before, len(ids), after)
    assert user_version(tmp_path / "copy.db") == LATEST
    assert not (tmp_path / "copy.db-wal").exists()  # one self-contained file
    assert [name for name in listing(tmp_path) if name.endswith(".partial")] == []


async def test_backup_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:1/bot")
    db = await Database.open(tmp_path / "labelgram.db")
    await add_workers(db, range(1, 4))
    await db.close()
    target = tmp_path / "copy.db"
    target.write_bytes(b"precious")

    code, _, err = await cli(capsys, "backup", str(target), "--config", str(config))
    assert code == 1
    assert "refusing to overwrite" in err and "--force" in err
    assert target.read_bytes() == b"precious"

    code, out, err = await cli(capsys, "backup", str(target), "--force", "--config", str(config))
    assert code == 0, out + err
    assert worker_ids(target) == [1, 2, 3]

    missing = await cli(
        capsys, "backup", str(tmp_path / "nowhere" / "x.db"), "--config", str(config)
    )
    assert missing[0] == 1 and "does not exist" in missing[2]


WRITE_AND_DIE = """
import os, sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.execute("PRAGMA journal_mode = WAL")
conn.execute("PRAGMA wal_autocheckpoint = 0")
conn.executemany(
    "INSERT INTO workers (id, language, timezone, joined_at)"
    " VALUES (?, 'en', 'UTC', '2026-11-27T12:00:00+00:00')",
    [(i,) for i in range(int(sys.argv[2]), int(sys.argv[3]))],
)
conn.commit()
os._exit(0)
"""

HOLD_OPEN = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.execute("PRAGMA journal_mode = WAL")
conn.execute("SELECT count(*) FROM workers").fetchone()
print("ready", flush=True)
sys.stdin.readline()
"""


async def write_without_closing(path: Path, ids: range) -> None:
    """Rows written by a process that dies before it closes the database: they are only in
    the -wal file, as after a crash."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITE_AND_DIE, str(path), str(ids.start), str(ids.stop)
    )
    assert await asyncio.wait_for(proc.wait(), timeout=30) == 0


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def test_restore_puts_the_backup_in_place_and_the_bot_starts_on_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:1/bot")
    live = tmp_path / "labelgram.db"
    db = await Database.open(live)
    await add_workers(db, range(1, 11))
    await db.close()
    code, out, err = await cli(
        capsys, "backup", str(tmp_path / "backup.db"), "--config", str(config)
    )
    assert code == 0, out + err
    await write_without_closing(live, range(11, 21))  # after the backup, left in the -wal
    assert (tmp_path / "labelgram.db-wal").stat().st_size > 0

    code, out, err = await cli(
        capsys, "restore", str(tmp_path / "backup.db"), "--config", str(config)
    )
    assert code == 0, out + err
    assert "restored" in out and "integrity ok" in out

    db = await Database.open(live)  # what the bot does when it starts
    try:
        assert await db.schema_version() == LATEST
        rows = await db.fetchall("SELECT id FROM workers ORDER BY id")
        assert [r["id"] for r in rows] == list(range(1, 11))
    finally:
        await db.close()

    # The database it replaced is kept, with the writes that were only in its -wal.
    [aside] = [
        tmp_path / name
        for name in listing(tmp_path)
        if name.startswith("labelgram.db.before-restore-") and not name.endswith(("-wal", "-shm"))
    ]
    assert f"kept at {aside}" in out
    assert worker_ids(aside) == list(range(1, 21))


async def test_restore_of_an_old_backup_is_migrated_when_the_bot_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:1/bot")
    old_database(tmp_path / "old.db")
    code, out, err = await cli(
        capsys, "restore", str(tmp_path / "old.db"), "--config", str(config)
    )
    assert code == 0, out + err
    assert "pending migration" in out
    db = await Database.open(tmp_path / "labelgram.db")
    assert await db.schema_version() == LATEST
    await db.close()


async def test_restore_refuses_while_the_database_is_open_elsewhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:1/bot")
    live = tmp_path / "labelgram.db"
    db = await Database.open(live)
    await add_workers(db, range(1, 4))
    await db.backup_to(tmp_path / "backup.db")
    await db.close()
    # Stands in for the running bot: the database open in WAL mode, idle.
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLD_OPEN,
        str(live),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert await asyncio.wait_for(holder.stdout.readline(), timeout=30) == b"ready\n"
        code, _, err = await cli(
            capsys, "restore", str(tmp_path / "backup.db"), "--config", str(config)
        )
    finally:
        await asyncio.wait_for(holder.communicate(b"\n"), timeout=30)
    assert code == 1
    assert "is the bot running?" in err
    assert not any("before-restore" in name for name in listing(tmp_path))

    code, out, err = await cli(
        capsys, "restore", str(tmp_path / "backup.db"), "--config", str(config)
    )
    assert code == 0, out + err  # once it has stopped


async def test_restore_refuses_a_damaged_backup_and_touches_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:1/bot")
    db = await Database.open(tmp_path / "labelgram.db")
    await add_workers(db, range(1, 4))
    await db.close()
    before = listing(tmp_path)
    (tmp_path / "junk.db").write_bytes(os.urandom(8192))
    code, _, err = await cli(capsys, "restore", str(tmp_path / "junk.db"), "--config", str(config))
    assert code == 1
    assert "the database was not touched" in err
    assert [name for name in listing(tmp_path) if name != "junk.db"] == before
    assert worker_ids(tmp_path / "labelgram.db") == [1, 2, 3]


# ---------------------------------------------------------------- running the bot


@pytest.mark.parametrize(
    "argv",
    [["--config", "{config}"], ["run", "--config", "{config}"], ["--config", "{config}", "run"]],
)
def test_running_the_bot_still_reads_the_config_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[bot]\ntoken = "nocolon"\n', encoding="utf-8")
    assert main([a.format(config=config) for a in argv]) == 2
    assert capsys.readouterr().err.startswith("labelgram: bot.token")
