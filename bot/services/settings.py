"""A student's own settings: alerts, quiet hours, time zone, language."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from db import workers as workers_repo
from db.connection import Database

# Quiet-hour choices offered as buttons: (start, end) in minutes after local midnight.
QUIET_PRESETS: tuple[tuple[int, int] | None, ...] = (
    None,
    (22 * 60, 8 * 60),
    (23 * 60, 7 * 60),
    (0, 8 * 60),
    (21 * 60, 9 * 60),
)
ZONES = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Moscow",
    "America/New_York",
    "America/Los_Angeles",
    "Australia/Sydney",
    "UTC",
)


@dataclass(frozen=True, slots=True)
class PersonalSettings:
    alerts: bool
    quiet: tuple[int, int] | None
    timezone: str
    language: str


async def get(db: Database, worker_id: int) -> PersonalSettings | None:
    worker = await workers_repo.get(db, worker_id)
    who = await workers_repo.recipient(db, worker_id)
    if worker is None or who is None:
        return None
    quiet = None
    if who.quiet_start is not None and who.quiet_end is not None:
        quiet = (who.quiet_start, who.quiet_end)
    return PersonalSettings(
        alerts=worker.alerts, quiet=quiet, timezone=worker.timezone, language=worker.language
    )


async def set_alerts(db: Database, worker_id: int, on: bool) -> bool:
    async with db.transaction() as tx:
        return await workers_repo.set_alerts(tx, worker_id, on)


async def set_quiet(db: Database, worker_id: int, preset: int) -> bool:
    if not 0 <= preset < len(QUIET_PRESETS):
        return False
    window = QUIET_PRESETS[preset]
    async with db.transaction() as tx:
        return await workers_repo.set_quiet_hours(
            tx, worker_id, *(window if window else (None, None))
        )


async def set_timezone(db: Database, worker_id: int, name: str) -> bool:
    """Any IANA zone name is accepted (the buttons offer the common ones)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    async with db.transaction() as tx:
        return await workers_repo.set_timezone(tx, worker_id, name)
