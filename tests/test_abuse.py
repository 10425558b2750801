"""A hostile client: forged buttons, admin commands from students, prying into others'
money, hostile files and a leaking token. Each over the real-HTTP Bot API test server."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import random
import string
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot import callbacks
from bot.cli import setup_logging
from bot.config import Config
from bot.importing import parse_tasks
from handlers import errors
from handlers.guard import RoleCommandHandler
from tests.botapi import ChatMessage, FakeUser, button_data
from tests.conftest import ADMIN_ID, TOKEN
from tests.e2e import Harness, running_bot

NOT_ALLOWED = "Sorry, only project admins can do that."
TABLES = (
    "projects",
    "tasks",
    "uploads",
    "pending_files",
    "workers",
    "assignments",
    "answers",
    "ledger",
    "payouts",
    "disputes",
    "inputs",
    "outbox",
)


@pytest.fixture
async def h(cfg: Config) -> AsyncIterator[Harness]:
    async with running_bot(cfg) as harness:
        yield harness


async def snapshot(h: Harness, tables: tuple[str, ...] = TABLES) -> dict[str, list[Any]]:
    return {t: await h.query(f"SELECT * FROM {t} ORDER BY rowid") for t in tables}  # noqa: S608


def admin_of(h: Harness) -> FakeUser:
    return h.server.add_user(ADMIN_ID, "Ada", language_code="en")


async def seed(h: Harness, project: str, rows: int, settings_: str) -> None:
    body = "".join(f"{project}{i},Item {project} {i}\n" for i in range(1, rows + 1))
    reply = await h.upload(
        admin_of(h),
        f"{project}.csv",
        f"id,text\n{body}".encode(),
        f"/upload {project} {settings_}",
    )
    assert f"{rows} tasks added" in reply.content, reply.content


# ------------------------------------------------------------------------------------------
# 1,000 forged callback payloads


def forged_payloads(
    foreign: dict[str, list[int]], own_spent: list[int], rng: random.Random, total: int = 1000
) -> list[str]:
    """Forgeries only: other people's ids, spent ids of the attacker, bad numbers, garbage."""
    out: list[str] = []
    for aid in foreign["assignments"]:  # other students' tasks, any option, any action
        out += [f"a:{aid}:{o}" for o in range(10)]
        out += [
            f"s:{aid}",
            f"t:{aid}:0",
            f"t:{aid}:1",
            f"p:{aid}:0",
            f"p:{aid}:1",
            f"i:{aid}",
            f"e:{aid}",
        ]
    out += [f"d:{e}" for e in foreign["ledger"]]  # dispute someone else's entry
    out += [f"k:{a}" for a in foreign["answers"]]  # comment on someone else's answer
    for aid in own_spent:  # answered, skipped, expired: valid-looking, but spent
        out += [f"a:{aid}:0", f"a:{aid}:1", f"s:{aid}", f"t:{aid}:0", f"e:{aid}", f"i:{aid}"]
    # Admin buttons from a student.
    out += ["u:1:1", "u:1:0", "r:1:1", "r:1:0", "v:1:1", "v:1:0"]
    bad_numbers = [
        "0",
        "-1",
        "01",
        "1e3",
        "9999999999999",
        "",
        " 1",
        "1 ",
        "+1",
        "0x1",
        "1.0",
        "١",
        "１",
        "²",
        "1_0",
        "NaN",
    ]
    for prefix in "asuhdrvpitekgn":  # "l:" has its own test below (a known hole)
        for bad in bad_numbers:
            out += [f"{prefix}:{bad}", f"{prefix}:1:{bad}", f"{prefix}:{bad}:0"]
        out += [
            f"{prefix}:",
            f"{prefix}::",
            f"{prefix}:1:0:0",
            prefix.upper() + ":1:0",
            f"{prefix}:999999999999:0",
            f"{prefix}:99999999999:1",
        ]
    out += [
        "",
        " ",
        "a",
        "n:x",
        "g:x",
        "a:1;DROP TABLE answers:0",
        "a:1\n:0",
        "a:1:0\n",
        "\x00",
        "a:\x001:0",
        "🙂" * 16,
        "x" * 64,
        "a:" + "9" * 62,
        "n" * 65,
    ]
    # Whatever parses as a legitimate student action is no forgery: leave those out.
    legit = (callbacks.NextTask, callbacks.SetLanguage, callbacks.Setting, callbacks.HistoryPage)
    out = [p for p in out if not isinstance(callbacks.parse(p), legit)]
    alphabet = string.printable + "中文🙂\u200b\u202e\ud7ff"
    while len(out) < total:  # then 64-byte-ish garbage
        size = rng.choice((1, 5, 20, 63, 64, 64, 65, 200))
        out.append("".join(rng.choice(alphabet) for _ in range(size)))
    return out[:total]


