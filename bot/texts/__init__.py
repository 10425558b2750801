"""Every string a person reads, in English and simplified Chinese, looked up by key.

Messages are plain text (no parse mode), so user content never needs escaping.
"""

from __future__ import annotations

from types import MappingProxyType

from bot.texts import en, zh

CATALOGS = MappingProxyType({"en": en.MESSAGES, "zh": zh.MESSAGES})


def language_for(language_code: str | None, default: str) -> str:
    """Pick our language from Telegram's language_code ('zh-hans', 'en-US', …)."""
    code = (language_code or "").lower()
    if code.startswith("zh"):
        return "zh"
    if code.startswith("en"):
        return "en"
    return default if default in CATALOGS else "en"


def t(lang: str, key: str, /, **values: object) -> str:
    """The message `key` in `lang` with `values` filled in."""
    catalog = CATALOGS.get(lang, en.MESSAGES)
    template = catalog.get(key)
    if template is None:
        template = en.MESSAGES[key]
    return template.format(**values) if values else template
