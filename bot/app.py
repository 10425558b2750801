"""The one place that builds the Application: builder calls, resources, jobs."""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime

from telegram import BotCommand, Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes
from telegram.request import BaseRequest, HTTPXRequest

import handlers
from bot.config import Config
from bot.context import BotData, Ctx
from bot.sender import OutboxSender
from bot.services import labeling
from bot.texts import t
from db.connection import Database

log = logging.getLogger(__name__)

STUDENT_COMMANDS = ("next", "help", "language")
SWEEPER_JOB = "lease-sweeper"


async def sweep_leases(context: Ctx) -> None:
    """Job: release the tasks whose lease ran out back into the pool."""
    released = await labeling.release_expired(context.bot_data.database, datetime.now(UTC))
    if released:
        log.info("released %d expired assignments", released)


async def post_init(app: Application) -> None:
    """Open the database, schedule jobs, set the command menu, start the outbox sender."""
    data: BotData = app.bot_data
    cfg = data.cfg
    data.db = await Database.open(cfg.database_path)
    assert app.job_queue is not None
    app.job_queue.run_repeating(
        sweep_leases,
        interval=cfg.labeling.sweep_seconds,
        first=cfg.labeling.sweep_seconds,
        name=SWEEPER_JOB,
        job_kwargs={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
    )
    for lang, code in (("en", None), ("zh", "zh")):
        commands = [BotCommand(c, t(lang, "cmd_" + c)) for c in STUDENT_COMMANDS]
        await app.bot.set_my_commands(commands, language_code=code)
    data.sender = OutboxSender(app.bot, data.db)
    await data.sender.start()


async def post_shutdown(app: Application) -> None:
    """Stop the outbox sender, then close the database after the last update was handled."""
    data: BotData = app.bot_data
    if data.sender is not None:
        await data.sender.stop()  # lets the sends in flight finish and record their result
        data.sender = None
    if data.db is not None:
        await data.db.close()
        data.db = None


def build_application(
    cfg: Config,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
) -> Application:
    """Build the bot for `cfg`; tests may inject their own request objects."""
    context_types = ContextTypes(bot_data=functools.partial(BotData, cfg))  # type: ignore[arg-type]
    app = (
        ApplicationBuilder()
        .token(cfg.token)
        .base_url(cfg.telegram.api_base_url)
        .base_file_url(cfg.telegram.file_base_url)
        .request(request or HTTPXRequest(connection_pool_size=64, read_timeout=15))
        .get_updates_request(get_updates_request or HTTPXRequest(read_timeout=40))
        .context_types(context_types)
        .concurrent_updates(64)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    handlers.register_all(app)
    return app


ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
