"""The installed command, as a real process: `python -m bot --config config.toml`."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from tests.botapi import BotApiServer, button_texts
from tests.conftest import TOKEN
from tests.e2e import spawn_bot


async def test_bot_process_serves_a_student_and_stops_on_sigterm(tmp_path: Path) -> None:
    async with BotApiServer(token=TOKEN) as server:
        config = tmp_path / "config.toml"
        config.write_text(
            "[bot]\n"
            'token_env = "TEST_LABELGRAM_TOKEN"\n'
            "admin_ids = [1]\n"
            'access = "open"\n'  # the student registers with a bare /start
            "[telegram]\n"
            f'api_base_url = "{server.base_url}"\n'
            f'file_base_url = "{server.base_file_url}"\n',
            encoding="utf-8",
        )
        env = {**os.environ, "TEST_LABELGRAM_TOKEN": TOKEN}
        proc = await spawn_bot("--config", str(config), env=env)
        try:
            student = server.add_user(1001, "Li", language_code="zh-hans")
            sent = await server.send_text(student, "/start")
            welcome = await server.wait_for_message(student, after=sent)
            assert "欢迎使用 Labelgram" in welcome.content
            assert button_texts(welcome) == ["▶️ 开始标注"]
            assert server.commands_for("zh")  # the command menu was set at start-up
        finally:
            proc.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(proc.communicate(), timeout=20)
        log = output.decode()
        assert proc.returncode == 0, log
        assert TOKEN not in log  # the token never reaches a log line
        assert (tmp_path / "labelgram.db").exists()
