"""The `labelgram` command.

  labelgram [--config config.toml]             run the bot (the same as `labelgram run`)
  labelgram check [--config config.toml]       check the config, the database and the token
  labelgram backup PATH [--force]              online backup of the database; the bot may run
  labelgram restore BACKUP                     put a backup in place of the database

Exit status: 0 when all is well, 1 on any other problem, 2 on a problem in the config (and,
when the bot starts, on a token Telegram refuses: restarting would not help either).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import sqlite3
import sys
import tempfile
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.config import Config, ConfigError, load_config

if TYPE_CHECKING:
    from telegram.ext import Application

CONFIG_PROBLEM = 2
PROBLEM = 1


class MaskingFormatter(logging.Formatter):
    """Never let the bot token reach a log line (URLs of Bot API calls contain it)."""

    def __init__(self, secret: str, fmt: str, others: tuple[str, ...] = ()) -> None:
        super().__init__(fmt)
        self._secret = secret
        self._others = tuple(o for o in others if o)  # e.g. the webhook secret token

    def format(self, record: logging.LogRecord) -> str:
        # mask_token also hides the secret part alone: a file URL carries the token
        # percent-encoded ("123%3Asecret"), which the whole token would not match.
        text = mask_token(super().format(record), self._secret)
        for other in self._others:
            text = text.replace(other, "***")
        return text


class JsonFormatter(MaskingFormatter):
    """One JSON object per line for log collectors, masked like the text format."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        text = mask_token(json.dumps(entry, ensure_ascii=False), self._secret)
        for other in self._others:
            text = text.replace(other, "***")
        return text


def setup_logging(
    token: str, level: int = logging.INFO, others: tuple[str, ...] = (), log_format: str = "text"
) -> None:
    handler = logging.StreamHandler()
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    kind = JsonFormatter if log_format == "json" else MaskingFormatter
    handler.setFormatter(kind(token, fmt, others))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("tornado.access").setLevel(logging.WARNING)  # one line per health probe


def mask_token(text: str, token: str) -> str:
    """`text` with the token, and its secret part on its own, replaced by `***`."""
    if not token:
        return text
    text = text.replace(token, "***")
    secret = token.partition(":")[2]
    return text.replace(secret, "***") if len(secret) >= 8 else text


def masked(token: str) -> str:
    """How the token is shown: the bot's id (public: getMe returns it) and no secret."""
    bot_id, _, _ = token.partition(":")
    return f"{bot_id}:***" if bot_id.isdigit() else "***"


class Report:
    """Status lines on stdout, problems on stderr (one line each), the token masked in both."""

    def __init__(self) -> None:
        self.token = ""
        self.problems = 0

    def info(self, text: str) -> None:
        sys.stdout.write(mask_token(text, self.token) + "\n")
        sys.stdout.flush()

    def problem(self, text: str) -> None:
        self.problems += 1
        sys.stderr.write("labelgram: " + mask_token(text, self.token) + "\n")
        sys.stderr.flush()


# ---------------------------------------------------------------- arguments


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labelgram",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", default="config.toml", help="path to config.toml")
    # The same option after the subcommand; SUPPRESS keeps the one given before it otherwise.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help="path to config.toml")
    sub = parser.add_subparsers(dest="command", metavar="{run,check,backup,restore}")
    sub.add_parser("run", parents=[common], help="run the bot (the default)")
    check = sub.add_parser(
        "check",
        parents=[common],
        help="check the config, the database and the token (getMe); exit 1 on any problem",
    )
    check.add_argument(
        "--timeout", type=float, default=5.0, help="seconds to wait for the Bot API (default 5)"
    )
    backup = sub.add_parser(
        "backup",
        parents=[common],
        help="copy the database to PATH with SQLite's online backup API (the bot may run)",
    )
    backup.add_argument("path", help="the file to write the backup to")
    backup.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    restore = sub.add_parser(
        "restore",
        parents=[common],
        help="replace the database with a backup (stop the bot first); the old one is kept",
    )
    restore.add_argument("backup", help="a file written by `labelgram backup`")
    return parser