async def test_thousand_forged_taps_write_nothing_and_each_gets_a_toast(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await seed(h, "alpha", 8, "options=yes,no price=0.05")
    await seed(h, "beta", 3, "options=x,y price=0.10")
    # The victim answers one task (an answer and a ledger entry) and holds another.
    victim_task = await h.start_labeling(5002)
    await h.tap_and_wait_edit(h.server.users[5002], victim_task, "yes")
    # The attacker answers one, skips one, and lets one expire (as the sweeper would).
    task = await h.start_labeling(5001)
    attacker = h.server.users[5001]
    _, task = await h.tap_and_wait_edit(attacker, task, "no")
    _, task = await h.tap_and_wait_edit(attacker, task, "Skip ⏭")
    async with h.db.transaction() as tx:
        await tx.execute(
            "UPDATE assignments SET status = 'expired' WHERE worker_id = 5001 AND status = 'open'"
        )
    foreign = {
        "assignments": [
            r[0] for r in await h.query("SELECT id FROM assignments WHERE worker_id <> 5001")
        ],
        "ledger": [r[0] for r in await h.query("SELECT id FROM ledger WHERE worker_id <> 5001")],
        "answers": [r[0] for r in await h.query("SELECT id FROM answers WHERE worker_id <> 5001")],
    }
    # ids of the other project's tasks as assignment ids too (they name no assignment of ours)
    foreign["assignments"] += [
        r[0] + 1000
        for r in await h.query(
            "SELECT t.id FROM tasks t JOIN projects p ON p.id = t.project_id WHERE p.name = 'beta'"
        )
    ]
    own_spent = [r[0] for r in await h.query("SELECT id FROM assignments WHERE worker_id = 5001")]
    assert foreign["ledger"] and foreign["answers"] and len(own_spent) == 3
    payloads = forged_payloads(foreign, own_spent, random.Random(7))
    assert len(payloads) == 1000

    before = await snapshot(h)
    edits_before = len(h.server.calls("editMessageText"))
    sends_before = len(h.server.calls("sendMessage"))
    answers: list[dict[str, Any]] = []
    for start in range(0, len(payloads), 100):  # concurrent batches of 100 taps
        batch = payloads[start : start + 100]
        ids = [await h.server.tap(attacker, task.message_id, p, strict=False) for p in batch]
        answers += await asyncio.gather(
            *(h.server.wait_for_answer(q) for q in ids), return_exceptions=True
        )

    assert len(answers) == 1000
    spinning = [
        p
        for p, a in zip(payloads, answers, strict=True)
        if not isinstance(a, dict) or not a.get("text")
    ]
    assert spinning == []  # every query got a toast with words in it
    assert await snapshot(h) == before  # 0 rows written anywhere
    assert len(h.server.calls("editMessageText")) == edits_before
    assert len(h.server.calls("sendMessage")) == sends_before
    assert "update failed" not in caplog.text
    texts = {a["text"] for a in answers}
    assert NOT_ALLOWED in texts
    assert "This button belongs to someone else's task. Nothing was recorded." in texts


async def test_forged_language_buttons_get_a_toast(h: Harness) -> None:
    student = h.server.add_user(5101, "s", language_code="en")
    help_message = await h.say(student, "/help")
    ids = [
        await h.server.tap(student, help_message.message_id, p, strict=False)
        for p in ("l:fr", "l:", "l:0", "l:en:1", "l:EN")
    ]
    answers = await asyncio.gather(
        *(h.server.wait_for_answer(q) for q in ids), return_exceptions=True
    )
    assert all(isinstance(a, dict) and a.get("text") for a in answers), answers


# ------------------------------------------------------------------------------------------
# Fuzzing the parsers


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.text(alphabet="asuhdrvpitekgln:0123456789-١１", max_size=30),
        st.from_regex(r"[asuhdrvpitek]:[0-9]{1,14}(:[0-9]{1,4})?", fullmatch=True),
        st.none(),
    )
)
@example("a:1١:0")  # non-ASCII digits once parsed as assignment 11 (pack: "a:11:0")
@example("h:1１")
@example("a:1:0\n")
def test_callback_parse_never_raises_and_round_trips(data: str | None) -> None:
    parsed = callbacks.parse(data)
    if parsed is not None:
        assert parsed.pack() == data
        assert len(data.encode()) <= 64  # what Telegram allows in a button


JSON_NESTED = b"[" * 10_000 + b"]" * 10_000


