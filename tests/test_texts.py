"""Both languages have every message, and every code the code can produce has a message."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from bot import importing
from bot.services.labeling import Refusal
from bot.texts import CATALOGS, language_for, t

ROOT = Path(__file__).resolve().parent.parent


def fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_both_languages_have_the_same_keys_and_placeholders() -> None:
    en, zh = CATALOGS["en"], CATALOGS["zh"]
    assert set(en) == set(zh)
    for key in en:
        assert fields(en[key]) == fields(zh[key]), key


def test_every_key_used_in_the_code_exists() -> None:
    used: set[str] = set()
    for path in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/*.py")]:
        text = path.read_text(encoding="utf-8")
        # Keys built from a prefix ("err_" + code) are checked by the test below.
        used |= set(re.findall(r"\bt\(\s*\w+,\s*\"(\w+)\"(?!\s*\+)", text))
    assert len(used) > 40
    assert used <= set(CATALOGS["en"]), used - set(CATALOGS["en"])


def test_every_import_error_and_refusal_has_a_message() -> None:
    for code in importing.ERROR_PARAMS:
        assert "err_" + code in CATALOGS["en"], code
    for refusal in Refusal:
        assert "refused_" + refusal.value in CATALOGS["en"], refusal
    uploads_src = (ROOT / "bot/services/uploads.py").read_text(encoding="utf-8")
    codes = set(re.findall(r'ArgError\(\s*"(\w+)"', uploads_src))
    codes |= set(re.findall(r'RowError\(\s*\w+\.line,\s*"(\w+)"', uploads_src))
    assert len(codes) >= 8
    for code in codes:
        assert code in CATALOGS["en"] or "err_" + code in CATALOGS["en"], code
    for status in ("active", "paused", "closed"):
        assert "status_" + status in CATALOGS["en"]
    for kind in ("label", "rating"):
        assert "type_" + kind in CATALOGS["en"]
    from bot.app import STUDENT_COMMANDS

    for command in STUDENT_COMMANDS:
        assert "cmd_" + command in CATALOGS["en"]


@pytest.mark.parametrize(
    ("code", "lang"),
    [("zh-hans", "zh"), ("zh-TW", "zh"), ("en-US", "en"), ("ru", "en"), (None, "en")],
)
def test_language_from_telegram_code(code: str | None, lang: str) -> None:
    assert language_for(code, "en") == lang


def test_messages_fill_in_values_in_each_language() -> None:
    assert t("en", "toast_saved", amount="¥0.05") == "Saved · +¥0.05"
    assert t("zh", "toast_saved", amount="¥0.05") == "已保存 · +¥0.05"


# Keys shown as callback-query toasts or alerts, which Telegram caps at 200 characters.
TOAST_KEYS = {
    "bad_button",
    "not_allowed",
    "try_again",
    "saved_not_shown",
    "settings_saved",
    "dispute_sent",
    "dispute_not_disputable",
    "dispute_already",
    "dispute_gone",
    "review_gone",
    "review_accepted",
    "review_rejected",
    "not_registered",
    "toast_saved",
    "toast_saved_free",
    "toast_skipped",
}


class Longest(dict):
    """The longest realistic value for any placeholder (names, amounts, counts, texts)."""

    def __missing__(self, key: str) -> str:
        if key in ("text", "reason", "explanation", "instructions", "message", "detail"):
            return "字" * 300
        if key in (
            "amount",
            "price",
            "available",
            "pending",
            "paid_out",
            "earned",
            "total",
            "bonuses",
            "deductions",
            "adjustments",
            "hourly",
        ):
            return "-¥100000.00"
        if key in (
            "project",
            "name",
            "file",
            "value",
            "right",
            "student",
            "ref",
            "keys",
            "options",
            "known",
            "reference",
            "until",
            "when",
            "start",
            "end",
            "date",
        ):
            return "W" * 60
        return "9" * 7


def test_every_message_fits_telegram_limits_with_the_longest_values() -> None:
    for lang, catalog in CATALOGS.items():
        for key, template in catalog.items():
            filled = template.format_map(Longest())
            limit = 200 if key in TOAST_KEYS or key.startswith("refused_") else 4096
            assert len(filled) <= limit, (lang, key, len(filled))
