"""The one place that builds the Application: builder calls, resources, jobs."""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from telegram import BotCommand, Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes
from telegram.request import BaseRequest, HTTPXRequest

import handlers
from bot.config import Config
from bot.context import BotData, Ctx
from bot.sender import OutboxSender
from bot.services import labeling, ledger, notify, summaries
from bot.services.summaries import SummarySettings
from bot.texts import t
from db import roles
from db.connection import Database

log = logging.getLogger(__name__)

STUDENT_COMMANDS = ("next", "balance", "history", "me", "settings", "help", "language")
SWEEPER_JOB = "lease-sweeper"
APPROVAL_JOB = "approve-earnings"
SUMMARY_JOB = "summaries"
# A job that starts late (a busy loop, a suspended laptop) still runs: APScheduler's default
# would silently drop it after 1 s. Runs that piled up are coalesced into one.
JOB_KWARGS = {"misfire_grace_time": None, "coalesce": True, "max_instances": 1}


async def sweep_leases(context: Ctx) -> None:
    """Job: release the tasks whose lease ran out back into the pool."""
    released = await labeling.release_expired(context.bot_data.database, datetime.now(UTC))
    if released:
        log.info("released %d expired assignments", released)


async def approve_earnings(context: Ctx) -> None:
    """Job: approve earnings that waited their project's approval delay."""
    approved = await ledger.approve_due(context.bot_data.database, datetime.now(UTC))
    if approved:
        log.info("approved %d earnings", approved)


async def send_summaries(context: Ctx) -> None:
    """Job: queue the daily / weekly summaries that are due (each at most once a day)."""
    cfg = context.bot_data.cfg
    settings = SummarySettings(
        daily_time=cfg.notifications.daily_summary_time,
        weekly_day=cfg.notifications.weekly_summary_day,
        currency=cfg.currency,
    )
    now = datetime.now(UTC)
    items = await summaries.due_summaries(
        context.bot_data.database, now, settings, render=context.bot_data.offload.run
    )
    if items:
        queued = await notify.enqueue(context.bot_data.database, items, now)
        if context.bot_data.sender is not None:
            context.bot_data.sender.wake()
        log.info("queued %d summaries", queued)


async def post_init(app: Application) -> None:
    """Open the database, schedule jobs, set the command menu, start the outbox sender."""
    data: BotData = app.bot_data
    cfg = data.cfg
    data.db = await Database.open(cfg.database_path)
    data.roles = await roles.all_roles(data.db)
    assert app.job_queue is not None
    jobs = (
        (sweep_leases, cfg.labeling.sweep_seconds, SWEEPER_JOB),
        (approve_earnings, cfg.labeling.approve_check_seconds, APPROVAL_JOB),
        (send_summaries, cfg.notifications.summary_check_seconds, SUMMARY_JOB),
    )
    for callback, interval, name in jobs:
        # One job per kind, each looping over whatever is due; the truth of what is due is
        # in the database, so a restart picks up where the last run stopped.
        app.job_queue.run_repeating(
            callback,
            interval=interval,
            first=interval,
            name=name,
            job_kwargs=JOB_KWARGS,
        )
    for lang, code in (("en", None), ("zh", "zh")):
        commands = [BotCommand(c, t(lang, "cmd_" + c)) for c in STUDENT_COMMANDS]
        await app.bot.set_my_commands(commands, language_code=code)
    data.sender = OutboxSender(
        app.bot,
        data.db,
        per_second=cfg.notifications.send_per_second,
        alert_interval=timedelta(minutes=cfg.notifications.alert_interval_minutes),
    )
    await data.sender.start()
    if cfg.mode == "webhook" and cfg.webhook.health_port:
        start_health_server(app, cfg.webhook.listen, cfg.webhook.health_port)
    # Everything loaded so far lives as long as the process: moved out of the collector's
    # sight, so its full collections (which otherwise pause the loop for milliseconds every
    # few hundred taps, the tail of the tap latency) only walk what updates create.
    gc.freeze()


async def post_shutdown(app: Application) -> None:
    """Stop the outbox sender, then close the database after the last update was handled."""
    data: BotData = app.bot_data
    stop_health_server(app)
    if data.sender is not None:
        await data.sender.stop()  # lets the sends in flight finish and record their result
        data.sender = None
    if data.db is not None:
        await data.db.close()
        data.db = None
    await asyncio.to_thread(data.offload.close)  # waits for a job still running


