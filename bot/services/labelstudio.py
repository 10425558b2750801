"""Label Studio interchange: its tasks' predictions shown as a suggestion, and annotations
exported in its JSON format, so Labelgram can be the phone front end of a Label Studio
pipeline (import its tasks, export what students answered, import that back)."""

from __future__ import annotations

import json
from typing import Any

from bot.services.privacy import pseudonymizer
from db import answers as answers_repo
from db import projects as projects_repo
from db.connection import Database
from db.projects import Project


def suggestion(payload: dict[str, str]) -> str | None:
    """The first predicted choice (or rating) of a Label Studio task, if it has one."""
    raw = payload.get("predictions")
    if not raw:
        return None
    try:
        predictions = json.loads(raw)
        value = predictions[0]["result"][0]["value"]
    except (ValueError, LookupError, TypeError):
        return None
    if isinstance(value, dict):
        if value.get("choices"):
            return str(value["choices"][0])
        if "rating" in value:
            return str(value["rating"])
    return None


def _names(payload: dict[str, str], project: Project) -> tuple[str, str, str]:
    """(from_name, to_name, type) as the task's predictions name them, else ours."""
    try:
        first = json.loads(payload["predictions"])[0]["result"][0]
        return str(first["from_name"]), str(first["to_name"]), str(first["type"])
    except (KeyError, ValueError, LookupError, TypeError):
        kind = "rating" if project.type == "rating" else "choices"
        return ("rating" if kind == "rating" else "label"), "text", kind


def _result_value(kind: str, value: str) -> dict[str, Any]:
    if kind == "rating":
        return {"rating": int(value) if value.lstrip("-").isdigit() else value}
    if value.startswith("["):
        try:
            return {"choices": json.loads(value)}
        except ValueError:
            pass
    return {"choices": [value]}


async def export(db: Database, name: str) -> tuple[Project, bytes, int] | None:
    """The project's tasks in Label Studio's JSON format, with one annotation per answer."""
    project = await projects_repo.get_by_name(db, name)
    if project is None:
        return None
    student = await pseudonymizer(db)  # never the Telegram id, name or username
    out = []
    for task_id, external_id, text, payload_json, answers in await answers_repo.tasks_with_answers(
        db, project.id
    ):
        payload = json.loads(payload_json)
        from_name, to_name, kind = _names(payload, project)
        data = {k: v for k, v in payload.items() if k != "predictions"}
        data.setdefault("text", text)
        ident: Any = external_id if external_id is not None else task_id
        if isinstance(ident, str) and ident.isdigit():
            ident = int(ident)
        item: dict[str, Any] = {
            "id": ident,
            "data": data,
            "annotations": [
                {
                    "id": answer_id,
                    "completed_by": student(worker),
                    "result": [
                        {
                            "from_name": from_name,
                            "to_name": to_name,
                            "type": kind,
                            "value": _result_value(kind, value),
                        }
                    ],
                    "lead_time": seconds,
                    "created_at": created_at,
                }
                for answer_id, worker, value, seconds, created_at in answers
            ],
        }
        if payload.get("predictions"):
            item["predictions"] = json.loads(payload["predictions"])
        out.append(item)
    return project, json.dumps(out, ensure_ascii=False, indent=1).encode(), len(out)
