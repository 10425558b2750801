"""Telegram handlers, one module per feature, registered in one place.

Order matters: the admin guard sits in group -1 so it runs before everything else, and
within group 0 the first matching handler wins.
"""

from __future__ import annotations

from telegram.ext import Application

from handlers import admin, broadcast, errors, labeling, start

MODULES = (
    admin,  # the guard (group -1), then uploads and project commands
    broadcast,  # /broadcast (admins; guarded above); alerts after uploads and /resume
    start,  # /start, /help, /language, /next
    labeling,  # answer and skip buttons: the hot path
    errors,  # the error handler
)


def register_all(app: Application) -> None:
    for module in MODULES:
        module.register(app)
