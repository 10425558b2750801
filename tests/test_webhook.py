"""Webhook mode: the real `labelgram` process behind PTB's webhook server, fed by the test
Bot API server (setWebhook, then updates POSTed with the secret token header)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from bot.app import build_application, health_report
from bot.cli import config_problems
from bot.config import ConfigError, load_config
from tests.botapi import BotApiServer, button_texts
from tests.conftest import TOKEN, make_config
from tests.e2e import spawn_bot

SECRET = "s3cret_Webhook-token"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_listening(port: int, seconds: float = 20) -> None:
    """PTB calls setWebhook just before its server listens: wait for the port to open."""
    async with asyncio.timeout(seconds):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            return


def row_counts(db: Path) -> dict[str, int]:
    """Rows per table, read from outside the bot process."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}  # noqa: S608


def forged_start(user_id: int) -> dict[str, object]:
    user = {"id": user_id, "is_bot": False, "first_name": "Mallory", "language_code": "en"}
    return {
        "update_id": 999_999,
        "message": {
            "message_id": 1,
            "date": 1_700_000_000,
            "chat": {"id": user_id, "type": "private"},
            "from": user,
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }


async def test_webhook_mode_serves_telegram_and_refuses_forged_posts(tmp_path: Path) -> None:
    port, health_port = free_port(), free_port()
    hook_url = f"http://127.0.0.1:{port}/labelgram/hook"
    async with BotApiServer(token=TOKEN) as server:
        config = tmp_path / "config.toml"
        config.write_text(
            "[bot]\n"
            'token_env = "TEST_LABELGRAM_TOKEN"\n'
            'mode = "webhook"\n'
            "admin_ids = [1]\n"
            'access = "open"\n'  # the student registers with a bare /start
            "[webhook]\n"
            'listen = "127.0.0.1"\n'
            f"port = {port}\n"
            f"health_port = {health_port}\n"
            f'url = "{hook_url}"\n'
            'secret_token_env = "TEST_WEBHOOK_SECRET"\n'
            "[telegram]\n"
            f'api_base_url = "{server.base_url}"\n'
            f'file_base_url = "{server.base_file_url}"\n',
            encoding="utf-8",
        )
        env = {**os.environ, "TEST_LABELGRAM_TOKEN": TOKEN, "TEST_WEBHOOK_SECRET": SECRET}
        proc = await spawn_bot("--config", str(config), env=env)
        try:
            await server.wait_until(lambda: server.webhook_url, description="setWebhook")
            assert server.webhook_url == hook_url
            assert server.webhook_secret == SECRET
            await wait_listening(port)

            # The genuine path: the server POSTs the update with the secret header.
            student = server.add_user(1001, "Li", language_code="zh-hans")
            sent = await server.send_text(student, "/start")
            welcome = await server.wait_for_message(student, after=sent)
            assert "欢迎使用 Labelgram" in welcome.content
            assert button_texts(welcome) == ["▶️ 开始标注"]
            assert server.stats["webhook_posts"] >= 1
            assert server.stats["webhook_failures"] == 0

            db_file = tmp_path / "labelgram.db"
            before = row_counts(db_file)
            assert before["workers"] == 1
            calls_before = len(server.requests)
            body = json.dumps(forged_start(666))
            async with aiohttp.ClientSession() as session:
                for headers in (
                    {"Content-Type": "application/json"},  # no secret at all
                    {"Content-Type": "application/json", HEADER: "wrong-secret"},
                    {"Content-Type": "application/json", HEADER: SECRET + "x"},
                ):
                    async with session.post(hook_url, data=body, headers=headers) as resp:
                        assert resp.status == 403, headers
                # A genuine update after them, answered: a forged one wrongly accepted would
                # have been queued before it, and had its turn.
                marker = await server.send_text(student, "/help")
                await server.wait_for_message(student, after=marker)

                # Nothing changed: no row, no reply, no Bot API call on the forger's behalf.
                assert row_counts(db_file) == before
                calls = [(c.method, c.params.get("chat_id")) for c in server.requests]
                assert calls[calls_before:] == [("sendMessage", student.id)]  # the marker's

                async with session.get(f"http://127.0.0.1:{health_port}/healthz") as resp:
                    assert resp.status == 200
                    health = await resp.json()
            assert health["database"] == "ok"
            assert health["jobs"] == 3
            assert health["status"] == "ok"
        finally:
            proc.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(proc.communicate(), timeout=20)
        log = output.decode()
        assert proc.returncode == 0, log
        assert TOKEN not in log
        assert SECRET not in log  # the webhook secret is masked like the token
        assert "webhook mode" in log


async def test_health_is_503_when_the_database_and_jobs_are_not_running(tmp_path: Path) -> None:
    app = build_application(make_config(tmp_path))  # post_init never ran: nothing is open
    status, body = await health_report(app)
    assert status == 503
    assert body["database"].startswith("error")
    assert body["scheduler"] == "stopped"
    assert body["status"] == "failing"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[bot]\ntoken = "{TOKEN}"\n' + text, encoding="utf-8")
    return path


def test_polling_stays_the_default(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, ""), env={})
    assert cfg.mode == "polling"
    assert cfg.webhook.listen == "127.0.0.1"
    assert cfg.webhook.port == 8443


