"""The baseline: a bare python-telegram-bot bot with no database (run by bench.run).

/start sends a message with three buttons; a tap answers the callback and edits the message
to a new text with the same buttons. Same HTTP stack and concurrency as Labelgram (httpx,
64 pooled connections, 64 updates at once), so the ratio ours / bare is the app's own cost.
BENCH_BARE_TRANSPORT=aiohttp runs it on Labelgram's aiohttp transport (bot/transport.py) to
compare the two bots on that stack too.
"""

import asyncio
import os
import sys
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes
from telegram.request import BaseRequest, HTTPXRequest


def request(**kwargs: Any) -> BaseRequest:
    if os.environ.get("BENCH_BARE_TRANSPORT") == "aiohttp":
        from bot.transport import AiohttpRequest

        return AiohttpRequest(**kwargs)
    return HTTPXRequest(**kwargs)


KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton(x, callback_data=f"a:{x}") for x in "abc"]])


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.message.reply_text("Task 0", reply_markup=KEYBOARD)


async def tap(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    n = context.bot_data["taps"] = context.bot_data.get("taps", 0) + 1
    query = update.callback_query
    await asyncio.gather(
        query.answer("Saved"), query.edit_message_text(f"Task {n}", reply_markup=KEYBOARD)
    )


if __name__ == "__main__":
    api_base_url, file_base_url = sys.argv[1:3]
    app = (
        Application.builder()
        .token(os.environ["BENCH_BOT_TOKEN"])
        .base_url(api_base_url)
        .base_file_url(file_base_url)
        .request(request(connection_pool_size=64, read_timeout=15))
        .get_updates_request(request(read_timeout=40))
        .concurrent_updates(64)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(tap))
    app.run_polling(allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY])
