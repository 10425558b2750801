"""Labelgram's Label Studio export, and Label Studio's own exports, against a real Label Studio.

One Label Studio 1.23.2 server for the module (tests/labelstudio.py: its own cached venv,
installed on the first run; a throwaway data directory; 127.0.0.1 only), with the validation
of imported predictions against the project's config turned on. Each task type's export, made
by the real bot from real answers, goes in through ``/api/projects/{id}/import``, and what the
server then holds is read back through its API and compared with the result Label Studio's
own SDK builds for each answer. In the other direction, the server's own exports come in
through the bot's upload and go out again.

If Label Studio cannot be installed or started, every test here fails and says why: the
proof is the point of this module, so it is never skipped.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.config import Config
from bot.services.privacy import pseudonym
from tests import labelstudio
from tests.botapi import ChatMessage, FakeUser, button_texts
from tests.conftest import ADMIN_ID
from tests.e2e import Harness, running_bot

# The first run installs Label Studio inside the first test's setup.
pytestmark = pytest.mark.timeout(labelstudio.INSTALL_TIMEOUT + labelstudio.START_TIMEOUT + 600)


@dataclass(frozen=True)
class LabelStudio:
    home: Path
    server: labelstudio.Server


@pytest.fixture(scope="module")
def ls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudio]:
    stack = contextlib.ExitStack()
    try:
        home = labelstudio.install()
        data_dir = tmp_path_factory.mktemp("labelstudio")
        server = stack.enter_context(labelstudio.running(home, data_dir))
    except labelstudio.Unavailable as exc:
        problem = str(exc)
    else:
        problem = ""
    if problem:  # a failure (never a skip), outside the except: one clear message
        pytest.fail(f"no Label Studio to test against: {problem}", pytrace=False)
    with stack:
        yield LabelStudio(home, server)


@pytest.fixture
async def h(cfg: Config) -> AsyncIterator[Harness]:
    async with running_bot(cfg) as harness:
        yield harness


@pytest.fixture
async def api(ls: LabelStudio) -> AsyncIterator[httpx.AsyncClient]:
    async with ls.server.client() as client:
        yield client


# ------------------------------------------------------------------ the four task types

TEXT = '<Text name="text" value="$text"/>'
CHOICES = "".join(f'<Choice value="{c}"/>' for c in ("Positive", "Negative", "Neutral"))
TAGS = "".join(f'<Choice value="{c}"/>' for c in ("sun", "dog", "cat"))


Plan = Callable[[int, str], list[str]]


def side(wanted: str) -> Callable[[int, str], str]:
    """The A/B button that picks the original side ``wanted``, in the order shown."""
    return lambda n, order: "A is better" if order[0] == wanted else "B is better"


@dataclass(frozen=True)
class Kind:
    caption: str
    file_name: str
    tasks: list[dict[str, Any]]
    config: str  # a Label Studio labeling config with the controls our export names
    # Per student: the taps for their n-th task, given the order an A/B pair is shown in.
    plans: tuple[Plan, Plan]
    predictions: int = 0


KINDS = {
    "label": Kind(
        # Label Studio tasks: their prediction names the control ("sentiment").
        caption="/upload sent options=Positive,Negative,Neutral overlap=2",
        file_name="tasks.json",
        tasks=[
            {
                "id": 11,
                "data": {"text": "I love this phone"},
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
            {"id": 12, "data": {"text": "电池一天就没电了"}},
            {"id": 13, "data": {"text": "Arrived on Tuesday"}},
        ],
        config=f'<View>{TEXT}<Choices name="sentiment" toName="text">{CHOICES}</Choices></View>',
        plans=(lambda n, _: ["Positive"], lambda n, _: ["Negative" if n % 2 else "Neutral"]),
        predictions=1,
    ),
    "rating": Kind(
        caption="/upload stars type=rating overlap=2",
        file_name="tasks.jsonl",
        tasks=[{"id": "r1", "text": "Rate this answer."}, {"id": "r2", "text": "And this one."}],
        config=f'<View>{TEXT}<Rating name="rating" toName="text" maxRating="5"/></View>',
        plans=(lambda n, _: ["5"], lambda n, _: [str(n + 1)]),
    ),
    "multilabel": Kind(
        caption="/upload tags type=multilabel options=sun,dog,cat allow_none=yes overlap=2",
        file_name="tasks.jsonl",
        tasks=[{"id": "m1", "text": "A sunny beach with dogs"}, {"id": "m2", "text": "空房间"}],
        config=(
            f'<View>{TEXT}<Choices name="label" toName="text" choice="multiple">{TAGS}'
            "</Choices></View>"
        ),
        plans=(lambda n, _: ["☐ sun", "☐ dog", "✅ Done"], lambda n, _: ["None of these"]),
    ),
    "pairwise": Kind(
        caption="/upload ab type=pairwise overlap=2",
        file_name="tasks.jsonl",
        tasks=[
            {"id": "q1", "prompt": "What is 2+2?", "a": "It is 4.", "b": "It is 5."},
            {"id": "q2", "prompt": "法国的首都？", "a": "巴黎。", "b": "里昂。"},
        ],
        config=(
            '<View><Text name="prompt" value="$prompt"/><Text name="a" value="$a"/>'
            '<Text name="b" value="$b"/><Pairwise name="pairwise" toName="a,b"/>'
            '<Choices name="verdict" toName="prompt"><Choice value="tie"/>'
            '<Choice value="both_bad"/></Choices></View>'
        ),
        # Between them: a, b, a tie and both bad.
        plans=(
            lambda n, order: [side("a")(n, order) if n == 0 else "Tie"],
            lambda n, order: [side("b")(n, order) if n == 0 else "Both bad"],
        ),
    ),
}


def label_for(kind: str, value: str) -> tuple[str, Any] | None:
    """(control, label) of the result Label Studio would hold for a stored answer: what our
    export promises, written out here on its own (None: an annotation with no result)."""
    if kind == "label":
        return "sentiment", [value]
    if kind == "rating":
        return "rating", int(value)
    if kind == "multilabel":
        chosen = json.loads(value)
        return ("label", chosen) if chosen else None
    if value in ("a", "b"):
        return "pairwise", {"a": "left", "b": "right"}[value]
    return "verdict", [value]


async def upload(h: Harness, admin: FakeUser, name: str, body: bytes, caption: str) -> str:
    report = await h.upload(admin, name, body, caption)
    assert report.content.startswith("✅"), report.content
    return report.content


def tasks_file(kind: Kind) -> bytes:
    if kind.file_name.endswith(".jsonl"):
        return "\n".join(json.dumps(t, ensure_ascii=False) for t in kind.tasks).encode()
    return json.dumps(kind.tasks, ensure_ascii=False).encode()


async def answer_everything(h: Harness, user_id: int, plan: Plan) -> int:
    """A student labels until no task is left, the n-th task with the taps ``plan(n)``."""
    message = await h.start_labeling(user_id)
    user = h.server.users[user_id]
    done = 0
    while "no tasks are waiting" not in message.content:
        assert done < 10, message.content
        order = await h.scalar(
            "SELECT shown_order FROM assignments WHERE worker_id = ? AND status = 'open'",
            (user_id,),
        )
        *ticks, last = plan(done, order or "ab")
        shown = message.message_id
        for tick in ticks:  # multilabel ticks: the keyboard changes in place
            before = button_texts(h.server.message(user, shown))
            await h.tap(user, h.server.message(user, shown), tick)

            def ticked(b: list[str] = before, m: int = shown) -> bool:
                return button_texts(h.server.message(user, m)) != b

            await h.server.wait_until(ticked, user=user, description="the tick to show")
        current = h.server.message(user, shown)
        texts = button_texts(current)
        button = last if last in texts else f"💡 {last}"  # the suggested option is marked
        _, message = await h.tap_and_wait_edit(user, current, button)
        done += 1
    return done


async def export_of(h: Harness, admin: FakeUser, project: str) -> bytes:
    doc: ChatMessage = await h.say(admin, f"/export {project} labelstudio")
    assert doc.document is not None, doc.content
    return h.server.document_bytes(doc)


async def new_project(api: httpx.AsyncClient, title: str, config: str) -> int:
    made = await api.post("/api/projects", json={"title": title, "label_config": config})
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


async def stored_tasks(api: httpx.AsyncClient, project: int) -> list[dict[str, Any]]:
    """Every task of a Label Studio project, each with its annotations and predictions."""
    listed = await api.get("/api/tasks", params={"project": project, "page_size": 1000})
    assert listed.status_code == 200, listed.text
    out = []
    for brief in listed.json()["tasks"]:
        full = await api.get(f"/api/tasks/{brief['id']}")
        assert full.status_code == 200, full.text
        out.append(full.json())
    return out


@pytest.mark.parametrize("name", list(KINDS))
async def test_each_task_types_export_goes_into_label_studio(
    name: str, h: Harness, ls: LabelStudio, api: httpx.AsyncClient
) -> None:
    kind = KINDS[name]
    admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
    project = kind.caption.split()[1]
    report = await upload(h, admin, kind.file_name, tasks_file(kind), kind.caption)
    assert f"{len(kind.tasks)} tasks added" in report
    for user_id, plan in zip((7001, 7002), kind.plans, strict=True):
        assert await answer_everything(h, user_id, plan) == len(kind.tasks)
    ours = await h.query(
        "SELECT a.id, a.worker_id, a.value, t.external_id FROM answers a"
        " JOIN tasks t ON t.id = a.task_id ORDER BY a.id"
    )
    assert len(ours) == 2 * len(kind.tasks)
    if name == "pairwise":  # both controls are used
        assert {value for _, _, value, _ in ours} == {"a", "b", "tie", "both_bad"}
    exported = await export_of(h, admin, project)

    ls_project = await new_project(api, f"Labelgram {name}", kind.config)
    imported = await api.post(
        f"/api/projects/{ls_project}/import",
        content=exported,
        headers={"Content-Type": "application/json"},
    )
    assert imported.status_code == 201, imported.text
    counts = imported.json()
    assert (counts["task_count"], counts["annotation_count"], counts["prediction_count"]) == (
        len(kind.tasks),
        len(ours),
        kind.predictions,
    )

    # What the server holds: the tasks, their texts, every answer, the predictions.
    tasks = await stored_tasks(api, ls_project)
    by_id = {task["data"]["id"]: task for task in tasks}
    for sent in kind.tasks:
        fields = sent.get("data", sent)
        own_id = str(sent["id"])
        task = by_id[own_id]
        assert {k: task["data"].get(k) for k in fields if k != "id"} == {
            k: v for k, v in fields.items() if k != "id"
        }
        assert [p["result"] for p in task["predictions"]] == [
            p["result"] for p in sent.get("predictions", [])
        ]
    me = (await api.get("/api/current-user/whoami")).json()["id"]
    key = bytes.fromhex(await h.scalar("SELECT value FROM secrets WHERE name = 'pseudonym'"))
    wanted = {
        answer_id: label_for(name, value) for answer_id, _, value, _ in ours
    }  # answer id -> (control, label) or None
    built = iter(
        labelstudio.regions(
            ls.home, [(kind.config, *label) for label in wanted.values() if label is not None]
        )
    )
    expected = {answer_id: [next(built)] if label else [] for answer_id, label in wanted.items()}
    held = {}
    for answer_id, worker, _, external_id in ours:
        task = by_id[external_id]
        (annotation,) = [a for a in task["annotations"] if a["import_id"] == answer_id]
        held[answer_id] = annotation["result"]
        assert annotation["ground_truth"] is False
        assert annotation["completed_by"]["id"] == me  # credited to whoever imports
        # The pseudonym survives in the task's meta, keyed by the annotation's import id.
        students = task["meta"]["labelgram"]["students"]
        assert students[str(answer_id)] == pseudonym(key, worker)
    assert held == expected


# ------------------------------------------------------------------ and back again


async def test_label_studios_exports_come_in_and_go_out_again(
    h: Harness, ls: LabelStudio, api: httpx.AsyncClient
) -> None:
    files = await labelstudio.make_data(ls.server)  # made by this server, now
    default = json.loads(files["labelstudio-export.json"])
    # Its default export lists the two predictions by id only.
    assert [len(t["predictions"]) for t in default] == [1, 1, 0]
    assert all(isinstance(p, int) for t in default for p in t["predictions"])
    # Label Studio's own default export does not go back in (HTTP 500 with its default flags,
    # after storing part of the file; 400 with prediction validation on, as here).
    broken = await new_project(api, "Straight back", labelstudio.SENTIMENT_CONFIG)
    refused = await api.post(
        f"/api/projects/{broken}/import",
        content=files["labelstudio-export.json"],
        headers={"Content-Type": "application/json"},
    )
    assert refused.status_code in (400, 500), refused.text

    admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
    caption = "/upload {} options=Positive,Negative,Neutral"
    report = await upload(
        h, admin, "export.json", files["labelstudio-export.json"], caption.format("ids")
    )
    assert "3 tasks added" in report
    assert "ℹ️ 2 prediction(s) left out" in report
    report = await upload(
        h, admin, "full.json", files["labelstudio-export-full.json"], caption.format("full")
    )
    assert "3 tasks added" in report
    assert "left out" not in report
    stored = await h.query(
        "SELECT p.name, t.external_id, t.text, t.payload FROM tasks t"
        " JOIN projects p ON p.id = t.project_id ORDER BY t.id"
    )
    texts = [t["data"]["text"] for t in labelstudio.SENTIMENT_TASKS]
    ids = [str(t["id"]) for t in default]
    assert [(p, i, t) for p, i, t, _ in stored] == [
        *(("ids", i, t) for i, t in zip(ids, texts, strict=True)),
        *(("full", i, t) for i, t in zip(ids, texts, strict=True)),
    ]
    predictions = [
        json.loads(json.loads(payload).get("predictions", "[]")) for *_, payload in stored
    ]
    original = [t.get("predictions", []) for t in labelstudio.SENTIMENT_TASKS]
    assert predictions == [[], [], [], *original]

    # Both go out again and into Label Studio whole, the full one with its predictions
    # (checked against the config by Label Studio on the way in).
    for project, count in (("ids", 0), ("full", 2)):
        back = await new_project(api, f"Back from {project}", labelstudio.SENTIMENT_CONFIG)
        imported = await api.post(
            f"/api/projects/{back}/import",
            content=await export_of(h, admin, project),
            headers={"Content-Type": "application/json"},
        )
        assert imported.status_code == 201, imported.text
        assert (imported.json()["task_count"], imported.json()["prediction_count"]) == (3, count)
        tasks = await stored_tasks(api, back)
        assert sorted(t["data"]["text"] for t in tasks) == sorted(texts)
        assert sorted(t["data"]["id"] for t in tasks) == sorted(ids)
        assert [
            [p["result"] for p in t["predictions"]]
            for t in sorted(tasks, key=lambda t: ids.index(t["data"]["id"]))
        ] == ([[], [], []] if project == "ids" else [[p["result"] for p in o] for o in original])