def describe(update: object) -> tuple[int | None, str]:
    """(user id, what the update asks for): a command, a button's prefix, or its kind."""
    if not isinstance(update, Update):
        return None, type(update).__name__
    user = update.effective_user.id if update.effective_user else None
    if update.callback_query is not None:
        data = update.callback_query.data or ""
        return user, "button " + data.split(":", 1)[0][:8]
    message = update.effective_message
    if message is not None:
        text = message.text or message.caption or ""
        if text.startswith("/"):
            return user, text.split()[0].split("@")[0][:32].lower()
        if message.document is not None:
            return user, "file"
        return user, "text" if message.text else "message"
    return user, "other"


class LabelgramApplication(Application):
    """The Application, plus one log line per update: user, what it asked for, milliseconds;
    and the end of the update's "already saved" mark (handlers.common.mark_saved)."""

    async def process_update(self, update: object) -> None:
        started = time.perf_counter()
        try:
            await super().process_update(update)
        finally:
            if isinstance(update, Update):
                self.bot_data.saved_updates.discard(update.update_id)
            user, what = describe(update)
            log.info(
                "update user=%s %s %.1f ms", user, what, (time.perf_counter() - started) * 1000
            )


def _transport(cfg: Config, *, pool: int, read_timeout: float) -> BaseRequest:
    """httpx (python-telegram-bot's default) or the leaner aiohttp client, from config."""
    if cfg.telegram.transport == "aiohttp":
        from bot.transport import AiohttpRequest

        return AiohttpRequest(connection_pool_size=pool, read_timeout=read_timeout)
    return HTTPXRequest(connection_pool_size=pool, read_timeout=read_timeout)


def build_application(
    cfg: Config,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
) -> Application:
    """Build the bot for `cfg`; tests may inject their own request objects."""
    # PTB builds bot_data by calling the given type with no arguments; a partial that binds
    # the config does the same call, so it stands in for the type.
    bot_data = cast(type[BotData], functools.partial(BotData, cfg))
    context_types = ContextTypes(bot_data=bot_data)
    app = (
        ApplicationBuilder()
        .token(cfg.token)
        .base_url(cfg.telegram.api_base_url)
        .base_file_url(cfg.telegram.file_base_url)
        .request(request or _transport(cfg, pool=64, read_timeout=15))
        .get_updates_request(get_updates_request or _transport(cfg, pool=1, read_timeout=40))
        .context_types(context_types)
        .application_class(LabelgramApplication)
        .concurrent_updates(64)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    handlers.register_all(app)
    return app


ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]


# ---------------------------------------------------------------- health endpoint
#
# PTB's webhook server (tornado) builds its routes inside Updater.start_webhook and offers no
# way to add one, so GET /healthz is served by a second, tiny tornado server on
# [webhook] health_port, in the same event loop: it answers only while that loop runs.

HEALTH_PATH = "/healthz"
EXPECTED_JOBS = frozenset({SWEEPER_JOB, APPROVAL_JOB, SUMMARY_JOB})
_health_servers: dict[int, Any] = {}


async def health_report(app: Application) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): 200 when the database answers and the JobQueue runs its jobs."""
    data: BotData = app.bot_data
    body: dict[str, Any] = {}
    healthy = True
    try:
        await asyncio.wait_for(data.database.fetchone("SELECT count(*) FROM sqlite_master"), 5)
        body["database"] = "ok"
    except Exception as exc:  # any failure is the answer: never a traceback to the caller
        body["database"] = f"error: {type(exc).__name__}"
        healthy = False
    queue = app.job_queue
    running = queue is not None and queue.scheduler.running
    names = {job.name for job in queue.jobs()} if queue is not None else set()
    body["jobs"] = len(names)
    body["scheduler"] = "running" if running else "stopped"
    if missing := sorted(EXPECTED_JOBS - names):
        body["missing_jobs"] = missing
    if not running or missing:
        healthy = False
    body["status"] = "ok" if healthy else "failing"
    return (200 if healthy else 503), body


def start_health_server(app: Application, listen: str, port: int) -> None:
    import tornado.httpserver
    import tornado.web

    class HealthHandler(tornado.web.RequestHandler):
        async def get(self) -> None:
            status, body = await health_report(app)
            self.set_status(status)
            self.set_header("Content-Type", "application/json")
            self.set_header("Cache-Control", "no-store")
            self.finish(json.dumps(body))

    server = tornado.httpserver.HTTPServer(tornado.web.Application([(HEALTH_PATH, HealthHandler)]))
    server.listen(port, address=listen)
    _health_servers[id(app)] = server
    log.info("health endpoint on http://%s:%d%s", listen, port, HEALTH_PATH)


def stop_health_server(app: Application) -> None:
    server = _health_servers.pop(id(app), None)
    if server is not None:
        server.stop()
