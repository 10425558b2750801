"""Admins (and people who are not admins) using the real bot over real HTTP.

Every test checks both what the person sees in the chat and what SQLite holds afterwards.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.config import Config
from bot.services.privacy import pseudonym
from tests.botapi import ChatMessage, FakeUser, button_texts
from tests.conftest import ADMIN_ID
from tests.e2e import Harness, running_bot

NOT_ALLOWED = "Sorry, only project admins can do that."

# Every table an admin action could touch, read back whole for "nothing changed" checks.
SNAPSHOT_SQL = {
    "projects": "SELECT * FROM projects ORDER BY id",
    "tasks": "SELECT * FROM tasks ORDER BY id",
    "uploads": "SELECT * FROM uploads ORDER BY id",
    "pending_files": "SELECT * FROM pending_files ORDER BY id",
    "workers": "SELECT * FROM workers ORDER BY id",
    "assignments": "SELECT * FROM assignments ORDER BY id",
    "answers": "SELECT * FROM answers ORDER BY id",
    "ledger": "SELECT * FROM ledger ORDER BY id",
}

TASKS_SQL = (
    "SELECT p.name, t.external_id, t.text FROM tasks t JOIN projects p"
    " ON p.id = t.project_id ORDER BY t.id"
)


@pytest.fixture
async def h(cfg: Config) -> AsyncIterator[Harness]:
    async with running_bot(cfg) as harness:
        yield harness


def admin_of(h: Harness, language_code: str = "en") -> FakeUser:
    return h.server.add_user(ADMIN_ID, "Ada", language_code=language_code)


async def snapshot(h: Harness) -> dict[str, list[tuple[Any, ...]]]:
    return {table: await h.query(sql) for table, sql in SNAPSHOT_SQL.items()}


def csv_bytes(rows: list[tuple[str, str]], header: str = "id,text") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header.split(","))
    writer.writerows(rows)
    return out.getvalue().encode()


def jsonl_bytes(items: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items).encode()


async def seed(
    h: Harness, project: str, texts: list[str], settings: str = "options=yes,no"
) -> None:
    """The admin creates `project` with tasks id t1, t2, … holding `texts`."""
    rows = [(f"t{i}", text) for i, text in enumerate(texts, start=1)]
    reply = await h.upload(
        admin_of(h), f"{project}.csv", csv_bytes(rows), f"/upload {project} {settings}"
    )
    assert f"{len(texts)} tasks added, 0 skipped" in reply.content, reply.content


async def settled(h: Harness, user: FakeUser, message: ChatMessage) -> ChatMessage:
    """Wait until a bot message was edited and no longer says it is importing."""
    return await h.server.wait_until(
        lambda: (
            (m := h.server.message(user, message.message_id)).edit_count
            and not m.content.startswith("⏳")
            and m
        ),
        user=user,
        description="the message to show the outcome",
    )


# ------------------------------------------------------------------------------------------
# 1-3: good files


async def test_csv_then_jsonl_into_one_project_counts_rows_with_known_ids(h: Harness) -> None:
    admin = admin_of(h)
    first = csv_bytes(
        [
            ("r1", "The delivery was fast."),
            ("r2", "The box was crushed."),
            ("r3", "It works as described."),
        ]
    )
    reply = await h.upload(
        admin,
        "reviews.csv",
        first,
        "/upload reviews options=positive,negative price=0.05 overlap=2",
    )
    assert reply.content.startswith("✅ reviews: 3 tasks added, 0 skipped")
    assert (
        "New project reviews: labels, answers: positive / negative; ¥0.05 per answer, "
        "2 answer(s) per task" in reply.content
    )

    # r2 and r3 are already there (r2 with another text): skipped and counted, not changed.
    second = jsonl_bytes(
        [
            {"id": "r2", "text": "A different text for r2."},
            {"id": "r4", "text": "Arrived a week late."},
            {"id": "r3", "text": "It works as described."},
            {"text": "No id at all: always new."},
            {"id": 5, "text": "A numeric id.", "source": "app"},
        ]
    )
    reply = await h.upload(admin, "more.jsonl", second, "/upload reviews price=0.10")
    assert reply.content.splitlines() == [
        "✅ reviews: 3 tasks added, 2 skipped (their id is already in the project).",
        "Settings changed: price.",
    ]

    assert await h.query(TASKS_SQL) == [
        ("reviews", "r1", "The delivery was fast."),
        ("reviews", "r2", "The box was crushed."),
        ("reviews", "r3", "It works as described."),
        ("reviews", "r4", "Arrived a week late."),
        ("reviews", None, "No id at all: always new."),
        ("reviews", "5", "A numeric id."),
    ]
    assert (
        await h.query("SELECT needed, answers, in_flight, status FROM tasks")
        == [(2, 0, 0, "open")] * 6
    )
    assert await h.scalar("SELECT payload FROM tasks WHERE external_id = '5'") == (
        '{"source": "app"}'
    )
    assert await h.query(
        "SELECT file_name, format, rows_added, rows_skipped FROM uploads ORDER BY id"
    ) == [("reviews.csv", "csv", 3, 0), ("more.jsonl", "jsonl", 3, 2)]
    assert await h.query("SELECT name, type, options, price, overlap FROM projects") == [
        ("reviews", "label", '["positive", "negative"]', 10, 2)
    ]


@pytest.mark.parametrize(
    ("encoding", "file_name"), [("gbk", "excel-gbk.csv"), ("utf-8-sig", "excel-bom.csv")]
)
async def test_excel_csv_in_gbk_or_with_bom_keeps_chinese_text(
    h: Harness, encoding: str, file_name: str
) -> None:
    texts = ["快递很快，包装完好。", "质量一般；客服态度不错", "“引号”和逗号,都在"]
    data = csv_bytes([(f"评{i}", text) for i, text in enumerate(texts, start=1)])
    data = data.decode().encode(encoding)
    if encoding == "utf-8-sig":
        assert data.startswith(b"\xef\xbb\xbf")
    else:
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")  # really not UTF-8
    reply = await h.upload(admin_of(h), file_name, data, "/upload 评论 options=好评,差评")
    assert reply.content.startswith("✅ 评论: 3 tasks added, 0 skipped"), reply.content
    # The id column is found (no BOM glued to it) and every text is stored as written.
    assert await h.query(TASKS_SQL) == [
        ("评论", f"评{i}", text) for i, text in enumerate(texts, start=1)
    ]
    assert await h.scalar("SELECT options FROM projects") == '["好评", "差评"]'


async def test_label_studio_json_array_imports(h: Harness) -> None:
    tasks = [
        {"id": 1, "data": {"text": "Label Studio task one"}},
        {"id": 2, "data": {"text": "第二个任务", "source": "ls"}, "predictions": [{"result": []}]},
        {"data": {"id": "own-id", "text": "data.id wins over the task id"}, "id": 3},
    ]
    reply = await h.upload(
        admin_of(h), "export.json", json.dumps(tasks).encode(), "/upload ls type=rating scale=1-5"
    )
    assert reply.content.startswith("✅ ls: 3 tasks added, 0 skipped"), reply.content
    assert "rating, answers: 1 / 2 / 3 / 4 / 5" in reply.content
    assert await h.query(TASKS_SQL) == [
        ("ls", "1", "Label Studio task one"),
        ("ls", "2", "第二个任务"),
        ("ls", "own-id", "data.id wins over the task id"),
    ]
    payload = json.loads(await h.scalar("SELECT payload FROM tasks WHERE external_id = '2'"))
    assert payload == {"source": "ls", "predictions": '[{"result": []}]'}
    assert await h.query("SELECT format, rows_added FROM uploads") == [("json", 3)]


async def test_large_import_ends_with_the_report_even_if_a_progress_edit_is_slow(
    h: Harness,
) -> None:
    admin = admin_of(h)

    # The network delivers the "n of m rows" progress edit late (0.4 s).
    def slow_progress(method: str, params: dict[str, Any]) -> float:
        return 0.4 if method == "editMessageText" and "rows…" in str(params.get("text")) else 0

    h.server.delay = slow_progress
    rows = 12_000  # more than one batch of 5,000: progress is shown
    data = b"id,text\n" + b"".join(b"k%d,Row number %d\n" % (i, i) for i in range(rows))
    reply = await h.upload(admin, "many.csv", data, "/upload many options=a,b")
    await h.server.wait_until(
        lambda: any(
            "rows…" in str(c.params.get("text")) for c in h.server.calls("editMessageText")
        ),
        description="the progress edit",
    )
    final = h.server.message(admin, reply.message_id)
    assert final.content.startswith("✅ many: 12000 tasks added, 0 skipped"), final.content
    assert "⏳ Importing many.csv: 5000 of 12000 rows…" in [m["text"] for m in final.history]
    assert await h.scalar("SELECT COUNT(*) FROM tasks") == rows


# ------------------------------------------------------------------------------------------
# 4-5: broken files and broken captions change nothing


BROKEN_FILES = [
    # (file name, bytes, what the reply must say)
    (
        "header.csv",
        b"id,body\n1,hello\n2,world\n",
        [
            "Nothing was imported from header.csv. 1 problem(s):",
            "• the required column “text” is missing",
        ],
    ),
    (
        "latin.csv",
        "id,text\n1,ok\n2,caf\xe9 \xff\xfe\n".encode("latin-1"),
        [
            "Nothing was imported from latin.csv.",
            # Windows-1252 alone reads it, and "ÿþ" after a space is no Western text.
            "• I can't tell which encoding this file is in. Line 3 reads like this",
            "  encoding=cp1252 → 2,café ÿþ",
        ],
    ),
    (
        "broken.jsonl",
        b'{"id": "j1", "text": "one"}\n{"id": "j2", "text": "two"}\n{"id": "j3", "text": \n'
        b'{"id": "j4", "text": "four"}\n',
        ["Nothing was imported from broken.jsonl. 1 problem(s):", "• line 3: not a JSON object ("],
    ),
    (
        "gap.csv",
        b"id,text\ng1,first good row\ng2,\ng3,third good row\n",
        ["Nothing was imported from gap.csv. 1 problem(s):", "• line 3: “text” is empty"],
    ),
]


async def test_broken_files_import_nothing_and_say_where(h: Harness) -> None:
    admin = admin_of(h)
    # A failed first upload creates no project.
    for file_name, data, expected in BROKEN_FILES:
        reply = await h.upload(admin, file_name, data, "/upload fresh options=yes,no")
        assert reply.content.startswith("❌"), reply.content
        for part in expected:
            assert part in reply.content, reply.content
        assert await h.query("SELECT COUNT(*) FROM projects") == [(0,)]
        assert await h.query("SELECT COUNT(*) FROM tasks") == [(0,)]
        assert await h.query("SELECT COUNT(*) FROM uploads") == [(0,)]

    # Into an existing project: its tasks and settings stay as they were.
    await seed(h, "kept", ["already here"])
    before = await snapshot(h)
    for file_name, data, expected in BROKEN_FILES:
        reply = await h.upload(admin, file_name, data, "/upload kept price=0.50 overlap=3")
        for part in expected:
            assert part in reply.content, reply.content
        assert await snapshot(h) == before, file_name  # no tasks, no settings change

    # The good rows of the file with one empty text were not imported either; fixed, it goes in.
    reply = await h.upload(
        admin,
        "gap-fixed.csv",
        b"id,text\ng1,first good row\ng2,second\ng3,third good row\n",
        "/upload kept",
    )
    assert reply.content.startswith("✅ kept: 3 tasks added, 0 skipped")
    assert [r[1] for r in await h.query(TASKS_SQL)] == ["t1", "g1", "g2", "g3"]


async def test_bad_caption_settings_are_explained_and_create_nothing(h: Harness) -> None:
    admin = admin_of(h)
    await seed(h, "kept", ["already here"], "options=yes,no price=0.05")
    before = await snapshot(h)
    data = csv_bytes([("n1", "a new task")])
    cases = [
        (
            "/upload fresh options=a,b colour=red",
            "Unknown setting “colour”. Known: type, options, scale, price, overlap, lease, "
            "instructions, approve, gold_share, min_seconds, max_skips, allocation, daily_cap, "
            "max_overlap, gold_window, gold_accuracy, suspend_hours, skip_pause, allow_none, "
            "comment, encoding.",
        ),
        (
            "/upload fresh options=a,b price=abc",
            "price must be an amount like 0.05 (at most 2 decimals), not “abc”.",
        ),
        (
            "/upload fresh options=a,b price=0.001",
            "price must be an amount like 0.05 (at most 2 decimals), not “0.001”.",
        ),
        ("/upload fresh", "A label project needs its answers: options=a,b,c (at least 2)."),
        ("/upload fresh type=label", "A label project needs its answers"),
        ("/upload fresh options=only", "options must be 2–20 different labels"),
        (
            "/upload fresh type=quiz options=a,b",
            "type must be label, rating, pairwise, multilabel, correction or image, not “quiz”.",
        ),
        (
            "/upload fresh options=a,b overlap=0",
            "overlap must be a whole number from 1 to 50, not “0”.",
        ),
        ("/upload fresh options=a,b lease", "“lease” is not a key=value setting."),
        ("/upload two words options=a,b", "“words” is not a key=value setting."),
        ('/upload fresh instructions="unclosed options=a,b', "The caption has an unclosed quote."),
        ("/upload", "Please name the project"),
        ("/upload kept price=abc", "not “abc”"),
        ("/upload kept type=rating scale=9", "scale must look like 1-5"),
    ]
    for caption, expected in cases:
        reply = await h.upload(admin, "new.csv", data, caption)
        assert expected in reply.content, (caption, reply.content)
        assert "added" not in reply.content
        assert await snapshot(h) == before, caption
    # The project kept its price: a student is still offered ¥0.05.
    task = await h.start_labeling(1001)
    assert "kept · ¥0.05 per answer" in task.content


# ------------------------------------------------------------------------------------------
# 6: a file without a caption


async def test_file_without_caption_asks_for_the_project(h: Harness) -> None:
    admin = admin_of(h)
    await seed(h, "alpha", ["a1"])
    await seed(h, "beta", ["b1"])
    more = csv_bytes([("m1", "more one"), ("m2", "more two")])

    question = await h.upload(admin, "more.csv", more, None)
    assert question.content.startswith("Which project is more.csv for?")
    assert button_texts(question) == ["alpha", "beta", "Cancel"]
    assert await h.scalar("SELECT COUNT(*) FROM pending_files") == 1
    answer = await h.tap(admin, question, "beta")
    assert answer["text"] is None  # a silent answer: the message itself reports
    done = await settled(h, admin, question)
    assert done.content.startswith("✅ beta: 2 tasks added, 0 skipped"), done.content
    assert button_texts(done) == []
    assert await h.query(TASKS_SQL) == [
        ("alpha", "t1", "a1"),
        ("beta", "t1", "b1"),
        ("beta", "m1", "more one"),
        ("beta", "m2", "more two"),
    ]
    assert await h.scalar("SELECT COUNT(*) FROM pending_files") == 0

    # Cancel imports nothing and forgets the file.
    before = await snapshot(h)
    other = csv_bytes([("x1", "never imported")])
    question = await h.upload(admin, "other.csv", other, "these are for alpha")
    assert button_texts(question) == ["alpha", "beta", "Cancel"]
    await h.tap(admin, question, "Cancel")
    cancelled = await settled(h, admin, question)
    assert cancelled.content == "Upload cancelled. Nothing was imported."
    assert button_texts(cancelled) == []
    assert await snapshot(h) == before

    # The very same file again into beta (with a caption, or by picking beta): refused.
    for caption in ("/upload beta", None):
        reply = await h.upload(admin, "more-again.csv", more, caption)
        if caption is None:
            await h.tap(admin, reply, "beta")
            reply = await settled(h, admin, reply)
        assert reply.content == (
            "This exact file was already imported into beta. Nothing was imported again."
        )
        assert await snapshot(h) == before
    # …but it may go into another project.
    reply = await h.upload(admin, "more.csv", more, "/upload alpha")
    assert reply.content.startswith("✅ alpha: 2 tasks added, 0 skipped")
    assert await h.scalar("SELECT COUNT(*) FROM uploads") == 4


async def test_file_without_caption_says_when_older_projects_are_not_listed(h: Harness) -> None:
    names = [f"proj{i}" for i in range(1, 10)]
    for name in names:
        await seed(h, name, [f"{name} task"])
    question = await h.upload(admin_of(h), "late.csv", csv_bytes([("l1", "late")]), None)
    assert button_texts(question) == [*names[1:], "Cancel"]
    assert (
        "1 older project(s) are not listed; for one of those, send the file again with "
        "the caption /upload <project>." in question.content
    )
    await h.tap(admin_of(h), question, "proj9")
    assert (await settled(h, admin_of(h), question)).content.startswith("✅ proj9: 1 tasks added")


async def test_tasks_sent_as_a_photo_are_asked_for_as_a_file(h: Harness) -> None:
    admin = admin_of(h)
    sent = await h.server.send_photo(
        admin, b"\x89PNG not really", caption="/upload pics options=a,b"
    )
    reply = await h.server.wait_for_message(admin, after=sent)
    assert reply.content == "Please send the tasks as a file (document), not as a photo or text."
    assert await snapshot(h) == {table: [] for table in SNAPSHOT_SQL}


# ------------------------------------------------------------------------------------------
# 7: not an admin


async def test_non_admin_is_refused_without_learning_anything(h: Harness) -> None:
    await seed(h, "secret", ["one", "two"])
    before = await snapshot(h)
    downloads = len(h.server.calls("getFile"))
    student = h.server.add_user(1001, "Li", language_code="en")
    data = csv_bytes([("s1", "sneaky")])

    replies = []
    for caption in ("/upload secret", "/UPLOAD newproj options=a,b", None):
        replies.append(await h.upload(student, "mine.csv", data, caption))
    sent = await h.server.send_photo(student, b"not really a photo", caption="/upload secret")
    replies.append(await h.server.wait_for_message(student, after=sent))
    for text in (
        "/upload",
        "/projects",
        "/stats secret",
        "/stats nosuch",
        "/pause secret",
        "/pause nosuch",
        "/resume secret",
        "/export secret",
        "/export nosuch",
        # CommandHandler ignores capitals and reads "/stats," as /stats; so must the
        # guard.
        "/PROJECTS",
        "/Stats secret",
        "/EXPORT secret",
        "/Pause secret",
        "/stats,secret",
        "/export@labelgram_test_bot secret",
    ):
        replies.append(await h.say(student, text))
    assert [r.content for r in replies] == [NOT_ALLOWED] * len(replies)
    assert all(button_texts(r) == [] for r in replies)

    # A forged "pick a project" button is refused the same way.
    nudge = await h.say(student, "/help")
    query_id = await h.server.tap(student, nudge, "u:1:1", strict=False)
    assert (await h.server.wait_for_answer(query_id))["text"] == NOT_ALLOWED

    assert await snapshot(h) == before  # not even a workers row, no pending file
    assert len(h.server.calls("getFile")) == downloads  # the file was never fetched
    # In Chinese too.
    zh = h.server.add_user(1002, "Wang", language_code="zh-hans")
    assert (await h.say(zh, "/stats secret")).content == "抱歉，只有项目管理员可以这样做。"


# ------------------------------------------------------------------------------------------
# 8: /projects and /stats


async def test_projects_and_stats_after_students_answered(h: Harness) -> None:
    admin = admin_of(h)
    assert (await h.say(admin, "/projects")).content.startswith("No projects yet.")
    await seed(
        h,
        "reviews",
        ["good", "bad", "meh"],
        "options=positive,negative,neutral overlap=2 price=0.05",
    )
    await seed(h, "later", ["x"], "type=rating")

    a = await h.start_labeling(1001)
    _, a = await h.tap_and_wait_edit(h.server.users[1001], a, "positive")
    _, a = await h.tap_and_wait_edit(h.server.users[1001], a, "negative")
    b = await h.start_labeling(1002)
    _, b = await h.tap_and_wait_edit(h.server.users[1002], b, "positive")
    # 1001 now holds "meh", 1002 holds "bad": two answers in flight.

    stats = (await h.say(admin, "/stats reviews")).content
    assert stats.splitlines()[:6] == [
        "📊 reviews (active)",
        "▓▓▓▓▓░░░░░ 50%",
        "Answers: 3 / 6",
        "Tasks: 3 · being answered now: 2",
        "Active students today: 2",
        "¥0.05 per answer · 2 answer(s) per task",
    ]
    assert stats.splitlines()[7:] == [
        "Answers per option:",
        "• positive: 2",
        "• negative: 1",
        "",
        # The one task with two answers has them in agreement: alpha has no variation to
        # measure, so it is shown as undefined rather than as a made-up number.
        "Agreement (Krippendorff's alpha, nominal): – · control tasks: 0",
    ]
    assert await h.query("SELECT value, COUNT(*) FROM answers GROUP BY value ORDER BY 2 DESC") == [
        ("positive", 2),
        ("negative", 1),
    ]
    assert await h.query("SELECT COUNT(DISTINCT worker_id) FROM answers") == [(2,)]
    assert await h.scalar("SELECT SUM(in_flight) FROM tasks") == 2

    # Project names are matched without regard to capitals.
    assert (await h.say(admin, "/stats REVIEWS")).content.startswith("📊 reviews (active)")
    later = (await h.say(admin, "/stats later")).content
    assert "░░░░░░░░░░ 0%" in later
    assert later.endswith(
        "No answers yet.\n\nAgreement (Krippendorff's alpha, ordinal): – · control tasks: 0"
    )

    await h.say(admin, "/pause later")
    listing = (await h.say(admin, "/projects")).content
    assert listing == (
        "Projects:\n▶️ reviews — 3/6 answers (50%), 3 tasks\n⏸ later — 0/1 answers (0%), 1 tasks"
    )
    unknown = await h.say(admin, "/stats nosuch")
    assert unknown.content == "There is no project called “nosuch”. /projects lists them."
    assert (await h.say(admin, "/stats")).content == "Usage: /stats <project>"


# ------------------------------------------------------------------------------------------
# 9: pause and resume


async def test_pause_takes_tasks_back_and_resume_returns_them(h: Harness) -> None:
    admin = admin_of(h)
    await seed(h, "p", ["Item one", "Item two"], "options=yes,no price=0.05")
    await seed(h, "q", ["Other project's item"], "options=yes,no")
    task = await h.start_labeling(1001)
    student = h.server.users[1001]
    assert "Item one" in task.content

    reply = await h.say(admin, "/pause p")
    assert reply.content == "⏸ p is paused. Tasks in students' hands were taken back."
    assert await h.scalar("SELECT status FROM projects") == "paused"
    assert await h.query("SELECT status FROM assignments") == [("withdrawn",)]
    assert await h.query(
        "SELECT p.name, t.external_id, t.in_flight, t.status FROM tasks t"
        " JOIN projects p ON p.id = t.project_id ORDER BY t.id"
    ) == [("p", "t1", 0, "open"), ("p", "t2", 0, "open"), ("q", "t1", 0, "open")]

    toast = await h.tap(student, task, "yes")
    assert toast["text"].startswith("This project is paused. Nothing was recorded")
    assert toast["show_alert"] is True
    assert await h.scalar("SELECT COUNT(*) FROM answers") == 0
    assert await h.scalar("SELECT COUNT(*) FROM ledger") == 0
    # /next skips the paused project: only q's task, then nothing.
    other = await h.say(student, "/next")
    assert "📝 q" in other.content and "Other project's item" in other.content
    _, nothing = await h.tap_and_wait_edit(student, other, "yes")
    assert "no tasks are waiting for you" in nothing.content
    assert "no tasks are waiting for you" in (await h.say(student, "/next")).content
    assert await h.query(
        "SELECT p.name, a.status FROM assignments a JOIN projects p"
        " ON p.id = a.project_id ORDER BY a.id"
    ) == [("p", "withdrawn"), ("q", "answered")]
    assert (await h.say(admin, "/pause p")).content == "p is already paused."

    assert (await h.say(admin, "/resume p")).content == "▶️ p is active again."
    assert await h.scalar("SELECT status FROM projects") == "active"
    back = await h.say(student, "/next")
    assert "📝 p · ¥0.05 per answer" in back.content
    assert "Item one" in back.content  # the task taken back by the pause returns to 1001
    answer, nxt = await h.tap_and_wait_edit(student, back, "no")
    assert answer["text"] == "Saved · +¥0.05"
    assert "Item two" in nxt.content
    # 1001 holds the last task of p, so another student finds nothing.
    other = await h.start_labeling(1002)
    assert "no tasks are waiting for you" in other.content
    assert await h.query(
        "SELECT p.name, t.external_id, a.value FROM answers a JOIN tasks t"
        " ON t.id = a.task_id JOIN projects p ON p.id = t.project_id"
        " ORDER BY a.id"
    ) == [("q", "t1", "yes"), ("p", "t1", "no")]
    assert (await h.say(admin, "/resume p")).content == "p is already active."


# ------------------------------------------------------------------------------------------
# 10: export


async def test_export_matches_the_answers_table(h: Harness) -> None:
    admin = admin_of(h)
    formula = '=HYPERLINK("http://evil.example","click me")'
    items = [
        {"id": "e1", "text": formula},
        {"id": "e2", "text": '逗号, "引号" and a\nsecond line'},
        {"text": "no external id"},
    ]
    reply = await h.upload(
        admin, "ex.jsonl", jsonl_bytes(items), "/upload ex options=yes,no overlap=2 price=0.05"
    )
    assert "3 tasks added" in reply.content
    assert (await h.say(admin, "/export ex")).content == (
        "ex has no answers yet, so there is nothing to export."
    )

    a = await h.start_labeling(1001)
    _, a = await h.tap_and_wait_edit(h.server.users[1001], a, "yes")
    _, a = await h.tap_and_wait_edit(h.server.users[1001], a, "Skip ⏭")
    _, a = await h.tap_and_wait_edit(h.server.users[1001], a, "no")
    b = await h.start_labeling(1002)
    _, b = await h.tap_and_wait_edit(h.server.users[1002], b, "no")
    await h.tap_and_wait_edit(h.server.users[1002], b, "yes")

    expected = await h.query(
        "SELECT COALESCE(t.external_id, '#' || t.id), t.text, a.worker_id, a.value,"
        " a.seconds, a.created_at FROM answers a JOIN tasks t ON t.id = a.task_id"
        " ORDER BY a.id"
    )
    assert [(r[0], r[2], r[3]) for r in expected] == [
        ("e1", 1001, "yes"),
        ("#3", 1001, "no"),
        ("e1", 1002, "no"),
        ("e2", 1002, "yes"),
    ]

    csv_doc, jsonl_doc, _aggregated = await h.export(admin, "ex")
    assert csv_doc.document is not None and jsonl_doc.document is not None
    assert csv_doc.document["file_name"] == "ex-answers.csv"
    assert jsonl_doc.document["file_name"] == "ex-answers.jsonl"
    assert csv_doc.content == "ex: 4 answers (CSV)"
    assert jsonl_doc.content == "ex: 4 answers (JSONL)"

    # Students appear under a stable pseudonymous id (bot.services.privacy), never their
    # Telegram id, name or username.
    key = bytes.fromhex(await h.scalar("SELECT value FROM secrets WHERE name = 'pseudonym'"))
    expected = [(r[0], r[1], pseudonym(key, r[2]), *r[3:]) for r in expected]

    raw = h.server.document_bytes(csv_doc)
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only with a BOM
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert table[0] == ["task_id", "text", "student_id", "answer", "seconds", "answered_at"]
    assert len(table) == 1 + len(expected)
    for row, (task_id, text, worker, value, seconds, at) in zip(table[1:], expected, strict=True):
        shown = "'" + text if text == formula else text
        assert row[:4] + row[5:] == [task_id, shown, worker, value, at]
        assert float(row[4]) == seconds
    assert table[1][1] == "'" + formula  # the formula is neutralised in the CSV
    assert table[4][1] == '逗号, "引号" and a\nsecond line'  # quoted, newline kept

    lines = h.server.document_bytes(jsonl_doc).decode().splitlines()
    assert [json.loads(line) for line in lines] == [
        {
            "task_id": task_id,
            "text": text,
            "student_id": worker,
            "answer": value,
            "seconds": seconds,
            "answered_at": at,
        }
        for task_id, text, worker, value, seconds, at in expected
    ]
    assert json.loads(lines[0])["text"] == formula  # JSONL keeps the original

    assert (await h.say(admin, "/export nosuch")).content == (
        "There is no project called “nosuch”. /projects lists them."
    )


# ------------------------------------------------------------------------------------------
# 11: too big for Telegram's bot download limit


async def test_file_over_20_mb_is_refused_with_the_reason(h: Harness) -> None:
    admin = admin_of(h)
    line = b"x" * 1023 + b"\n"
    big = b"id,text\n" + b"".join(b"%d,%s" % (i, line) for i in range(21 * 1024))
    assert len(big) > 21 * 1024 * 1024
    for caption in ("/upload big options=a,b", None):
        reply = await h.upload(admin, "big.csv", big, caption)
        assert reply.content.startswith(
            "big.csv is 21.1 MB, but Telegram lets bots download files of at most 20 MB."
        ), reply.content
        assert reply.content.endswith("Nothing was imported.")
        assert button_texts(reply) == []
    assert h.server.calls("getFile") == []
    assert await snapshot(h) == {table: [] for table in SNAPSHOT_SQL}

    # Telegram may leave out file_size: the download is refused, and the admin is told why.
    # (send_document delivers the message with its size, refused as above; then the same
    # message again without it.)
    sent = await h.server.send_document(admin, "big.csv", big, caption="/upload big options=a,b")
    message = sent.to_dict()
    del message["document"]["file_size"]
    h.server.enqueue_raw({"message": message})
    status = await h.server.wait_for_message(
        admin, lambda m: "Importing big.csv" in m.content or m.edit_count, after=sent
    )
    final = await settled(h, admin, status)
    assert "20 MB" in final.content and "Nothing was imported." in final.content, final.content
    assert "send it again" not in final.content
    assert await snapshot(h) == {table: [] for table in SNAPSHOT_SQL}


# ------------------------------------------------------------------------------------------
# 12: Chinese


async def test_chinese_admin_gets_chinese_replies(h: Harness) -> None:
    admin = admin_of(h, language_code="zh-hans")
    reply = await h.upload(
        admin,
        "评论.csv",
        csv_bytes([("1", "很好"), ("2", "不好")]),
        "/upload 评论 options=好评,差评 price=0.05",
    )
    assert reply.content.splitlines() == [
        "✅ 评论：新增 2 个任务，跳过 0 个（其 id 已在项目中）。",
        "新项目 评论：标签，答案：好评 / 差评；每题 ¥0.05，每个任务 1 个答案，每题保留 10 分钟。",
    ]
    reply = await h.upload(
        admin, "坏.jsonl", b'{"text": "a"}\n{"text": "b"}\n{oops}\n', "/upload 评论"
    )
    assert reply.content.startswith("❌ 坏.jsonl 未导入任何内容。共 1 个问题：")
    assert "• 第 3 行：" in reply.content
    reply = await h.upload(admin, "x.csv", csv_bytes([("3", "三")]), "/upload 评论 price=abc")
    assert reply.content == "price 必须是像 0.05 这样的金额（最多 2 位小数），而不是“abc”。"
    stats = (await h.say(admin, "/stats 评论")).content
    assert stats.splitlines()[:3] == ["📊 评论（进行中）", "░░░░░░░░░░ 0%", "答案：0 / 2"]
    assert stats.endswith("还没有答案。\n\n一致性（Krippendorff's alpha，nominal）：– · 质检题：0")
    assert (await h.say(admin, "/stats 无此项目")).content == (
        "没有名为“无此项目”的项目。/projects 可查看全部项目。"
    )
    assert await h.query(TASKS_SQL) == [("评论", "1", "很好"), ("评论", "2", "不好")]
    assert await h.scalar("SELECT price FROM projects") == 5
