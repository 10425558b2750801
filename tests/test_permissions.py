"""Who may run what, proved over every handler the built Application registers.

The walk reads `app.handlers` (every group), finds each command, button and message kind a
student may not use, and sends it through the real-HTTP test server as a student (and as a
reviewer, and an admin who is not an owner, where those may not either), also with entities
a crafted client can send: a bot_command entity shorter than the word (`/payoutx all` with
`/payout` marked), capitals, `/cmd@bot`, an entity that does not start the text. Each must
be answered with the polite refusal and change nothing in the database, and nobody else may
hear of it. What students may do is stated here, apart from the code, so a new handler
that nobody restricted shows up as a student command or button this test does not know.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler

from bot import callbacks
from bot.config import Config
from bot.texts import t
from tests.botapi import JSON, ChatMessage, FakeUser, button_texts
from tests.conftest import ADMIN_ID
from tests.e2e import Harness, running_bot
from tests.test_e2e_images import png
from tests.test_e2e_money import admin_of, answer, arrives, join, seed, settled

NOT_ALLOWED = t("en", "not_allowed")
NOT_A_COMMAND = t("en", "text_not_expected")  # a text whose first entity is no command

# The policy, stated apart from the code. Students may use these commands and buttons, and
# send plain text; every other command, button and message is someone else's.
STUDENT_COMMANDS = {
    "start",
    "help",
    "language",
    "next",
    "balance",
    "history",
    "me",
    "settings",
    "timezone",
    "privacy",
    "forget_me",
}
REVIEWER_COMMANDS = {"review", "stats"}  # reviewers may, besides the students' ones
OWNER_COMMANDS = {"role"}  # owners only: an admin may not either
ADMIN_BUTTONS = {callbacks.PickProject, callbacks.ResolveDispute}
REVIEWER_BUTTONS = {callbacks.Review}
PRIVACY_BUTTONS = ["fm:y", "fm:n"]  # /forget_me's Yes and Cancel, a student's own

ATTACKER, REVIEWER, SECOND_ADMIN, VICTIM, CHINESE = 1002, 1003, 1004, 1001, 1005
# What follows each command: whatever would make it act if it ran (pay everyone, pause the
# project, give a bonus or a role, create an invite with no arguments at all).
ARGS = ("", "all", "secret", f"{VICTIM} 5 secret", f"{ATTACKER} admin")


@pytest.fixture
async def h(cfg: Config) -> AsyncIterator[Harness]:
    async with running_bot(cfg) as harness:
        yield harness


def handlers_of(h: Harness) -> list[BaseHandler[Any, Any, Any]]:
    """Every registered handler, group by group, in the order the Application tries them."""
    return [handler for group in sorted(h.app.handlers) for handler in h.app.handlers[group]]


async def snapshot(h: Harness) -> dict[str, list[tuple[Any, ...]]]:
    tables = [
        r[0]
        for r in await h.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY name"
        )
    ]
    return {n: await h.query(f"SELECT * FROM {n} ORDER BY rowid") for n in tables}  # noqa: S608


async def world(h: Harness) -> dict[str, int]:
    """Something for every admin action to change: approved balances to pay out, a held
    answer to review, an open dispute to decide, a waiting file to import, an active
    project to pause. Returns the ids a forged button would name."""
    admin = admin_of(h)
    await seed(h, "secret", 2)
    victim = await join(h, VICTIM, "Li")
    await answer(h, victim, 2)
    assert "2" in (await h.say(admin, "/approve all")).content
    await seed(h, "fast", 1, "/upload fast options=positive,negative price=0.05 min_seconds=5")
    await answer(h, victim, 1)
    assert await h.scalar("SELECT COUNT(*) FROM answers WHERE review = 'flagged'") == 1
    await h.say(admin, f"/deduct {VICTIM} 0.01 late answers")
    notice = await arrives(h, victim, "➖ Deduction ¥0.01")
    (entry,) = [b for b in button_texts(notice) if b.startswith("⚖️ Dispute")]
    await h.tap(victim, notice, entry)
    await arrives(h, admin, "⚖️ Dispute #")
    await settled(h)
    sent = await h.server.send_document(admin, "later.csv", b"id,text\nw1,Waiting\n")
    await h.server.wait_for_message(admin, after=sent)
    for uid, name in ((ATTACKER, "Eve"), (REVIEWER, "Rita"), (SECOND_ADMIN, "Adam")):
        await join(h, uid, name)
    await join(h, CHINESE, "Zhao", lang="zh")
    assert "→ reviewer" in (await h.say(admin, f"/role {REVIEWER} reviewer")).content
    assert "→ admin" in (await h.say(admin, f"/role {SECOND_ADMIN} admin")).content
    await settled(h)
    ids = {
        "pending_id": await h.scalar("SELECT id FROM pending_files"),
        "project_id": await h.scalar("SELECT id FROM projects WHERE name = 'secret'"),
        "dispute_id": await h.scalar("SELECT id FROM disputes WHERE status = 'open'"),
        "answer_id": await h.scalar("SELECT id FROM answers WHERE review = 'flagged'"),
    }
    assert await h.scalar("SELECT COUNT(*) FROM ledger WHERE status = 'approved'") >= 2
    assert await h.scalar("SELECT COUNT(*) FROM payouts") == 0
    return ids


def bot_command(offset: int, length: int) -> JSON:
    return {"type": "bot_command", "offset": offset, "length": length}


def crafted(command: str, bot: str, *, every_arg: bool) -> list[tuple[str, list[JSON] | None]]:
    """(text, entities; None: those a Telegram client marks) of ways to send `command`."""
    word = "/" + command
    out: list[tuple[str, list[JSON] | None]] = []
    for arg in ARGS if every_arg else ("all",):
        out += [
            (f"{word} {arg}".rstrip(), None),
            (f"{word}x {arg}".rstrip(), [bot_command(0, len(word))]),  # shorter than the word
        ]
    out += [
        (f"{word.upper()} all", None),
        (f"{word}@{bot} all", None),
        (f"» {word} all", [bot_command(2, len(word))]),  # not at offset 0: not a command
    ]
    return out


async def say_crafted(
    h: Harness, user: FakeUser, text: str, entities: list[JSON] | None
) -> ChatMessage:
    """Send a text with these entities; the one reply, which must go to this user only."""
    calls = len(h.server.requests)
    sent = await h.server.send_text(user, text, entities=entities)
    reply = await h.server.wait_for_message(user, after=sent)
    elsewhere = [
        c
        for c in h.server.requests[calls:]
        if "chat_id" in c.params and c.params["chat_id"] != user.id
    ]
    assert elsewhere == [], (text, elsewhere)
    return reply


def button_samples(ids: dict[str, int]) -> list[str]:
    """Callback data of every kind the bot makes, naming the seeded things where it can."""
    fixed = {
        callbacks.NextTask: callbacks.NextTask(),
        callbacks.SetLanguage: callbacks.SetLanguage("en"),
        callbacks.Setting: callbacks.Setting("m"),
    }
    out = []
    for kind in typing.get_args(callbacks.CallbackData):
        data: Any = fixed.get(kind) or kind(
            **{f.name: ids.get(f.name, 1) for f in dataclasses.fields(kind)}
        )
        out.append(data.pack())
    return out + PRIVACY_BUTTONS


def matches(handler: CallbackQueryHandler[Any, Any], data: str) -> bool:
    assert isinstance(handler.pattern, re.Pattern), handler
    return handler.pattern.match(data) is not None


async def walk_commands(h: Harness, registered: list[BaseHandler[Any, Any, Any]]) -> int:
    """Every command no student may run, sent every crafted way by everyone refused it."""
    bot, users = h.app.bot.username, h.server.users
    commands = sorted({c for x in registered if isinstance(x, CommandHandler) for c in x.commands})
    assert set(commands) >= STUDENT_COMMANDS
    restricted = [c for c in commands if c not in STUDENT_COMMANDS]
    assert {"payout", "bonus", "pause", "role", "review", "stats", "broadcast"} <= set(restricted)
    tried = 0
    for command in restricted:
        refused = [(users[ATTACKER], True)]
        if command not in REVIEWER_COMMANDS:
            refused.append((users[REVIEWER], False))
        if command in OWNER_COMMANDS:
            refused.append((users[SECOND_ADMIN], False))
        before = await snapshot(h)
        for user, every_arg in refused:
            for text, entities in crafted(command, bot, every_arg=every_arg):
                reply = await say_crafted(h, user, text, entities)
                expected = {NOT_ALLOWED, NOT_A_COMMAND} if text.startswith("»") else {NOT_ALLOWED}
                assert reply.content in expected, (user.id, text, entities, reply.content)
                assert button_texts(reply) == [], text
                tried += 1
        assert await snapshot(h) == before, command
    return tried


async def walk_buttons(
    h: Harness, registered: list[BaseHandler[Any, Any, Any]], ids: dict[str, int]
) -> int:
    """Every button kind no student may tap, forged with real ids, by everyone refused it."""
    users = h.server.users
    samples = button_samples(ids)
    buttons = [x for x in registered if isinstance(x, CallbackQueryHandler) and x.pattern]
    for handler in buttons:  # each registered button kind is one this walk can send
        assert any(matches(handler, d) for d in samples), handler.pattern
    guarded = [
        d
        for d in samples
        if type(callbacks.parse(d)) in ADMIN_BUTTONS | REVIEWER_BUTTONS
        and any(matches(x, d) for x in buttons)
    ]
    assert {type(callbacks.parse(d)) for d in guarded} == ADMIN_BUTTONS | REVIEWER_BUTTONS
    tried = 0
    for data in guarded:
        refused = [users[ATTACKER]]
        if type(callbacks.parse(data)) in ADMIN_BUTTONS:
            refused.append(users[REVIEWER])
        before = await snapshot(h)
        for user in refused:
            calls = len(h.server.requests)
            welcome = h.server.messages(user)[1]  # the bot's reply to /start
            query_id = await h.server.tap(user, welcome.message_id, data, strict=False)
            toast = await h.server.wait_for_answer(query_id)
            assert (toast["text"], toast["show_alert"]) == (NOT_ALLOWED, True), (user.id, data)
            assert not [c for c in h.server.requests[calls:] if "chat_id" in c.params], data
            tried += 1
        assert await snapshot(h) == before, data
    return tried


async def walk_messages(h: Harness, registered: list[BaseHandler[Any, Any, Any]]) -> int:
    """Files and captioned photos from a student or reviewer; and every registered message
    handler is one of these, or the plain text a student may send."""
    users = h.server.users
    table = b"id,text\nx1,Forged\n"
    picture = png(2, 2, (9, 9, 9))
    documents: list[str | None] = ["/upload secret options=a,b price=9", "/UPLOAD new", None]
    photos: list[str | None] = ["/upload secret", "/guide secret Forged rules"]
    handlers = [x for x in registered if isinstance(x, MessageHandler)]
    seen: set[int] = set()

    def took(message: ChatMessage) -> None:
        update = next(
            u
            for u in h.server.updates_sent
            if u.get("message", {}).get("message_id") == message.message_id
            and u["message"]["chat"]["id"] == message.chat_id
        )
        as_ptb = Update.de_json(update, h.app.bot)
        seen.update(i for i, x in enumerate(handlers) if x.check_update(as_ptb))

    tried = 0
    for user in (users[ATTACKER], users[REVIEWER]):
        for kind, caption in [("document", c) for c in documents] + [("photo", c) for c in photos]:
            before = await snapshot(h)
            calls = len(h.server.requests)
            if kind == "document":
                sent = await h.server.send_document(user, "t.csv", table, caption=caption)
            else:
                sent = await h.server.send_photo(user, picture, caption=caption)
            reply = await h.server.wait_for_message(user, after=sent)
            assert reply.content == NOT_ALLOWED, (user.id, sent.caption, reply.content)
            assert not [
                c
                for c in h.server.requests[calls:]
                if "chat_id" in c.params and c.params["chat_id"] != user.id
            ]
            assert await snapshot(h) == before, sent.caption
            took(sent)
            tried += 1
    text = await h.server.send_text(users[ATTACKER], "hello")  # the one a student may send
    assert (await h.server.wait_for_message(users[ATTACKER], after=text)).content == NOT_A_COMMAND
    took(text)
    assert seen == set(range(len(handlers))), [x for i, x in enumerate(handlers) if i not in seen]
    return tried


async def test_every_admin_and_reviewer_handler_refuses_the_others_and_changes_nothing(
    h: Harness,
) -> None:
    ids = await world(h)
    registered = handlers_of(h)
    kinds = {type(x) for x in registered}
    known = (CommandHandler, CallbackQueryHandler, MessageHandler)
    assert all(issubclass(k, known) for k in kinds), kinds  # no handler this walk skips
    tried = await walk_commands(h, registered)
    tried += await walk_buttons(h, registered, ids)
    tried += await walk_messages(h, registered)
    assert tried > 300


async def test_payoutx_with_an_entity_covering_payout_pays_nobody(h: Harness) -> None:
    """The attack that was found: a student's `/payoutx all` whose bot_command entity covers
    `/payout` paid out every balance; `/bonusx` and `/pausex` worked too."""
    await world(h)
    before = await snapshot(h)
    for uid, refusal in ((ATTACKER, NOT_ALLOWED), (CHINESE, t("zh", "not_allowed"))):
        student = h.server.users[uid]
        for text, word in (
            ("/payoutx all", "/payout"),
            (f"/bonusx {uid} 100 thanks", "/bonus"),
            ("/pausex secret", "/pause"),
        ):
            reply = await say_crafted(h, student, text, [bot_command(0, len(word))])
            assert reply.content == refusal, (uid, text, reply.content)
    assert await snapshot(h) == before
    assert await h.scalar("SELECT COUNT(*) FROM payouts") == 0
    # The owner's own /payout still pays (the role decides, not the spelling).
    paid = await h.say(h.server.users[ADMIN_ID], "/payout all")
    assert paid.content.startswith("💸"), paid.content
    assert await h.scalar("SELECT COUNT(*) FROM payouts") == 1
