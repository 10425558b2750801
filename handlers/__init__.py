"""Telegram handlers, one module per feature, registered in one place.

Order matters: the invite-only gate sits in group -2 (invite mode); within group 0 the first
matching handler wins, and labeling's catch-all for unknown buttons must come last. Who may
run a handler is declared where each module registers it (handlers.guard): an admin
command, file or button from anyone else is refused by the handler that matched it.
"""

from __future__ import annotations

from telegram.ext import Application

from handlers import (
    access,
    admin,
    broadcast,
    errors,
    labeling,
    money,
    privacy,
    quality,
    roles,
    settings,
    start,
)

MODULES = (
    access,  # the invite-only gate (group -2); /invite, /invites, /revoke (admins)
    admin,  # uploads and project commands (admins)
    broadcast,  # /broadcast (admins); alerts after uploads and /resume
    money,  # /balance, /history, disputes; /bonus, /deduct, /approve, /payout… (admins)
    quality,  # /review, /workers, /ban, /unban (admins); /me
    roles,  # /role (owners)
    settings,  # /settings, /timezone
    privacy,  # /privacy, /forget_me
    start,  # /start, /help, /language, /next
    labeling,  # answer and skip buttons: the hot path, then the catch-all for old buttons
    errors,  # the error handler
)


def register_all(app: Application) -> None:
    for module in MODULES:
        module.register(app)
