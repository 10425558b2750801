"""Configuration: a TOML file read into frozen dataclasses.

Every problem is reported as one `ConfigError` line naming the key, never a traceback.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LANGUAGES = ("en", "zh")


class ConfigError(Exception):
    """A configuration problem, worded for the person who runs the bot."""


@dataclass(frozen=True, slots=True)
class Currency:
    code: str = "CNY"
    symbol: str = "¥"
    minor_units: int = 2


@dataclass(frozen=True, slots=True)
class Labeling:
    lease_minutes: int = 10
    overlap: int = 1
    sweep_seconds: float = 30.0
    approve_hours: int = 24
    approve_check_seconds: float = 300.0
    min_seconds: float = 1.0  # an answer faster than this + reading time is held for review


TELEGRAM_API = "https://api.telegram.org/bot"
TELEGRAM_FILES = "https://api.telegram.org/file/bot"


@dataclass(frozen=True, slots=True)
class TelegramApi:
    api_base_url: str = TELEGRAM_API
    file_base_url: str = TELEGRAM_FILES
    transport: str = "httpx"  # or "aiohttp" (bot/transport.py)
    # How long `labelgram` keeps trying to reach the Bot API at start-up before it gives up.
    startup_retry_seconds: float = 300.0


@dataclass(frozen=True, slots=True)
class Notifications:
    daily_summary_time: time = time(21, 0)  # in each student's own time zone
    weekly_summary_day: int = 6  # Monday is 0: Sunday
    summary_check_seconds: float = 300.0
    alert_interval_minutes: int = 60  # at most one new-task alert per project in this time
    send_per_second: int = 29  # outbox pace; Telegram allows about 30


MODES = ("polling", "webhook")
ACCESS = ("open", "invite")
SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True, slots=True)
class Webhook:
    """Webhook mode: Telegram POSTs updates to `url`; the bot listens on listen:port."""

    listen: str = "127.0.0.1"
    port: int = 8443
    url: str = ""  # the public https URL Telegram posts to
    secret_token: str = ""  # Telegram sends it in X-Telegram-Bot-Api-Secret-Token
    health_port: int = 8444  # GET /healthz on listen:health_port; 0 turns it off

    @property
    def url_path(self) -> str:
        """The path the bot's webhook server answers on: the path of the public URL."""
        return urlsplit(self.url).path or "/"


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True, slots=True)
class Config:
    token: str
    admin_ids: frozenset[int]
    database_path: Path
    default_language: str = "en"
    default_timezone: str = "Asia/Shanghai"
    mode: str = "polling"
    # "invite": only people who open an invite link from /invite may register (the default);
    # "open": anyone who sends /start may.
    access: str = "invite"
    webhook: Webhook = field(default_factory=Webhook)
    currency: Currency = field(default_factory=Currency)
    labeling: Labeling = field(default_factory=Labeling)
    telegram: TelegramApi = field(default_factory=TelegramApi)
    notifications: Notifications = field(default_factory=Notifications)
    log_format: str = "text"  # "json": one JSON object per line, for log collectors


def _table(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] must be a table")
    return value


def _get(table: dict[str, Any], section: str, key: str, kind: type | tuple, default: Any) -> Any:
    value = table.get(key, default)
    # bool is an int in Python; refuse it where a number is wanted.
    if isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{section}.{key} must be {_kind_name(kind)}, not true/false")
    if not isinstance(value, kind):
        raise ConfigError(f"{section}.{key} must be {_kind_name(kind)}, got {value!r}")
    return value


def _kind_name(kind: type | tuple) -> str:
    names = {str: "a string", int: "a whole number", float: "a number", list: "a list"}
    if isinstance(kind, tuple):
        return " or ".join(names.get(k, k.__name__) for k in kind)
    return names.get(kind, kind.__name__)


