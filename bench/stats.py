"""Small numeric helpers shared by the measurements and the report."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation, as numpy's default; None if
    there are no values."""
    if not values:
        return None
    data = sorted(values)
    pos = (len(data) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def median_of(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Per key, the median of the numeric values over the runs (bools: all true; lists and
    strings: the first run's)."""
    rows = list(rows)
    out: dict[str, Any] = {}
    for key in rows[0]:
        values = [r[key] for r in rows]
        if all(isinstance(v, bool) for v in values):
            out[key] = all(values)
        elif all(isinstance(v, int | float) for v in values):
            med = statistics.median(values)
            out[key] = round(med, 3) if isinstance(med, float) else med
        elif all(v is None or isinstance(v, int | float) for v in values):
            present = [v for v in values if v is not None]
            out[key] = round(statistics.median(present), 3) if present else None
        else:
            out[key] = values[0]
    return out


def ratio(ours: float | None, base: float | None) -> float | None:
    if ours is None or not base:
        return None
    return round(ours / base, 3)


def gini(values: Sequence[float]) -> float | None:
    """The Gini coefficient of non-negative values: 0 when all are equal, towards 1 when one
    holds everything (mean absolute difference over twice the mean); None if empty or all 0."""
    data = sorted(values)
    n, total = len(data), sum(data)
    if not n or not total:
        return None
    weighted = sum((2 * i - n + 1) * x for i, x in enumerate(data))
    return weighted / (n * total)
