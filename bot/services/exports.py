"""Exports and quality figures, computed in the worker process (bot.offload).

The event loop only looks the project up and hands over plain values (an ExportJob); the
worker reads the database through a read-only connection of its own, in one snapshot, and
builds every file: the answers as CSV and JSONL, and the aggregated labels. Nothing here is
async at the top: these are the functions the worker runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.services import privacy, quality
from bot.services.projects import Export, build_export
from bot.services.quality import Aggregated, Agreement, DawidSkeneRun
from db import answers as answers_repo
from db import projects as projects_repo
from db import workers as workers_repo
from db.connection import Database, Tx, read_in_process
from db.projects import Project


@dataclass(frozen=True, slots=True)
class ExportJob:
    """What the worker needs for one /export: plain values only."""

    db_path: str
    project: Project
    key: bytes  # the pseudonym key (made, if need be, by the bot's own connection)
    identified: bool = False


@dataclass(frozen=True, slots=True)
class NothingToExport:
    project: Project


@dataclass(frozen=True, slots=True)
class ExportFiles:
    answers: Export
    aggregated: Aggregated | None  # None when no regular task has an answer


@dataclass(frozen=True, slots=True)
class QualityReport:
    agreement: Agreement
    dawid_skene: DawidSkeneRun | None  # None where it does not apply


async def prepare_export(
    db: Database, name: str, *, identified: bool = False
) -> ExportJob | NothingToExport | None:
    """On the event loop, cheap: the project (None if unknown) and whether it has answers."""
    project = await projects_repo.get_by_name(db, name)
    if project is None:
        return None
    if not await answers_repo.any_for_project(db, project.id):
        return NothingToExport(project)
    key = await privacy.pseudonym_key(db)
    return ExportJob(str(db.path), project, key, identified)


def export_files(job: ExportJob) -> ExportFiles:
    """In the worker: every file of one /export."""
    return read_in_process(job.db_path, _export_files, job)


async def _export_files(tx: Tx, job: ExportJob) -> ExportFiles:
    project = job.project
    rows = await answers_repo.for_export(tx, project.id)
    people = (
        await workers_repo.identities(tx, {r.worker_id for r in rows}) if job.identified else {}
    )
    answers = await answers_repo.for_aggregation(tx, project.id)
    labels = await answers_repo.task_labels(tx, project.id)
    export = build_export(
        project, rows, privacy.pseudonyms(job.key), people, identified=job.identified
    )
    aggregated = quality.build_aggregated(project, answers, labels) if answers else None
    return ExportFiles(answers=export, aggregated=aggregated)


def quality_report(db_path: str, project: Project) -> QualityReport:
    """In the worker: /stats' agreement, and whether Dawid-Skene converges on the answers."""
    return read_in_process(db_path, _quality_report, project)


async def _quality_report(tx: Tx, project: Project) -> QualityReport:
    answers = await answers_repo.for_aggregation(tx, project.id)
    return QualityReport(
        agreement=quality.agreement_of(project, answers),
        dawid_skene=quality.dawid_skene_run(project, answers),
    )
