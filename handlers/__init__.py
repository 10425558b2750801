"""Telegram handlers, one module per feature, registered in one place.

Order matters: the admin guard sits in group -1 so it runs before everything else and
covers every module's ADMIN_COMMANDS and ADMIN_BUTTONS; within group 0 the first matching
handler wins, and labeling's catch-all for unknown buttons must come last.
"""

from __future__ import annotations

from telegram.ext import Application

from handlers import (
    access,
    admin,
    broadcast,
    errors,
    guard,
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
    guard.register(
        app,
        commands=[c for m in MODULES for c in getattr(m, "ADMIN_COMMANDS", ())],
        button_prefixes=[p for m in MODULES for p in getattr(m, "ADMIN_BUTTONS", ())],
    )
    for module in MODULES:
        module.register(app)
