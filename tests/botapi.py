"""A fake Telegram Bot API server for end-to-end tests and benchmarks.

The server speaks real HTTP on ``127.0.0.1`` with the same URL layout as
``api.telegram.org``, so an unmodified python-telegram-bot ``Bot``/``Application`` can be
pointed at it with ``base_url=server.base_url`` and ``base_file_url=server.base_file_url``.
Tests then play the part of Telegram users (``send_text``, ``send_document``, ``tap``) and read
back what the bot did (``messages``, ``callback_answers``, ``files``, ``requests``).

Example::

    async with BotApiServer(token="123456:TEST-token") as server:
        user = server.add_user(1001, first_name="Li", language_code="zh")
        application = (
            Application.builder()
            .token(server.token)
            .base_url(server.base_url)
            .base_file_url(server.base_file_url)
            .build()
        )
        ...  # start the application with polling
        await server.send_text(user, "/start")
        menu = await server.wait_for_message(user)
        query_id = await server.tap_button(user, menu, "Start labelling")
        await server.wait_for_answer(query_id)

Everything runs on the event loop of the test; state is plain Python objects that can be
inspected at any time.  Waiting helpers are woken by every API call and every enqueued update
(no sleep-polling) and raise ``AssertionError`` with a dump of the chat when they time out.

Fidelity notes: messages are modelled for private chats only (chat id == user id); text and
caption lengths are counted in UTF-16 code units after entity parsing as Telegram does;
``parse_mode`` HTML, MarkdownV2 and Markdown are parsed (and rejected with Telegram's
"can't parse entities" errors when malformed), so stored ``text`` is what the user would see.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import mimetypes
import re
import struct
import time
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeAlias

import aiohttp
from aiohttp import web

JSON: TypeAlias = dict[str, Any]
FaultResult: TypeAlias = tuple[int, str] | tuple[int, str, int | None]
FaultHook: TypeAlias = Callable[[str, JSON], "FaultResult | Awaitable[FaultResult | None] | None"]
DelayHook: TypeAlias = Callable[[str, JSON], float]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_INLINE_BUTTONS = 100
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
# How long a wait helper waits by default. Generous on purpose: a wait returns as soon as its
# condition holds, so this only costs time when something is broken, and a busy machine
# (other test runs on two cores) must not turn a slow answer into a failure.
WAIT = 30.0

#: Methods whose successful calls count as "the bot showed something" for latency accounting.
SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument", "copyMessage"})
EDIT_METHODS = frozenset(
    {"editMessageText", "editMessageCaption", "editMessageReplyMarkup", "editMessageMedia"}
)
#: Methods counted by the optional flood limiter's global limit by default.
FLOOD_METHODS = SEND_METHODS | EDIT_METHODS
#: Telegram's broadcast limit (about 30 a second) is about messages sent, not about edits that
#: answer a user's own tap: ``FloodLimits(global_methods=FLOOD_SENDS_ONLY)``.
FLOOD_SENDS_ONLY = SEND_METHODS
FLOOD_PER_CHAT_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument"})

#: Parameters that are always plain strings, even when they look like JSON ("123", "true").
STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "callback_query_id",
        "file_id",
        "parse_mode",
        "url",
        "secret_token",
        "inline_message_id",
        "language_code",
        "action",
        "name",
        "title",
        "description",
        "short_description",
        "document",
        "photo",
        "video",
        "audio",
        "animation",
        "voice",
        "sticker",
        "thumbnail",
        "ip_address",
        "business_connection_id",
        "message_effect_id",
        "emoji",
        "query_id",
        "custom_emoji_id",
    }
)

#: Update types delivered when ``allowed_updates`` was never set (or set to ``[]``).
_NOT_DEFAULT_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

_INLINE_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)

_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]+)?")
_BOT_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_URL_RE = re.compile(r"(?:https?|tg)://\S+", re.IGNORECASE)
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_LANGUAGE_RE = re.compile(r"[a-z]{2}")

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


# --------------------------------------------------------------------------------------------
# Errors and small records
# --------------------------------------------------------------------------------------------


#: Telegram's callback queries carry only chat and id of a message the bot sent about two
#: days ago or earlier (observed: hours to days; 48 h here).
INACCESSIBLE_AFTER = 48 * 3600.0


def max_per_window(times: list[float], window: float = 1.0) -> int:
    """The most events in any half-open window (t - window, t], as the flood limiter counts."""
    times = sorted(times)
    best, lo = 0, 0
    for hi, at in enumerate(times):
        while times[lo] <= at - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


class ApiError(Exception):
    """An error answered to the client as ``{"ok": false, ...}`` with an HTTP status."""

    def __init__(self, description: str, status: int = 400, retry_after: int | None = None):
        super().__init__(description)
        self.description = description
        self.status = status
        self.retry_after = retry_after

    def payload(self) -> JSON:
        """The Telegram-shaped JSON error body."""
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def _bad(detail: str) -> ApiError:
    return ApiError(f"Bad Request: {detail}")


def _too_many(retry_after: int) -> ApiError:
    return ApiError(f"Too Many Requests: retry after {retry_after}", 429, retry_after)


class ApiCall(NamedTuple):
    """One logged API call: ``(time, method, params, status)``.

    ``time`` is ``time.monotonic()`` when the request arrived, ``params`` is the decoded
    parameter dict with uploads replaced by ``{"file_name": ..., "size": ...}``.
    """

    time: float
    method: str
    params: JSON
    status: int


class TapRecord(NamedTuple):
    """A callback update handed to the bot and the first visible reaction to it."""

    update_id: int
    query_id: str
    chat_id: int
    message_id: int
    handed_out_at: float
    responded_at: float | None

    @property
    def latency(self) -> float | None:
        """Seconds from handing out the update to the bot's first edit/send, if any."""
        return None if self.responded_at is None else self.responded_at - self.handed_out_at


@dataclass(frozen=True)
class FloodLimits:
    """Settings of the optional flood limiter (sliding windows of ``window`` seconds).

    ``global_methods``: the methods counted towards ``global_per_second`` (default: sends and
    edits; ``FLOOD_SENDS_ONLY`` counts sends only). The per-chat limit always counts the
    sends of ``FLOOD_PER_CHAT_METHODS``.
    """

    global_per_second: int = 30
    per_chat_per_second: int = 1
    retry_after: int = 1
    window: float = 1.0
    global_methods: frozenset[str] = FLOOD_METHODS


@dataclass
class Upload:
    """A file part of a multipart request."""

    filename: str | None
    data: bytes
    content_type: str | None = None