def test_webhook_config_is_read(tmp_path: Path) -> None:
    cfg = load_config(
        write(
            tmp_path,
            (
                'mode = "webhook"\n[webhook]\nurl = "https://bot.example.org/tg/hook"\n'
                'secret_token_env = "HOOK"\nport = 9000\n'
            ),
        ),
        env={"HOOK": "abc_DEF-123"},
    )
    assert cfg.webhook.url_path == "/tg/hook"
    assert cfg.webhook.secret_token == "abc_DEF-123"
    assert cfg.webhook.port == 9000


@pytest.mark.parametrize(
    ("text", "env", "names"),
    [
        ('mode = "pigeon"\n', {}, "bot.mode"),
        ('mode = "webhook"\n[webhook]\nsecret_token = "abc"\n', {}, "webhook.url"),
        ('mode = "webhook"\n[webhook]\nurl = "https://x.org/h"\n', {}, "webhook.secret_token"),
        (
            'mode = "webhook"\n[webhook]\nurl = "https://x.org/h"\nsecret_token = "a b"\n',
            {},
            "webhook.secret_token",
        ),
        (
            'mode = "webhook"\n[webhook]\nurl = "https://x.org/h"\nsecret_token = "'
            + "a" * 257
            + '"\n',
            {},
            "webhook.secret_token",
        ),
        (
            'mode = "webhook"\n[webhook]\nurl = "https://x.org/h"\n',
            {"LABELGRAM_WEBHOOK_SECRET": "bad!"},
            "webhook.secret_token_env",
        ),
        (
            'mode = "webhook"\n[webhook]\nurl = "http://x.org/h"\nsecret_token = "a"\n',
            {},
            "webhook.url",
        ),
        (
            'mode = "webhook"\n[webhook]\nurl = "https://x.org/h"\nsecret_token = "a"\n'
            "port = 70000\n",
            {},
            "webhook.port",
        ),
        ('[webhook]\nport = "8443"\n', {}, "webhook.port"),
        ("[webhook]\nhealth_port = 8443\n", {}, "webhook.health_port"),
    ],
)
def test_webhook_problems_name_the_key(
    tmp_path: Path, text: str, env: dict[str, str], names: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), env=env)
    message = str(caught.value)
    assert names in message
    assert "\n" not in message


def test_check_reports_every_webhook_problem(tmp_path: Path) -> None:
    path = write(tmp_path, 'mode = "webhook"\n[webhook]\nport = 0\nurl = "ftp://x"\n')
    cfg, problems = config_problems(path)
    assert cfg is None
    joined = "\n".join(problems)
    for key in ("webhook.port", "webhook.url"):
        assert key in joined
