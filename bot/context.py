"""The typed context every handler receives: `context.bot_data` is a BotData, not a dict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from telegram.ext import CallbackContext, ExtBot

from bot.config import Config
from bot.offload import Offload
from db.connection import Database

if TYPE_CHECKING:
    from bot.sender import OutboxSender


@dataclass(slots=True)
class BotData:
    """Long-lived resources, opened in post_init and closed in post_shutdown."""

    cfg: Config
    db: Database | None = None
    # Telegram user id → interface language, so no update needs a query just to pick one.
    languages: dict[int, str] = field(default_factory=dict)
    # Registered students seen since start, so the invite-only gate needs no query for them.
    members: set[int] = field(default_factory=set)
    # Telegram user id → 'admin' or 'reviewer' (the roles table), loaded in post_init and
    # refreshed by /role, so the admin guard reads a role without a query.
    roles: dict[int, str] = field(default_factory=dict)
    # Updates being handled whose change is already committed (handlers.common.mark_saved),
    # so the error handler tells the truth about a failure after the commit.
    saved_updates: set[int] = field(default_factory=set)
    # Fire-and-forget tasks (progress edits) kept referenced until they finish.
    background: set = field(default_factory=set)
    # Delivers the outbox (alerts, broadcasts, summaries); started in post_init.
    sender: OutboxSender | None = None
    # Exports, aggregation and charts run here, off the event loop (its process starts on
    # first use).
    offload: Offload = field(default_factory=Offload)

    @property
    def database(self) -> Database:
        if self.db is None:
            raise RuntimeError("the database is not open yet")
        return self.db

    @property
    def outbox(self) -> OutboxSender:
        if self.sender is None:
            raise RuntimeError("the outbox sender is not running yet")
        return self.sender


Ctx = CallbackContext[ExtBot[None], dict, dict, BotData]