@dataclass(eq=False)
class StoredFile:
    """A file known to the server (uploaded by the bot or sent by a user)."""

    file_id: str
    file_unique_id: str
    data: bytes
    file_name: str | None
    mime_type: str | None
    kind: str  # "document" or "photo"
    file_path: str
    width: int = 0
    height: int = 0

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)

    def document_dict(self) -> JSON:
        """Telegram ``Document`` object."""
        doc: JSON = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
        }
        if self.file_name is not None:
            doc["file_name"] = self.file_name
        if self.mime_type is not None:
            doc["mime_type"] = self.mime_type
        return doc

    def photo_sizes(self) -> list[JSON]:
        """Telegram ``PhotoSize`` list (a single size)."""
        return [
            {
                "file_id": self.file_id,
                "file_unique_id": self.file_unique_id,
                "file_size": self.size,
                "width": self.width,
                "height": self.height,
            }
        ]

    def file_dict(self) -> JSON:
        """Telegram ``File`` object as returned by ``getFile``."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
            "file_path": self.file_path,
        }


@dataclass(eq=False)
class FakeUser:
    """A Telegram user talking to the bot in a private chat (chat id == user id)."""

    id: int
    first_name: str = "User"
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    #: When true, sending to this chat fails with 403 "bot was blocked by the user".
    blocked: bool = False

    @property
    def chat_id(self) -> int:
        """The private chat id (same as the user id)."""
        return self.id

    def to_dict(self) -> JSON:
        """Telegram ``User`` object."""
        user: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    def chat_dict(self) -> JSON:
        """Telegram ``Chat`` object of the private chat."""
        chat: JSON = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            chat["last_name"] = self.last_name
        if self.username:
            chat["username"] = self.username
        return chat


@dataclass(eq=False)
class ChatMessage:
    """A message in a private chat, in its *current* state (after edits/deletion)."""

    chat_id: int
    message_id: int
    from_bot: bool
    date: int
    sender: JSON
    chat_info: JSON
    text: str | None = None
    entities: list[JSON] | None = None
    caption: str | None = None
    caption_entities: list[JSON] | None = None
    document: JSON | None = None
    photo: list[JSON] | None = None
    #: The markup as sent (inline keyboard, reply keyboard, remove_keyboard or force_reply).
    reply_markup: JSON | None = None
    reply_to: ChatMessage | None = None
    #: Text/caption as sent, before ``parse_mode`` processing, and the parse mode used.
    raw_text: str | None = None
    parse_mode: str | None = None
    edit_date: int | None = None
    deleted: bool = False
    #: Previous states (oldest first), one per successful edit.
    history: list[JSON] = field(default_factory=list)
    sent_at: float = 0.0
    edited_at: float | None = None
    seq: int = 0

    @property
    def edit_count(self) -> int:
        """Number of successful edits."""
        return len(self.history)

    @property
    def content(self) -> str:
        """The text, or the caption, or ``""``."""
        if self.text is not None:
            return self.text
        return self.caption or ""

    @property
    def inline_markup(self) -> JSON | None:
        """The inline keyboard markup, if the message has one."""
        markup = self.reply_markup
        if markup is not None and "inline_keyboard" in markup:
            return markup
        return None

    def snapshot(self) -> JSON:
        """The editable state, as stored in ``history``."""
        return {
            "text": self.text,
            "entities": self.entities,
            "caption": self.caption,
            "caption_entities": self.caption_entities,
            "reply_markup": self.inline_markup,
            "edit_date": self.edit_date,
        }

    def to_dict(self, *, _nested: bool = False) -> JSON:
        """Telegram ``Message`` object for the current state."""
        msg: JSON = {
            "message_id": self.message_id,
            "from": self.sender,
            "chat": self.chat_info,
            "date": self.date,
        }
        if self.reply_to is not None and not _nested:
            msg["reply_to_message"] = self.reply_to.to_dict(_nested=True)
        if self.text is not None:
            msg["text"] = self.text
            if self.entities:
                msg["entities"] = self.entities
        if self.document is not None:
            msg["document"] = self.document
        if self.photo is not None:
            msg["photo"] = self.photo
        if self.caption is not None:
            msg["caption"] = self.caption
            if self.caption_entities:
                msg["caption_entities"] = self.caption_entities
        if self.edit_date is not None:
            msg["edit_date"] = self.edit_date
        markup = self.inline_markup
        if markup is not None:
            msg["reply_markup"] = markup
        return msg

    def describe(self) -> str:
        """One line for chat dumps."""
        who = "bot " if self.from_bot else "user"
        flags = ""
        if self.deleted:
            flags += " [deleted]"
        if self.history:
            flags += f" [edited x{len(self.history)}]"
        body = ""
        if self.document is not None:
            body += f"[document {self.document.get('file_name')!r}] "
        if self.photo is not None:
            body += "[photo] "
        body += repr(self.content)
        rows = button_rows(self)
        if rows:
            body += "  buttons: " + " / ".join(" | ".join(row) for row in rows)
        return f"#{self.message_id} {who}{flags}: {body}"


# --------------------------------------------------------------------------------------------
# Button helpers
# --------------------------------------------------------------------------------------------


def _markup_of(message: Any) -> JSON | None:
    if isinstance(message, ChatMessage):
        return message.reply_markup
    if not isinstance(message, dict) and hasattr(message, "to_dict"):
        message = message.to_dict()  # e.g. a telegram.Message
    if isinstance(message, dict):
        if "inline_keyboard" in message or "keyboard" in message:
            return message
        markup = message.get("reply_markup")
        return markup if isinstance(markup, dict) else None
    return None


def _button_rows_raw(message: Any) -> list[list[Any]]:
    markup = _markup_of(message)
    if not markup:
        return []
    rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
    return [list(row) for row in rows]


def _button_text(button: Any) -> str:
    return button if isinstance(button, str) else str(button.get("text", ""))


def button_rows(message: Any) -> list[list[str]]:
    """Visible button texts by row (inline keyboard, else reply keyboard).

    ``message`` may be a :class:`ChatMessage`, a Telegram message dict, a markup dict or a
    ``telegram.Message``.
    """
    return [[_button_text(b) for b in row] for row in _button_rows_raw(message)]


def button_texts(message: Any) -> list[str]:
    """Visible button texts, flattened in reading order."""
    return [text for row in button_rows(message) for text in row]


def button_data(message: Any, text: str) -> str:
    """The ``callback_data`` of the inline button whose visible text is ``text``.

    An exact match wins; otherwise a unique button containing ``text`` is used.  Raises
    ``AssertionError`` listing the available buttons when there is no unique match.
    """
    buttons = [b for row in _button_rows_raw(message) for b in row if isinstance(b, dict)]
    exact = [b for b in buttons if b.get("text") == text]
    matches = exact or [b for b in buttons if text in str(b.get("text", ""))]
    if len(matches) != 1 or "callback_data" not in matches[0]:
        raise AssertionError(
            f"no unique callback button {text!r}; buttons: {[b.get('text') for b in buttons]}"
        )
    return str(matches[0]["callback_data"])


def _callback_datas(message: ChatMessage) -> list[str]:
    markup = message.inline_markup or {}
    return [
        str(b["callback_data"])
        for row in markup.get("inline_keyboard", [])
        for b in row
        if isinstance(b, dict) and "callback_data" in b
    ]


# --------------------------------------------------------------------------------------------
# Entity parsing (parse_mode)
# --------------------------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram uses for limits and entity offsets."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _entities_error(detail: str) -> ApiError:
    return _bad(f"can't parse entities: {detail}")


class _Builder:
    """Accumulates output text and entities with UTF-16 offsets."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0
        self.entities: list[JSON] = []

    def emit(self, chunk: str) -> None:
        if chunk:
            self.parts.append(chunk)
            self.pos += utf16_len(chunk)

    def entity(self, kind: str, start: int, **extra: Any) -> None:
        if self.pos > start:
            self.entities.append({"type": kind, "offset": start, "length": self.pos - start})
            self.entities[-1].update({k: v for k, v in extra.items() if v is not None})

    def result(self) -> tuple[str, list[JSON]]:
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), self.entities


_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_TEXT_RE = re.compile(r"[^<&]+")
_HTML_ENTITY_RE = re.compile(r"&(#[0-9]{1,7}|#x[0-9a-fA-F]{1,6}|[a-zA-Z]{1,10});")
_HTML_NAME_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9-]*")
_HTML_ATTR_RE = re.compile(
    r"\s*([a-zA-Z][a-zA-Z0-9-]*)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>\"']+))?"
)


def _html_unescape(value: str) -> str:
    def repl(match: re.Match[str]) -> str:
        decoded = _decode_html_entity(match.group(1))
        return match.group(0) if decoded is None else decoded

    return _HTML_ENTITY_RE.sub(repl, value)


def _decode_html_entity(name: str) -> str | None:
    if name.startswith("#"):
        code = int(name[2:], 16) if name[1:2] in ("x", "X") else int(name[1:])
        if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
            return chr(code)
        return None
    return _HTML_NAMED.get(name)


def parse_html(text: str) -> tuple[str, list[JSON]]:
    """Parse Telegram HTML into ``(plain_text, entities)`` or raise a 400 ``ApiError``."""
    out = _Builder()
    stack: list[tuple[str, int, dict[str, str]]] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "&":
            match = _HTML_ENTITY_RE.match(text, i)
            decoded = _decode_html_entity(match.group(1)) if match else None
            if match and decoded is not None:
                out.emit(decoded)
                i = match.end()
            else:
                out.emit("&")
                i += 1
            continue
        if char != "<":
            match = _HTML_TEXT_RE.match(text, i)
            assert match is not None
            out.emit(match.group(0))
            i = match.end()
            continue
        begin = i
        if text.startswith("</", i):
            end = text.find(">", i)
            if end < 0:
                raise _entities_error(f"Unclosed end tag at byte offset {_byte_offset(text, i)}")
            name = text[i + 2 : end].strip().lower()
            if not stack:
                raise _entities_error(
                    f"Unexpected end tag at byte offset {_byte_offset(text, begin)}"
                )
            open_name, start, attrs = stack.pop()
            if name and name != open_name:
                raise _entities_error(
                    f"Unmatched end tag at byte offset {_byte_offset(text, begin)}, "
                    f'expected "</{open_name}>", found "</{name}>"'
                )
            _close_html_tag(out, stack, open_name, start, attrs)
            i = end + 1
            continue
        match = _HTML_NAME_RE.match(text, i + 1)
        name = match.group(0).lower() if match else ""
        if name not in _HTML_TAGS:
            raise _entities_error(
                f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, begin)}'
            )
        assert match is not None
        j = match.end()
        attrs: dict[str, str] = {}
        while True:
            while j < n and text[j].isspace():
                j += 1
            if j >= n:
                raise _entities_error(
                    f"Unclosed start tag at byte offset {_byte_offset(text, begin)}"
                )
            if text[j] == ">":
                break
            attr = _HTML_ATTR_RE.match(text, j)
            if attr is None or attr.end() == j:
                raise _entities_error(
                    f'Empty attribute name in the tag "{name}" at byte offset '
                    f"{_byte_offset(text, begin)}"
                )
            value = attr.group(2) or ""
            if value[:1] in ('"', "'"):
                value = value[1:-1]
            attrs[attr.group(1).lower()] = _html_unescape(value)
            j = attr.end()
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise _entities_error('Tag "span" must have class "tg-spoiler"')
        stack.append((name, out.pos, attrs))
        i = j + 1
    if stack:
        raise _entities_error(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.result()


def _close_html_tag(
    out: _Builder,
    stack: list[tuple[str, int, dict[str, str]]],
    name: str,
    start: int,
    attrs: dict[str, str],
) -> None:
    kind = _HTML_TAGS[name]
    if kind == "text_link":
        url = attrs.get("href")
        if url:
            out.entity("text_link", start, url=url)
        return
    if kind == "code":
        language = attrs.get("class", "")
        if stack and stack[-1][0] == "pre" and language.startswith("language-"):
            stack[-1][2]["language"] = language[len("language-") :]
            return
        out.entity("code", start)
        return
    if kind == "pre":
        out.entity("pre", start, language=attrs.get("language"))
        return
    if kind == "blockquote":
        out.entity("expandable_blockquote" if "expandable" in attrs else "blockquote", start)
        return
    if kind == "custom_emoji":
        out.entity("custom_emoji", start, custom_emoji_id=attrs.get("emoji-id"))
        return
    out.entity(kind, start)


_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}
_MDV2_TEXT_RE = re.compile(r"[^_*\[\]()~`>#+\-=|{}.!\\\n]+")


