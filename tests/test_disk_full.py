"""The disk fills up under a running bot: the student is asked to try again, nothing is
half-written, and the bot keeps running (issue 7)."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Labeling
from bot.services import labeling, uploads
from db.connection import Database
from tests.botapi import BotApiServer, button_data
from tests.conftest import TOKEN
from tests.e2e import spawn_bot

TRY_AGAIN = "Sorry, something went wrong on our side and nothing was saved. Please try again."


async def prepare(path: Path) -> None:
    """A database with a project of 200 tasks and one registered student."""
    db = await Database.open(path)
    now = datetime.now(UTC)
    rows = "".join(f"t{i},Item {i}\n" for i in range(200))
    request = uploads.parse_caption("/upload full options=yes,no price=0.05 min_seconds=0")
    assert isinstance(request, uploads.UploadRequest)
    done = await uploads.import_file(
        db,
        admin_id=1,
        request=request,
        file_name="t.csv",
        data=f"id,text\n{rows}".encode(),
        now=now,
        defaults=Labeling(),
        minor_units=2,
    )
    assert isinstance(done, uploads.ImportDone)
    await labeling.register(
        db, user_id=1001, first_name="Li", username=None, language="en", timezone="UTC", now=now
    )
    await db.close()


async def test_a_full_disk_asks_to_try_again_and_writes_nothing_half(tmp_path: Path) -> None:
    db_path = tmp_path / "labelgram.db"
    await prepare(db_path)
    size = db_path.stat().st_size
    limit = size + 8 * 4096  # the WAL file may grow to about the database's size, no more

    def small_files() -> None:  # in the bot's process only: no file may grow past `limit`
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    async with BotApiServer(token=TOKEN) as server:
        config = tmp_path / "config.toml"
        config.write_text(
            '[bot]\ntoken_env = "TEST_LABELGRAM_TOKEN"\nadmin_ids = [1]\naccess = "open"\n'
            f'[database]\npath = "{db_path}"\n'
            f'[telegram]\napi_base_url = "{server.base_url}"\n'
            f'file_base_url = "{server.base_file_url}"\n',
            encoding="utf-8",
        )
        proc = await spawn_bot(
            "--config",
            str(config),
            env={**os.environ, "TEST_LABELGRAM_TOKEN": TOKEN},
            preexec_fn=small_files,
        )
        try:
            student = server.add_user(1001, "Li", language_code="en")
            sent = await server.send_text(student, "/next")
            task = await server.wait_for_message(student, after=sent)
            saved = refused = 0
            for _ in range(400):  # bounded: the file limit is reached well before
                before = server.message(student, task.message_id).edit_count
                query = await server.tap(
                    student, task.message_id, button_data(task, "yes"), strict=False
                )
                toast = (await server.wait_for_answer(query))["text"]
                if toast == TRY_AGAIN:
                    refused += 1
                    if refused == 3:
                        break
                    continue
                assert toast == "Saved · +¥0.05", toast
                saved += 1
                task = await server.wait_until(
                    lambda b=before, i=task.message_id: (
                        (m := server.message(student, i)).edit_count > b and m
                    ),
                )
            assert saved > 0
            assert refused == 3  # the disk filled up, and the student was told each time
            # The bot keeps running: it still answers.
            sent = await server.send_text(student, "/help")
            reply = await server.wait_for_message(student, after=sent)
            assert reply.content.startswith("Labelgram commands:")
        finally:
            proc.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
        log = output.decode()
        assert TOKEN not in log
        assert "disk is full" in log or "disk I/O error" in log, log[-2000:]  # the cause

    # Nothing half-written: every answer has its earning and its closed assignment, and the
    # number of answers is the number of "Saved" toasts.
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        answers = conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
        assert answers == saved
        assert (
            conn.execute("SELECT COUNT(*) FROM ledger WHERE kind = 'earning'").fetchone()[0]
            == answers
        )
        assert (
            conn.execute("SELECT COUNT(*) FROM assignments WHERE status = 'answered'").fetchone()[
                0
            ]
            == answers
        )
        assert conn.execute("SELECT SUM(answers) FROM tasks").fetchone()[0] == answers
    finally:
        conn.close()