def load_config(path: str | os.PathLike[str], env: dict[str, str] | None = None) -> Config:
    """Read and validate the config file; raise ConfigError with one clear line on a problem."""
    env = dict(os.environ) if env is None else env
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found (copy config.example.toml to {path.name})"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None

    bot = _table(data, "bot")
    token = _get(bot, "bot", "token", str, "").strip()
    token_env = _get(bot, "bot", "token_env", str, "LABELGRAM_TOKEN").strip()
    if not token and token_env:
        token = env.get(token_env, "").strip()
    if not token:
        where = f"or the environment variable {token_env}" if token_env else ""
        raise ConfigError(f"bot.token is empty: set it {where}".strip())
    if ":" not in token:
        raise ConfigError("bot.token does not look like a token from @BotFather (no ':')")
    admins = _get(bot, "bot", "admin_ids", list, [])
    if not all(isinstance(a, int) and not isinstance(a, bool) for a in admins):
        raise ConfigError("bot.admin_ids must be a list of Telegram user ids (numbers)")
    admins_env = _get(bot, "bot", "admin_ids_env", str, "LABELGRAM_ADMIN_IDS").strip()
    extra = env.get(admins_env, "").strip() if admins_env else ""
    if extra:
        try:
            admins = [*admins, *(int(a) for a in extra.replace(" ", "").split(",") if a)]
        except ValueError:
            raise ConfigError(
                f"the environment variable {admins_env} (bot.admin_ids_env) must be"
                " Telegram user ids separated by commas"
            ) from None
    mode = _get(bot, "bot", "mode", str, "polling")
    if mode not in MODES:
        raise ConfigError(f'bot.mode must be "polling" or "webhook", got {mode!r}')
    webhook = _webhook(_table(data, "webhook"), env, required=mode == "webhook")
    access = _get(bot, "bot", "access", str, "invite")
    if access not in ACCESS:
        raise ConfigError(f'bot.access must be "open" or "invite", got {access!r}')

    db = _table(data, "database")
    db_path = Path(_get(db, "database", "path", str, "labelgram.db"))
    if not db_path.is_absolute():
        db_path = path.resolve().parent / db_path

    loc = _table(data, "locale")
    language = _get(loc, "locale", "default_language", str, "en")
    if language not in LANGUAGES:
        raise ConfigError(f"locale.default_language must be one of {', '.join(LANGUAGES)}")
    tz = _get(loc, "locale", "default_timezone", str, "Asia/Shanghai")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"locale.default_timezone {tz!r} is not a known time zone") from None

    cur = _table(data, "currency")
    currency = Currency(
        code=_get(cur, "currency", "code", str, "CNY"),
        symbol=_get(cur, "currency", "symbol", str, "¥"),
        minor_units=_get(cur, "currency", "minor_units", int, 2),
    )
    if not 0 <= currency.minor_units <= 4:
        raise ConfigError("currency.minor_units must be between 0 and 4")

    lab = _table(data, "labeling")
    labeling = Labeling(
        lease_minutes=_get(lab, "labeling", "lease_minutes", int, 10),
        overlap=_get(lab, "labeling", "overlap", int, 1),
        sweep_seconds=float(_get(lab, "labeling", "sweep_seconds", (int, float), 30)),
        approve_hours=_get(lab, "labeling", "approve_hours", int, 24),
        approve_check_seconds=float(
            _get(lab, "labeling", "approve_check_seconds", (int, float), 300)
        ),
        min_seconds=float(_get(lab, "labeling", "min_seconds", (int, float), 1.0)),
    )
    if labeling.lease_minutes < 1:
        raise ConfigError("labeling.lease_minutes must be at least 1")
    if labeling.overlap < 1:
        raise ConfigError("labeling.overlap must be at least 1")
    if labeling.sweep_seconds <= 0:
        raise ConfigError("labeling.sweep_seconds must be greater than 0")
    if not 0 <= labeling.approve_hours <= 24 * 90:
        raise ConfigError("labeling.approve_hours must be between 0 and 2160")
    if labeling.approve_check_seconds <= 0:
        raise ConfigError("labeling.approve_check_seconds must be greater than 0")

    tg = _table(data, "telegram")
    telegram = TelegramApi(
        api_base_url=_get(tg, "telegram", "api_base_url", str, TELEGRAM_API),
        file_base_url=_get(tg, "telegram", "file_base_url", str, TELEGRAM_FILES),
        transport=_get(tg, "telegram", "transport", str, "httpx"),
        startup_retry_seconds=float(
            _get(tg, "telegram", "startup_retry_seconds", (int, float), 300)
        ),
    )
    if not telegram.startup_retry_seconds >= 0:  # also refuses nan
        raise ConfigError(
            "telegram.startup_retry_seconds must be 0 (no retry) or more, got"
            f" {telegram.startup_retry_seconds:g}"
        )
    if telegram.transport not in ("httpx", "aiohttp"):
        raise ConfigError(
            f'telegram.transport must be "httpx" or "aiohttp", got {telegram.transport!r}'
        )
    for key in ("api_base_url", "file_base_url"):
        if not getattr(telegram, key).startswith(("http://", "https://")):
            raise ConfigError(f"telegram.{key} must start with http:// or https://")

    notifications = _notifications(_table(data, "notifications"))
    log_format = _get(_table(data, "logging"), "logging", "format", str, "text")
    if log_format not in ("text", "json"):
        raise ConfigError(f'logging.format must be "text" or "json", got {log_format!r}')

    return Config(
        token=token,
        admin_ids=frozenset(admins),
        database_path=db_path,
        default_language=language,
        default_timezone=tz,
        mode=mode,
        access=access,
        webhook=webhook,
        currency=currency,
        labeling=labeling,
        telegram=telegram,
        notifications=notifications,
        log_format=log_format,
    )


