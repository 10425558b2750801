"""Start-up problems of the real `labelgram` process: each is one line on stderr, no traceback.

The Bot API unreachable (a closed port on 127.0.0.1) is retried with backoff for
`[telegram] startup_retry_seconds`, then the process exits 1; a refused token exits 2 at
once; a server that comes up while the bot retries is used. Database problems are reported
before the network is tried.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from tests.botapi import BotApiServer, button_texts
from tests.conftest import TOKEN
from tests.e2e import spawn_bot

TOKEN_ENV = "TEST_LABELGRAM_TOKEN"
SECRET_ENV = "TEST_WEBHOOK_SECRET"
HOOK_SECRET = "startup-hook-secret"
# A log record of the bot (setup_logging's text format): one line each.
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) \S+: ")
GAVE_UP = re.compile(r"^labelgram: gave up after (\d+) attempts? in ")


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(
    tmp_path: Path, api_port: int, *, mode: str = "polling", retry: float = 2, extra: str = ""
) -> Path:
    webhook = ""
    if mode == "webhook":
        hook_port = free_port()
        webhook = (
            "[webhook]\n"
            f"port = {hook_port}\n"
            f"health_port = {free_port()}\n"
            f'url = "http://127.0.0.1:{hook_port}/labelgram/hook"\n'
            f'secret_token_env = "{SECRET_ENV}"\n'
        )
    path = tmp_path / "config.toml"
    path.write_text(
        "[bot]\n"
        f'token_env = "{TOKEN_ENV}"\n'
        'admin_ids_env = ""\n'
        "admin_ids = [1]\n"
        f'mode = "{mode}"\n'
        'access = "open"\n'
        f"{extra}"
        f"{webhook}"
        "[telegram]\n"
        f'api_base_url = "http://127.0.0.1:{api_port}/bot"\n'
        f'file_base_url = "http://127.0.0.1:{api_port}/file/bot"\n'
        f"startup_retry_seconds = {retry}\n"
        # LABELGRAM_TEST_TRANSPORT=aiohttp runs these on bot/transport.py, like the rest.
        f'transport = "{os.environ.get("LABELGRAM_TEST_TRANSPORT", "httpx")}"\n',
        encoding="utf-8",
    )
    return path


async def start_bot(config: Path, token: str = TOKEN) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABELGRAM_")}
    env.update({TOKEN_ENV: token, SECRET_ENV: HOOK_SECRET, "PYTHONUNBUFFERED": "1"})
    return await spawn_bot("--config", str(config), env=env, stderr=asyncio.subprocess.PIPE)


async def finish(proc: asyncio.subprocess.Process, timeout: float = 60) -> tuple[int, str]:
    """Wait for the process to exit by itself; its exit status and stderr."""
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=timeout)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        pytest.fail(f"still running after {timeout} s:\n{err.decode()}")
    assert proc.returncode is not None
    return proc.returncode, out.decode() + err.decode()


def problems(output: str) -> list[str]:
    """The `labelgram: ...` lines; every other line must be a one-line log record."""
    lines = output.splitlines()
    assert "Traceback" not in output, output
    strays = [line for line in lines if not line.startswith("labelgram: ")]
    assert all(LOG_LINE.match(line) for line in strays), output
    return [line for line in lines if line.startswith("labelgram: ")]


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_an_unreachable_bot_api_is_retried_then_one_line_and_exit_1(
    tmp_path: Path, mode: str
) -> None:
    port = free_port()
    config = write_config(tmp_path, port, mode=mode, retry=2)
    status, output = await finish(await start_bot(config))

    assert status == 1, output
    lines = problems(output)
    url = f"http://127.0.0.1:{port}/bot"
    assert lines[0].startswith(f"labelgram: cannot reach {url} (")
    assert lines[0].endswith("check the network or [telegram] api_base_url; retrying for 2.0 s")
    summary = GAVE_UP.match(lines[-1])
    assert summary is not None, output
    attempts = int(summary[1])
    assert attempts >= 2, output  # it did retry
    # One line per attempt: the first, one per retry that is followed by another, the summary.
    assert len(lines) == attempts, output
    assert all(line.startswith(f"labelgram: still cannot reach {url}") for line in lines[1:-1])
    assert "startup_retry_seconds" in lines[-1]
    assert TOKEN not in output and TOKEN.partition(":")[2] not in output


async def test_no_retry_when_startup_retry_seconds_is_0(tmp_path: Path) -> None:
    config = write_config(tmp_path, free_port(), retry=0)
    status, output = await finish(await start_bot(config))
    assert status == 1, output
    [line] = problems(output)
    assert line.endswith("not retrying ([telegram] startup_retry_seconds = 0)")


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_a_refused_token_is_one_line_exit_2_and_no_retry(tmp_path: Path, mode: str) -> None:
    wrong = "123456:REVOKED-token-of-this-bot"
    async with BotApiServer(token=TOKEN) as server:
        # A long retry time: a retry would keep the process running past finish()'s timeout.
        config = write_config(tmp_path, server.port, mode=mode, retry=600)
        status, output = await finish(await start_bot(config, token=wrong), timeout=60)
        calls = [call.method for call in server.requests]

    assert status == 2, output
    [line] = problems(output)
    assert line.startswith("labelgram: Telegram refused the token:")
    assert "bot.token" in line and line.endswith("not retrying")
    assert calls == ["getMe"]  # asked once, then nothing else
    assert wrong not in output and wrong.partition(":")[2] not in output


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_a_bot_api_that_comes_up_during_the_retries_is_used(
    tmp_path: Path, mode: str
) -> None:
    port = free_port()
    config = write_config(tmp_path, port, mode=mode, retry=120)
    proc = await start_bot(config)
    lines: list[str] = []
    first_failure = asyncio.Event()

    async def read_stderr() -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            lines.append(raw.decode().rstrip("\n"))
            if lines[-1].startswith("labelgram: cannot reach"):
                first_failure.set()

    reader = asyncio.create_task(read_stderr())
    try:
        await asyncio.wait_for(first_failure.wait(), timeout=30)
        async with BotApiServer(token=TOKEN, port=port) as server:
            student = server.add_user(1001, "Li", language_code="en")
            if mode == "webhook":
                await server.wait_until(
                    lambda: server.webhook_url, timeout=30, description="setWebhook"
                )
            sent = await server.send_text(student, "/start")
            welcome = await server.wait_for_message(student, after=sent, timeout=30)
            assert button_texts(welcome) == ["▶️ Start labeling"]
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), timeout=30)
        await asyncio.wait_for(reader, timeout=30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        reader.cancel()
    output = "\n".join(lines)
    assert proc.returncode == 0, output
    failures = problems(output)
    assert failures[0].startswith(f"labelgram: cannot reach http://127.0.0.1:{port}/bot")
    assert not any(GAVE_UP.match(line) for line in failures)
    assert re.search(r"reached http://127\.0\.0\.1:\d+/bot after \d+ attempts", output), output


async def test_webhook_url_refused_by_telegram_is_one_line_and_exit_1(tmp_path: Path) -> None:
    async with BotApiServer(token=TOKEN) as server:
        server.fault = lambda method, params: (
            (400, "Bad Request: bad webhook: Failed to resolve host: Name or service not known")
            if method == "setWebhook"
            else None
        )
        config = write_config(tmp_path, server.port, mode="webhook", retry=600)
        status, output = await finish(await start_bot(config))
        set_webhook = len(server.calls("setWebhook"))

    assert status == 1, output
    [line] = problems(output)
    assert line.startswith("labelgram: Telegram refused the webhook URL http://127.0.0.1:")
    assert "failed to resolve host" in line.lower() and "check [webhook] url" in line
    assert set_webhook == 1  # not retried


async def test_set_webhook_failing_for_a_while_is_retried_like_getme(tmp_path: Path) -> None:
    async with BotApiServer(token=TOKEN) as server:
        failures = iter([(502, "Bad Gateway"), (502, "Bad Gateway")])
        server.fault = lambda method, params: (
            next(failures, None) if method == "setWebhook" else None
        )
        config = write_config(tmp_path, server.port, mode="webhook", retry=120)
        proc = await start_bot(config)
        try:
            student = server.add_user(1001, "Li", language_code="en")
            await server.wait_until(
                lambda: server.webhook_url, timeout=30, description="setWebhook"
            )
            sent = await server.send_text(student, "/start")
            welcome = await server.wait_for_message(student, after=sent, timeout=30)
            assert button_texts(welcome) == ["▶️ Start labeling"]
        finally:
            proc.send_signal(signal.SIGTERM)
        status, output = await finish(proc)
        statuses = [call.status for call in server.calls("setWebhook")]

    assert status == 0, output
    # Two refusals, then ours, then run_webhook's own (the same settings again).
    assert statuses == [502, 502, 200, 200], output
    lines = problems(output)
    assert lines[0].startswith("labelgram: cannot reach") and "Bad Gateway" in lines[0]
    assert len(lines) == 2 and lines[1].startswith("labelgram: still cannot reach")


def newer_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("case", ["folder is a file", "path is a folder", "schema too new"])
async def test_a_database_problem_is_one_line_before_the_network_is_tried(
    tmp_path: Path, case: str
) -> None:
    if case == "folder is a file":
        (tmp_path / "not-a-folder").write_text("x", encoding="utf-8")
        db_path = tmp_path / "not-a-folder" / "labelgram.db"
    elif case == "path is a folder":
        db_path = tmp_path / "a-folder"
        db_path.mkdir()
    else:
        db_path = tmp_path / "labelgram.db"
        newer_database(db_path)
    async with BotApiServer(token=TOKEN) as server:
        config = write_config(
            tmp_path, server.port, extra=f'[database]\npath = "{db_path}"\n', retry=600
        )
        status, output = await finish(await start_bot(config))
        calls = len(server.requests)

    assert status == 1, output
    [line] = problems(output)
    assert line.startswith(f"labelgram: database {db_path}")
    if case == "schema too new":
        assert "newer than this code" in line
    else:
        assert "cannot be opened" in line and "[database] path" in line
    assert calls == 0  # a local problem is not worth waiting for the network


def test_startup_retry_seconds_is_read_and_checked(tmp_path: Path) -> None:
    def config(value: str) -> Path:
        path = tmp_path / "config.toml"
        path.write_text(
            f'[bot]\ntoken = "{TOKEN}"\n[telegram]\nstartup_retry_seconds = {value}\n',
            encoding="utf-8",
        )
        return path

    assert load_config(config("45")).telegram.startup_retry_seconds == 45.0
    assert load_config(config("0")).telegram.startup_retry_seconds == 0.0
    (tmp_path / "default.toml").write_text(f'[bot]\ntoken = "{TOKEN}"\n', encoding="utf-8")
    assert load_config(tmp_path / "default.toml").telegram.startup_retry_seconds == 300.0
    for bad in ("-1", "nan", '"soon"', "true"):
        with pytest.raises(ConfigError, match=r"^telegram\.startup_retry_seconds must be"):
            load_config(config(bad))
