"""Shared fixtures: a fresh SQLite file per test, configs, and seeded projects."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import Config, Labeling, Notifications, TelegramApi
from db.connection import Database

TOKEN = "123456:TEST-labelgram-token"
ADMIN_ID = 900_001


def make_config(tmp_path: Path, **overrides: object) -> Config:
    values: dict[str, object] = {
        "token": TOKEN,
        "admin_ids": frozenset({ADMIN_ID}),
        "database_path": tmp_path / "labelgram.db",
        "labeling": Labeling(
            lease_minutes=10,
            overlap=1,
            sweep_seconds=3600,
            approve_check_seconds=3600,
            # The simulated students tap within milliseconds: the too-fast rule has its own
            # tests and is off by default here.
            min_seconds=0.0,
        ),
        "notifications": Notifications(summary_check_seconds=3600),
        # The bot's default is invite-only; most tests register students with a bare /start,
        # so they run the bot open. tests/test_access.py covers invite mode.
        "access": "open",
        # LABELGRAM_TEST_TRANSPORT=aiohttp runs every end-to-end test on bot/transport.py.
        "telegram": TelegramApi(transport=os.environ.get("LABELGRAM_TEST_TRANSPORT", "httpx")),
    }
    values.update(overrides)
    return Config(**values)  # type: ignore[arg-type]


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "test.db")
    yield database
    await database.close()


@pytest.fixture
def t0() -> datetime:
    return datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
