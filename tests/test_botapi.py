"""Tests for the fake Telegram Bot API server (``tests/botapi.py``).

The server is driven both by a real ``telegram.Bot`` and by raw aiohttp requests; nothing
here touches the internet.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    Update,
)
from telegram.error import BadRequest, Conflict, InvalidToken, RetryAfter
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from tests.botapi import (
    WAIT,
    BotApiServer,
    FakeUser,
    button_data,
    button_texts,
    parse_html,
    parse_markdown_v2,
)

TOKEN = "123456:TEST-token"

LABELS = InlineKeyboardMarkup(
    [
        [
            InlineKeyboardButton("Cat", callback_data="label:cat"),
            InlineKeyboardButton("Dog", callback_data="label:dog"),
        ]
    ]
)


@pytest.fixture
async def server() -> AsyncIterator[BotApiServer]:
    async with BotApiServer(token=TOKEN) as srv:
        yield srv


@pytest.fixture
async def bot(server: BotApiServer) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=server.base_url, base_file_url=server.base_file_url) as b:
        yield b


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def user(server: BotApiServer) -> FakeUser:
    return server.add_user(1001, first_name="Li", language_code="zh")


async def call(
    http: aiohttp.ClientSession, server: BotApiServer, method: str, **params: Any
) -> tuple[int, dict[str, Any]]:
    """POST a form-encoded API call and return ``(status, json body)``."""
    data = {k: str(v) for k, v in params.items()}
    async with http.post(f"{server.api_url}/{method}", data=data) as response:
        return response.status, await response.json()


async def test_get_me(server: BotApiServer, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123456
    assert me.is_bot
    assert me.first_name == "Labelgram"
    assert me.username == "labelgram_test_bot"
    assert [c.status for c in server.calls("getMe")] == [200, 200]  # initialize() + get_me()


async def test_send_message_with_keyboard_then_edit(
    server: BotApiServer, bot: Bot, user: FakeUser
) -> None:
    sent = await bot.send_message(user.id, "Task 1/3", reply_markup=LABELS)
    assert sent.chat.id == user.id
    assert sent.from_user is not None
    assert sent.from_user.is_bot
    stored = server.last_message(user)
    assert stored.message_id == sent.message_id
    assert stored.text == "Task 1/3"
    assert button_texts(stored) == ["Cat", "Dog"]
    assert button_data(stored, "Dog") == "label:dog"

    edited = await bot.edit_message_text(
        "Task 2/3", chat_id=user.id, message_id=sent.message_id, reply_markup=LABELS
    )
    assert isinstance(edited, Message)
    assert edited.edit_date is not None
    state = server.message(user, sent.message_id)
    assert state.text == "Task 2/3"
    assert state.edit_count == 1
    assert state.history[0]["text"] == "Task 1/3"
    assert button_texts(state) == ["Cat", "Dog"]

    # As in Telegram, editing the text without reply_markup drops the inline keyboard.
    await bot.edit_message_text("Done", chat_id=user.id, message_id=sent.message_id)
    assert server.message(user, sent.message_id).reply_markup is None
    assert button_texts(server.message(user, sent.message_id)) == []

    assert await bot.delete_message(user.id, sent.message_id)
    assert server.messages(user) == []
    assert server.messages(user, include_deleted=True)[0].deleted


async def test_long_polling_wakes_promptly_and_honours_offset(
    server: BotApiServer, http: aiohttp.ClientSession, user: FakeUser
) -> None:
    arrived = asyncio.Event()
    server.fault = lambda method, params: arrived.set() if method == "getUpdates" else None
    # A poll far longer than the test waits for its answer: an answer means it woke up.
    poll = asyncio.create_task(call(http, server, "getUpdates", timeout=3 * WAIT))
    await asyncio.wait_for(arrived.wait(), WAIT)  # the server holds the request ...
    assert not poll.done(), "getUpdates must hold the request while nothing is queued"
    server.fault = None

    await server.send_text(user, "/start hello")
    status, body = await asyncio.wait_for(poll, WAIT)  # ... and answers it on the update
    assert status == 200
    [update] = body["result"]
    assert update["message"]["text"] == "/start hello"
    assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    update_id = update["update_id"]

    # Not confirmed yet: the same update is served again.
    _, again = await call(http, server, "getUpdates", offset=update_id, timeout=0)
    assert [u["update_id"] for u in again["result"]] == [update_id]
    # offset = update_id + 1 confirms it; it is gone for good.
    _, confirmed = await call(http, server, "getUpdates", offset=update_id + 1, timeout=0)
    assert confirmed["result"] == []
    _, older = await call(http, server, "getUpdates", offset=update_id, timeout=0)
    assert older["result"] == []
    assert server.pending_updates == []

    # With nothing queued the poll ends when its timeout elapses.
    started = time.monotonic()
    _, empty = await asyncio.wait_for(call(http, server, "getUpdates", timeout=0.3), WAIT)
    assert empty["result"] == []
    assert time.monotonic() - started >= 0.25
    assert [u["update_id"] for u in server.updates_sent] == [update_id]


async def test_ptb_parses_message_updates(server: BotApiServer, bot: Bot, user: FakeUser) -> None:
    await server.send_text(user, "/start")
    [update] = await bot.get_updates(timeout=1)
    assert isinstance(update, Update)
    assert update.message is not None
    assert update.message.text == "/start"
    assert update.message.chat.type == "private"
    assert update.message.from_user is not None
    assert update.message.from_user.language_code == "zh"
    assert update.message.entities[0].type == MessageEntity.BOT_COMMAND
    last = server.last_update(user)
    assert last is not None
    assert last["update_id"] == update.update_id


async def test_user_document_can_be_downloaded(
    server: BotApiServer, bot: Bot, user: FakeUser
) -> None:
    data = b"id,label\n1,cat\n" * 500
    msg = await server.send_document(user, "batch.csv", data, caption="/import now")
    assert msg.document is not None
    assert msg.document["mime_type"] == "text/csv"
    assert msg.caption_entities == [{"type": "bot_command", "offset": 0, "length": 7}]

    tg_file = await bot.get_file(msg.document["file_id"])
    assert tg_file.file_size == len(data)
    assert bytes(await tg_file.download_as_bytearray()) == data
    with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
        await bot.get_file("no-such-file")


async def test_bot_document_upload_is_stored(
    server: BotApiServer, bot: Bot, user: FakeUser
) -> None:
    sent = await bot.send_document(
        user.id, document=b"report bytes", filename="report.txt", caption="Your report"
    )
    file_id = sent.document.file_id
    assert server.files[file_id].data == b"report bytes"
    assert server.files[file_id].file_name == "report.txt"
    stored = server.last_message(user)
    assert stored.caption == "Your report"
    assert server.document_bytes(stored) == b"report bytes"
    # The request log keeps the upload's metadata, not its bytes.
    assert server.calls("sendDocument")[-1].params["document"] == {
        "file_name": "report.txt",
        "size": 12,
    }

    resent = await bot.send_document(user.id, document=file_id)
    assert resent.document.file_id == file_id
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        await bot.send_document(user.id, document="BQACnope")


async def test_callback_answer_is_recorded_once(
    server: BotApiServer, bot: Bot, user: FakeUser
) -> None:
    sent = await bot.send_message(user.id, "Pick a label", reply_markup=LABELS)
    query_id = await server.tap(user, sent.message_id, "label:cat")

    [update] = await bot.get_updates(timeout=1)
    assert update.callback_query is not None
    assert update.callback_query.id == query_id
    assert update.callback_query.data == "label:cat"
    assert update.callback_query.message is not None
    assert update.callback_query.message.message_id == sent.message_id

    assert await bot.answer_callback_query(query_id, text="Saved")
    answer = await server.wait_for_answer(query_id)
    assert answer["text"] == "Saved"
    assert answer["show_alert"] is False
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query_id, text="again")
    with pytest.raises(AssertionError, match="no button"):
        await server.tap(user, sent.message_id, "label:bird")


async def test_callback_data_is_limited_to_64_bytes(
    server: BotApiServer, bot: Bot, user: FakeUser
) -> None:
    fits = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="x" * 64)]])
    await bot.send_message(user.id, "fits", reply_markup=fits)
    for data in ("x" * 65, "é" * 33):  # 65 bytes and 66 UTF-8 bytes
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("too long", callback_data=data)]])
        with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
            await bot.send_message(user.id, "too long", reply_markup=markup)
    assert [m.text for m in server.messages(user)] == ["fits"]


async def test_edit_errors_like_telegram(bot: Bot, user: FakeUser) -> None:
    sent = await bot.send_message(user.id, "Task", reply_markup=LABELS)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text(
            "Task", chat_id=user.id, message_id=sent.message_id, reply_markup=LABELS
        )
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_reply_markup(user.id, sent.message_id, reply_markup=LABELS)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=user.id, message_id=999)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(user.id, "a" * 4097)
    await bot.send_message(user.id, "a" * 4096)
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(user.id, "  ")
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(424242, "who?")


async def test_wrong_token_and_unknown_method(
    server: BotApiServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{server.base_url}999:wrong/getMe") as response:
        assert response.status == 401
        assert await response.json() == {
            "ok": False,
            "error_code": 401,
            "description": "Unauthorized",
        }
    async with http.post(f"{server.api_url}/frobnicate") as response:
        assert response.status == 404
        assert (await response.json())["description"] == "Not Found"
    # Method names are case-insensitive, as in Telegram.
    status, body = await call(http, server, "GETME")
    assert status == 200
    assert body["result"]["username"] == "labelgram_test_bot"

    bad = Bot("999:wrong", base_url=server.base_url, base_file_url=server.base_file_url)
    try:
        with pytest.raises(InvalidToken):
            await bad.initialize()
    finally:
        await bad.shutdown()


async def test_fault_hook_answers_429_with_retry_after(
    server: BotApiServer, bot: Bot, user: FakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # PTB 22 warns on int retry_after otherwise

    def fault(method: str, params: dict[str, Any]) -> tuple[int, str, int] | None:
        if method == "sendMessage":
            return 429, "Too Many Requests: retry after 7", 7
        return None

    server.fault = fault
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(user.id, "hello")
    assert info.value.retry_after == timedelta(seconds=7)
    assert server.messages(user) == []
    assert server.stats["fault"] == 1
    assert server.calls("sendMessage")[-1].status == 429

    server.fault = None
    await bot.send_message(user.id, "hello")
    assert server.last_message(user).text == "hello"


async def test_flood_limiter_global_window(http: aiohttp.ClientSession) -> None:
    async with BotApiServer(token=TOKEN, flood_limits=True) as server:
        users = [server.add_user(2000 + i) for i in range(31)]
        results = await asyncio.gather(
            *(call(http, server, "sendMessage", chat_id=u.id, text="hi") for u in users)
        )
        statuses = [status for status, _ in results]
        assert statuses.count(200) == 30
        assert statuses.count(429) == 1
        [body] = [body for status, body in results if status == 429]
        assert body["parameters"] == {"retry_after": 1}
        assert server.stats["flood_429"] == 1


async def test_flood_limiter_per_chat(http: aiohttp.ClientSession) -> None:
    async with BotApiServer(token=TOKEN, flood_limits=True) as server:
        user = server.add_user(3000)
        first, _ = await call(http, server, "sendMessage", chat_id=user.id, text="one")
        second, body = await call(http, server, "sendMessage", chat_id=user.id, text="two")
        assert (first, second) == (200, 429)
        assert body["error_code"] == 429
        assert [m.text for m in server.messages(user)] == ["one"]


async def test_parse_modes(server: BotApiServer, bot: Bot, user: FakeUser) -> None:
    sent = await bot.send_message(user.id, "<b>Task</b> 1 &amp; 2", parse_mode="HTML")
    assert sent.text == "Task 1 & 2"
    assert server.last_message(user).entities == [{"type": "bold", "offset": 0, "length": 4}]
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(user.id, "a < b", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)reserved"):
        await bot.send_message(user.id, "Task 1.", parse_mode="MarkdownV2")
    ok = await bot.send_message(user.id, r"*Task* 1\.", parse_mode="MarkdownV2")
    assert ok.text == "Task 1."

    # Offsets are UTF-16 code units: the emoji counts twice.
    text, entities = parse_html('😀 <a href="https://example.org">x</a>')
    assert text == "😀 x"
    assert entities == [
        {"type": "text_link", "offset": 3, "length": 1, "url": "https://example.org"}
    ]
    _, entities = parse_markdown_v2("__u__ ||s||")
    assert [e["type"] for e in entities] == ["underline", "spoiler"]


async def test_commands_are_stored_per_language(server: BotApiServer, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand("start", "开始")], language_code="zh")
    await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("help", "Help")])
    assert server.commands_for("zh") == [{"command": "start", "description": "开始"}]
    assert [c["command"] for c in server.commands_for()] == ["start", "help"]
    assert [c.command for c in await bot.get_my_commands(language_code="zh")] == ["start"]
    await bot.delete_my_commands(language_code="zh")
    assert server.commands_for("zh") == []
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Start", "uppercase is invalid")])
    # PTB rewrites error texts; the server keeps Telegram's exact description.
    assert server.errors[-1][1] == "Bad Request: BOT_COMMAND_INVALID"


async def test_webhook_delivery(server: BotApiServer, bot: Bot, user: FakeUser) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def hook(request: web.Request) -> web.Response:
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        received.append((secret, await request.json()))
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        assert await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
        await server.send_text(user, "hello")
        await server.wait_until(lambda: received and not server.pending_updates)
        [(secret, update)] = received
        assert secret == "s3cret"
        assert update["message"]["text"] == "hello"
        with pytest.raises(Conflict):
            await bot.get_updates()
        info = await bot.get_webhook_info()
        assert info.url == f"http://127.0.0.1:{port}/hook"
        assert info.pending_update_count == 0
        assert await bot.delete_webhook()
        assert server.webhook_url is None
    finally:
        await runner.cleanup()


async def test_wait_for_message_timeout_dumps_the_chat(
    server: BotApiServer, bot: Bot, user: FakeUser
) -> None:
    await bot.send_message(user.id, "an old message")
    await server.send_text(user, "hi")
    # The old message predates the user's action, so it does not count as an answer.
    with pytest.raises(AssertionError, match="an old message"):
        await server.wait_for_message(user, timeout=0.1)


async def test_application_end_to_end(server: BotApiServer, user: FakeUser) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="go")]])
        await update.message.reply_text("Welcome", reply_markup=markup)

    async def go(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("Working")
        await query.edit_message_text("Done")

    app = (
        Application.builder()
        .token(TOKEN)
        .base_url(server.base_url)
        .base_file_url(server.base_file_url)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(go))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            await server.send_text(user, "/start")
            menu = await server.wait_for_message(user)
            tapped = time.monotonic()
            assert menu.text == "Welcome"
            assert menu.reply_to is None
            query_id = await server.tap_button(user, menu, "Go")
            answer = await server.wait_for_answer(query_id)
            assert answer["text"] == "Working"
            done = await server.wait_for_message(user, lambda m: m.text == "Done")
            assert done.message_id == menu.message_id
            assert button_texts(done) == []
            [latency] = server.tap_latencies()
            assert 0 <= latency <= time.monotonic() - tapped
        finally:
            await app.updater.stop()
            await app.stop()
    assert server.errors == []