def main(argv: list[str] | None = None) -> int:
    # python-telegram-bot 22 gives retry_after as a timedelta with this set (and warns without).
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    args = build_parser().parse_args(argv)
    command = args.command or "run"
    if command == "check":
        return check(Path(args.config), timeout=args.timeout)
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        sys.stderr.write(f"labelgram: {exc}\n")
        return CONFIG_PROBLEM
    if command == "backup":
        return backup(cfg, Path(args.path), force=args.force)
    if command == "restore":
        return restore(cfg, Path(args.backup))
    return run(cfg)


def run(cfg: Config) -> int:
    """Run the bot until SIGTERM; every start-up problem is one line on stderr, no traceback.

    The database is opened first (a problem there is not worth waiting for the network), then
    getMe is retried with backoff for `[telegram] startup_retry_seconds`; only then do PTB's
    run_polling / run_webhook take over, in the same event loop (they use the current one),
    and find the Application initialized.
    """
    from telegram.error import TelegramError

    from bot.app import ALLOWED_UPDATES, build_application
    from db.connection import DatabaseError

    setup_logging(cfg.token, others=(cfg.webhook.secret_token,), log_format=cfg.log_format)
    report = Report()
    report.token = cfg.token
    app = build_application(cfg)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        status = loop.run_until_complete(_start_up(app, cfg, report))
    except BaseException:
        loop.close()
        raise
    if status is not None:
        loop.close()
        asyncio.set_event_loop(None)
        return status
    hook = cfg.webhook
    try:
        if cfg.mode != "webhook":
            app.run_polling(allowed_updates=ALLOWED_UPDATES)
            return 0
        logging.getLogger(__name__).info(
            "webhook mode: serving %s on %s:%d (Telegram posts to %s)",
            hook.url_path,
            hook.listen,
            hook.port,
            hook.url,
        )
        # PTB's own tornado server: it calls setWebhook with the secret token and answers
        # 403 to any POST whose X-Telegram-Bot-Api-Secret-Token header is missing or wrong.
        app.run_webhook(
            listen=hook.listen,
            port=hook.port,
            url_path=hook.url_path,
            webhook_url=hook.url,
            secret_token=hook.secret_token,
            allowed_updates=ALLOWED_UPDATES,
        )
    except (sqlite3.Error, DatabaseError) as exc:  # post_init opens the database again
        report.problem(f"database {cfg.database_path} cannot be opened: {exc}")
        return PROBLEM
    except TelegramError as exc:  # a call after getMe: setWebhook, deleteWebhook, ...
        report.problem(
            f"telegram {cfg.telegram.api_base_url}: start-up failed after getMe:"
            f" {type(exc).__name__}: {exc.message}"
        )
        return PROBLEM
    except OSError as exc:  # the port is taken, the address is not this machine's, ...
        if cfg.mode != "webhook":
            report.problem(f"start-up failed: {exc}")
        else:
            report.problem(
                f"cannot listen on {hook.listen} (webhook.port {hook.port},"
                f" webhook.health_port {hook.health_port}): {exc.strerror or exc}"
            )
        return PROBLEM
    return 0


# Waits between getMe attempts at start-up: doubling from 1 s, at most 30 s.
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0


async def _start_up(app: Application, cfg: Config, report: Report) -> int | None:
    """Open the database, then reach the Bot API: None when the bot may run, else the status.

    SIGINT / SIGTERM while waiting end the wait (status 0: the stop was asked for).
    """
    if (problem := await _database_problem(cfg.database_path)) is not None:
        report.problem(problem)
        return PROBLEM
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        with contextlib.suppress(NotImplementedError):  # not on Windows: Ctrl-C still works
            loop.add_signal_handler(sig, task.cancel)
    try:
        return await _reach_telegram(app, cfg, report)
    except asyncio.CancelledError:
        logging.getLogger(__name__).info("stopped while waiting for the Bot API")
        await app.bot.shutdown()  # closes the HTTP clients; no getMe has to succeed for that
        return 0
    finally:
        for sig in signals:
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)


