"""The weekly earnings chart: a small PNG bar chart, drawn without pyplot's global state.

Only digits and ASCII appear in the image (dates, amounts), so no CJK font is needed;
the localized title goes in the photo's caption.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from bot.config import Currency

BAR = "#3b82f6"
TODAY = "#f59e0b"


def weekly_earnings_png(days: Sequence[tuple[str, int]], currency: Currency) -> bytes:
    """`days` are (label such as '11-27', earned in minor units), oldest first."""
    # Imported here: matplotlib doubles the bot's memory and start-up time, and only the
    # weekly summary job needs it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    unit = 10**currency.minor_units
    labels = [label for label, _ in days]
    values = [amount / unit for _, amount in days]
    fig = Figure(figsize=(6.4, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    colors = [BAR] * (len(values) - 1) + [TODAY] if values else []
    bars = ax.bar(labels, values, color=colors, width=0.6)
    top = max(values, default=0)
    ax.set_ylim(0, top * 1.25 if top > 0 else 1)
    for bar, value in zip(bars, values, strict=True):
        if value > 0:
            ax.annotate(
                f"{value:.{currency.minor_units}f}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=9,
                xytext=(0, 2),
                textcoords="offset points",
            )
    ax.set_ylabel(currency.code)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
