"""Label Studio interchange: its tasks' predictions shown as a suggestion, and annotations
exported in its JSON format, so Labelgram can be the phone front end of a Label Studio
pipeline (import its tasks, export what students answered, import that back).

What a Label Studio 1.23 server takes, found by importing into one
(tests/test_labelstudio_server.py runs every export against a real server):

- ``completed_by`` must name a member (an id, or ``{"email": ...}``), or the whole file is
  refused. Ours has none (Label Studio credits the person who imports); the student's
  pseudonym is in the annotation's ``meta``, which Label Studio does not keep, and in the
  task's ``meta`` (``labelgram.students``: annotation id -> pseudonym), which it keeps, with
  the annotation id as the annotation's ``import_id``.
- An imported annotation counts as ground truth unless it says otherwise: ours say not.
- Results name a control of the project's labeling config: one control per export, the one
  the project's own predictions name (tasks that came from Label Studio), else Labelgram's
  default for the task type (:data:`DEFAULT_CONTROLS`).
- The task's top-level ``id`` is ignored, so Labelgram's task id is in ``data.id`` too (read
  back as the task's id when the file comes back to Labelgram).
- A/B comparisons: Label Studio's Pairwise control holds left or right (left is a, right is
  b); tie and both_bad have no place in it and go to a Choices control, :data:`VERDICT`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.importing import prediction_objects
from bot.services.privacy import pseudonymizer
from db import answers as answers_repo
from db import projects as projects_repo
from db.connection import Database
from db.projects import Project


@dataclass(frozen=True, slots=True)
class Control:
    """A control tag of a Label Studio labeling config, as a result names it."""

    name: str  # the result's from_name
    to_name: str
    type: str  # the result's type: choices, rating, pairwise or textarea


DEFAULT_CONTROLS: dict[str, Control] = {
    # <Choices name="label" toName="text"> (choice="multiple" for multilabel)
    "label": Control("label", "text", "choices"),
    "multilabel": Control("label", "text", "choices"),
    "image": Control("label", "image", "choices"),
    "rating": Control("rating", "text", "rating"),
    # <Pairwise name="pairwise" toName="a,b">: a pairwise result names the control twice.
    "pairwise": Control("pairwise", "pairwise", "pairwise"),
    "correction": Control("correction", "text", "textarea"),
}
VERDICT = Control("verdict", "prompt", "choices")
"""Where an A/B answer that picks neither side goes: <Choices name="verdict" toName="prompt">
with the choices tie and both_bad."""
_SIDES = {"a": "left", "b": "right"}


def _predictions(payload: dict[str, str]) -> list[dict[str, Any]]:
    """A task's predictions that Label Studio can take back (none if it has none)."""
    raw = payload.get("predictions")
    if not raw:
        return []
    try:
        return prediction_objects(json.loads(raw))[0]
    except ValueError:
        return []  # a column of the uploaded file that merely shares the name


def suggestion(payload: dict[str, str]) -> str | None:
    """The first predicted choice (or rating) of a Label Studio task, if it has one."""
    try:
        value = _predictions(payload)[0]["result"][0]["value"]
    except (LookupError, TypeError):
        return None
    if isinstance(value, dict):
        if value.get("choices"):
            return str(value["choices"][0])
        if "rating" in value:
            return str(value["rating"])
    return None


def control(project_type: str, payloads: Iterable[dict[str, str]]) -> Control:
    """The control every answer of a project goes to: the first one its tasks' predictions
    name with a result of the right type, else Labelgram's default for the task type."""
    default = DEFAULT_CONTROLS.get(project_type, DEFAULT_CONTROLS["label"])
    for payload in payloads:
        for prediction in _predictions(payload):
            for region in prediction["result"]:
                if (
                    isinstance(region, dict)
                    and str(region.get("type", "")).lower() == default.type
                    and isinstance(region.get("from_name"), str)
                    and isinstance(region.get("to_name"), str)
                ):
                    return Control(region["from_name"], region["to_name"], default.type)
    return default


def result(project_type: str, where: Control, value: str) -> list[dict[str, Any]]:
    """One stored answer as the result of a Label Studio annotation."""
    if project_type == "pairwise":
        if value in _SIDES:
            return [_region(where, {"selected": _SIDES[value]})]
        return [_region(VERDICT, {"choices": [value]})]
    if where.type == "rating":
        try:
            return [_region(where, {"rating": int(value)})]
        except ValueError:
            return [_region(where, {"rating": value})]
    if where.type == "textarea":
        return [_region(where, {"text": [value]})]
    if project_type == "multilabel":
        try:
            chosen = json.loads(value)
        except ValueError:
            chosen = None
        if not isinstance(chosen, list):
            chosen = [value]
        # "None of these" is an annotation with nothing chosen.
        return [_region(where, {"choices": chosen})] if chosen else []
    return [_region(where, {"choices": [value]})]


def _region(where: Control, value: dict[str, Any]) -> dict[str, Any]:
    return {"from_name": where.name, "to_name": where.to_name, "type": where.type, "value": value}


async def export(db: Database, name: str) -> tuple[Project, bytes, int] | None:
    """The project's tasks in Label Studio's JSON format, with one annotation per answer."""
    project = await projects_repo.get_by_name(db, name)
    if project is None:
        return None
    student = await pseudonymizer(db)  # never the Telegram id, name or username
    tasks = [
        (task_id, external_id, text, json.loads(payload_json), answers)
        for task_id, external_id, text, payload_json, answers in (
            await answers_repo.tasks_with_answers(db, project.id)
        )
    ]
    where = control(project.type, (task[3] for task in tasks))
    out = []
    for task_id, external_id, text, payload, answers in tasks:
        own_id: Any = external_id if external_id is not None else task_id
        data = {"id": own_id, **{k: v for k, v in payload.items() if k != "predictions"}}
        if text:
            data.setdefault("text", text)
        ident = int(own_id) if isinstance(own_id, str) and own_id.isdigit() else own_id
        item: dict[str, Any] = {
            "id": ident,
            "data": data,
            "annotations": [
                {
                    "id": answer_id,
                    "result": result(project.type, where, value),
                    "ground_truth": False,
                    "lead_time": seconds,
                    "created_at": created_at,
                    "meta": {"student": student(worker)},
                }
                for answer_id, worker, value, seconds, created_at in answers
            ],
        }
        if answers:
            students = {str(answer[0]): student(answer[1]) for answer in answers}
            item["meta"] = {"labelgram": {"students": students}}
        if predictions := _predictions(payload):
            item["predictions"] = predictions
        out.append(item)
    return project, json.dumps(out, ensure_ascii=False, indent=1).encode(), len(out)
