"""/export over real HTTP: every task type's files with real answers of that type (typed
corrections, ticked label sets, A/B choices, images), the bot answering taps while an export
is being built, and Dawid-Skene's warning when it stops at its cap."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot import aggregation
from bot.config import Config
from bot.offload import Offload
from bot.texts import t
from tests import offload_hooks
from tests.botapi import ChatMessage, FakeUser, button_texts
from tests.conftest import ADMIN_ID
from tests.e2e import Harness, running_bot
from tests.test_e2e_images import make_zip, png

STUDENTS = (3101, 3102, 3103)
DONE = "no tasks are waiting for you"


@pytest.fixture
async def h(cfg: Config) -> AsyncIterator[Harness]:
    async with running_bot(cfg) as harness:
        yield harness


def admin_of(h: Harness) -> FakeUser:
    return h.server.add_user(ADMIN_ID, "Ada", language_code="en")


def table(doc: ChatMessage, h: Harness) -> list[dict[str, str]]:
    raw = h.server.document_bytes(doc).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(raw, newline="")))


# What one student does with a task: ("tap", button), ("type", corrected text) or
# ("tick", [labels]) then Done.
Action = tuple[str, Any]


async def act(h: Harness, user: FakeUser, task: ChatMessage, action: Action) -> ChatMessage:
    """Answer the task shown in `task` as `action` says; return the message that shows what
    comes next (the next task, or that there is none)."""
    kind, value = action
    if kind == "tap":
        _, nxt = await h.tap_and_wait_edit(user, task, value)
        return nxt
    if kind == "type":
        await h.tap(user, task, "✏️ Correct it")
        ask = await h.server.wait_for_message(user, after=task)
        assert ask.content.startswith("Send the corrected text")
        sent = await h.server.send_text(user, value)
        return await h.server.wait_for_message(user, after=sent)
    assert kind == "tick"
    for label in value:
        current = h.server.message(user, task.message_id)
        await h.tap(user, current, f"☐ {label}")
        await h.server.wait_until(
            lambda label=label: (
                f"☑ {label}" in button_texts(h.server.message(user, task.message_id))
            ),
            user=user,
        )
    current = h.server.message(user, task.message_id)
    _, nxt = await h.tap_and_wait_edit(user, current, "✅ Done" if value else "None of these")
    return nxt


async def answer_all(h: Harness, plan: dict[str, tuple[Action, Action, Action]]) -> None:
    """Three students answer every task; `plan` maps a text that identifies a task (shown
    in its message) to what each student answers."""
    for n, uid in enumerate(STUDENTS):
        task = await h.start_labeling(uid)
        user = h.server.users[uid]
        for _ in plan:
            card = task.content[task.content.index("📝") :]  # not the "Saved: …" line above
            key = next(k for k in plan if k in card)
            task = await act(h, user, task, plan[key][n])
        # (An image task's message is a photo: "no more tasks" then comes as a new message.)
        last = await h.server.wait_for_message(
            user, lambda m: DONE in m.content, after=task.message_id - 1
        )
        assert DONE in last.content
    assert await h.scalar("SELECT COUNT(*) FROM answers") == 3 * len(plan)


@dataclass(frozen=True)
class Case:
    name: str
    upload: Callable[[Harness], Awaitable[str]]
    plan: dict[str, tuple[Action, Action, Action]]
    expect: Callable[[Harness, list[dict[str, str]]], Awaitable[None]]


async def upload_jsonl(h: Harness, rows: list[dict[str, str]], caption: str) -> str:
    data = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()
    return (await h.upload(admin_of(h), "tasks.jsonl", data, caption)).content


def tap(button: str) -> Action:
    return ("tap", button)


async def db_answers(h: Harness) -> list[tuple[int, int, str]]:
    return await h.query("SELECT task_id, worker_id, value FROM answers ORDER BY id")


async def expect_choices(
    h: Harness, rows: list[dict[str, str]], options: list[str], wanted: list[tuple[str, str]]
) -> None:
    """Majority vote and Dawid-Skene as bot.aggregation computes them on the stored
    answers, converged; `wanted` the (majority, votes) the students gave, task by task."""
    answers = await db_answers(h)
    majority = aggregation.majority_vote(answers, options=options)
    ds = aggregation.dawid_skene(answers, options=options)
    assert [(r["majority"], r["votes"]) for r in rows] == wanted
    for row, task_id in zip(rows, sorted(majority), strict=True):
        assert row["majority"] == majority[task_id].value
        assert row["majority_confidence"] == f"{majority[task_id].confidence:.3f}"
        assert row["dawid_skene"] == ds[task_id].value
        assert row["dawid_skene_confidence"] == f"{ds[task_id].confidence:.3f}"
        assert row["dawid_skene_converged"] == "yes"
        assert row["answers"] == "3"


async def label_case(h: Harness) -> str:
    rows = [{"id": "L1", "text": "Is the sky blue?"}, {"id": "L2", "text": "Is fire cold?"}]
    return await upload_jsonl(h, rows, "/upload lab options=yes,no overlap=3 allocation=fifo")


async def label_expect(h: Harness, rows: list[dict[str, str]]) -> None:
    await expect_choices(
        h, rows, ["yes", "no"], [("yes", '{"yes": 2, "no": 1}'), ("no", '{"no": 3}')]
    )
    assert [r["agreement"] for r in rows] == ["0.333", "1.000"]


async def rating_case(h: Harness) -> str:
    rows = [{"id": "R1", "text": "Rate answer one."}, {"id": "R2", "text": "Rate answer two."}]
    caption = "/upload rat type=rating scale=1-5 overlap=3 allocation=fifo"
    return await upload_jsonl(h, rows, caption)


async def rating_expect(h: Harness, rows: list[dict[str, str]]) -> None:
    await expect_choices(
        h,
        rows,
        ["1", "2", "3", "4", "5"],
        [("4", '{"4": 2, "5": 1}'), ("1", '{"1": 2, "2": 1}')],
    )
    assert [(r["median"], r["mean"]) for r in rows] == [("4", "4.333"), ("1", "1.333")]


async def pairwise_case(h: Harness) -> str:
    rows = [
        {"id": "q1", "prompt": "What is 2+2?", "a": "It is 5.", "b": "It is 6."},
        {"id": "q2", "prompt": "Capital of France?", "a": "Paris.", "b": "Paris, France."},
    ]
    caption = "/upload ab type=pairwise overlap=3 allocation=fifo"
    return await upload_jsonl(h, rows, caption)


async def pairwise_expect(h: Harness, rows: list[dict[str, str]]) -> None:
    # "Tie" and "Both bad" do not depend on the order the answers were shown in.
    await expect_choices(
        h,
        rows,
        ["a", "b", "tie", "both_bad"],
        [("both_bad", '{"tie": 1, "both_bad": 2}'), ("tie", '{"tie": 3}')],
    )


async def image_case(h: Harness) -> str:
    files = {
        "tasks.csv": b"id,image,text\np1,one.png,First picture\np2,two.png,Second picture\n",
        "one.png": png(4, 3, (255, 0, 0)),
        "two.png": png(5, 5, (0, 255, 0)),
    }
    caption = "/upload pics type=image options=cat,dog overlap=3 allocation=fifo"
    return (await h.upload(admin_of(h), "pics.zip", make_zip(files), caption)).content


async def image_expect(h: Harness, rows: list[dict[str, str]]) -> None:
    await expect_choices(
        h, rows, ["cat", "dog"], [("cat", '{"cat": 2, "dog": 1}'), ("dog", '{"dog": 3}')]
    )
    assert [r["task_id"] for r in rows] == ["p1", "p2"]


async def multilabel_case(h: Harness) -> str:
    rows = [{"id": "M1", "text": "A sunny beach with dogs"}, {"id": "M2", "text": "An empty room"}]
    caption = (
        "/upload tags type=multilabel options=sun,dog,cat allow_none=yes overlap=3 allocation=fifo"
    )
    return await upload_jsonl(h, rows, caption)


async def multilabel_expect(h: Harness, rows: list[dict[str, str]]) -> None:
    assert list(rows[0]) == [
        "task_id",
        "text",
        "answers",
        "labels",
        "votes",
        "none",
        "agreement",
    ]
    assert [(r["task_id"], r["answers"], r["labels"], r["votes"], r["none"]) for r in rows] == [
        ("M1", "3", '["sun"]', '{"sun": 3, "dog": 1, "cat": 1}', "0"),
        ("M2", "3", "[]", '{"dog": 1}', "2"),
    ]
    # No two answers to M1 are the same set; two of M2's three are (both "none").
    assert [r["agreement"] for r in rows] == ["0.000", "0.333"]


TEH = "Teh cat sat on the mat."
WELL = "All is well."


async def correction_case(h: Harness) -> str:
    rows = [{"id": "c1", "text": TEH}, {"id": "c2", "text": WELL}]
    return await upload_jsonl(h, rows, "/upload fix type=correction overlap=3 allocation=fifo")


async def correction_expect(h: Harness, rows: list[dict[str, str]]) -> None:
    assert [
        (
            r["task_id"],
            r["text"],
            r["answers"],
            r["unchanged"],
            r["corrected"],
            r["unchanged_share"],
            r["top_correction"],
            r["top_correction_count"],
            r["agreement"],
        )
        for r in rows
    ] == [
        ("c1", TEH, "3", "1", "2", "0.333", "The cat sat on the mat.", "2", "0.333"),
        ("c2", WELL, "3", "2", "1", "0.667", "All is well!", "1", "0.333"),
    ]


UNCHANGED = tap("✓ No correction needed")
CASES = [
    Case(
        "label",
        label_case,
        {"sky": (tap("yes"), tap("yes"), tap("no")), "fire": (tap("no"), tap("no"), tap("no"))},
        label_expect,
    ),
    Case(
        "rating",
        rating_case,
        {"one": (tap("4"), tap("5"), tap("4")), "two": (tap("1"), tap("1"), tap("2"))},
        rating_expect,
    ),
    Case(
        "pairwise",
        pairwise_case,
        {
            "2+2": (tap("Both bad"), tap("Tie"), tap("Both bad")),
            "France": (tap("Tie"), tap("Tie"), tap("Tie")),
        },
        pairwise_expect,
    ),
    Case(
        "image",
        image_case,
        {
            "First picture": (tap("cat"), tap("dog"), tap("cat")),
            "Second picture": (tap("dog"), tap("dog"), tap("dog")),
        },
        image_expect,
    ),
    Case(
        "multilabel",
        multilabel_case,
        {
            "beach": (("tick", ["sun", "dog"]), ("tick", ["sun"]), ("tick", ["sun", "cat"])),
            "room": (("tick", []), ("tick", ["dog"]), ("tick", [])),
        },
        multilabel_expect,
    ),
    Case(
        "correction",
        correction_case,
        {
            "Teh cat": (
                ("type", "The cat sat on the mat."),
                UNCHANGED,
                ("type", "The cat sat on the mat."),
            ),
            WELL: (UNCHANGED, ("type", "All is well!"), UNCHANGED),
        },
        correction_expect,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_every_task_type_exports_its_answers_and_their_aggregate(
    h: Harness, case: Case
) -> None:
    report = await case.upload(h)
    assert "2 tasks added" in report, report
    await answer_all(h, case.plan)
    project = await h.scalar("SELECT name FROM projects")
    admin = admin_of(h)
    docs = await h.export(admin, project)
    assert [d.document["file_name"] for d in docs if d.document] == [
        f"{project}-answers.csv",
        f"{project}-answers.jsonl",
        f"{project}-aggregated.csv",
    ]
    answers, jsonl, aggregated = docs
    stored = await h.query("SELECT value FROM answers ORDER BY id")
    assert [r["answer"] for r in table(answers, h)] == [v for (v,) in stored]
    lines = h.server.document_bytes(jsonl).decode().splitlines()
    assert [json.loads(line)["answer"] for line in lines] == [v for (v,) in stored]
    assert aggregated.content.startswith(f"{project}: 2 tasks aggregated (")
    assert "Dawid-Skene did not converge" not in aggregated.content
    await case.expect(h, table(aggregated, h))
    # The progress message says the export is done, and nothing went to the error log.
    status = h.server.messages(admin)[-4]
    assert status.content == f"✅ Export of {project} ready: 3 file(s) below."
    assert status.edit_count == 1


async def test_taps_are_answered_while_an_export_is_being_built(
    h: Harness, tmp_path: Path
) -> None:
    """The export's aggregation is held (in the worker process) until the test lets it go:
    meanwhile the admin sees the progress message and a student's taps are answered."""
    await h.upload_tasks("/upload busy options=yes,no overlap=1 allocation=fifo", 6)
    task = await h.start_labeling(3201)
    student = h.server.users[3201]
    _, task = await h.tap_and_wait_edit(student, task, "yes")
    h.app.bot_data.offload = Offload(
        initializer=offload_hooks.hold_aggregation, initargs=(str(tmp_path),)
    )
    admin = admin_of(h)
    sent = await h.server.send_text(admin, "/export busy")
    status = await h.server.wait_for_message(admin, after=sent, timeout=30)
    assert status.content == (
        "⏳ Exporting busy: building the files… Students can keep labeling meanwhile."
    )
    held = tmp_path / "held"
    async with asyncio.timeout(30):  # the worker process starts, then reaches the hold
        while not held.exists():  # noqa: ASYNC110 - a file the worker process writes
            await asyncio.sleep(0.02)

    for choice in ("no", "yes"):
        toast, task = await h.tap_and_wait_edit(student, task, choice)
        assert toast["text"] == "Saved"
    assert await h.scalar("SELECT COUNT(*) FROM answers") == 3
    # All of that while the export was still held: no file yet, the message unchanged.
    assert not (tmp_path / "release").exists()
    assert [m for m in h.server.messages(admin) if m.document is not None] == []
    assert h.server.message(admin, status.message_id).content.startswith("⏳ Exporting busy")

    (tmp_path / "release").touch()
    done = await h.server.wait_until(
        lambda: (m := h.server.message(admin, status.message_id)).content.startswith("✅") and m,
        timeout=30,
        user=admin,
        description="the export to finish",
    )
    assert done.content == "✅ Export of busy ready: 3 file(s) below."
    files = [m for m in h.server.messages(admin) if m.document is not None]
    assert [f.document["file_name"] for f in files if f.document] == [
        "busy-answers.csv",
        "busy-answers.jsonl",
        "busy-aggregated.csv",
    ]
    # The export is the database as it was when the worker read it (before the hold): the
    # two answers given meanwhile are in the next export.
    assert [r["answer"] for r in table(files[0], h)] == ["yes"]


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_a_dawid_skene_stopped_at_its_cap_is_flagged(
    h: Harness, tmp_path: Path, lang: str
) -> None:
    """When EM stops at the round cap (here made 2 in the worker), /stats and the export's
    caption say so in the admin's language, and every row of the file says "no"."""
    admin = h.server.add_user(ADMIN_ID, "Ada", language_code=lang)  # answered in `lang`
    body = "id,text\n" + "".join(f"t{i},Item number {i}\n" for i in range(1, 4))
    caption = "/upload capped options=yes,no overlap=2 allocation=fifo"
    await h.upload(admin, "tasks.csv", body.encode(), caption)
    assert await h.scalar("SELECT COUNT(*) FROM tasks") == 3
    for uid, choices in ((3301, ("yes", "no", "yes")), (3302, ("yes", "yes", "no"))):
        task = await h.start_labeling(uid)
        for choice in choices:
            _, task = await h.tap_and_wait_edit(h.server.users[uid], task, choice)
    assert "Dawid-Skene" not in (await h.say(admin, "/stats capped", timeout=30)).content
    h.app.bot_data.offload = Offload(initializer=offload_hooks.cap_dawid_skene, initargs=(2,))
    warning = t(lang, "ds_not_converged", rounds=2)
    stats = await h.say(admin, "/stats capped", timeout=30)
    assert stats.content.splitlines()[-1] == warning
    docs = await export_in(h, admin, "capped", lang)
    caption = docs[2].content.splitlines()
    assert caption[-1] == warning
    assert len(caption) == 2
    assert [r["dawid_skene_converged"] for r in table(docs[2], h)] == ["no"] * 3


async def export_in(h: Harness, admin: FakeUser, project: str, lang: str) -> list[ChatMessage]:
    """/export as h.export does, for an admin who may read Chinese."""
    if lang == "en":
        return await h.export(admin, project)
    sent = await h.server.send_text(admin, f"/export {project}")
    status = await h.server.wait_for_message(admin, after=sent, timeout=30)
    assert status.content.startswith("⏳ 正在导出")
    await h.server.wait_until(
        lambda: h.server.message(admin, status.message_id).content.startswith("✅"),
        timeout=30,
        user=admin,
        description="the export to finish",
    )
    return [m for m in h.server.messages(admin) if m.message_id > status.message_id]
