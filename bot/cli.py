"""The `labelgram` command: `labelgram [--config config.toml]` runs the bot."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from bot.config import ConfigError, load_config


class MaskingFormatter(logging.Formatter):
    """Never let the bot token reach a log line (URLs of Bot API calls contain it)."""

    def __init__(self, secret: str, fmt: str) -> None:
        super().__init__(fmt)
        self._secret = secret

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text.replace(self._secret, "***") if self._secret else text


def setup_logging(token: str, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler.setFormatter(MaskingFormatter(token, fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    # python-telegram-bot 22 gives retry_after as a timedelta with this set (and warns without).
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    parser = argparse.ArgumentParser(prog="labelgram", description=__doc__)
    parser.add_argument("--config", default="config.toml", help="path to config.toml")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        sys.stderr.write(f"labelgram: {exc}\n")
        return 2

    from bot.app import ALLOWED_UPDATES, build_application

    setup_logging(cfg.token)
    app = build_application(cfg)
    app.run_polling(allowed_updates=ALLOWED_UPDATES)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
