"""Where the figures go: a Markdown table for the README and JSON in bench/results/."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
LATEST = RESULTS / "latest.json"


def machine() -> dict[str, Any]:
    """What the figures depend on: CPU, Python and the HTTP stack."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in ("python-telegram-bot", "httpx", "aiosqlite", "aiohttp"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "os": platform.platform(),
        "python": platform.python_version(),
        **versions,
    }


def machine_line(info: dict[str, Any]) -> str:
    return (
        f"{info['cpus']} CPUs ({info['cpu_model']}), Python {info['python']}, "
        f"python-telegram-bot {info['python-telegram-bot']}, httpx {info['httpx']}"
    )


def fmt(value: Any, suffix: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        text = f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
        return text + suffix
    return f"{value}{suffix}"


def md_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str] | None = None
) -> str:
    """A GitHub Markdown table; `align` holds "l" or "r" per column (default: l, then r)."""
    align = align or ["l"] + ["r"] * (len(headers) - 1)
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def command_line(argv: Sequence[str]) -> str:
    return " ".join([".venv/bin/python -m bench.run", *argv])


def save(path: Path, key: str, section: dict[str, Any]) -> None:
    """Store one measurement's figures under `key`, keeping the other measurements' ones."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    results = data.get("results") if isinstance(data.get("results"), dict) else {}
    results[key] = section
    data = {
        "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "results": dict(sorted(results.items())),
    }
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def code_version(checkout: Path) -> str | None:
    """`<commit>` or `<commit>+changes` of a git checkout (read-only git calls), else None."""

    def git(*args: str) -> str | None:
        argv = ["git", "--no-optional-locks", "-C", str(checkout), *args]
        try:
            done = subprocess.run(  # noqa: S603
                argv,
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    if commit is None:
        return None
    return commit + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def stamp(argv: Sequence[str], app: Path) -> dict[str, Any]:
    return {
        "command": command_line(argv),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "app_version": code_version(app),
        "machine": machine(),
    }