async def _database_problem(path: Path) -> str | None:
    """What stops the bot from opening (creating, migrating) its database, in one line."""
    from db.connection import Database, SchemaTooNew, open_or_create

    try:
        await asyncio.to_thread(open_or_create, path)
        db = await Database.open(path)
    except SchemaTooNew as exc:
        return f"database {path}: {exc}: refuse; run a newer Labelgram or restore an older backup"
    except (OSError, sqlite3.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        where = f" ({exc.filename})" if isinstance(exc, OSError) and exc.filename else ""
        return (
            f"database {path} cannot be opened: {reason}{where}; check [database] path and"
            " that the bot's user may write to its folder"
        )
    await db.close()
    return None


async def _reach_telegram(app: Application, cfg: Config, report: Report) -> int | None:
    """`app.initialize()` (getMe) until it succeeds, the token is refused or time runs out.

    In webhook mode setWebhook too, in the same loop: Telegram refusing the URL is one line
    here, where PTB's run_webhook (which sets it again, the same) would log a traceback.
    """
    from telegram.error import BadRequest, InvalidToken, RetryAfter, TelegramError, TimedOut

    from bot.app import ALLOWED_UPDATES

    url = cfg.telegram.api_base_url
    hook = cfg.webhook
    budget = cfg.telegram.startup_retry_seconds
    loop = asyncio.get_running_loop()
    started = loop.time()
    wait = FIRST_RETRY_SECONDS
    attempt = 0
    while True:
        attempt += 1
        try:
            await app.initialize()  # at once when an earlier attempt got this far
            if cfg.mode == "webhook":
                await app.bot.set_webhook(
                    url=hook.url, allowed_updates=ALLOWED_UPDATES, secret_token=hook.secret_token
                )
        except BadRequest as exc:  # from setWebhook: Telegram cannot use the URL
            await app.bot.shutdown()
            report.problem(
                f"Telegram refused the webhook URL {hook.url}: {exc.message}; check [webhook] url"
                " (a public https URL whose host resolves, on port 443, 80, 88 or 8443)"
            )
            return PROBLEM
        except InvalidToken as exc:
            await app.bot.shutdown()
            # PTB's own message quotes the token; the server's answer is in its cause.
            answer = exc.__cause__.message if isinstance(exc.__cause__, TelegramError) else ""
            hint = " (and [telegram] api_base_url)" if "not found" in answer.lower() else ""
            report.problem(
                f"Telegram refused the token: {url} answered getMe with"
                f" {answer or 'Unauthorized'}; check bot.token, or the environment variable"
                f" that bot.token_env names{hint}; not retrying"
            )
            return CONFIG_PROBLEM
        except TelegramError as exc:  # NetworkError, TimedOut, 5xx, 429, an answer not JSON
            reason = "no answer in time" if isinstance(exc, TimedOut) else exc.message
            pause = wait
            if isinstance(exc, RetryAfter):
                after = exc.retry_after  # a timedelta with PTB_TIMEDELTA (main sets it)
                seconds = after.total_seconds() if isinstance(after, timedelta) else after
                pause = max(pause, float(seconds))
        else:
            if attempt > 1:
                logging.getLogger(__name__).info(
                    "reached %s after %d attempts in %s",
                    url,
                    attempt,
                    _duration(loop.time() - started),
                )
            return None
        left = budget - (loop.time() - started)
        if attempt == 1:
            plan = (
                f"retrying for {_duration(budget)}"
                if budget > 0
                else "not retrying ([telegram] startup_retry_seconds = 0)"
            )
            report.problem(
                f"cannot reach {url} ({reason}): check the network or [telegram] api_base_url;"
                f" {plan}"
            )
        elif left > 0:
            report.problem(
                f"still cannot reach {url} ({reason}); attempt {attempt},"
                f" next in {_duration(min(pause, left))}"
            )
        if left <= 0:
            await app.bot.shutdown()
            if budget > 0:
                report.problem(
                    f"gave up after {attempt} attempt{'s' if attempt != 1 else ''} in"
                    f" {_duration(loop.time() - started)}: cannot reach {url} ({reason});"
                    " check the network or [telegram] api_base_url (or wait longer:"
                    " [telegram] startup_retry_seconds)"
                )
            return PROBLEM
        await asyncio.sleep(min(pause, left))
        wait = min(wait * 2, MAX_RETRY_SECONDS)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes = seconds / 60
    return f"{minutes:.0f} minutes" if minutes == round(minutes) else f"{minutes:.1f} minutes"


# ---------------------------------------------------------------- check


def check(config_path: Path, *, timeout: float = 5.0) -> int:
    """`labelgram check`: every problem on its own line; exit 0 only when there is none."""
    report = Report()
    cfg, problems = config_problems(config_path)
    if cfg is None:
        for line in problems:
            report.problem(line)
        count = len(problems)
        report.problem(
            f"check: {count} problem{'s' if count != 1 else ''} in {config_path};"
            " nothing else was checked"
        )
        return CONFIG_PROBLEM
    report.token = cfg.token
    admins = len(cfg.admin_ids)
    report.info(
        f"config {config_path}: ok (token {masked(cfg.token)}, {admins} admin"
        f"{'s' if admins != 1 else ''}, mode {cfg.mode})"
    )
    if cfg.mode == "webhook":
        hook = cfg.webhook
        health = (
            f", health http://{hook.listen}:{hook.health_port}/healthz" if hook.health_port else ""
        )
        report.info(
            f"  webhook: Telegram posts to {hook.url}; the bot listens on"
            f" {hook.listen}:{hook.port}{hook.url_path}{health}"
        )
    if not cfg.admin_ids:
        report.info("  note: no admin_ids: nobody can upload tasks (bot.admin_ids)")
    check_database(cfg.database_path, report)
    asyncio.run(check_telegram(cfg, report, timeout))
    if report.problems:
        count = report.problems
        report.problem(f"check: {count} problem{'s' if count != 1 else ''}")
        return PROBLEM
    report.info("check: all good")
    return 0


def check_database(path: Path, report: Report) -> None:
    """Schema version of the database, opened read-only; it is never created or migrated."""
    from db.connection import read_schema_version
    from db.migrations import MIGRATIONS

    target = len(MIGRATIONS)
    if not path.exists():
        parent = path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not os.access(parent, os.W_OK | os.X_OK):
            report.problem(
                f"database {path} does not exist and the bot cannot create it"
                f" ({parent} is not writable)"
            )
        else:
            report.info(f"database {path}: not created yet (the bot creates it when it starts)")
        return
    try:
        version = read_schema_version(path)
    except sqlite3.Error as exc:
        report.problem(f"database {path} cannot be read: {exc}")
        return
    if version > target:
        report.problem(
            f"database {path}: schema {version} is newer than this code ({target}): refuse;"
            " run a newer Labelgram or restore an older backup"
        )
    elif version < target:
        pending = target - version
        report.info(
            f"database {path}: schema {version} of {target}, {pending} migration"
            f"{'s' if pending != 1 else ''} pending (run the bot to apply them)"
        )
    else:
        report.info(f"database {path}: schema {version} of {target}, up to date")


async def check_telegram(cfg: Config, report: Report, seconds: float) -> None:
    """getMe against the configured api_base_url; prints the bot's @username."""
    from telegram import Bot
    from telegram.error import InvalidToken, NetworkError, TelegramError, TimedOut
    from telegram.request import HTTPXRequest

    url = cfg.telegram.api_base_url

    def request() -> HTTPXRequest:
        return HTTPXRequest(
            connect_timeout=seconds,
            read_timeout=seconds,
            write_timeout=seconds,
            pool_timeout=seconds,
        )

    bot = Bot(
        cfg.token,
        base_url=url,
        base_file_url=cfg.telegram.file_base_url,
        request=request(),
        get_updates_request=request(),
    )
    try:
        async with bot:  # initialize() calls getMe
            me = bot.bot
    except InvalidToken:  # 401 or 404 from getMe (PTB's own message quotes the token)
        report.problem(
            f"telegram {url}: Telegram refused the token; check bot.token, or the"
            " environment variable that bot.token_env names"
        )
    except TimedOut:
        report.problem(
            f"telegram: cannot reach api_base_url {url}: no answer within {seconds:g} s"
        )
    except NetworkError as exc:
        report.problem(f"telegram: cannot reach api_base_url {url}: {exc.message}")
    except TelegramError as exc:
        report.problem(f"telegram {url}: getMe failed: {exc.message}")
    except Exception as exc:  # a URL httpx cannot use, an answer that is not JSON, ...
        report.problem(f"telegram {url}: getMe failed: {type(exc).__name__}: {exc}")
    else:
        report.info(f"telegram {url}: getMe ok, @{me.username} (id {me.id})")


# Reporting every problem in the config: load_config stops at the first one. Each line names
# its key; that key is set aside (removed, so its default applies, or given a stand-in) in a
# scratch copy, and the copy is loaded again, until it loads or a line names no key.
_TABLE_PROBLEM = re.compile(r"^\[(\w+)\] must be a table")
_KEY_PROBLEM = re.compile(
    r"\b(bot|database|locale|currency|labeling|telegram|notifications|webhook)\.([a-z_]+)"
)


def config_problems(path: Path) -> tuple[Config | None, list[str]]:
    """The config, or every problem found in it (each one line naming its key)."""
    try:
        return load_config(path), []
    except ConfigError as exc:
        problems = [str(exc)]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None, problems  # the first line says it all
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "config.toml"
        for _ in range(50):
            if not _set_aside(data, problems[-1]):
                break
            text = _to_toml(data)
            try:
                tomllib.loads(text)
            except tomllib.TOMLDecodeError:
                break
            copy.write_text(text, encoding="utf-8")
            try:
                load_config(copy)
            except ConfigError as exc:
                if str(exc) in problems:
                    break
                problems.append(str(exc))
            else:
                break
    return None, problems


def _set_aside(data: dict[str, Any], problem: str) -> bool:
    if match := _TABLE_PROBLEM.match(problem):
        return data.pop(match[1], None) is not None
    match = _KEY_PROBLEM.search(problem)
    if match is None:
        return False
    table = data.setdefault(match[1], {})
    if not isinstance(table, dict):
        return False
    key = match[2]
    if key == "token":
        table["token"] = "0:stand-in"  # noqa: S105 - a placeholder, not a secret
    elif key == "admin_ids_env":
        table[key] = ""  # the environment variable is the problem: stop reading it
    elif key in table:
        del table[key]
    else:
        return False
    return True


def _to_toml(data: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(key)} = {_toml_value(value)}\n" for key, value in data.items())


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007F")
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = (f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    return value.isoformat()  # TOML dates and times


# ---------------------------------------------------------------- backup and restore


def backup(cfg: Config, target: Path, *, force: bool = False) -> int:
    """`labelgram backup PATH`: an online, verified copy; a file at PATH is always sound."""
    from db.connection import backup_file

    report = Report()
    report.token = cfg.token
    source = cfg.database_path
    if not source.exists():
        report.problem(f"backup: database {source} does not exist: nothing to back up")
        return PROBLEM
    if _same_file(source, target):
        report.problem(f"backup: {target} is the database itself; choose another path")
        return PROBLEM
    if target.exists() and not force:
        report.problem(f"backup: {target} exists; refusing to overwrite it (use --force)")
        return PROBLEM
    if not target.parent.is_dir():
        report.problem(f"backup: folder {target.parent} does not exist")
        return PROBLEM
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    os.close(fd)
    partial = Path(name)
    try:
        try:
            backup_file(source, partial)
        except sqlite3.Error as exc:
            report.problem(f"backup: copying {source} failed: {exc}; nothing written")
            return PROBLEM
        verdict = _verify(partial)
        if isinstance(verdict, str):
            report.problem(
                f"backup: the copy of {source} {verdict}; nothing written to {target}"
                " (check the database itself with PRAGMA integrity_check)"
            )
            return PROBLEM
        if target.exists() and not force:
            report.problem(f"backup: {target} appeared meanwhile; refusing to overwrite it")
            return PROBLEM
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    report.info(
        f"backup {target}: {target.stat().st_size:,} bytes, schema {_version_text(verdict)},"
        f" integrity ok (online copy of {source})"
    )
    return 0


def restore(cfg: Config, backup_path: Path) -> int:
    """`labelgram restore BACKUP`: the current database is moved aside, never deleted."""
    from db.connection import backup_file, database_in_use
    from db.migrations import MIGRATIONS

    report = Report()
    report.token = cfg.token
    db = cfg.database_path
    if not backup_path.is_file():
        report.problem(f"restore: {backup_path} does not exist")
        return PROBLEM
    if _same_file(db, backup_path):
        report.problem(f"restore: {backup_path} is the database itself")
        return PROBLEM
    verdict = _verify(backup_path)
    if isinstance(verdict, str):
        report.problem(f"restore: {backup_path} {verdict}; the database was not touched")
        return PROBLEM
    if verdict == 0:
        report.problem(f"restore: {backup_path} is not a Labelgram database (schema 0)")
        return PROBLEM
    if verdict > len(MIGRATIONS):
        report.problem(
            f"restore: {backup_path} has schema {verdict}, newer than this code"
            f" ({len(MIGRATIONS)}); refuse"
        )
        return PROBLEM
    try:
        in_use = database_in_use(db)
    except OSError as exc:
        report.problem(f"restore: cannot tell whether {db} is in use: {exc}")
        return PROBLEM
    if in_use:
        report.problem(
            f"restore: {db} is open in another process (is the bot running?); stop the bot first"
        )
        return PROBLEM
    db.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=db.parent, prefix=f".{db.name}.", suffix=".restoring")
    os.close(fd)
    incoming = Path(name)
    aside: Path | None = None
    try:
        try:
            backup_file(backup_path, incoming)
        except sqlite3.Error as exc:
            report.problem(f"restore: copying {backup_path} failed: {exc}; nothing changed")
            return PROBLEM
        if isinstance(check := _verify(incoming), str):
            report.problem(f"restore: the copy of {backup_path} {check}; nothing changed")
            return PROBLEM
        if db.exists():
            aside = _aside_name(db)
            # The -wal holds committed writes not yet in the main file: it goes with it, and
            # must never be left next to the restored file (SQLite would replay it there).
            for suffix in ("", "-wal", "-shm"):
                current = Path(str(db) + suffix)
                if current.exists():
                    os.replace(current, Path(str(aside) + suffix))
        os.replace(incoming, db)
    finally:
        incoming.unlink(missing_ok=True)
    report.info(
        f"restored {backup_path} ({db.stat().st_size:,} bytes, schema {_version_text(verdict)},"
        f" integrity ok) to {db}"
    )
    if aside is not None:
        report.info(f"the previous database is kept at {aside}")
    pending = len(MIGRATIONS) - verdict
    if pending:
        report.info(
            f"start the bot as usual: it applies {pending} pending migration"
            f"{'s' if pending != 1 else ''} first"
        )
    else:
        report.info("start the bot as usual")
    return 0


def _verify(path: Path) -> int | str:
    """The schema version of a sound database file, or what is wrong with it."""
    from db.connection import integrity_problems, read_schema_version

    try:
        problems = integrity_problems(path)
        version = read_schema_version(path)
    except sqlite3.Error as exc:
        return f"cannot be read as a database ({exc})"
    if problems:
        return "failed PRAGMA integrity_check: " + "; ".join(problems[:3])
    return version


def _version_text(version: int) -> str:
    from db.migrations import MIGRATIONS

    return f"{version} of {len(MIGRATIONS)}"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def _aside_name(db: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = db.with_name(f"{db.name}.before-restore-{stamp}")
    n = 1
    while any(Path(str(aside) + s).exists() for s in ("", "-wal", "-shm")):
        aside = db.with_name(f"{db.name}.before-restore-{stamp}-{n}")
        n += 1
    return aside


if __name__ == "__main__":
    raise SystemExit(main())