def _notifications(table: dict[str, Any]) -> Notifications:
    section = "notifications"
    raw_time = _get(table, section, "daily_summary_time", str, "21:00")
    try:
        hour, minute = (int(p) for p in raw_time.split(":"))
        at = time(hour, minute)
    except ValueError:
        raise ConfigError(
            f"notifications.daily_summary_time must look like 21:00, got {raw_time!r}"
        ) from None
    day = _get(table, section, "weekly_summary_day", str, "sunday").strip().lower()
    if day not in WEEKDAYS:
        raise ConfigError(f"notifications.weekly_summary_day must be a weekday name, got {day!r}")
    check = float(_get(table, section, "summary_check_seconds", (int, float), 300))
    interval = _get(table, section, "alert_interval_minutes", int, 60)
    pace = _get(table, section, "send_per_second", int, 29)
    if check <= 0:
        raise ConfigError("notifications.summary_check_seconds must be greater than 0")
    if interval < 0:
        raise ConfigError("notifications.alert_interval_minutes must not be negative")
    if not 1 <= pace <= 30:
        raise ConfigError("notifications.send_per_second must be between 1 and 30")
    return Notifications(
        daily_summary_time=at,
        weekly_summary_day=WEEKDAYS.index(day),
        summary_check_seconds=check,
        alert_interval_minutes=interval,
        send_per_second=pace,
    )


def _webhook(table: dict[str, Any], env: dict[str, str], *, required: bool) -> Webhook:
    """The [webhook] table; `url` and the secret token are required in webhook mode only."""
    section = "webhook"
    listen = _get(table, section, "listen", str, "127.0.0.1").strip()
    if not listen:
        raise ConfigError("webhook.listen must be an address such as 127.0.0.1 or 0.0.0.0")
    port = _get(table, section, "port", int, 8443)
    if not 1 <= port <= 65535:
        raise ConfigError(f"webhook.port must be between 1 and 65535, got {port}")
    health_port = _get(table, section, "health_port", int, 8444)
    if not 0 <= health_port <= 65535:
        raise ConfigError(
            f"webhook.health_port must be between 1 and 65535 (0: no health endpoint),"
            f" got {health_port}"
        )
    if health_port and health_port == port:
        raise ConfigError("webhook.health_port must differ from webhook.port")
    url = _get(table, section, "url", str, "").strip()
    if url:
        parts = urlsplit(url)
        loopback = parts.hostname in LOOPBACK_HOSTS
        if not parts.hostname or not (
            parts.scheme == "https" or (parts.scheme == "http" and loopback)
        ):
            raise ConfigError(
                f"webhook.url must be a public https:// URL (Telegram posts only to https),"
                f" got {url!r}"
            )
        if parts.query or parts.fragment:
            raise ConfigError("webhook.url must not have a ?query or #fragment")
    elif required:
        raise ConfigError(
            'webhook.url is required with bot.mode = "webhook"'
            " (the public https URL Telegram posts updates to)"
        )
    secret = _get(table, section, "secret_token", str, "").strip()
    secret_env = _get(table, section, "secret_token_env", str, "LABELGRAM_WEBHOOK_SECRET")
    secret_env = secret_env.strip()
    from_env = False
    if not secret and secret_env:
        secret = env.get(secret_env, "").strip()
        from_env = bool(secret)
    if secret and not SECRET_TOKEN_RE.fullmatch(secret):
        where = (
            f"the environment variable {secret_env} (webhook.secret_token_env)"
            if from_env
            else "webhook.secret_token"
        )
        raise ConfigError(f"{where} must be 1 to 256 characters, only A-Z a-z 0-9 _ and -")
    if required and not secret:
        where = f" or the environment variable {secret_env}" if secret_env else ""
        raise ConfigError(
            f'webhook.secret_token is required with bot.mode = "webhook": set it{where}'
            " (for example the output of: openssl rand -hex 32)"
        )
    return Webhook(listen=listen, port=port, url=url, secret_token=secret, health_port=health_port)
