"""Labelgram and Label Studio's JSON format, without a server: the export's shape for every task
type, and Label Studio's own exports (tests/data/, made by a real Label Studio 1.23.2 with
``python -m tests.labelstudio``) coming in through the upload. tests/test_labelstudio_server.py
imports the exports into a real Label Studio."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config
from bot.importing import TaskReader, prediction_objects
from bot.services import labeling, labelstudio, uploads
from bot.services.labelstudio import DEFAULT_CONTROLS, Control
from bot.services.privacy import pseudonym
from db.connection import Database
from tests.conftest import ADMIN_ID
from tests.e2e import Harness, running_bot
from tests.test_labeling_service import LABELS, student

DATA = Path(__file__).resolve().parent / "data"
DEFAULT_EXPORT = DATA / "labelstudio-export.json"  # predictions listed by id
FULL_EXPORT = DATA / "labelstudio-export-full.json"  # predictions in full


def region(from_name: str, to_name: str, kind: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"from_name": from_name, "to_name": to_name, "type": kind, "value": value}


def sentiment(choice: str) -> dict[str, Any]:
    return region("sentiment", "text", "choices", {"choices": [choice]})


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("label", "pos", [region("label", "text", "choices", {"choices": ["pos"]})]),
        ("image", "cat", [region("label", "image", "choices", {"choices": ["cat"]})]),
        (
            "multilabel",
            '["sun", "dog"]',
            [region("label", "text", "choices", {"choices": ["sun", "dog"]})],
        ),
        ("multilabel", "[]", []),  # "None of these": nothing chosen
        ("rating", "4", [region("rating", "text", "rating", {"rating": 4})]),
        ("rating", "-2", [region("rating", "text", "rating", {"rating": -2})]),
        # Label Studio's Pairwise control: left is a, right is b, and the result names the
        # control twice (as Label Studio's editor and SDK make it).
        ("pairwise", "a", [region("pairwise", "pairwise", "pairwise", {"selected": "left"})]),
        ("pairwise", "b", [region("pairwise", "pairwise", "pairwise", {"selected": "right"})]),
        ("pairwise", "tie", [region("verdict", "prompt", "choices", {"choices": ["tie"]})]),
        (
            "pairwise",
            "both_bad",
            [region("verdict", "prompt", "choices", {"choices": ["both_bad"]})],
        ),
        (
            "correction",
            "The cat sat.",
            [region("correction", "text", "textarea", {"text": ["The cat sat."]})],
        ),
    ],
)
def test_each_answer_as_a_label_studio_result(
    kind: str, value: str, expected: list[dict[str, Any]]
) -> None:
    assert labelstudio.result(kind, DEFAULT_CONTROLS[kind], value) == expected


def test_one_control_per_project_named_by_its_predictions() -> None:
    def with_prediction(*result: dict[str, Any]) -> dict[str, str]:
        return {"predictions": json.dumps([{"result": list(result)}])}

    plain: dict[str, str] = {}
    ids = {"predictions": "[3]"}
    ner = with_prediction(region("ner", "text", "labels", {"start": 0, "end": 1}))
    named = with_prediction(sentiment("Positive"))
    # The first prediction with a result of the project's kind names the control of them all.
    assert labelstudio.control("label", [plain, ids, ner, named, plain]) == Control(
        "sentiment", "text", "choices"
    )
    assert labelstudio.control("label", [plain, ids, ner]) == DEFAULT_CONTROLS["label"]
    # A choices prediction does not name a rating's control.
    assert labelstudio.control("rating", [named]) == DEFAULT_CONTROLS["rating"]


def test_predictions_are_objects_with_a_result_and_keep_only_what_label_studio_reads() -> None:
    full = json.loads(FULL_EXPORT.read_text(encoding="utf-8"))
    kept, dropped = prediction_objects(full[0]["predictions"])
    assert dropped == 0
    assert kept == [
        {"model_version": "sentiment-v1", "score": 0.91, "result": [sentiment("Positive")]}
    ]
    assert prediction_objects([3, {"result": []}, {"score": 1}, "x"]) == ([{"result": []}], 3)
    assert prediction_objects({"result": []}) == ([], 1)
    assert prediction_objects(None) == ([], 0)
    assert prediction_objects([{"result": [], "score": "high"}]) == ([{"result": []}], 0)


def test_label_studio_default_export_is_read_without_its_prediction_ids() -> None:
    data = DEFAULT_EXPORT.read_bytes()
    reader = TaskReader(lambda: open(DEFAULT_EXPORT, "rb"), DEFAULT_EXPORT.name)  # noqa: SIM115
    rows = [row for batch in reader.batches() for row in batch]
    assert reader.errors == []
    assert [(r[1], r[2], r[4]) for r in rows] == [
        ("1", "The screen is bright and sharp", {"source": "shop"}),
        ("2", "电池一天就没电了", {"source": "forum"}),
        ("3", "Arrived on Tuesday", {"source": "shop"}),
    ]
    assert reader.dropped_predictions == 2
    assert json.loads(data)[0]["predictions"] == [1]  # what Label Studio wrote


# ------------------------------------------------------------------ the export, on a database


async def test_export_names_no_annotator_and_one_control(db: Database, t0: datetime) -> None:
    tasks = [
        {
            "id": 101,
            "data": {"text": "Great phone"},
            "predictions": [{"model_version": "v1", "result": [sentiment("Positive")]}],
        },
        {"id": 102, "data": {"text": "Awful battery"}},
        {"id": 103, "data": {"text": "Stored before the fix"}},
    ]
    request = uploads.parse_caption("/upload px options=Positive,Negative overlap=2")
    assert isinstance(request, uploads.UploadRequest)
    done = await uploads.import_file(
        db,
        admin_id=1,
        request=request,
        file_name="tasks.json",
        data=json.dumps(tasks).encode(),
        now=t0,
        defaults=LABELS,
        minor_units=2,
    )
    assert isinstance(done, uploads.ImportDone)
    # A database written before predictions were read as objects holds Label Studio's ids.
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE tasks SET payload = ? WHERE external_id = '103'",
            (json.dumps({"predictions": "[3]"}),),
        )
    for worker, option in ((1, 0), (2, 1)):
        await student(db, worker, t0)
        card = await labeling.next_task(db, worker, t0)
        while card is not None:
            out = await labeling.answer(
                db,
                worker_id=worker,
                assignment_id=card.assignment_id,
                option=option,
                chat_id=worker,
                message_id=1,
                now=t0,
            )
            assert isinstance(out, labeling.Saved)
            card = out.next

    found = await labelstudio.export(db, "px")
    assert found is not None
    _, raw, count = found
    exported = json.loads(raw)
    assert count == 3
    assert b"completed_by" not in raw  # Label Studio refuses the file for an unknown one
    row = await db.fetchone("SELECT value FROM secrets WHERE name = 'pseudonym'")
    assert row is not None
    names = {w: pseudonym(bytes.fromhex(row[0]), w) for w in (1, 2)}
    answers = {
        (r[0], r[1]): (r[2], r[3])
        for r in await db.fetchall(
            "SELECT t.external_id, a.worker_id, a.id, a.value FROM answers a"
            " JOIN tasks t ON t.id = a.task_id"
        )
    }
    for task, external in zip(exported, ("101", "102", "103"), strict=True):
        assert task["data"]["id"] == external
        assert task["id"] == int(external)
        ids = {w: answers[external, w][0] for w in (1, 2)}
        assert [a["id"] for a in task["annotations"]] == [ids[1], ids[2]]
        assert task["meta"] == {"labelgram": {"students": {str(ids[w]): names[w] for w in (1, 2)}}}
        for annotation, worker in zip(task["annotations"], (1, 2), strict=True):
            assert annotation["meta"] == {"student": names[worker]}
            assert annotation["ground_truth"] is False
            # Every task's answers go to the control its project's predictions name.
            assert annotation["result"] == [sentiment(answers[external, worker][1])]
    assert exported[0]["predictions"] == tasks[0]["predictions"]
    assert "predictions" not in exported[1]
    assert "predictions" not in exported[2]  # the id list is not passed on


# ------------------------------------------------------------------ Label Studio's exports in


@pytest.fixture
async def h(cfg: Config) -> AsyncIterator[Harness]:
    async with running_bot(cfg) as harness:
        yield harness


TASKS_SQL = "SELECT external_id, text, payload FROM tasks ORDER BY id"


async def test_label_studio_default_export_imports_without_the_prediction_ids(h: Harness) -> None:
    admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
    report = await h.upload(
        admin,
        DEFAULT_EXPORT.name,
        DEFAULT_EXPORT.read_bytes(),
        "/upload back options=Positive,Negative,Neutral",
    )
    assert report.content.startswith("✅ back: 3 tasks added, 0 skipped"), report.content
    assert report.content.endswith(
        "ℹ️ 2 prediction(s) left out: the file lists them by Label Studio id only (its default "
        "JSON export), without their results. To keep them, export from Label Studio with full "
        "predictions (predictions only_id=false) and upload that file."
    )
    assert [(i, t, json.loads(p)) for i, t, p in await h.query(TASKS_SQL)] == [
        ("1", "The screen is bright and sharp", {"source": "shop"}),
        ("2", "电池一天就没电了", {"source": "forum"}),
        ("3", "Arrived on Tuesday", {"source": "shop"}),
    ]
    # And nothing of them goes out again.
    exported = json.loads(h.server.document_bytes(await h.say(admin, "/export back labelstudio")))
    assert [t["data"]["id"] for t in exported] == ["1", "2", "3"]
    assert all("predictions" not in t for t in exported)


async def test_the_admin_is_told_of_the_left_out_predictions_in_chinese(h: Harness) -> None:
    admin = h.server.add_user(ADMIN_ID, "Ada", language_code="zh-hans")
    report = await h.upload(
        admin,
        DEFAULT_EXPORT.name,
        DEFAULT_EXPORT.read_bytes(),
        "/upload back options=Positive,Negative,Neutral",
    )
    assert report.content.startswith("✅ back：新增 3 个任务"), report.content
    assert report.content.endswith(
        "ℹ️ 有 2 条预测未导入：文件里只有它们的 Label Studio 编号（其默认 JSON 导出），"
        "没有预测结果。如需保留，请在 Label Studio 导出完整预测（predictions only_id=false）"
        "后上传该文件。"
    )


async def test_label_studio_full_export_keeps_its_predictions(h: Harness) -> None:
    admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
    report = await h.upload(
        admin,
        FULL_EXPORT.name,
        FULL_EXPORT.read_bytes(),
        "/upload full options=Positive,Negative,Neutral",
    )
    assert report.content.startswith("✅ full: 3 tasks added, 0 skipped"), report.content
    assert "ℹ️" not in report.content
    stored = [json.loads(p).get("predictions") for _, _, p in await h.query(TASKS_SQL)]
    assert [json.loads(p) if p else None for p in stored] == [
        [{"model_version": "sentiment-v1", "score": 0.91, "result": [sentiment("Positive")]}],
        [{"model_version": "sentiment-v1", "score": 0.62, "result": [sentiment("Negative")]}],
        None,
    ]
    task = await h.start_labeling(9101)
    assert "💡 Suggested: Positive" in task.content
