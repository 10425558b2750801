"""Quality control for the team that runs a project: review of held answers, the students'
record, bans, and aggregated labels with their agreement."""

from __future__ import annotations

import csv
import io
import json
import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot import aggregation
from bot.services import notify
from bot.services.ledger import NoticeSettings, deduction_notice
from bot.services.projects import spreadsheet_safe
from bot.texts import t
from db import answers as answers_repo
from db import assignments as assignments_repo
from db import ledger as ledger_repo
from db import projects as projects_repo
from db import standings as standings_repo
from db import tasks as tasks_repo
from db import workers as workers_repo
from db.answers import Flagged, WorkerQuality
from db.connection import Database
from db.projects import Project


@dataclass(frozen=True, slots=True)
class ReviewItem:
    project: Project
    flagged: Flagged | None
    waiting: int


@dataclass(frozen=True, slots=True)
class Decision:
    worker_id: int
    project: str
    task_id: int
    accepted: bool
    deduction_id: int | None
    amount: int  # the locked price: what a rejection deducts
    rule: str = "too_fast"  # the rule that held the answer


@dataclass(frozen=True, slots=True)
class StudentRecord:
    worker_id: int
    name: str
    status: str
    answers: int
    gold_correct: int
    gold_total: int
    median_seconds: float | None
    flagged: int
    paused_until: datetime | None = None  # kept out of the project by a rule until then
    paused_rule: str | None = None


@dataclass(frozen=True, slots=True)
class Agreement:
    alpha: float | None
    level: str
    answers: int
    tasks: int


@dataclass(frozen=True, slots=True)
class Aggregated:
    project: Project
    agreement: Agreement
    rows: int
    csv: bytes


async def next_review(db: Database, name: str) -> ReviewItem | None:
    project = await projects_repo.get_by_name(db, name)
    if project is None:
        return None
    flagged, waiting = await answers_repo.next_flagged(db, project.id)
    return ReviewItem(project=project, flagged=flagged, waiting=waiting)


async def decide(
    db: Database, *, answer_id: int, accept: bool, now: datetime, notices: NoticeSettings
) -> Decision | None:
    """Accept a held answer (its earning is approved as usual) or reject it: a deduction of
    its locked price that names the task and the rule, which the student may dispute (their
    notice is queued with it)."""
    async with db.transaction() as tx:
        brief = await answers_repo.get_brief(tx, answer_id)
        if brief is None:
            return None
        worker_id, project_id, task_id, price, rule = brief
        rule = rule or "review"
        if not await answers_repo.set_review(tx, answer_id, "accepted" if accept else "rejected"):
            return None
        project = await projects_repo.get(tx, project_id)
        assert project is not None
        deduction = None
        if not accept and price:
            deduction = await ledger_repo.add(
                tx,
                worker_id=worker_id,
                amount=-price,
                kind="deduction",
                reason="deduction_review",
                reason_params={"project": project.name, "task": task_id, "rule": rule},
                task_id=task_id,
                status="approved",
                now=now,
            )
            student = await workers_repo.get(tx, worker_id)
            lang = student.language if student else notices.default_language
            reason = t(
                lang, "reason_deduction_review", project=project.name, task=task_id, rule=rule
            )
            await notify.enqueue_in(
                tx,
                [deduction_notice(worker_id, deduction, price, reason, lang, notices.currency)],
                now,
            )
        return Decision(
            worker_id=worker_id,
            project=project.name,
            task_id=task_id,
            accepted=accept,
            deduction_id=deduction,
            amount=price,
            rule=rule,
        )


async def student_records(
    db: Database, name: str, now: datetime
) -> tuple[Project, list[StudentRecord]] | None:
    """Everyone who answered in the project, with whether a rule keeps them out now."""
    project = await projects_repo.get_by_name(db, name)
    if project is None:
        return None
    paused = await standings_repo.blocked_in_project(db, project.id, now)
    return project, [
        _record(q, *paused.get(q.worker_id, (None, None)))
        for q in await answers_repo.quality(db, project.id)
    ]


