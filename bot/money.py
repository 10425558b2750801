"""Money in integer minor units: parsing what admins type, formatting what people read."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from bot.config import Currency


def parse_amount(text: str, minor_units: int) -> int | None:
    """'0.05' → 5 (with 2 minor units). None if it is not an exact, non-negative amount."""
    text = text.strip().replace(",", ".")
    if not text or len(text) > 20:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0:
        return None
    scaled = value.scaleb(minor_units)
    if scaled != scaled.to_integral_value():
        return None
    return int(scaled)


def format_amount(minor: int, currency: Currency) -> str:
    """5 → '¥0.05'; negative amounts keep their sign in front of the symbol."""
    sign = "-" if minor < 0 else ""
    minor = abs(minor)
    if currency.minor_units == 0:
        return f"{sign}{currency.symbol}{minor}"
    unit = 10**currency.minor_units
    return f"{sign}{currency.symbol}{minor // unit}.{minor % unit:0{currency.minor_units}d}"
