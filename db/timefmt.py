"""How times are stored: ISO 8601 in UTC with an explicit offset, to the millisecond."""

from __future__ import annotations

from datetime import UTC, datetime


def to_db(moment: datetime) -> str:
    """An aware datetime as sortable UTC text; naive datetimes are refused."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the database")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def from_db(text: str) -> datetime:
    return datetime.fromisoformat(text)
