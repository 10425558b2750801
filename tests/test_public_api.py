"""Only the public API of the libraries, and no dependency that nothing uses.

Read from the source with `ast`: no module in bot/, handlers/ or db/ imports a private
module of a library (`from telegram._utils… import`, `import x._y`, `from x import _y`);
every extra of python-telegram-bot named in pyproject.toml is used by the code.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "db")
# What each python-telegram-bot extra installs, and the name the code uses it by.
EXTRA_USED_BY = {
    "job-queue": "job_queue",  # Application.job_queue (APScheduler)
    "webhooks": "run_webhook",  # tornado
    "rate-limiter": "AIORateLimiter",  # aiolimiter
    "socks": "proxy",
    "http2": "http_version",
    "callback-data": "arbitrary_callback_data",  # cachetools
    "passport": "passport_data",  # cryptography
}


def _private(dotted: str) -> bool:
    """A dotted module name with a part such as `_utils` (dunders like `__future__` aside)."""
    return any(
        part.startswith("_") and not (part.startswith("__") and part.endswith("__"))
        for part in dotted.split(".")
    )


def private_imports(source: str) -> list[str]:
    """`line: import statement` for every import of a library's private module or name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [
                f"{node.lineno}: import {alias.name}"
                for alias in node.names
                if alias.name.split(".")[0] not in PACKAGES and _private(alias.name)
            ]
        elif isinstance(node, ast.ImportFrom):
            if node.level or node.module is None or node.module.split(".")[0] in PACKAGES:
                continue  # our own modules
            names = [alias.name for alias in node.names]
            if _private(node.module) or any(n.startswith("_") for n in names):
                found.append(f"{node.lineno}: from {node.module} import {', '.join(names)}")
    return found


def sources() -> list[Path]:
    files = sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))
    assert len(files) > 40  # the walk found the code
    return files


@pytest.mark.parametrize(
    ("source", "private"),
    [
        ("from telegram._utils.defaultvalue import DefaultValue", True),
        ("import telegram._bot", True),
        ("import telegram._bot as b", True),
        ("from telegram import _utils", True),
        ("from aiosqlite.core import _connection_worker_thread", True),
        ("def f():\n    from telegram.ext._utils.types import BD", True),
        ("from telegram.request import BaseRequest", False),
        ("import telegram.ext", False),
        ("from __future__ import annotations", False),
        ("from bot.services import _shared", False),  # our own package
        ("from . import _shared", False),
    ],
)
def test_the_check_sees_a_private_import(source: str, private: bool) -> None:
    assert bool(private_imports(source)) is private


def test_no_module_imports_a_private_module_of_a_library() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sources()
        for line in private_imports(path.read_text(encoding="utf-8"))
    ]
    assert found == []


def names_used(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.alias):
            names.add(node.name.rpartition(".")[2])
        elif isinstance(node, ast.keyword) and node.arg:
            names.add(node.arg)
    return names


def test_every_python_telegram_bot_extra_is_used() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    [requirement] = [
        d for d in project["project"]["dependencies"] if d.startswith("python-telegram-bot")
    ]
    match = re.match(r"python-telegram-bot\[([^\]]*)\]", requirement)
    extras = [e.strip() for e in match[1].split(",")] if match else []
    used: set[str] = set()
    for path in sources():
        used |= names_used(path.read_text(encoding="utf-8"))
    unknown = [e for e in extras if e not in EXTRA_USED_BY]
    assert unknown == [], "say in EXTRA_USED_BY what these extras are for"
    unused = [e for e in extras if EXTRA_USED_BY[e] not in used]
    assert unused == []  # an unused extra is dead weight in every install
    assert {"job-queue", "webhooks"} <= set(extras)  # the JobQueue and run_webhook need them