def _record(
    q: WorkerQuality, paused_until: datetime | None = None, paused_rule: str | None = None
) -> StudentRecord:
    return StudentRecord(
        worker_id=q.worker_id,
        name=q.name,
        status=q.status,
        answers=q.answers,
        gold_correct=q.gold_correct,
        gold_total=q.gold_total,
        median_seconds=statistics.median(q.seconds) if q.seconds else None,
        flagged=q.flagged,
        paused_until=paused_until,
        paused_rule=paused_rule,
    )


async def my_records(db: Database, worker_id: int) -> list[tuple[str, StudentRecord]]:
    """The student's own record in every project they answered in."""
    out = []
    for project in await projects_repo.all_projects(db):
        for q in await answers_repo.quality(db, project.id, worker_id):
            out.append((project.name, _record(q)))
    return out


async def set_banned(db: Database, worker_id: int, banned: bool, now: datetime) -> bool:
    """Ban (no more tasks, taps refused) or unban; unbanning also lifts rule pauses.

    A banned student's task in hand goes back to the pool at once (withdrawn, as by a pause,
    so it can come back to them after an unban) instead of waiting out its lease."""
    async with db.transaction() as tx:
        worker = await workers_repo.get(tx, worker_id)
        if worker is None:
            return False
        await workers_repo.set_status(tx, worker_id, "banned" if banned else "active")
        if banned:
            held = await assignments_repo.open_for_worker(tx, worker_id)
            if held is not None and await assignments_repo.close(tx, held.id, "withdrawn", now):
                await tasks_repo.release_many(tx, [held.task_id])
        else:
            await standings_repo.lift(tx, worker_id)
        return True


def _level(project: Project) -> Literal["nominal", "ordinal"]:
    return "ordinal" if project.type == "rating" else "nominal"


async def agreement(db: Database, project: Project) -> Agreement:
    answers = await answers_repo.for_aggregation(db, project.id)
    order = list(project.options) if project.type == "rating" else None
    alpha = aggregation.krippendorff_alpha(answers, _level(project), order=order)
    return Agreement(
        alpha=alpha,
        level=_level(project),
        answers=len(answers),
        tasks=len({a[0] for a in answers}),
    )


AGGREGATE_COLUMNS = (
    "task_id",
    "text",
    "answers",
    "majority",
    "majority_confidence",
    "dawid_skene",
    "dawid_skene_confidence",
    "median",
    "mean",
    "votes",
    "agreement",
)


def pair_agreement(votes: dict[str, int]) -> float | None:
    """The share of pairs of a task's answers that agree (None with fewer than 2 answers)."""
    n = sum(votes.values())
    if n < 2:
        return None
    return sum(c * (c - 1) for c in votes.values()) / (n * (n - 1))


async def aggregated(db: Database, name: str) -> Aggregated | None:
    """One row per task: majority vote and Dawid-Skene with their confidence, the number of
    answers behind them, the votes, the share of agreeing pairs of answers; median and mean
    for ratings. The project's alpha is in /stats and the file's caption."""
    project = await projects_repo.get_by_name(db, name)
    if project is None:
        return None
    answers = await answers_repo.for_aggregation(db, project.id)
    labels = await answers_repo.task_labels(db, project.id)
    options = list(project.options)
    majority = aggregation.majority_vote(answers, options=options)
    ds = aggregation.dawid_skene(answers, options=options) if answers else {}
    ratings = aggregation.rating_summary(answers) if project.type == "rating" else {}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(AGGREGATE_COLUMNS)
    for task_id, agg in majority.items():
        shown, text = labels.get(task_id, (f"#{task_id}", ""))
        d = ds.get(task_id)
        r = ratings.get(task_id)
        writer.writerow(
            [
                spreadsheet_safe(shown),
                spreadsheet_safe(text),
                agg.answers,
                spreadsheet_safe(agg.value),
                f"{agg.confidence:.3f}",
                spreadsheet_safe(d.value) if d else "",
                f"{d.confidence:.3f}" if d else "",
                f"{r.median:g}" if r else "",
                f"{r.mean:.3f}" if r else "",
                json.dumps(agg.votes, ensure_ascii=False),
                "" if (pa := pair_agreement(agg.votes)) is None else f"{pa:.3f}",
            ]
        )
    return Aggregated(
        project=project,
        agreement=await agreement(db, project),
        rows=len(majority),
        csv=out.getvalue().encode("utf-8-sig"),
    )