def parse_markdown_v2(text: str) -> tuple[str, list[JSON]]:
    """Parse Telegram MarkdownV2 into ``(plain_text, entities)`` or raise a 400 ``ApiError``."""
    out = _Builder()
    stack: list[tuple[str, int, int, str | None]] = []  # kind, start, source index, language
    quote_start: int | None = None
    i, n = 0, len(text)

    def close() -> tuple[str, int, int, str | None]:
        return stack.pop()

    while i < n:
        char = text[i]
        top = stack[-1][0] if stack else None
        if char == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.emit(text[i + 1])
            i += 2
            continue
        if top in ("code", "pre"):
            if char == "`" and (top == "code" or text.startswith("```", i)):
                kind, start, _, language = close()
                out.entity(kind, start, language=language)
                i += 1 if kind == "code" else 3
            else:
                out.emit(char)
                i += 1
            continue
        if char == "\n":
            if quote_start is not None and not text.startswith(">", i + 1):
                out.entity("blockquote", quote_start)
                quote_start = None
            out.emit("\n")
            i += 1
            continue
        if char not in _MDV2_RESERVED:
            match = _MDV2_TEXT_RE.match(text, i)
            chunk = match.group(0) if match else char
            out.emit(chunk)
            i += len(chunk)
            continue
        if char == ">" and (i == 0 or text[i - 1] == "\n"):
            if quote_start is None:
                quote_start = out.pos
            i += 1
            continue
        if char == "*":
            if top == "bold":
                kind, start, _, _ = close()
                out.entity(kind, start)
            else:
                stack.append(("bold", out.pos, i, None))
            i += 1
            continue
        if char == "_":
            double = text.startswith("__", i)
            if double and top == "underline":
                kind, start, _, _ = close()
                out.entity(kind, start)
                i += 2
            elif top == "italic":
                kind, start, _, _ = close()
                out.entity(kind, start)
                i += 1
            elif double:
                stack.append(("underline", out.pos, i, None))
                i += 2
            else:
                stack.append(("italic", out.pos, i, None))
                i += 1
            continue
        if char == "~":
            if top == "strikethrough":
                kind, start, _, _ = close()
                out.entity(kind, start)
            else:
                stack.append(("strikethrough", out.pos, i, None))
            i += 1
            continue
        if char == "|" and text.startswith("||", i):
            if top == "spoiler":
                kind, start, _, _ = close()
                out.entity(kind, start)
            else:
                stack.append(("spoiler", out.pos, i, None))
            i += 2
            continue
        if char == "`":
            if text.startswith("```", i):
                j = i + 3
                newline = text.find("\n", j)
                language = None
                if newline >= 0 and text[j:newline].strip() and " " not in text[j:newline]:
                    language = text[j:newline]
                    j = newline + 1
                stack.append(("pre", out.pos, i, language))
                i = j
            else:
                stack.append(("code", out.pos, i, None))
                i += 1
            continue
        if char == "[" or (char == "!" and text.startswith("![", i)):
            kind = "text_link" if char == "[" else "custom_emoji"
            stack.append((kind, out.pos, i, None))
            i += 1 if char == "[" else 2
            continue
        if char == "]" and top in ("text_link", "custom_emoji"):
            kind, start, _, _ = close()
            i += 1
            url = None
            if text.startswith("(", i):
                chars: list[str] = []
                j = i + 1
                while j < n and text[j] != ")":
                    if text[j] == "\\" and j + 1 < n:
                        j += 1
                    chars.append(text[j])
                    j += 1
                if j >= n:
                    raise _entities_error(
                        f"Can't find end of a URL at byte offset {_byte_offset(text, i)}"
                    )
                url = "".join(chars)
                i = j + 1
            if kind == "custom_emoji":
                emoji_id = (url or "").partition("id=")[2] or None
                out.entity(kind, start, custom_emoji_id=emoji_id)
            elif url:
                out.entity(kind, start, url=url)
            continue
        raise _entities_error(
            f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
        )
    if stack:
        kind, _, index, _ = stack[-1]
        raise _entities_error(
            f"Can't find end of {_MDV2_NAMES[kind]} entity at byte offset "
            f"{_byte_offset(text, index)}"
        )
    if quote_start is not None:
        out.entity("blockquote", quote_start)
    return out.result()


def parse_markdown(text: str) -> tuple[str, list[JSON]]:
    """Parse legacy Telegram Markdown into ``(plain_text, entities)``."""
    out = _Builder()
    kinds = {"*": "bold", "_": "italic", "`": "code"}
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.emit(text[i + 1])
            i += 2
            continue
        if char not in "_*`[":
            out.emit(char)
            i += 1
            continue
        error = _entities_error(
            f"Can't find end of the entity starting at byte offset {_byte_offset(text, i)}"
        )
        start = out.pos
        if char == "`" and text.startswith("```", i):
            end = text.find("```", i + 3)
            if end < 0:
                raise error
            body = text[i + 3 : end]
            language, newline, rest = body.partition("\n")
            if newline and language and " " not in language:
                body = rest
            else:
                language = ""
            out.emit(body)
            out.entity("pre", start, language=language or None)
            i = end + 3
            continue
        if char == "[":
            end = text.find("]", i + 1)
            if end < 0:
                raise error
            out.emit(text[i + 1 : end])
            i = end + 1
            if text.startswith("(", i):
                close = text.find(")", i)
                if close < 0:
                    raise error
                out.entity("text_link", start, url=text[i + 1 : close])
                i = close + 1
            continue
        end = text.find(char, i + 1)
        if end < 0:
            raise error
        out.emit(text[i + 1 : end])
        out.entity(kinds[char], start)
        i = end + 1
    return out.result()


def parse_entities(text: str, parse_mode: str | None) -> tuple[str, list[JSON]]:
    """Apply ``parse_mode`` (HTML, MarkdownV2, Markdown or none) to ``text``."""
    if not parse_mode:
        return text, []
    mode = parse_mode.lower()
    if mode == "html":
        return parse_html(text)
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        return parse_markdown(text)
    raise _bad(f"unsupported parse_mode {parse_mode!r}")


# --------------------------------------------------------------------------------------------
# Parameter decoding helpers
# --------------------------------------------------------------------------------------------


def _coerce(key: str, value: str) -> Any:
    """Decode one form/query value the way the Bot API does."""
    if key in STRING_PARAMS or not value:
        return value
    if value[0] in '{["-0123456789' or value in ("true", "false", "null"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _loggable(params: JSON) -> JSON:
    if not any(isinstance(v, Upload) for v in params.values()):
        return params
    return {
        k: {"file_name": v.filename, "size": len(v.data)} if isinstance(v, Upload) else v
        for k, v in params.items()
    }


def _param_int(params: JSON, key: str, default: int | None = None) -> int | None:
    value = params.get(key)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad(f"invalid {key} specified") from None


def _param_bool(params: JSON, key: str) -> bool:
    return params.get(key) in (True, 1, "true", "True", "1")


def _param_json(params: JSON, key: str) -> Any:
    value = params.get(key)
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            raise _bad(f"can't parse {key} JSON object") from None
    return value


def _update_type(update: JSON) -> str:
    return next((k for k in update if k != "update_id"), "")


def _update_user_id(update: JSON) -> int | None:
    for key, value in update.items():
        if key != "update_id" and isinstance(value, dict):
            sender = value.get("from")
            if isinstance(sender, dict) and "id" in sender:
                return int(sender["id"])
    return None


def _command_entities(text: str | None) -> list[JSON] | None:
    if not text:
        return None
    match = _COMMAND_RE.match(text)
    if match is None:
        return None
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(match.group(0))}]


