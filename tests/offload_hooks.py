"""Initializers for the bot's worker process (bot.offload.Offload(initializer=…)) in tests.

The worker is a spawned interpreter: a test's monkeypatch does not reach it, so what a test
needs changed there is changed by these, when the worker starts.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

HOLD_SECONDS = 60.0


def cap_dawid_skene(rounds: int) -> None:
    """Dawid-Skene stops after `rounds` rounds, as if a project needed more than the cap."""
    from bot import aggregation

    aggregation.MAX_ITER = rounds


def hold_aggregation(folder: str) -> None:
    """Each aggregation first writes `held` into `folder`, then waits until a file `release`
    is there (at most a minute): a test can act while an export is in progress."""
    from bot import aggregation

    original = aggregation.dawid_skene_model
    held, release = Path(folder) / "held", Path(folder) / "release"

    def waiting(*args: Any, **kwargs: Any) -> Any:
        held.touch()
        deadline = time.monotonic() + HOLD_SECONDS
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return original(*args, **kwargs)

    aggregation.dawid_skene_model = waiting  # type: ignore[assignment]
