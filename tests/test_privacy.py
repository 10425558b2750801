"""Privacy over real HTTP: /privacy, /forget_me (erasure that keeps the paid-for work and
the money totals), and pseudonymous student ids in every export."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.config import Config
from bot.services.privacy import pseudonym
from tests.botapi import ChatMessage, FakeUser, button_texts
from tests.conftest import ADMIN_ID
from tests.e2e import Harness, running_bot

CONFIRM = "Erase your personal data?"
PSEUDONYM = re.compile(r"^s-[0-9a-f]{10}$")


@pytest.fixture
async def h(cfg: Config) -> AsyncIterator[Harness]:
    async with running_bot(cfg) as harness:
        yield harness


def admin_of(h: Harness) -> FakeUser:
    return h.server.users.get(ADMIN_ID) or h.server.add_user(ADMIN_ID, "Ada", language_code="en")


async def seed(h: Harness, project: str, rows: int) -> None:
    body = "".join(f"{project}{i},Review {i} of {project}\n" for i in range(1, rows + 1))
    reply = await h.upload(
        admin_of(h),
        f"{project}.csv",
        f"id,text\n{body}".encode(),
        f"/upload {project} options=positive,negative price=0.05",
    )
    assert f"{rows} tasks added" in reply.content, reply.content


async def join(h: Harness, uid: int, name: str, username: str, lang: str = "en") -> FakeUser:
    user = h.server.add_user(uid, name, language_code=lang, username=username)
    await h.say(user, "/start")
    assert await h.scalar("SELECT COUNT(*) FROM workers WHERE id = ?", (uid,)) == 1
    return user


async def answer(h: Harness, user: FakeUser, count: int, label: str = "positive") -> None:
    sent = await h.server.send_text(user, "/next")
    task = await h.server.wait_for_message(user, lambda m: label in button_texts(m), after=sent)
    for _ in range(count):
        _, task = await h.tap_and_wait_edit(user, task, label)


async def ask_to_forget(h: Harness, user: FakeUser) -> ChatMessage:
    """/forget_me: the confirmation with its two buttons (other notices may come first)."""
    sent = await h.server.send_text(user, "/forget_me")
    return await h.server.wait_for_message(
        user, lambda m: "/forget_me" not in m.content and len(button_texts(m)) == 2, after=sent
    )


async def tables(h: Harness) -> dict[str, list[tuple[Any, ...]]]:
    """Every table, whole (for "nothing changed" and "no trace left" checks)."""
    names = [
        r[0]
        for r in await h.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return {n: await h.query(f"SELECT * FROM {n} ORDER BY rowid") for n in names}  # noqa: S608


async def money_totals(h: Harness) -> tuple[Any, ...]:
    rows = await h.query(
        "SELECT (SELECT COUNT(*) FROM answers), (SELECT SUM(amount) FROM ledger),"
        " (SELECT SUM(amount) FROM ledger WHERE kind = 'earning'),"
        " (SELECT SUM(amount) FROM ledger WHERE kind = 'payout'),"
        " (SELECT COUNT(*) FROM ledger), (SELECT SUM(amount) FROM payouts),"
        " (SELECT COUNT(*) FROM payouts)"
    )
    return rows[0]


async def pseudonym_of(h: Harness, uid: int) -> str:
    key = bytes.fromhex(await h.scalar("SELECT value FROM secrets WHERE name = 'pseudonym'"))
    return pseudonym(key, uid)


# ------------------------------------------------------------------ /privacy


async def test_privacy_explains_in_english_and_chinese(h: Harness) -> None:
    en = await join(h, 1101, "Li", "li_en")
    zh = await join(h, 1102, "王", "wang_zh", lang="zh-hans")
    text = (await h.say(en, "/privacy")).content
    for needed in (
        "Telegram id",
        "username",
        "time zone",
        "seconds",
        "ledger",
        "admins see",
        "How long",
        "/forget_me",
        "pseudonymous",
    ):
        assert needed in text, needed
    text_zh = (await h.say(zh, "/privacy")).content
    for needed in (
        "Telegram ID",
        "用户名",
        "时区",
        "账本",
        "管理员",
        "保存多久",
        "/forget_me",
        "化名",
    ):
        assert needed in text_zh, needed
    # A stranger who never registered may read it too.
    stranger = h.server.add_user(1103, "Nobody", language_code="en")
    assert (await h.say(stranger, "/privacy")).content == text
    confirm_zh = await ask_to_forget(h, zh)
    assert "确定删除你的个人数据吗" in confirm_zh.content
    assert button_texts(confirm_zh) == ["是，删除", "取消"]


# ------------------------------------------------------------------ /forget_me


async def test_forget_me_after_payout_detaches_everything_and_keeps_totals(h: Harness) -> None:
    admin = admin_of(h)
    await seed(h, "pf", 6)
    li = await join(h, 1201, "Lilian", "lilian_x")
    other = await join(h, 1202, "Other", "other_y")
    await answer(h, li, 3)
    await answer(h, other, 2)
    assert (await h.say(admin, "/approve 1201")).content == "✓ 3 earning(s) approved."
    sent = await h.server.send_text(admin, "/payout 1201")
    await h.server.wait_for_message(admin, after=sent)
    assert await h.scalar("SELECT COUNT(*) FROM payouts WHERE worker_id = 1201") == 1
    # Li now holds a new task (answer() leaves the next one open): erasure gives it back.
    assert (
        await h.scalar(
            "SELECT COUNT(*) FROM assignments WHERE worker_id = 1201 AND status = 'open'"
        )
        == 1
    )
    before = await money_totals(h)
    other_rows = await h.query("SELECT * FROM ledger WHERE worker_id = 1202 ORDER BY id")
    li_ledger = await h.query(
        "SELECT id, amount, kind, status FROM ledger WHERE worker_id = 1201 ORDER BY id"
    )
    li_answers = await h.query(
        "SELECT id, task_id, value FROM answers WHERE worker_id = 1201 ORDER BY id"
    )
    assert len(li_answers) == 3

    confirm = await ask_to_forget(h, li)
    assert CONFIRM in confirm.content
    assert button_texts(confirm) == ["Yes, erase", "Cancel"]
    _, done = await h.tap_and_wait_edit(li, confirm, "Yes, erase")
    assert done.content.startswith("✅ Done.")
    assert button_texts(done) == []

    # The workers row is gone; nothing anywhere holds the Telegram id, name or username.
    assert await h.scalar("SELECT COUNT(*) FROM workers WHERE id = 1201") == 0
    snapshot = await tables(h)
    for table, rows in snapshot.items():
        for row in rows:
            for value in row:
                assert value != 1201, (table, row)
                if isinstance(value, str):
                    assert not re.search(r"(?<![0-9])1201(?![0-9])", value), (table, row)
                    assert "lilian" not in value.lower(), (table, row)

    # Answers and ledger stay, in total and row by row, under one anonymous worker.
    assert await money_totals(h) == before
    anon = await h.scalar("SELECT worker_id FROM answers WHERE id = ?", (li_answers[0][0],))
    assert anon < 0
    assert (
        await h.query(
            "SELECT id, task_id, value FROM answers WHERE worker_id = ? ORDER BY id", (anon,)
        )
        == li_answers
    )
    assert (
        await h.query(
            "SELECT id, amount, kind, status FROM ledger WHERE worker_id = ? ORDER BY id", (anon,)
        )
        == li_ledger
    )
    assert await h.query(
        "SELECT first_name, username, status, alerts FROM workers WHERE id = ?", (anon,)
    ) == [("", None, "blocked", 0)]
    assert await h.scalar("SELECT COUNT(*) FROM payouts WHERE worker_id = ?", (anon,)) == 1
    assert await h.query("SELECT * FROM ledger WHERE worker_id = 1202 ORDER BY id") == other_rows
    # The task Li held went back to the pool.
    assert (
        await h.scalar("SELECT COUNT(*) FROM assignments WHERE status = 'open' AND worker_id < 0")
        == 0
    )
    assert await h.scalar("SELECT COALESCE(SUM(in_flight), 0) FROM tasks") == (
        await h.scalar("SELECT COUNT(*) FROM assignments WHERE status = 'open'")
    )

    # A later /start is a new student, with nothing from before.
    again = await h.say(li, "/start")
    assert again.content.startswith("Hi Lilian! 👋 Welcome to Labelgram.")
    assert await h.query("SELECT first_name, username FROM workers WHERE id = 1201") == [
        ("Lilian", "lilian_x")
    ]
    assert await h.scalar("SELECT COUNT(*) FROM answers WHERE worker_id = 1201") == 0
    assert await h.scalar("SELECT COUNT(*) FROM ledger WHERE worker_id = 1201") == 0


async def test_unpaid_balance_refuses_and_changes_nothing(h: Harness) -> None:
    admin = admin_of(h)
    await seed(h, "pu", 4)
    li = await join(h, 1301, "Li", "li_unpaid")
    await answer(h, li, 2)
    before = await tables(h)

    confirm = await ask_to_forget(h, li)
    _, refused = await h.tap_and_wait_edit(li, confirm, "Yes, erase")
    assert refused.content.startswith("I can't erase your data yet: ¥0.10 is still owed")
    assert "¥0.10 waiting for approval, ¥0.00 ready to pay out" in refused.content
    assert "/payout" in refused.content
    assert await tables(h) == before

    # Approved but not paid out: still refused, naming the amount.
    assert (await h.say(admin, "/approve 1301")).content == "✓ 2 earning(s) approved."
    before = await tables(h)
    confirm = await ask_to_forget(h, li)
    _, refused = await h.tap_and_wait_edit(li, confirm, "Yes, erase")
    assert "¥0.00 waiting for approval, ¥0.10 ready to pay out" in refused.content
    assert await tables(h) == before


async def test_cancel_changes_nothing(h: Harness) -> None:
    await seed(h, "pc", 3)
    li = await join(h, 1401, "Li", "li_cancel")
    await answer(h, li, 1)
    before = await tables(h)
    confirm = await ask_to_forget(h, li)
    _, cancelled = await h.tap_and_wait_edit(li, confirm, "Cancel")
    assert cancelled.content == "Cancelled. Nothing was changed."
    assert button_texts(cancelled) == []
    assert await tables(h) == before


# ------------------------------------------------------------------ exports


async def _exports(
    h: Harness, project: str
) -> tuple[list[list[str]], list[dict[str, Any]], bytes, list[dict[str, Any]]]:
    """(CSV rows, JSONL items, aggregated CSV bytes, Label Studio tasks) of one export."""
    admin = admin_of(h)
    sent = await h.server.send_text(admin, f"/export {project}")
    docs = []
    for _ in range(3):
        doc = await h.server.wait_for_message(
            admin, lambda m: m.document is not None, after=docs[-1] if docs else sent
        )
        docs.append(doc)
    raw_csv, raw_jsonl, raw_agg = (h.server.document_bytes(d) for d in docs)
    table = list(csv.reader(io.StringIO(raw_csv.decode("utf-8-sig"), newline="")))
    items = [json.loads(line) for line in raw_jsonl.decode().splitlines()]
    sent = await h.server.send_text(admin, f"/export {project} labelstudio")
    ls = await h.server.wait_for_message(admin, lambda m: m.document is not None, after=sent)
    return table, items, raw_agg, json.loads(h.server.document_bytes(ls))


async def test_exports_show_a_stable_pseudonym_and_no_names(h: Harness) -> None:
    await seed(h, "px", 5)
    a = await join(h, 1501, "Alice", "alice_a")
    b = await join(h, 1502, "Bob", "bob_b")
    await answer(h, a, 2)
    await answer(h, b, 1, label="negative")

    first = await _exports(h, "px")
    second = await _exports(h, "px")
    assert first == second  # the same pseudonyms in every export

    table, items, raw_agg, ls = first
    ids = table[0].index("student_id")
    csv_ids = [row[ids] for row in table[1:]]
    pa, pb = await pseudonym_of(h, 1501), await pseudonym_of(h, 1502)
    assert PSEUDONYM.match(pa) and PSEUDONYM.match(pb) and pa != pb
    assert csv_ids == [pa, pa, pb]
    assert [i["student_id"] for i in items] == [pa, pa, pb]
    assert sorted(ann["meta"]["student"] for task in ls for ann in task["annotations"]) == [
        *sorted([pa, pa, pb])
    ]
    blob = json.dumps([table, items, ls], ensure_ascii=False) + raw_agg.decode("utf-8-sig")
    for secret in ("1501", "1502", "Alice", "Bob", "alice_a", "bob_b"):
        assert secret not in blob, secret
    # The key is made once per database and kept in it.
    assert await h.scalar("SELECT COUNT(*) FROM secrets") == 1


async def test_identified_export_only_on_an_owners_explicit_request(h: Harness) -> None:
    await seed(h, "idx", 3)
    a = await join(h, 1601, "Alice", "alice_a")
    await answer(h, a, 2)
    admin = admin_of(h)
    doc, *_ = await h.export(admin, "idx identified")
    table = list(csv.reader(io.StringIO(h.server.document_bytes(doc).decode("utf-8-sig"))))
    assert table[0][-3:] == ["telegram_id", "name", "username"]
    assert [row[-3:] for row in table[1:]] == [["1601", "Alice", "alice_a"]] * 2
    assert table[1][table[0].index("student_id")] == await pseudonym_of(h, 1601)
    # An admin who is not an owner may not ask for it.
    async with h.db.transaction() as tx:
        await tx.execute(
            "INSERT INTO workers (id, first_name, language, timezone, joined_at)"
            " VALUES (777, 'Ann', 'en', 'UTC', '2026-01-01T00:00:00.000+00:00')"
        )
        await tx.execute(
            "INSERT INTO roles (user_id, role, granted_by, granted_at)"
            " VALUES (777, 'admin', ?, '2026-01-01T00:00:00.000+00:00')",
            (ADMIN_ID,),
        )
    h.app.bot_data.roles[777] = "admin"
    other = h.server.add_user(777, "Ann", language_code="en")
    reply = await h.say(other, "/export idx identified")
    assert reply.content == (
        "Only owners may export students' Telegram ids and names; other exports show pseudonyms."
    )
