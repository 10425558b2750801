"""The aiohttp transport ([telegram] transport = "aiohttp") does everything httpx does:
long polling, form fields, file downloads, multipart uploads, errors."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from telegram.error import NetworkError

from bot.config import Config
from bot.transport import AiohttpRequest
from tests.botapi import button_texts
from tests.conftest import ADMIN_ID
from tests.e2e import running_bot


async def test_the_whole_loop_over_aiohttp(cfg: Config) -> None:
    fast = dataclasses.replace(
        cfg, telegram=dataclasses.replace(cfg.telegram, transport="aiohttp")
    )
    async with running_bot(fast) as h:
        assert isinstance(h.app.bot.request, AiohttpRequest)
        admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
        reply = await h.upload(
            admin,
            "t.csv",
            b"id,text\nr1,first\nr2,second\n",
            "/upload air options=yes,no price=0.05",
        )
        assert "2 tasks added" in reply.content  # getFile + the file download
        assert h.server.calls("downloadFile")
        student = h.server.add_user(1001, "Li", language_code="en")
        welcome = await h.say(student, "/start")
        await h.tap(student, welcome, "▶️ Start labeling")
        task = await h.server.wait_for_message(student, after=welcome)
        assert button_texts(task) == ["yes", "no", "Skip ⏭"]  # a JSON-encoded form field
        toast, task = await h.tap_and_wait_edit(student, task, "no")
        assert toast["text"] == "Saved · +¥0.05"
        doc, *_ = await h.export(admin, "air")
        assert doc.document is not None  # a multipart upload
        assert b"first" in h.server.document_bytes(doc)
        assert await h.query("SELECT value FROM answers") == [("no",)]


async def test_an_unreachable_server_is_a_network_error() -> None:
    request = AiohttpRequest(connect_timeout=1)
    await request.initialize()
    try:
        with pytest.raises(NetworkError):
            await request.do_request("http://127.0.0.1:9/bot1:x/getMe", "POST")
    finally:
        await request.shutdown()


async def test_timeouts_not_passed_are_the_configured_ones_and_passed_ones_win() -> None:
    from aiohttp import web
    from telegram.error import TimedOut
    from telegram.request import BaseRequest

    release = asyncio.Event()

    async def never_answers(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({"ok": True, "result": True})

    app = web.Application()
    app.router.add_post("/slow", never_answers)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/slow"
    # No write time: aiohttp's read timeout is PTB's read plus write timeout.
    configured = AiohttpRequest(read_timeout=0.2, write_timeout=None)
    passed = AiohttpRequest(read_timeout=3600, write_timeout=None)
    try:
        for request in (configured, passed):
            await request.initialize()
        # BaseRequest.DEFAULT_NONE ("not passed") takes the configured 0.2 s ...
        with pytest.raises(TimedOut):
            await asyncio.wait_for(
                configured.do_request(url, "POST", read_timeout=BaseRequest.DEFAULT_NONE), 30
            )
        # ... and a timeout passed with the call wins over the configured hour.
        with pytest.raises(TimedOut):
            await asyncio.wait_for(passed.do_request(url, "POST", read_timeout=0.2), 30)
        release.set()
        assert await passed.do_request(url, "POST") == (200, b'{"ok": true, "result": true}')
    finally:
        release.set()
        for request in (configured, passed):
            await request.shutdown()
        await runner.cleanup()
