"""Quality control for the team that runs a project: review of held answers, the students'
record, bans, and aggregated labels with their agreement."""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections import Counter
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
    dawid_skene: DawidSkeneRun | None = None  # None where it does not apply


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


def agreement_of(project: Project, answers: list[tuple[int, int, str]]) -> Agreement:
    """Krippendorff's alpha of the answers (ordinal for ratings, else nominal: for
    multi-label sets and corrections, whether students gave the very same answer)."""
    order = list(project.options) if project.type == "rating" else None
    alpha = aggregation.krippendorff_alpha(answers, _level(project), order=order)
    return Agreement(
        alpha=alpha,
        level=_level(project),
        answers=len(answers),
        tasks=len({a[0] for a in answers}),
    )


@dataclass(frozen=True, slots=True)
class DawidSkeneRun:
    """How Dawid-Skene's EM ended: converged within `rounds`, or stopped at the cap."""

    rounds: int
    converged: bool


# The task types whose answers are one of the project's options, so that majority vote and
# Dawid-Skene apply; a multi-label answer is a set and a correction a text of its own.
CHOICE_TYPES = ("label", "image", "pairwise", "rating")


def dawid_skene_run(project: Project, answers: list[tuple[int, int, str]]) -> DawidSkeneRun | None:
    """Fit Dawid-Skene to say whether it converges (None where it does not apply)."""
    if project.type not in CHOICE_TYPES or not answers:
        return None
    model = aggregation.dawid_skene_model(
        answers, options=list(project.options), max_iter=aggregation.MAX_ITER
    )
    return DawidSkeneRun(rounds=model.iterations, converged=model.converged)


AGGREGATE_COLUMNS = (
    "task_id",
    "text",
    "answers",
    "majority",
    "majority_confidence",
    "dawid_skene",
    "dawid_skene_confidence",
    "dawid_skene_converged",  # "no": EM stopped at its cap, these labels may still change
    "median",
    "mean",
    "votes",
    "agreement",
)
MULTILABEL_COLUMNS = (
    "task_id",
    "text",
    "answers",
    "labels",  # the options ticked in more than half of the answers, as a JSON list
    "votes",  # how many answers ticked each option
    "none",  # answers with no option ticked ("None of these")
    "agreement",  # the share of pairs of answers with the very same set
)
CORRECTION_COLUMNS = (
    "task_id",
    "text",
    "answers",
    "unchanged",  # answers that left the text as it was
    "corrected",
    "unchanged_share",
    "top_correction",  # the most common corrected text
    "top_correction_count",
    "agreement",  # the share of pairs of answers with the very same final text
)


def pair_agreement(votes: dict[str, int]) -> float | None:
    """The share of pairs of a task's answers that agree (None with fewer than 2 answers)."""
    n = sum(votes.values())
    if n < 2:
        return None
    return sum(c * (c - 1) for c in votes.values()) / (n * (n - 1))


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _task_cells(labels: dict[int, tuple[str, str]], task_id: int) -> list[str]:
    shown, text = labels.get(task_id, (f"#{task_id}", ""))
    return [spreadsheet_safe(shown), spreadsheet_safe(text)]


def _choice_rows(
    project: Project,
    answers: list[tuple[int, int, str]],
    labels: dict[int, tuple[str, str]],
) -> tuple[list[list[str | int]], DawidSkeneRun | None]:
    options = list(project.options)
    majority = aggregation.majority_vote(answers, options=options)
    model = aggregation.dawid_skene_model(answers, options=options, max_iter=aggregation.MAX_ITER)
    ds = aggregation.dawid_skene_from_model(model, answers)
    converged = "yes" if model.converged else "no"
    ratings = aggregation.rating_summary(answers) if project.type == "rating" else {}
    rows: list[list[str | int]] = []
    for task_id, agg in majority.items():
        d = ds[task_id]
        r = ratings.get(task_id)
        rows.append(
            [
                *_task_cells(labels, task_id),
                agg.answers,
                spreadsheet_safe(agg.value),
                f"{agg.confidence:.3f}",
                spreadsheet_safe(d.value),
                f"{d.confidence:.3f}",
                converged,
                f"{r.median:g}" if r else "",
                f"{r.mean:.3f}" if r else "",
                json.dumps(agg.votes, ensure_ascii=False),
                _share(pair_agreement(agg.votes)),
            ]
        )
    return rows, DawidSkeneRun(rounds=model.iterations, converged=model.converged)