@settings(max_examples=150, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=400),
        st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.sampled_from(
            [
                JSON_NESTED,
                b'{"text":' + JSON_NESTED + b"}\n",
                b"\xef\xbb\xbf",
                b"id,text\n" + b"\xff" * 50,
            ]
        ),
    ),
    name=st.sampled_from(["t.csv", "t.tsv", "t.jsonl", "t.ndjson", "t.json", "t.txt", "t"]),
)
def test_parse_tasks_never_raises_on_any_bytes_or_name(data: bytes, name: str) -> None:
    result = parse_tasks(data, name)
    assert result.format in ("csv", "jsonl", "json")
    if result.errors:
        assert all(e.code for e in result.errors)


# ------------------------------------------------------------------------------------------
# Admin commands from a non-admin


def all_admin_commands(h: Harness) -> list[str]:
    """Every command registered for some roles only (handlers.guard), from the built app."""
    return sorted(
        {
            command
            for group in h.app.handlers.values()
            for handler in group
            if isinstance(handler, RoleCommandHandler)
            for command in handler.commands
        }
    )


async def test_every_admin_command_refused_identically_for_real_and_made_up_projects(
    h: Harness,
) -> None:
    await seed(h, "secret", 2, "options=yes,no price=0.05")
    commands = all_admin_commands(h)
    assert {"upload", "stats", "bonus", "broadcast", "ban", "export_payouts"} <= set(commands)
    student = h.server.add_user(1001, "Li", language_code="en")
    before = await snapshot(h)
    sent_to_others = len(
        [c for c in h.server.calls("sendMessage") if c.params.get("chat_id") != 1001]
    )
    replies: dict[str, list[str]] = {}
    for command in commands:
        replies[command] = [
            (await h.say(student, f"/{command} {arg}")).content
            for arg in ("secret", "nosuch", "1001 5 secret", "")
        ]
    assert {c: set(r) for c, r in replies.items()} == {c: {NOT_ALLOWED} for c in commands}
    assert await snapshot(h) == before
    # Nothing reached anyone else (no broadcast, no admin notice).
    assert (
        len([c for c in h.server.calls("sendMessage") if c.params.get("chat_id") != 1001])
        == sent_to_others
    )


# ------------------------------------------------------------------------------------------
# Nobody sees another student's money


async def reply_to(h: Harness, user: FakeUser, text: str, marker: str) -> ChatMessage:
    """The reply holding `marker` (a bonus notice may arrive in between)."""
    sent = await h.server.send_text(user, text)
    return await h.server.wait_for_message(user, lambda m: marker in m.content, after=sent)


async def history(h: Harness, user: FakeUser) -> ChatMessage:
    return await reply_to(h, user, "/history", "Your history")


async def test_balance_and_history_show_only_ones_own_entries(h: Harness) -> None:
    await seed(h, "pay", 6, "options=yes,no price=0.05")
    a = await h.start_labeling(1101)
    for _ in range(3):
        _, a = await h.tap_and_wait_edit(h.server.users[1101], a, "yes")
    b = await h.start_labeling(1102)
    await h.tap_and_wait_edit(h.server.users[1102], b, "no")
    admin = admin_of(h)
    assert (await h.say(admin, "/bonus 1102 0.70 zebra-note-for-B")).content.startswith("🎁")

    bal_a = (await reply_to(h, h.server.users[1101], "/balance", "Your balance")).content
    bal_b = (await reply_to(h, h.server.users[1102], "/balance", "Your balance")).content
    assert "Answers: ¥0.15" in bal_a and "Bonuses: ¥0.00" in bal_a
    assert "Answers: ¥0.05" in bal_b and "Bonuses: ¥0.70" in bal_b
    hist_a = (await history(h, h.server.users[1101])).content
    hist_b = (await history(h, h.server.users[1102])).content
    assert "zebra-note-for-B" not in hist_a and "zebra-note-for-B" in hist_b
    assert hist_a.count("answer to task") == 3 and hist_b.count("answer to task") == 1
    assert "¥0.70" not in hist_a + bal_a
    # Every earning line in A's history is A's own task.
    own = {
        r[0]
        for r in await h.query(
            "SELECT t.external_id FROM answers a JOIN tasks t ON t.id = a.task_id"
            " WHERE a.worker_id = 1101"
        )
    }
    other = {
        r[0]
        for r in await h.query(
            "SELECT t.external_id FROM answers a JOIN tasks t ON t.id = a.task_id"
            " WHERE a.worker_id = 1102"
        )
    }
    assert own and other and not own & other
    assert all(x not in hist_a for x in other)


# ------------------------------------------------------------------------------------------
# Hostile files


