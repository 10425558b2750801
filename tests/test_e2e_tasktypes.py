"""Every task type over real HTTP: A/B comparisons, long texts in pages, the Guide."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from bot.config import Config
from bot.render import paginate
from bot.services import labeling
from bot.services.privacy import pseudonym
from db.connection import Database
from tests.botapi import ChatMessage, button_texts
from tests.conftest import ADMIN_ID
from tests.e2e import Harness, running_bot
from tests.test_labeling_service import seed, student


@pytest.fixture
async def h(cfg: Config) -> AsyncIterator[Harness]:
    async with running_bot(cfg) as harness:
        yield harness


async def upload(h: Harness, name: str, rows: list[dict[str, str]], caption: str) -> str:
    admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
    data = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()
    reply = await h.upload(admin, name, data, caption)
    return reply.content


PAIRS = [
    {"id": "q1", "prompt": "What is 2+2?", "a": "It is 4.", "b": "It is 5."},
    {"id": "q2", "prompt": "Capital of France?", "a": "Paris.", "b": "Lyon."},
]


async def test_pairwise_shows_both_answers_and_stores_the_original_side(h: Harness) -> None:
    report = await upload(h, "pairs.jsonl", PAIRS, "/upload ab type=pairwise price=0.10")
    assert "2 tasks added" in report
    assert "New project ab: A/B comparison" in report
    task = await h.start_labeling(3001)
    assert button_texts(task) == ["A is better", "B is better", "Tie", "Both bad", "Skip ⏭"]
    assert "❓ Prompt:\nWhat is 2+2?" in task.content
    order = await h.scalar("SELECT shown_order FROM assignments WHERE worker_id = 3001")
    first, second = ("It is 4.", "It is 5.") if order == "ab" else ("It is 5.", "It is 4.")
    assert f"🅰 Answer A:\n{first}\n\n🅱 Answer B:\n{second}" in task.content
    assert task.content.endswith("Which answer is better?")

    _, task = await h.tap_and_wait_edit(h.server.users[3001], task, "A is better")
    assert await h.query("SELECT value, shown_order FROM answers") == [(order[0], order)]
    assert "Capital of France?" in task.content  # the next comparison, in place
    _, task = await h.tap_and_wait_edit(h.server.users[3001], task, "Tie")
    assert await h.query("SELECT value FROM answers ORDER BY id") == [(order[0],), ("tie",)]

    admin = h.server.users[ADMIN_ID]
    stats = (await h.say(admin, "/stats ab")).content
    # One decisive vote, for the answer shown first.
    assert "A/B position: the answer shown first won 1 of 1 decisive votes (100%)." in stats


async def test_pairwise_order_is_random_per_assignment(db: Database, t0: datetime) -> None:
    await seed(db, t0, n=1, caption="/upload ab options=x,y")  # a label project first
    async with db.transaction() as tx:  # turn it into a comparison with 400 tasks
        await tx.execute(
            'UPDATE projects SET type = \'pairwise\', options = \'["a", "b", "tie", "both_bad"]\''
        )
        await tx.executemany(
            "INSERT INTO tasks (project_id, text, payload, needed) VALUES (1, ?, ?, 1)",
            [(f"p{i}", json.dumps({"prompt": f"p{i}", "a": "x", "b": "y"})) for i in range(400)],
        )
    await student(db, 1, t0)
    orders = []
    card = await labeling.next_task(db, 1, t0)
    while card is not None:
        orders.append(card.shown_order)
        out = await labeling.skip(
            db, worker_id=1, assignment_id=card.assignment_id, chat_id=1, message_id=1, now=t0
        )
        assert isinstance(out, labeling.Saved)
        card = out.next
        async with db.transaction() as tx:  # no pause for skipping: this is a test of order
            await tx.execute("UPDATE standings SET skips_in_row = 0")
    assert len(orders) >= 400
    ab = orders.count("ab")
    # Binomial(n, 1/2): more than 5 standard deviations from n/2 would be a broken shuffle.
    assert abs(ab - len(orders) / 2) < 5 * (len(orders) / 4) ** 0.5, (ab, len(orders))
    assert set(orders) == {"ab", "ba"}


def words(n: int) -> str:
    return " ".join(f"word{i:05d}" for i in range(n))


async def test_a_long_text_pages_in_place_and_keeps_its_buttons(h: Harness) -> None:
    long_text = words(1100)  # 10,999 characters
    assert len(long_text) > 10_000
    await upload(
        h,
        "long.jsonl",
        [{"id": "L", "text": long_text}, {"id": "S", "text": "short"}],
        "/upload long options=yes,no",
    )
    task = await h.start_labeling(4001)
    pages = paginate(long_text)
    assert len(pages) == 4
    assert "— page 1 of 4: ◀ ▶ below —" in task.content
    assert button_texts(task) == ["yes", "no", "1/4", "▶", "Skip ⏭"]
    seen = [pages[0]]
    student_user = h.server.users[4001]
    for n in range(2, 5):
        _, task = await h.tap_and_wait_edit(student_user, task, "▶")
        assert f"— page {n} of 4: ◀ ▶ below —" in task.content
        assert len(task.content) <= 4096
        seen.append(pages[n - 1])
        assert pages[n - 1] in task.content
        assert button_texts(task)[:2] == ["yes", "no"]  # the answer stays reachable
    assert button_texts(task) == ["yes", "no", "◀", "4/4", "Skip ⏭"]
    # Nothing is lost: the pages, joined, are the text.
    assert " ".join(seen).split() == long_text.split()
    assert await h.scalar("SELECT COUNT(*) FROM answers") == 0  # turning pages writes nothing
    _, task = await h.tap_and_wait_edit(student_user, task, "no")
    assert await h.query(
        "SELECT t.external_id, a.value FROM answers a JOIN tasks t ON t.id = a.task_id"
    ) == [("L", "no")]
    assert "short" in task.content


async def test_guide_opens_the_instructions_and_returns_to_the_task(h: Harness) -> None:
    await upload(
        h,
        "g.jsonl",
        [{"id": "1", "text": "Is this spam?"}],
        '/upload guided options=spam,ham instructions="Spam sells something."',
    )
    task: ChatMessage = await h.start_labeling(5001)
    assert button_texts(task)[-2:] == ["📖 Guide", "Skip ⏭"]
    user = h.server.users[5001]
    _, guide = await h.tap_and_wait_edit(user, task, "📖 Guide")
    assert guide.content == "📖 How to label guided:\n\nSpam sells something."
    assert button_texts(guide) == ["◀ Back to the task"]
    _, back = await h.tap_and_wait_edit(user, guide, "◀ Back to the task")
    assert "Is this spam?" in back.content
    assert button_texts(back)[:2] == ["spam", "ham"]
    _, done = await h.tap_and_wait_edit(user, back, "ham")
    assert await h.query("SELECT value FROM answers") == [("ham",)]
    assert "no tasks are waiting for you" in done.content
    # A page or Guide button of a finished task is refused politely.
    stale = await h.server.tap(user, done.message_id, f"i:{1}", strict=False)
    assert (await h.server.wait_for_answer(stale))["text"] == (
        "You already answered this task; it was saved once."
    )


async def test_multilabel_ticks_in_place_then_done_records_the_set(h: Harness) -> None:
    await upload(
        h,
        "m.jsonl",
        [{"id": "1", "text": "A sunny beach with dogs"}, {"id": "2", "text": "An empty room"}],
        "/upload tags type=multilabel options=sun,dog,cat allow_none=yes",
    )
    task = await h.start_labeling(6001)
    user = h.server.users[6001]
    assert button_texts(task) == ["☐ sun", "☐ dog", "☐ cat", "✅ Done", "None of these", "Skip ⏭"]
    assert task.content.endswith("Tick every label that fits, then tap Done.")
    # Done with nothing ticked is refused and records nothing.
    empty = await h.tap(user, task, "✅ Done")
    assert empty["text"].startswith("Tick at least one label first")
    sends = len(h.server.calls("sendMessage"))
    for label, ticked in (
        ("☐ sun", "☑ sun"),
        ("☐ dog", "☑ dog"),
        ("☐ cat", "☑ cat"),
        ("☑ cat", "☐ cat"),
    ):  # the last one unticks
        await h.tap(user, h.server.message(user, task.message_id), label)
        await h.server.wait_until(
            lambda t=ticked: t in button_texts(h.server.message(user, task.message_id))
        )
    assert button_texts(h.server.message(user, task.message_id))[:3] == ["☑ sun", "☑ dog", "☐ cat"]
    assert len(h.server.calls("editMessageReplyMarkup")) == 4  # only the keyboard changed
    assert len(h.server.calls("sendMessage")) == sends  # no new message
    assert await h.scalar("SELECT COUNT(*) FROM answers") == 0
    _, nxt = await h.tap_and_wait_edit(user, h.server.message(user, task.message_id), "✅ Done")
    assert nxt.content.startswith("✓ Saved: sun, dog")
    assert json.loads(await h.scalar("SELECT value FROM answers")) == ["sun", "dog"]
    _, last = await h.tap_and_wait_edit(user, nxt, "None of these")
    assert await h.query("SELECT value FROM answers ORDER BY id") == [('["sun", "dog"]',), ("[]",)]
    assert "no tasks are waiting" in last.content


async def test_correction_by_reply_or_unchanged_and_the_export_ratio(h: Harness) -> None:
    await upload(
        h,
        "c.jsonl",
        [{"id": "1", "text": "Teh cat sat on the mat."}, {"id": "2", "text": "All is well."}],
        "/upload fix type=correction price=0.20",
    )
    task = await h.start_labeling(7001)
    user = h.server.users[7001]
    assert button_texts(task) == ["✓ No correction needed", "✏️ Correct it", "Skip ⏭"]
    await h.tap(user, task, "✏️ Correct it")
    ask = await h.server.wait_for_message(user, after=task)
    assert ask.content.startswith("Send the corrected text as your next message")
    assert ask.content.endswith("Teh cat sat on the mat.")
    assert ask.reply_markup and ask.reply_markup.get("force_reply") is True
    sent = await h.server.send_text(user, "The cat sat on the mat.")
    nxt = await h.server.wait_for_message(user, after=sent)
    assert nxt.content.startswith("✓ Saved: The cat sat on the mat. · +¥0.20")
    assert "All is well." in nxt.content
    assert button_texts(h.server.message(user, task.message_id)) == []  # spent buttons gone
    _, done = await h.tap_and_wait_edit(user, nxt, "✓ No correction needed")
    assert await h.query("SELECT value FROM answers ORDER BY id") == [
        ("The cat sat on the mat.",),
        ("All is well.",),
    ]
    assert "no tasks are waiting" in done.content
    # A stray text afterwards is not taken as an answer.
    stray = await h.say(user, "hello?")
    assert stray.content == "Please use the buttons under a task, or send /next for one."
    assert await h.scalar("SELECT COUNT(*) FROM answers") == 2

    admin = h.server.users[ADMIN_ID]
    export, *_ = await h.export(admin, "fix")
    header, *rows = h.server.document_bytes(export).decode("utf-8-sig").splitlines()
    assert header.endswith(",change_ratio")
    ratios = [float(r.rsplit(",", 1)[1]) for r in rows]
    assert ratios[1] == 0.0  # unchanged
    assert 0 < ratios[0] < 0.2  # two letters swapped in a 23-character sentence


async def test_rating_with_an_optional_comment(h: Harness) -> None:
    await upload(
        h,
        "r.jsonl",
        [{"id": "1", "text": "Rate this answer."}, {"id": "2", "text": "And this one."}],
        "/upload rate type=rating comment=optional",
    )
    task = await h.start_labeling(8001)
    user = h.server.users[8001]
    _, nxt = await h.tap_and_wait_edit(user, task, "4")
    assert button_texts(nxt)[-1] == "💬 Comment on my last answer"
    await h.tap(user, nxt, "💬 Comment on my last answer")
    ask = await h.server.wait_for_message(user, after=nxt)
    assert ask.content == "Send your comment on your last answer as your next message:"
    sent = await h.server.send_text(user, "Clear but a bit long.")
    saved = await h.server.wait_for_message(user, after=sent)
    assert saved.content == "💬 Comment saved with your answer."
    assert await h.query("SELECT value, comment FROM answers") == [("4", "Clear but a bit long.")]
    # Another student cannot comment on this answer with a forged button.
    other = await h.start_labeling(8002)
    answer_id = await h.scalar("SELECT id FROM answers")
    forged = await h.server.tap(
        h.server.users[8002], other.message_id, f"k:{answer_id}", strict=False
    )
    assert (await h.server.wait_for_answer(forged))["text"] == (
        "This task doesn't exist. Nothing was recorded."
    )


# Label Studio's documented task format (tasks with "data" and optional "predictions").
LS_TASKS = [
    {
        "id": 101,
        "data": {"text": "I love this phone", "source": "app-store"},
        "predictions": [
            {
                "model_version": "v1",
                "score": 0.9,
                "result": [
                    {
                        "from_name": "sentiment",
                        "to_name": "text",
                        "type": "choices",
                        "value": {"choices": ["Positive"]},
                    }
                ],
            }
        ],
    },
    {"id": 102, "data": {"text": "Battery died in a day", "source": "forum"}},
]


async def test_label_studio_round_trip(h: Harness) -> None:
    admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
    report = await h.upload(
        admin,
        "tasks.json",
        json.dumps(LS_TASKS).encode(),
        "/upload ls options=Positive,Negative,Neutral",
    )
    assert "2 tasks added" in report.content
    task = await h.start_labeling(9001)
    # The prediction is shown as a pre-selected suggestion, on the text and on its button.
    assert "💡 Suggested: Positive" in task.content
    assert button_texts(task)[:3] == ["💡 Positive", "Negative", "Neutral"]
    user = h.server.users[9001]
    _, nxt = await h.tap_and_wait_edit(user, task, "💡 Positive")
    assert "💡" not in nxt.content  # the second task has no prediction
    await h.tap_and_wait_edit(user, nxt, "Negative")

    sent = await h.server.send_text(admin, "/export ls labelstudio")
    doc = await h.server.wait_for_message(admin, after=sent)
    assert doc.document is not None
    assert doc.document["file_name"] == "ls-labelstudio.json"
    exported = json.loads(h.server.document_bytes(doc))
    assert [t["id"] for t in exported] == [101, 102]
    # Label Studio ignores the top-level id: the task's own id is in data too.
    assert exported[0]["data"] == {"id": "101", "text": "I love this phone", "source": "app-store"}
    assert exported[0]["predictions"] == LS_TASKS[0]["predictions"]
    first, second = (t["annotations"] for t in exported)
    # Both answers go to the control the project's predictions name, also the one for the
    # task without a prediction.
    assert first[0]["result"] == [
        {
            "from_name": "sentiment",
            "to_name": "text",
            "type": "choices",
            "value": {"choices": ["Positive"]},
        }
    ]
    assert second[0]["result"] == [
        {
            "from_name": "sentiment",
            "to_name": "text",
            "type": "choices",
            "value": {"choices": ["Negative"]},
        }
    ]
    # A pseudonymous id (bot.services.privacy), never the Telegram id, and not as
    # completed_by (Label Studio refuses the whole file for an annotator it does not know).
    key = bytes.fromhex(await h.scalar("SELECT value FROM secrets WHERE name = 'pseudonym'"))
    assert "completed_by" not in first[0]
    assert first[0]["meta"] == {"student": pseudonym(key, 9001)}
    assert exported[0]["meta"] == {
        "labelgram": {"students": {str(first[0]["id"]): pseudonym(key, 9001)}}
    }
    assert first[0]["ground_truth"] is False
    assert first[0]["lead_time"] >= 0
    # And Label Studio's format comes back in: the export imports as the same tasks.
    again = await h.upload(
        admin,
        "back.json",
        h.server.document_bytes(doc),
        "/upload ls2 options=Positive,Negative,Neutral",
    )
    assert "2 tasks added" in again.content
    assert await h.query(
        "SELECT external_id, text FROM tasks WHERE project_id = 2 ORDER BY id"
    ) == [("101", "I love this phone"), ("102", "Battery died in a day")]


def tiny_png() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"\x00\xff\x00\x00"  # one red pixel
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


async def test_guide_with_an_example_image_keeps_the_task(h: Harness) -> None:
    await upload(
        h, "g.jsonl", [{"id": "1", "text": "Is this a cat?"}], "/upload pets options=cat,other"
    )
    admin = h.server.users[ADMIN_ID]
    sent = await h.server.send_photo(admin, tiny_png(), caption="/guide pets Cats have whiskers.")
    reply = await h.server.wait_for_message(admin, after=sent)
    assert reply.content == "📖 The Guide of pets is updated; students see it under every task."
    assert await h.scalar("SELECT instructions FROM projects") == "Cats have whiskers."
    assert await h.scalar("SELECT example_file_id FROM projects") is not None
    # A student may not set it.
    task = await h.start_labeling(5101)
    user = h.server.users[5101]
    refused = await h.say(user, "/guide pets nonsense")
    assert refused.content == "Sorry, only project admins can do that."
    assert await h.scalar("SELECT instructions FROM projects") == "Cats have whiskers."

    assert button_texts(task)[-2:] == ["📖 Guide", "Skip ⏭"]
    await h.tap(user, task, "📖 Guide")
    example = await h.server.wait_for_message(user, after=refused)
    assert example.photo
    assert example.content == "📖 How to label pets:\n\nCats have whiskers."
    assert h.server.message(user, task.message_id).content == task.content  # task unchanged
    _, done = await h.tap_and_wait_edit(user, task, "cat")
    assert await h.query("SELECT value FROM answers") == [("cat",)]
    assert "no tasks are waiting" in done.content