def _ticked(value: str) -> tuple[str, ...]:
    """A multi-label answer's options (stored as a JSON list); anything else as one value."""
    try:
        items = json.loads(value)
    except ValueError:
        return (value,)
    return tuple(str(i) for i in items) if isinstance(items, list) else (value,)


def _multilabel_rows(
    project: Project,
    answers: list[tuple[int, int, str]],
    labels: dict[int, tuple[str, str]],
) -> list[list[str | int]]:
    by_task: dict[int, list[tuple[str, ...]]] = {}
    for task_id, _worker, value in answers:
        by_task.setdefault(task_id, []).append(_ticked(value))
    rows: list[list[str | int]] = []
    for task_id, sets in by_task.items():
        n = len(sets)
        ticks = Counter(o for chosen in sets for o in set(chosen))
        order = [o for o in project.options if ticks[o]] + sorted(
            o for o in ticks if o not in project.options
        )
        chosen = [o for o in order if 2 * ticks[o] > n]
        same = Counter(json.dumps(sorted(set(s))) for s in sets)
        rows.append(
            [
                *_task_cells(labels, task_id),
                n,
                spreadsheet_safe(json.dumps(chosen, ensure_ascii=False)),
                json.dumps({o: ticks[o] for o in order}, ensure_ascii=False),
                sum(1 for s in sets if not s),
                _share(pair_agreement(same)),
            ]
        )
    return rows


def _correction_rows(
    answers: list[tuple[int, int, str]], labels: dict[int, tuple[str, str]]
) -> list[list[str | int]]:
    by_task: dict[int, list[str]] = {}
    for task_id, _worker, value in answers:
        by_task.setdefault(task_id, []).append(value.strip())
    rows: list[list[str | int]] = []
    for task_id, values in by_task.items():
        original = labels.get(task_id, ("", ""))[1].strip()
        corrections = Counter(v for v in values if v != original)
        unchanged = len(values) - sum(corrections.values())
        # The most common correction; equally common ones: the first in text order.
        top = min(corrections.items(), key=lambda kv: (-kv[1], kv[0]), default=("", 0))
        rows.append(
            [
                *_task_cells(labels, task_id),
                len(values),
                unchanged,
                len(values) - unchanged,
                f"{unchanged / len(values):.3f}",
                spreadsheet_safe(top[0]),
                top[1] or "",
                _share(pair_agreement(Counter(values))),
            ]
        )
    return rows


def build_aggregated(
    project: Project,
    answers: list[tuple[int, int, str]],
    labels: dict[int, tuple[str, str]],
) -> Aggregated:
    """One row per task, aggregated as its type allows (pure: runs in the worker process).

    Options (label, image, A/B, rating): majority vote and Dawid-Skene with their
    confidence, whether Dawid-Skene converged, the votes, the share of agreeing pairs of
    answers; median and mean for ratings. Multi-label: the options most answers ticked and
    how often each was. Corrections: how many left the text unchanged, and the most common
    correction with its count."""
    ds: DawidSkeneRun | None = None
    columns: tuple[str, ...]
    if project.type == "multilabel":
        columns, rows = MULTILABEL_COLUMNS, _multilabel_rows(project, answers, labels)
    elif project.type == "correction":
        columns, rows = CORRECTION_COLUMNS, _correction_rows(answers, labels)
    else:
        columns = AGGREGATE_COLUMNS
        rows, ds = _choice_rows(project, answers, labels) if answers else ([], None)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return Aggregated(
        project=project,
        agreement=agreement_of(project, answers),
        rows=len(rows),
        csv=out.getvalue().encode("utf-8-sig"),
        dawid_skene=ds,
    )