HOSTILE_FILES = [
    ("empty.csv", b"", "the file is empty"),
    ("header.csv", b"id,text\n", "the file has no tasks"),
    ("wide.csv", b"id,text," + b"c," * 1_000_000 + b"\n1,hello\n", "more than 200 columns"),
    (
        "long.csv",
        b"id,text\n1," + b"x" * 10_000_000 + b"\n",
        "“text” is longer than 100000 characters",
    ),
    (
        "bytes.csv",
        b"id,text\n1,\xff\xfe\x80\x81\xc0\xaf\n",
        "the file is not text in an encoding I can read",
    ),
    ("deep.json", JSON_NESTED, "this is not valid JSON (nesting too deep)"),
    ("deep.jsonl", b'{"id": "1", "text": ' + JSON_NESTED + b"}\n", "nesting too deep"),
]


async def test_hostile_files_are_refused_by_name_and_write_nothing(h: Harness) -> None:
    admin = admin_of(h)
    before = await snapshot(h)
    for name, data, problem in HOSTILE_FILES:
        reply = await h.upload(admin, name, data, "/upload hostile options=yes,no", timeout=30)
        assert reply.content.startswith("❌"), (name, reply.content)
        assert f"Nothing was imported from {name}." in reply.content, reply.content
        assert problem in reply.content, (name, reply.content)
        assert len(reply.content) < 1000  # a clear reply, not the file echoed back
        assert await snapshot(h) == before, name


async def test_formulas_in_imported_text_are_neutralised_in_the_csv_export(h: Harness) -> None:
    admin = admin_of(h)
    formulas = [
        '=HYPERLINK("http://evil.example","click")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1:A9)",
    ]
    body = io.StringIO()
    writer = csv.writer(body, lineterminator="\n")
    writer.writerow(["id", "text"])
    writer.writerows([(f"=id{i}" if i == 0 else f"f{i}", f) for i, f in enumerate(formulas)])
    reply = await h.upload(
        admin, "f.csv", body.getvalue().encode(), "/upload formulas options=yes,no overlap=1"
    )
    assert "4 tasks added" in reply.content, reply.content
    task = await h.start_labeling(1201)
    for _ in formulas:
        _, task = await h.tap_and_wait_edit(h.server.users[1201], task, "yes")
    doc, *_ = await h.export(admin, "formulas")
    table = list(
        csv.reader(io.StringIO(h.server.document_bytes(doc).decode("utf-8-sig"), newline=""))
    )
    texts = sorted(row[1] for row in table[1:])
    assert texts == sorted("'" + f for f in formulas)
    assert "'=id0" in [row[0] for row in table[1:]]
    # Nothing in the CSV starts a cell with a formula character.
    assert not [c for row in table[1:] for c in row if c[:1] in "=+-@"]


# ------------------------------------------------------------------------------------------
# The token never leaks


async def test_token_never_in_logs_or_admin_alert_when_a_handler_fails(
    h: Harness,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(errors._last_alert, "at", 0.0)  # the once-a-minute limit is free
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("httpx").level)
    setup_logging(TOKEN, logging.DEBUG)  # the production handler, with its masking formatter
    root.handlers += [x for x in saved[0] if x not in root.handlers]  # keep caplog's too
    logging.getLogger("httpx").setLevel(logging.DEBUG)  # request URLs hold the token
    caplog.set_level(logging.DEBUG)
    try:
        await seed(h, "tok", 2, "options=yes,no")
        task = await h.start_labeling(1301)
        failed: list[int] = []

        def fault(method: str, params: dict[str, Any]) -> tuple[int, str] | None:
            if method == "editMessageText" and not failed:
                failed.append(1)
                return 500, f"Internal Server Error at /bot{TOKEN}/editMessageText"
            return None

        h.server.fault = fault
        qid = await h.server.tap(h.server.users[1301], task.message_id, button_data(task, "yes"))
        await h.server.wait_for_answer(qid)
        await h.server.wait_until(
            lambda: any(
                c.params.get("chat_id") == ADMIN_ID and "error" in str(c.params.get("text"))
                for c in h.server.calls("sendMessage")
            ),
            description="the admin alert",
        )
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("httpx").setLevel(saved[2])
    assert failed == [1]
    assert "update failed" in caplog.text  # the handler did fail and was logged
    secret = TOKEN.partition(":")[2]
    written = capsys.readouterr().err  # what the production log handler wrote
    assert "update failed" in written
    assert "/bot***/" in written  # URLs were logged, with the token masked
    assert TOKEN not in written and secret not in written
    alerts = [
        str(c.params.get("text"))
        for c in h.server.requests
        if c.params.get("chat_id") == ADMIN_ID and c.method == "sendMessage"
    ]
    assert alerts and all(TOKEN not in a and secret not in a for a in alerts)
    assert any("Labelgram error" in a for a in alerts)
    assert await h.scalar("SELECT COUNT(*) FROM answers") == 1