def _image_size(data: bytes) -> tuple[int, int]:
    """Width/height of a PNG or JPEG, or a plausible default."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            length = struct.unpack(">H", data[i + 2 : i + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(width), int(height)
            i += 2 + length
    return 1280, 720


def _scope_key(scope: Any) -> str:
    """Canonical key of a ``BotCommandScope`` (``"default"``, ``"chat:chat_id=1001"``...)."""
    if isinstance(scope, str):
        try:
            scope = json.loads(scope)
        except ValueError:
            return scope
    if not scope:
        return "default"
    if not isinstance(scope, dict):
        raise _bad("can't parse BotCommandScope JSON object")
    rest = ",".join(f"{k}={scope[k]}" for k in sorted(scope) if k != "type")
    kind = str(scope.get("type", "default"))
    return f"{kind}:{rest}" if rest else kind


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class BotApiServer:
    """A fake Bot API server; see the module docstring.

    Public state (read freely from tests):

    * ``users``: ``{user_id: FakeUser}``
    * ``requests``: list of :class:`ApiCall` for every API call (plus file downloads logged as
      method ``"downloadFile"``); ``errors``: ``[(ApiCall, description)]`` for failed calls.
    * ``callback_answers``: ``{query_id: {"text", "show_alert", "url", "cache_time",
      "answered_at"}}``
    * ``files``: ``{file_id: StoredFile}`` (``.data`` bytes, ``.file_name``, ``.mime_type``)
    * ``commands``: ``{(scope_key, language_code): [{"command", "description"}, ...]}``
    * ``updates_sent``: updates handed to the bot (each once, in order)
    * ``stats``: ``Counter`` with ``"requests"``, ``"errors"``, ``"fault"``, ``"flood_429"``,
      ``"webhook_posts"``, ``"webhook_failures"`` and one key per method name.
    * ``flood_counted``: with a flood limiter, the ``time.monotonic()`` of every call it let
      through and counted towards the global limit (the limiter's own view of the traffic).
    * ``webhook_url``, ``webhook_secret``, ``webhook_last_error``

    Hooks: ``fault`` (``(method, params) -> None | (status, description[, retry_after])``) and
    ``delay`` (seconds, or ``(method, params) -> seconds``), applied to every API call before it
    is handled.
    """

    def __init__(
        self,
        token: str = "123456:TEST-token",  # noqa: S107 - a fake token
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_username: str = "labelgram_test_bot",
        bot_first_name: str = "Labelgram",
        flood_limits: bool | FloodLimits = False,
        webhook_retry_delay: float = 0.2,
        inaccessible_after: float | None = INACCESSIBLE_AFTER,
    ) -> None:
        try:
            bot_id = int(token.split(":", 1)[0])
        except ValueError:
            raise ValueError(f"token must look like '<digits>:<secret>', got {token!r}") from None
        self.token = token
        self.host = host
        self.port = port
        self.bot_user: JSON = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self._bot_from: JSON = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        if flood_limits is True:
            self.flood_limits: FloodLimits | None = FloodLimits()
        else:
            self.flood_limits = flood_limits or None
        self.webhook_retry_delay = webhook_retry_delay
        #: A tap on a bot message older than this (seconds, by its ``date``) carries an
        #: ``InaccessibleMessage``, as Telegram sends for messages it no longer shows the bot.
        self.inaccessible_after = inaccessible_after

        self.fault: FaultHook | None = None
        self.delay: float | DelayHook | None = None

        self.users: dict[int, FakeUser] = {}
        self.requests: list[ApiCall] = []
        self.errors: list[tuple[ApiCall, str]] = []
        self.callback_answers: dict[str, JSON] = {}
        self.files: dict[str, StoredFile] = {}
        #: The "internet": https URLs a photo may be sent by, and the bytes they serve.
        self.web_files: dict[str, bytes] = {}
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.bot_texts: dict[tuple[str, str], str] = {}  # (name|description|..., lang) -> text
        self.updates_sent: list[JSON] = []
        self.stats: Counter[str] = Counter()
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_last_error: tuple[int, str] | None = None

        self._calls_by_method: defaultdict[str, list[ApiCall]] = defaultdict(list)
        self._chats: defaultdict[int, list[ChatMessage]] = defaultdict(list)
        self._index: dict[tuple[int, int], ChatMessage] = {}
        self._next_message_id: defaultdict[int, int] = defaultdict(int)
        self._changes: defaultdict[int, list[tuple[int, ChatMessage]]] = defaultdict(list)
        self._seq = 0
        self._action_seq: dict[int, int] = {}
        self._reply_keyboards: dict[int, JSON] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._file_counter = itertools.count(1)
        self._query_counter = itertools.count(5_000_000_000_000_000_001)
        self._update_counter = itertools.count(1)
        self._pending: deque[JSON] = deque()
        self._allowed_updates: frozenset[str] | None = None
        self._pending_queries: dict[str, float] = {}
        self._seen_queries: set[str] = set()
        self._handed_out: dict[int, float] = {}
        self._last_update: dict[int, JSON] = {}
        self._taps: list[tuple[int, str, int, int, float]] = []
        self._chat_events: defaultdict[int, list[tuple[float, str, int]]] = defaultdict(list)
        self._flood_global: deque[float] = deque()
        self.flood_counted: list[float] = []
        self._flood_chat: defaultdict[int, deque[float]] = defaultdict(deque)
        self._poll_generation = 0
        self._changed = asyncio.Event()
        self._update_event = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._webhook_task: asyncio.Task[None] | None = None

        handlers: dict[str, Callable[[JSON], Any]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setMyName": lambda p: self._set_bot_text(p, "name"),
            "getMyName": lambda p: self._get_bot_text(p, "name"),
            "setMyDescription": lambda p: self._set_bot_text(p, "description"),
            "getMyDescription": lambda p: self._get_bot_text(p, "description"),
            "setMyShortDescription": lambda p: self._set_bot_text(p, "short_description"),
            "getMyShortDescription": lambda p: self._get_bot_text(p, "short_description"),
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageMedia": self._edit_message_media,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "deleteMessages": self._delete_messages,
            "answerCallbackQuery": self._answer_callback_query,
            "getFile": self._get_file,
            "sendChatAction": self._send_chat_action,
            "getChat": self._get_chat,
            "close": lambda p: True,
            "logOut": lambda p: True,
        }
        self._handlers = {name.lower(): (name, fn) for name, fn in handlers.items()}

    # ---------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        """``base_url`` for python-telegram-bot (token and method are appended)."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """``base_file_url`` for python-telegram-bot."""
        return f"http://{self.host}:{self.port}/file/bot"

    @property
    def api_url(self) -> str:
        """``http://host:port/bot<token>``; append ``/<method>`` for raw HTTP calls."""
        return f"{self.base_url}{self.token}"

    async def start(self) -> None:
        """Start serving; afterwards ``port``/``base_url`` are valid."""
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        self._closing = False
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Release pending long polls, stop webhook delivery and close the HTTP server."""
        self._closing = True
        self._signal_update()
        self._notify()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotApiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ---------------------------------------------------------------- users and chats

    def add_user(
        self,
        user_id: int,
        first_name: str = "User",
        *,
        language_code: str | None = None,
        username: str | None = None,
        last_name: str | None = None,
    ) -> FakeUser:
        """Register a user (and their private chat); re-adding an id replaces the profile."""
        user = FakeUser(
            id=user_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        self.users[user_id] = user
        return user

    def _user(self, user: FakeUser | int) -> FakeUser:
        user_id = user.id if isinstance(user, FakeUser) else int(user)
        try:
            return self.users[user_id]
        except KeyError:
            raise AssertionError(f"unknown user {user_id}; call add_user() first") from None

    def chat(self, user: FakeUser | int) -> list[ChatMessage]:
        """All messages of the chat, user's and bot's, including deleted ones, in order."""
        return list(self._chats.get(self._user(user).id, ()))

    def messages(
        self, user: FakeUser | int, *, include_deleted: bool = False
    ) -> list[ChatMessage]:
        """The bot's messages in the chat, in their current state."""
        return [
            m
            for m in self._chats.get(self._user(user).id, ())
            if m.from_bot and (include_deleted or not m.deleted)
        ]

    def last_message(self, user: FakeUser | int) -> ChatMessage:
        """The bot's latest non-deleted message (``AssertionError`` if there is none)."""
        for msg in reversed(self._chats.get(self._user(user).id, ())):
            if msg.from_bot and not msg.deleted:
                return msg
        raise AssertionError(f"the bot has sent no message\n{self.dump_chat(user)}")

    def message(self, user: FakeUser | int, message_id: int) -> ChatMessage:
        """A message of the chat by id (``AssertionError`` if unknown)."""
        msg = self._index.get((self._user(user).id, message_id))
        if msg is None:
            raise AssertionError(f"no message #{message_id}\n{self.dump_chat(user)}")
        return msg

    def reply_keyboard(self, user: FakeUser | int) -> JSON | None:
        """The reply keyboard currently shown to the user, if any."""
        return self._reply_keyboards.get(self._user(user).id)

    def dump_chat(self, user: FakeUser | int, last: int = 30) -> str:
        """Human-readable transcript of the chat plus recent failed calls for it."""
        user_id = user.id if isinstance(user, FakeUser) else int(user)
        msgs = self._chats.get(user_id, [])
        lines = [f"--- chat {user_id}: {len(msgs)} messages (last {last}) ---"]
        lines += ["  " + m.describe() for m in msgs[-last:]]
        failed = [
            (call, desc)
            for call, desc in self.errors[-200:]
            if str(call.params.get("chat_id")) == str(user_id)
        ]
        if failed:
            lines.append("--- failed API calls for this chat ---")
            lines += [f"  {c.method} -> {c.status} {d}" for c, d in failed[-10:]]
        lines.append(
            f"--- {len(self._pending)} updates pending, {len(self.updates_sent)} handed out; "
            f"last calls: {', '.join(f'{c.method}:{c.status}' for c in self.requests[-10:])}"
        )
        return "\n".join(lines)

    def _new_message(self, chat: FakeUser, *, from_bot: bool, **fields: Any) -> ChatMessage:
        self._next_message_id[chat.id] += 1
        msg = ChatMessage(
            chat_id=chat.id,
            message_id=self._next_message_id[chat.id],
            from_bot=from_bot,
            date=int(time.time()),
            sender=self._bot_from if from_bot else chat.to_dict(),
            chat_info=chat.chat_dict(),
            sent_at=time.monotonic(),
            **fields,
        )
        self._chats[chat.id].append(msg)
        self._index[(chat.id, msg.message_id)] = msg
        self._touch(msg)
        return msg

    def _touch(self, msg: ChatMessage) -> None:
        self._seq += 1
        msg.seq = self._seq
        if msg.from_bot:
            self._changes[msg.chat_id].append((self._seq, msg))

    # ---------------------------------------------------------------- driving as users

    async def send_text(
        self,
        user: FakeUser | int,
        text: str,
        *,
        reply_to: ChatMessage | int | None = None,
        entities: list[JSON] | None = None,
    ) -> ChatMessage:
        """The user sends a text message; returns it (the update is queued for the bot).

        ``entities`` replaces the ones a Telegram client would mark (a leading ``/command``):
        a crafted client may send any, e.g. a ``bot_command`` shorter than the word.
        """
        chat = self._user(user)
        target = self._resolve_reply(chat, reply_to)
        msg = self._new_message(
            chat,
            from_bot=False,
            text=text,
            entities=_command_entities(text) if entities is None else entities,
            reply_to=target,
        )
        self._user_action(chat, {"message": msg.to_dict()})
        return msg

    async def send_document(
        self,
        user: FakeUser | int,
        file_name: str,
        data: bytes,
        caption: str | None = None,
        mime_type: str | None = None,
    ) -> ChatMessage:
        """The user sends a file as a document; it can be fetched with getFile + download."""
        chat = self._user(user)
        mime = mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        stored = self._store_file(bytes(data), "document", file_name, mime)
        msg = self._new_message(
            chat,
            from_bot=False,
            document=stored.document_dict(),
            caption=caption,
            caption_entities=_command_entities(caption),
        )
        self._user_action(chat, {"message": msg.to_dict()})
        return msg

    async def send_photo(
        self, user: FakeUser | int, data: bytes, caption: str | None = None
    ) -> ChatMessage:
        """The user sends a (compressed) photo."""
        chat = self._user(user)
        stored = self._store_file(bytes(data), "photo", None, "image/jpeg")
        msg = self._new_message(
            chat,
            from_bot=False,
            photo=stored.photo_sizes(),
            caption=caption,
            caption_entities=_command_entities(caption),
        )
        self._user_action(chat, {"message": msg.to_dict()})
        return msg

    async def tap(
        self,
        user: FakeUser | int,
        message: ChatMessage | int,
        callback_data: str,
        *,
        strict: bool = True,
        inaccessible: bool = False,
    ) -> str:
        """The user taps an inline button of a bot message; returns the callback query id.

        With ``strict`` (default) the message must be a live bot message currently showing a
        button with that ``callback_data`` (``AssertionError`` otherwise). With
        ``inaccessible``, or for a message older than ``inaccessible_after``, the query
        carries an ``InaccessibleMessage`` (chat, message_id, date 0) instead of the message.
        """
        chat = self._user(user)
        message_id = message.message_id if isinstance(message, ChatMessage) else int(message)
        msg = self._index.get((chat.id, message_id))
        if msg is None or msg.deleted or not msg.from_bot:
            raise AssertionError(
                f"cannot tap: no live bot message #{message_id}\n{self.dump_chat(chat)}"
            )
        if strict and callback_data not in _callback_datas(msg):
            raise AssertionError(
                f"message #{message_id} has no button with callback_data {callback_data!r}\n"
                f"{self.dump_chat(chat)}"
            )
        query_id = str(next(self._query_counter))
        self._pending_queries[query_id] = time.monotonic()
        self._seen_queries.add(query_id)
        too_old = (
            self.inaccessible_after is not None
            and time.time() - msg.date > self.inaccessible_after
        )
        shown = (
            {"chat": msg.chat_info, "message_id": msg.message_id, "date": 0}
            if inaccessible or too_old
            else msg.to_dict()
        )
        query = {
            "id": query_id,
            "from": chat.to_dict(),
            "message": shown,
            "chat_instance": str(7_000_000_000_000_000_000 + chat.id),
            "data": callback_data,
        }
        self._user_action(chat, {"callback_query": query})
        return query_id

    def age_message(
        self, user: FakeUser | int, message: ChatMessage | int, seconds: float
    ) -> None:
        """Make a message ``seconds`` older (its ``date``), as if sent that long ago."""
        chat = self._user(user)
        message_id = message.message_id if isinstance(message, ChatMessage) else int(message)
        msg = self.message(chat, message_id)
        msg.date -= int(seconds)

    async def tap_button(self, user: FakeUser | int, message: ChatMessage | int, text: str) -> str:
        """Tap the inline button showing ``text`` (see :func:`button_data`)."""
        chat = self._user(user)
        message_id = message.message_id if isinstance(message, ChatMessage) else int(message)
        current = self.message(chat, message_id)
        return await self.tap(chat, current, button_data(current, text))

    def enqueue_raw(self, update: JSON) -> JSON:
        """Queue any update dict as-is, with a fresh ``update_id``; returns the queued dict.

        A contained ``callback_query`` id becomes answerable if it was never seen before.
        """
        fresh = {k: v for k, v in update.items() if k != "update_id"}
        query = fresh.get("callback_query")
        if isinstance(query, dict) and "id" in query:
            query_id = str(query["id"])
            if query_id not in self._seen_queries:
                self._seen_queries.add(query_id)
                self._pending_queries[query_id] = time.monotonic()
        return self._enqueue(fresh)

    def _user_action(self, chat: FakeUser, payload: JSON) -> JSON:
        self._action_seq[chat.id] = self._seq
        return self._enqueue(payload)

    def _enqueue(self, payload: JSON) -> JSON:
        update = {"update_id": next(self._update_counter), **payload}
        self._pending.append(update)
        self._signal_update()
        self._notify()
        return update

    def _resolve_reply(
        self, chat: FakeUser, reply_to: ChatMessage | int | None
    ) -> ChatMessage | None:
        if reply_to is None:
            return None
        message_id = reply_to.message_id if isinstance(reply_to, ChatMessage) else reply_to
        return self.message(chat, int(message_id))

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates queued and not yet confirmed by the bot."""
        return list(self._pending)

    def last_update(self, user: FakeUser | int) -> JSON | None:
        """The latest update concerning ``user`` that was handed to the bot."""
        return self._last_update.get(self._user(user).id)

    # ---------------------------------------------------------------- waiting

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def _signal_update(self) -> None:
        event, self._update_event = self._update_event, asyncio.Event()
        event.set()

    async def wait_until(
        self,
        predicate: Callable[[], Any],
        timeout: float = WAIT,
        *,
        user: FakeUser | int | None = None,
        description: str = "condition",
    ) -> Any:
        """Wait until ``predicate()`` is truthy and return its value.

        Re-checked after every API call and every queued update.  On timeout raises
        ``AssertionError`` (with a chat dump when ``user`` is given).
        """

        def dump() -> str:
            detail = self.dump_chat(user) if user is not None else self._dump_requests()
            return f"timed out after {timeout}s waiting for {description}\n{detail}"

        return await self._wait(predicate, timeout, dump)

    async def _wait(
        self, check: Callable[[], Any], seconds: float, dump: Callable[[], str]
    ) -> Any:
        try:
            async with asyncio.timeout(seconds):
                while True:
                    result = check()
                    if result:
                        return result
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(dump()) from None

    def _dump_requests(self, last: int = 15) -> str:
        lines = [f"--- last {last} API calls ---"]
        lines += [
            f"  {c.method} {c.status} {json.dumps(c.params, default=str)[:200]}"
            for c in self.requests[-last:]
        ]
        lines += [f"--- last errors: {[d for _, d in self.errors[-5:]]}"]
        return "\n".join(lines)

    async def wait_for_answer(self, query_id: str, timeout: float = WAIT) -> JSON:
        """Wait for ``answerCallbackQuery`` for ``query_id``; returns the answer dict."""
        return await self._wait(
            lambda: self.callback_answers.get(query_id),
            timeout,
            lambda: (
                f"callback query {query_id} was not answered within {timeout}s\n"
                + self._dump_requests()
            ),
        )

    async def wait_for_message(
        self,
        user: FakeUser | int,
        predicate: Callable[[ChatMessage], Any] | None = None,
        timeout: float = WAIT,
        *,
        after: ChatMessage | int | None = None,
    ) -> ChatMessage:
        """Wait for a bot message in the user's chat and return it (current state).

        Candidates are, with ``after=None``, bot messages sent **or edited** since the user's
        last action (``send_text``/``send_document``/``send_photo``/``tap``); with ``after``
        a message or message id, bot messages newer than it.  Deleted messages never match.
        Returns the first candidate in chat order for which ``predicate`` (if any) is truthy.
        """
        chat = self._user(user)
        min_id = None
        if after is not None:
            min_id = after.message_id if isinstance(after, ChatMessage) else int(after)
        since = self._action_seq.get(chat.id, 0)

        def find() -> ChatMessage | None:
            if min_id is not None:
                msgs = self._chats.get(chat.id, [])
                start = bisect_right(msgs, min_id, key=lambda m: m.message_id)
                candidates: Iterable[ChatMessage] = (m for m in msgs[start:] if m.from_bot)
            else:
                changes = self._changes.get(chat.id, [])
                start = bisect_right(changes, since, key=lambda c: c[0])
                unique = {m.message_id: m for _, m in changes[start:]}
                candidates = (unique[k] for k in sorted(unique))
            for msg in candidates:
                if not msg.deleted and (predicate is None or predicate(msg)):
                    return msg
            return None

        return await self._wait(
            find,
            timeout,
            lambda: f"no matching bot message within {timeout}s\n{self.dump_chat(chat)}",
        )

    # ---------------------------------------------------------------- misc accessors

    def calls(self, method: str) -> list[ApiCall]:
        """Logged calls of one method (canonical name, e.g. ``"sendMessage"``)."""
        return list(self._calls_by_method.get(method, ()))

    def document_bytes(self, message: ChatMessage | JSON) -> bytes:
        """The bytes of the document attached to a message."""
        doc = message.document if isinstance(message, ChatMessage) else message.get("document")
        if not doc:
            raise AssertionError(f"message has no document: {message!r}")
        return self.files[doc["file_id"]].data

    def commands_for(self, language_code: str = "", scope: JSON | str | None = None) -> list[JSON]:
        """Commands registered for exactly this scope and language ("" = all languages)."""
        return list(self.commands.get((_scope_key(scope), language_code), []))

    def tap_records(self, *, edits_only: bool = False) -> list[TapRecord]:
        """For each callback update handed out, when it was and when the bot first reacted.

        A reaction is a successful edit of the tapped message or a successful send
        (``sendMessage``/``sendPhoto``/``sendDocument``) to the chat arriving at or after the
        hand-out time; with ``edits_only`` only the edit counts (a broadcast message landing
        in the chat meanwhile is not an answer to the tap).
        """
        sorted_events: dict[int, list[tuple[float, str, int]]] = {}
        records = []
        for update_id, query_id, chat_id, message_id, handed_out in self._taps:
            events = sorted_events.get(chat_id)
            if events is None:
                events = sorted_events[chat_id] = sorted(self._chat_events.get(chat_id, []))
            responded = None
            for at, method, mid in events[bisect_left(events, (handed_out,)) :]:
                if mid == message_id or (method in SEND_METHODS and not edits_only):
                    responded = at
                    break
            records.append(
                TapRecord(update_id, query_id, chat_id, message_id, handed_out, responded)
            )
        return records

    def tap_latencies(self) -> list[float]:
        """Seconds from handing out each callback update to the bot's first reaction.

        Taps without any reaction are left out (see :meth:`tap_records`).
        """
        return [r.latency for r in self.tap_records() if r.latency is not None]

    # ---------------------------------------------------------------- HTTP plumbing

    async def _handle_api(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        raw_method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return self._finish(arrived, raw_method, {}, ApiError("Unauthorized", 401))
        entry = self._handlers.get(raw_method.lower())
        if entry is None:
            return self._finish(arrived, raw_method, {}, ApiError("Not Found", 404))
        name, handler = entry
        try:
            params = await self._read_params(request)
        except ApiError as exc:
            return self._finish(arrived, name, {}, exc)
        try:
            result = await self._dispatch(name, handler, params)
        except ApiError as exc:
            return self._finish(arrived, name, params, exc)
        return self._finish(arrived, name, params, None, result)

    async def _dispatch(self, name: str, handler: Callable[[JSON], Any], params: JSON) -> Any:
        if self.delay:
            seconds = self.delay(name, params) if callable(self.delay) else self.delay
            if seconds and seconds > 0:
                await asyncio.sleep(seconds)
        if self.fault is not None:
            fault = self.fault(name, params)
            if inspect.isawaitable(fault):
                fault = await fault
            if fault:
                status, description = fault[0], fault[1]
                retry_after = fault[2] if len(fault) > 2 else None
                self.stats["fault"] += 1
                raise ApiError(description, status, retry_after)
        if self.flood_limits is not None and (
            name in self.flood_limits.global_methods or name in FLOOD_PER_CHAT_METHODS
        ):
            self._flood_check(name, params)
        result = handler(params)
        if inspect.isawaitable(result):
            result = await result
        return result

    def _finish(
        self,
        arrived: float,
        name: str,
        params: JSON,
        error: ApiError | None,
        result: Any = None,
    ) -> web.Response:
        status = 200 if error is None else error.status
        call = ApiCall(arrived, name, _loggable(params), status)
        self.requests.append(call)
        self._calls_by_method[name].append(call)
        self.stats["requests"] += 1
        self.stats[name] += 1
        if error is not None:
            self.errors.append((call, error.description))
            self.stats["errors"] += 1
            payload = error.payload()
        else:
            payload = {"ok": True, "result": result}
            if (name in SEND_METHODS or name in EDIT_METHODS) and isinstance(result, dict):
                self._chat_events[result["chat"]["id"]].append(
                    (arrived, name, result["message_id"])
                )
        self._notify()
        return web.Response(
            body=json.dumps(payload, ensure_ascii=False).encode(),
            status=status,
            content_type="application/json",
        )

    async def _read_params(self, request: web.Request) -> JSON:
        params: JSON = {k: _coerce(k, v) for k, v in request.query.items()}
        if request.method != "POST" or not request.body_exists:
            return params
        ctype = request.content_type
        if ctype == "application/json":
            body = await request.read()
            if body:
                try:
                    data = json.loads(body)
                except ValueError:
                    raise _bad("can't parse JSON request body") from None
                if not isinstance(data, dict):
                    raise _bad("JSON request body must be an object")
                params.update(data)
        elif ctype.startswith("multipart/"):
            reader = await request.multipart()
            total = 0
            while (part := await reader.next()) is not None:
                if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                    continue
                if part.filename is not None:
                    data_bytes = bytes(await part.read(decode=False))
                    total += len(data_bytes)
                    if total > MAX_UPLOAD_BYTES:
                        raise ApiError("Request Entity Too Large", 413)
                    params[part.name] = Upload(
                        part.filename, data_bytes, part.headers.get("Content-Type")
                    )
                else:
                    params[part.name] = _coerce(part.name, await part.text())
        else:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, str):
                    params[key] = _coerce(key, value)
        return params

    async def _handle_file(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        path = request.match_info["path"]
        params = {"file_path": path}
        if request.match_info["token"] != self.token:
            return self._finish(arrived, "downloadFile", params, ApiError("Unauthorized", 401))
        stored = self._files_by_path.get(path)
        if stored is None:
            return self._finish(arrived, "downloadFile", params, ApiError("Not Found", 404))
        call = ApiCall(arrived, "downloadFile", params, 200)
        self.requests.append(call)
        self._calls_by_method["downloadFile"].append(call)
        self.stats["requests"] += 1
        self.stats["downloadFile"] += 1
        self._notify()
        return web.Response(
            body=stored.data,
            headers={"Content-Type": stored.mime_type or "application/octet-stream"},
        )

    def _flood_check(self, name: str, params: JSON) -> None:
        limits = self.flood_limits
        assert limits is not None
        now = time.monotonic()
        horizon = now - limits.window
        window = self._flood_global
        counted = name in limits.global_methods
        while window and window[0] <= horizon:
            window.popleft()
        if counted and len(window) >= limits.global_per_second:
            self.stats["flood_429"] += 1
            raise _too_many(limits.retry_after)
        if name in FLOOD_PER_CHAT_METHODS:
            raw_chat = params.get("chat_id")
            chat_window = self._flood_chat[int(raw_chat) if _is_int_like(raw_chat) else 0]
            while chat_window and chat_window[0] <= horizon:
                chat_window.popleft()
            if len(chat_window) >= limits.per_chat_per_second:
                self.stats["flood_429"] += 1
                raise _too_many(limits.retry_after)
            chat_window.append(now)
        if counted:
            window.append(now)
            self.flood_counted.append(now)

    # ---------------------------------------------------------------- updates

    async def _get_updates(self, params: JSON) -> list[JSON]:
        if self.webhook_url:
            raise ApiError(
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
                409,
            )
        offset = _param_int(params, "offset", 0) or 0
        limit = min(max(_param_int(params, "limit", 100) or 100, 1), 100)
        try:
            timeout = max(0.0, float(params.get("timeout") or 0))
        except (TypeError, ValueError):
            raise _bad("invalid timeout specified") from None
        allowed = _param_json(params, "allowed_updates")
        if allowed is not None:
            self._allowed_updates = frozenset(allowed) if allowed else None
        self._confirm(offset)

        self._poll_generation += 1
        generation = self._poll_generation
        self._signal_update()  # wakes an older poll, which then ends with 409
        deadline = time.monotonic() + timeout
        while True:
            if generation != self._poll_generation:
                raise ApiError(
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                    409,
                )
            batch = self._collect(limit)
            remaining = deadline - time.monotonic()
            if batch or self._closing or remaining <= 0:
                break
            event = self._update_event
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await event.wait()
        self._record_handout(batch, time.monotonic())
        return batch

    def _confirm(self, offset: int) -> None:
        pending = self._pending
        if offset > 0:
            while pending and pending[0]["update_id"] < offset:
                pending.popleft()
        elif offset < 0:
            while len(pending) > -offset:
                pending.popleft()

    def _collect(self, limit: int) -> list[JSON]:
        allowed = self._allowed_updates
        batch: list[JSON] = []
        for update in self._pending:
            kind = _update_type(update)
            if (kind in allowed) if allowed is not None else (kind not in _NOT_DEFAULT_UPDATES):
                batch.append(update)
                if len(batch) >= limit:
                    break
        return batch

    def _record_handout(self, batch: list[JSON], now: float) -> None:
        for update in batch:
            update_id = update["update_id"]
            if update_id in self._handed_out:
                continue
            self._handed_out[update_id] = now
            self.updates_sent.append(update)
            user_id = _update_user_id(update)
            if user_id is not None:
                self._last_update[user_id] = update
            query = update.get("callback_query")
            if isinstance(query, dict) and isinstance(query.get("message"), dict):
                message = query["message"]
                self._taps.append(
                    (
                        update_id,
                        str(query.get("id")),
                        int(message["chat"]["id"]),
                        int(message["message_id"]),
                        now,
                    )
                )

    def _set_webhook(self, params: JSON) -> bool:
        url = str(params.get("url") or "")
        if not url:
            return self._delete_webhook(params)
        if not _URL_RE.fullmatch(url):
            raise _bad("invalid webhook URL specified")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_RE.fullmatch(str(secret)):
            raise _bad("secret token contains unallowed characters")
        if _param_bool(params, "drop_pending_updates"):
            self._pending.clear()
        allowed = _param_json(params, "allowed_updates")
        if allowed is not None:
            self._allowed_updates = frozenset(allowed) if allowed else None
        self.webhook_url = url
        self.webhook_secret = None if secret is None else str(secret)
        self.webhook_last_error = None
        self._poll_generation += 1  # terminate a running long poll
        self._signal_update()
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.get_running_loop().create_task(self._webhook_loop())
        return True

    def _delete_webhook(self, params: JSON) -> bool:
        if _param_bool(params, "drop_pending_updates"):
            self._pending.clear()
        self.webhook_url = None
        self.webhook_secret = None
        self._signal_update()
        return True

    def _get_webhook_info(self, params: JSON) -> JSON:
        info: JSON = {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook_url:
            info["max_connections"] = 40
        if self.webhook_last_error is not None:
            info["last_error_date"], info["last_error_message"] = self.webhook_last_error
        if self._allowed_updates is not None:
            info["allowed_updates"] = sorted(self._allowed_updates)
        return info

    async def _webhook_loop(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        session = self._session
        while self.webhook_url and not self._closing:
            batch = self._collect(1)
            if not batch:
                await self._update_event.wait()
                continue
            update = batch[0]
            headers = {"Content-Type": "application/json"}
            if self.webhook_secret:
                headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook_secret
            self._record_handout(batch, time.monotonic())
            error: str | None = None
            try:
                async with session.post(
                    self.webhook_url, data=json.dumps(update), headers=headers
                ) as response:
                    await response.read()
                    if not 200 <= response.status < 300:
                        error = f"Wrong response from the webhook: {response.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = f"Connection failed: {exc!r}"
            self.stats["webhook_posts"] += 1
            if error is None:
                with contextlib.suppress(ValueError):
                    self._pending.remove(update)
                self._notify()
            else:
                self.stats["webhook_failures"] += 1
                self.webhook_last_error = (int(time.time()), error)
                self._notify()
                await asyncio.sleep(self.webhook_retry_delay)

    # ---------------------------------------------------------------- bot profile

    def _get_me(self, params: JSON) -> JSON:
        return self.bot_user

    def _language(self, params: JSON) -> str:
        language = str(params.get("language_code") or "")
        if language and not _LANGUAGE_RE.fullmatch(language):
            raise _bad("invalid language code specified")
        return language

    def _set_my_commands(self, params: JSON) -> bool:
        commands = _param_json(params, "commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad("can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict):
                raise _bad("can't parse BotCommand JSON object")
            name = command.get("command")
            description = command.get("description")
            if not isinstance(name, str) or not _BOT_COMMAND_RE.fullmatch(name):
                raise _bad("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        key = (_scope_key(_param_json(params, "scope")), self._language(params))
        self.commands[key] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _get_my_commands(self, params: JSON) -> list[JSON]:
        key = (_scope_key(_param_json(params, "scope")), self._language(params))
        return self.commands.get(key, [])

    def _delete_my_commands(self, params: JSON) -> bool:
        key = (_scope_key(_param_json(params, "scope")), self._language(params))
        self.commands.pop(key, None)
        return True

    def _set_bot_text(self, params: JSON, field_name: str) -> bool:
        key = (field_name, self._language(params))
        value = params.get(field_name)
        if value:
            self.bot_texts[key] = str(value)
        else:
            self.bot_texts.pop(key, None)
        return True

    def _get_bot_text(self, params: JSON, field_name: str) -> JSON:
        language = self._language(params)
        value = self.bot_texts.get((field_name, language), self.bot_texts.get((field_name, "")))
        if value is None and field_name == "name":
            value = self.bot_user["first_name"]
        return {field_name: value or ""}

    # ---------------------------------------------------------------- messages

    def _chat_for(self, params: JSON, *, sending: bool = False) -> FakeUser:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise _bad("chat_id is empty")
        if not _is_int_like(raw):
            raise _bad("chat not found")
        user = self.users.get(int(raw))
        if user is None:
            raise _bad("chat not found")
        if sending and user.blocked:
            raise ApiError("Forbidden: bot was blocked by the user", 403)
        return user

    def _formatted(
        self, params: JSON, key: str, limit: int, *, required: bool
    ) -> tuple[str | None, list[JSON] | None]:
        raw = params.get(key)
        if raw is None:
            if required:
                raise _bad("message text is empty")
            return None, None
        raw = str(raw)
        parse_mode = params.get("parse_mode")
        if parse_mode:
            text, entities = parse_entities(raw, str(parse_mode))
        else:
            text = raw
            given = _param_json(params, "entities" if key == "text" else "caption_entities")
            entities = given if isinstance(given, list) else []
        if required and not text.strip():
            raise _bad("message text is empty")
        if utf16_len(text) > limit:
            raise _bad("message is too long" if key == "text" else "message caption is too long")
        return text, entities or None

    def _markup(self, params: JSON, *, inline_only: bool = False) -> JSON | None:
        markup = _param_json(params, "reply_markup")
        if markup is None or markup == "":
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad('can\'t parse inline keyboard button: field "inline_keyboard"')
            count = 0
            for row in rows:
                for button in row:
                    count += 1
                    _check_inline_button(button)
            if count > MAX_INLINE_BUTTONS:
                raise _bad("reply markup is too long")
            return markup
        if inline_only:
            raise _bad("inline keyboard expected")
        if any(k in markup for k in ("keyboard", "remove_keyboard", "force_reply")):
            return markup
        raise _bad("can't parse reply keyboard markup JSON object")

    def _reply_target(self, chat: FakeUser, params: JSON) -> ChatMessage | None:
        reply = _param_json(params, "reply_parameters")
        message_id = None
        allow_missing = False
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow_missing = bool(reply.get("allow_sending_without_reply"))
        elif params.get("reply_to_message_id") is not None:
            message_id = _param_int(params, "reply_to_message_id")
            allow_missing = _param_bool(params, "allow_sending_without_reply")
        if message_id is None:
            return None
        target = self._index.get((chat.id, int(message_id)))
        if target is None or target.deleted:
            if allow_missing:
                return None
            raise _bad("message to be replied not found")
        return target

    def _bot_message(self, chat: FakeUser, params: JSON, **fields: Any) -> JSON:
        markup = self._markup(params)
        reply_to = self._reply_target(chat, params)
        msg = self._new_message(
            chat,
            from_bot=True,
            reply_markup=markup,
            reply_to=reply_to,
            parse_mode=params.get("parse_mode") or None,
            **fields,
        )
        if markup is not None:
            if "keyboard" in markup:
                self._reply_keyboards[chat.id] = markup
            elif "remove_keyboard" in markup:
                self._reply_keyboards.pop(chat.id, None)
        return msg.to_dict()

    def _send_message(self, params: JSON) -> JSON:
        chat = self._chat_for(params, sending=True)
        text, entities = self._formatted(params, "text", MAX_TEXT_LENGTH, required=True)
        return self._bot_message(
            chat, params, text=text, entities=entities, raw_text=str(params["text"])
        )

    def _send_document(self, params: JSON) -> JSON:
        chat = self._chat_for(params, sending=True)
        caption, entities = self._formatted(params, "caption", MAX_CAPTION_LENGTH, required=False)
        stored = self._input_file(params, "document")
        return self._bot_message(
            chat,
            params,
            document=stored.document_dict(),
            caption=caption,
            caption_entities=entities,
            raw_text=params.get("caption"),
        )

    def _send_photo(self, params: JSON) -> JSON:
        chat = self._chat_for(params, sending=True)
        caption, entities = self._formatted(params, "caption", MAX_CAPTION_LENGTH, required=False)
        stored = self._input_file(params, "photo")
        return self._bot_message(
            chat,
            params,
            photo=stored.photo_sizes(),
            caption=caption,
            caption_entities=entities,
            raw_text=params.get("caption"),
        )

    def _input_file(self, params: JSON, kind: str) -> StoredFile:
        value = params.get(kind)
        if value is None or value == "":
            raise _bad(f"there is no {kind} in the request")
        if isinstance(value, str) and value.startswith("attach://"):
            value = params.get(value[len("attach://") :])
            if not isinstance(value, Upload):
                raise _bad(f"wrong {kind} attachment")
        if isinstance(value, Upload):
            if not value.data:
                raise _bad("file must be non-empty")
            name = value.filename
            mime = (mimetypes.guess_type(name)[0] if name else None) or value.content_type
            if kind == "photo":
                return self._store_file(value.data, "photo", None, "image/jpeg")
            return self._store_file(value.data, kind, name, mime or "application/octet-stream")
        if isinstance(value, str):
            if value.lower().startswith(("http://", "https://")):
                if value not in self.web_files:
                    raise _bad("failed to get HTTP URL content")
                name = value.rsplit("/", 1)[-1] or None
                mime = (
                    "image/jpeg"
                    if kind == "photo"
                    else (mimetypes.guess_type(value)[0] or "application/octet-stream")
                )
                return self._store_file(
                    self.web_files[value], kind, None if kind == "photo" else name, mime
                )
            stored = self.files.get(value)
            if stored is None:
                raise _bad("wrong file identifier/HTTP URL specified")
            if stored.kind != kind:
                raise _bad(f"can't use file of type {stored.kind.title()} as {kind.title()}")
            return stored
        raise _bad("wrong file identifier/HTTP URL specified")

    def _store_file(
        self, data: bytes, kind: str, file_name: str | None, mime_type: str | None
    ) -> StoredFile:
        number = next(self._file_counter)
        prefix = "BQACAgIAAxkBAAI" if kind == "document" else "AgACAgIAAxkBAAI"
        suffix = ""
        if file_name and "." in file_name:
            suffix = "." + file_name.rsplit(".", 1)[1][:10]
        elif kind == "photo":
            suffix = ".jpg"
        folder = "documents" if kind == "document" else "photos"
        width, height = _image_size(data) if kind == "photo" else (0, 0)
        stored = StoredFile(
            file_id=f"{prefix}{number:08d}",
            file_unique_id=f"AgAD{number:08d}",
            data=data,
            file_name=file_name,
            mime_type=mime_type,
            kind=kind,
            file_path=f"{folder}/file_{number}{suffix}",
            width=width,
            height=height,
        )
        self.files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def _editable(self, params: JSON) -> ChatMessage:
        if params.get("inline_message_id"):
            raise _bad("MESSAGE_ID_INVALID (inline messages are not modelled)")
        chat = self._chat_for(params)
        message_id = _param_int(params, "message_id")
        if message_id is None:
            raise _bad("message identifier is not specified")
        msg = self._index.get((chat.id, message_id))
        if msg is None or msg.deleted:
            raise _bad("message to edit not found")
        if not msg.from_bot:
            raise _bad("message can't be edited")
        return msg

    def _apply_edit(self, msg: ChatMessage, **changes: Any) -> JSON:
        msg.history.append(msg.snapshot())
        for key, value in changes.items():
            setattr(msg, key, value)
        msg.edit_date = int(time.time())
        msg.edited_at = time.monotonic()
        self._touch(msg)
        return msg.to_dict()

    def _edit_message_text(self, params: JSON) -> JSON:
        msg = self._editable(params)
        if msg.text is None:
            raise _bad("there is no text in the message to edit")
        text, entities = self._formatted(params, "text", MAX_TEXT_LENGTH, required=True)
        markup = self._markup(params, inline_only=True)
        if text == msg.text and entities == msg.entities and markup == msg.inline_markup:
            raise ApiError(NOT_MODIFIED)
        return self._apply_edit(
            msg,
            text=text,
            entities=entities,
            reply_markup=markup,
            raw_text=str(params["text"]),
            parse_mode=params.get("parse_mode") or None,
        )

    def _edit_message_caption(self, params: JSON) -> JSON:
        msg = self._editable(params)
        if msg.document is None and msg.photo is None:
            raise _bad("there is no caption in the message to edit")
        caption, entities = self._formatted(params, "caption", MAX_CAPTION_LENGTH, required=False)
        markup = self._markup(params, inline_only=True)
        if (
            caption == msg.caption
            and entities == msg.caption_entities
            and markup == msg.inline_markup
        ):
            raise ApiError(NOT_MODIFIED)
        return self._apply_edit(
            msg,
            caption=caption,
            caption_entities=entities,
            reply_markup=markup,
            raw_text=params.get("caption"),
            parse_mode=params.get("parse_mode") or None,
        )

    def _edit_message_media(self, params: JSON) -> JSON:
        """Replace a media message's file (and caption) and its inline keyboard in one call.

        ``media`` is an InputMedia object; its ``media`` is a file_id, an https URL (from
        :attr:`web_files`) or ``attach://<part>``. Text messages have no media to edit."""
        msg = self._editable(params)
        if msg.document is None and msg.photo is None:
            raise _bad("there is no media in the message to edit")
        media = _param_json(params, "media")
        if not isinstance(media, dict) or media.get("type") not in ("photo", "document"):
            raise _bad("can't parse InputMedia: media must be an object with a type")
        kind = str(media["type"])
        if kind == "document" and msg.photo is not None:
            raise _bad("can't change a photo message into a document here")
        caption, entities = self._formatted(media, "caption", MAX_CAPTION_LENGTH, required=False)
        stored = self._input_file({**params, kind: media.get("media")}, kind)
        markup = self._markup(params, inline_only=True)
        changes: dict[str, Any] = {
            "caption": caption,
            "caption_entities": entities,
            "reply_markup": markup,
            "raw_text": media.get("caption"),
            "parse_mode": media.get("parse_mode") or None,
        }
        if kind == "photo":
            if (
                msg.photo
                and msg.photo[0]["file_id"] == stored.file_id
                and (caption == msg.caption and markup == msg.inline_markup)
            ):
                raise ApiError(NOT_MODIFIED)
            changes["photo"] = stored.photo_sizes()
        else:
            changes["document"] = stored.document_dict()
        return self._apply_edit(msg, **changes)

    def _edit_message_reply_markup(self, params: JSON) -> JSON:
        msg = self._editable(params)
        markup = self._markup(params, inline_only=True)
        if markup == msg.inline_markup:
            raise ApiError(NOT_MODIFIED)
        return self._apply_edit(msg, reply_markup=markup)

    def _delete_message(self, params: JSON) -> bool:
        chat = self._chat_for(params)
        message_id = _param_int(params, "message_id")
        msg = self._index.get((chat.id, message_id or 0))
        if msg is None or msg.deleted:
            raise _bad("message to delete not found")
        msg.deleted = True
        self._touch(msg)
        return True

    def _delete_messages(self, params: JSON) -> bool:
        chat = self._chat_for(params)
        ids = _param_json(params, "message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise _bad("message_ids must be a list of 1-100 identifiers")
        for message_id in ids:
            msg = self._index.get((chat.id, int(message_id)))
            if msg is not None and not msg.deleted:
                msg.deleted = True
                self._touch(msg)
        return True

    def _answer_callback_query(self, params: JSON) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if self._pending_queries.pop(query_id, None) is None:
            raise ApiError(QUERY_TOO_OLD)
        self.callback_answers[query_id] = {
            "text": params.get("text"),
            "show_alert": _param_bool(params, "show_alert"),
            "url": params.get("url"),
            "cache_time": _param_int(params, "cache_time"),
            "answered_at": time.monotonic(),
        }
        return True

    def _get_file(self, params: JSON) -> JSON:
        file_id = str(params.get("file_id") or "")
        stored = self.files.get(file_id)
        if stored is None:
            raise _bad("invalid file_id")
        if stored.size > MAX_DOWNLOAD_BYTES:
            raise _bad("file is too big")
        return stored.file_dict()

    def _send_chat_action(self, params: JSON) -> bool:
        self._chat_for(params, sending=True)
        if params.get("action") not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    def _get_chat(self, params: JSON) -> JSON:
        user = self._chat_for(params)
        return {
            **user.chat_dict(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }


def _is_int_like(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.lstrip("-").isdigit()


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict):
        raise _bad("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
    text = button.get("text")
    if not isinstance(text, str) or not text.strip():
        raise _bad("BUTTON_TEXT_INVALID")
    if not any(action in button for action in _INLINE_BUTTON_ACTIONS):
        raise _bad(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES:
            raise _bad("BUTTON_DATA_INVALID")
    if "url" in button:
        url = button["url"]
        if not isinstance(url, str) or not _URL_RE.fullmatch(url):
            raise _bad(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")
