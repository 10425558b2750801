"""Admin commands: uploads, projects, stats, pause/resume, export.

Each is registered for admins only (handlers.guard); /stats for reviewers too.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Coroutine
from datetime import datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import httpx
from telegram import Document, File, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, filters

from bot import callbacks, render
from bot.context import Ctx
from bot.money import format_amount
from bot.services import exports, labelstudio, quality
from bot.services import projects as projects_service
from bot.services import uploads as uploads_service
from bot.services.uploads import (
    ArgError,
    ImportDone,
    ImportRejected,
    SameFile,
    UploadRequest,
)
from bot.texts import t
from handlers.broadcast import alert_new_work
from handlers.common import is_owner, lang_of, now
from handlers.guard import ADMINS, REVIEWERS, button_for, command_for, message_for

log = logging.getLogger(__name__)

PROGRESS_MIN_ROWS = 5_000
PICK_PROJECT_BUTTONS = 8  # the newest projects get a button under a file sent without caption
PROGRESS_EVERY_SECONDS = 1.0
DOWNLOAD_TIMEOUT = httpx.Timeout(30.0)  # per connect / read of a chunk, not for the whole file


def _arg_text(lang: str, error: ArgError) -> str:
    return t(lang, error.code, **error.params)


def _too_big(document: Document) -> bool:
    return (document.file_size or 0) > uploads_service.MAX_DOWNLOAD_BYTES


async def _refused_as_too_big(
    message: Message, document: Document, file_name: str, lang: str
) -> bool:
    """Refuse (with the reason) a file Telegram will not let the bot download."""
    if not _too_big(document):
        return False
    size = f"{(document.file_size or 0) / 1024 / 1024:.1f}"
    await message.reply_text(t(lang, "upload_too_big", file=file_name, size=size))
    return True


class _TooBig(Exception):
    """The download turned out larger than Telegram lets bots download."""


def _copy(source: str, target: Path) -> int:
    shutil.copyfile(source, target)
    return target.stat().st_size


def _fetch(url: str, target: Path) -> None:
    """GET ``url`` into the file ``target``, a chunk at a time (blocking: run in a thread).

    Blocking reads let TCP hold the sender back while the file is written; an asyncio client
    reads on as fast as the network delivers, and a fast sender would pile the file up in
    memory."""
    size = 0
    # A plain http:// URL (a local Bot API server) has no certificates to load.
    with (
        httpx.Client(timeout=DOWNLOAD_TIMEOUT, verify=url.startswith("https://")) as client,
        client.stream("GET", url) as response,
    ):
        response.raise_for_status()
        with target.open("wb") as out:
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > uploads_service.MAX_DOWNLOAD_BYTES:
                    raise _TooBig
                out.write(chunk)


async def _download(tg_file: File, target: Path) -> None:
    """Save a file from Telegram to ``target`` a chunk at a time: never whole in memory."""
    source = tg_file.file_path or ""
    if not source.startswith(("https://", "http://")):  # a local Bot API server's own path
        if not source:
            raise OSError("Telegram gave no file path")
        if await asyncio.to_thread(_copy, source, target) > uploads_service.MAX_DOWNLOAD_BYTES:
            raise _TooBig
        return
    parts = urlsplit(source)
    url = urlunsplit(parts._replace(path=quote(parts.path)))  # as PTB's File does
    await asyncio.to_thread(_fetch, url, target)


async def _run_import(
    context: Ctx,
    status: Message,
    lang: str,
    admin_id: int,
    request: UploadRequest,
    file_id: str,
    file_name: str,
) -> None:
    """Download to a temporary file, import and report, editing one status message."""
    with tempfile.TemporaryDirectory(prefix="labelgram-upload-") as folder:
        path = Path(folder) / "upload"
        try:
            tg_file = await context.bot.get_file(file_id)
            await _download(tg_file, path)
        except TelegramError as exc:
            # The update need not say how big the file is; getFile then refuses one over 20 MB.
            if isinstance(exc, BadRequest) and "too big" in exc.message.lower():
                await status.edit_text(t(lang, "upload_too_big_unknown", file=file_name))
                return
            log.warning("download of %s failed", file_name, exc_info=True)
            await status.edit_text(t(lang, "upload_download_failed", file=file_name))
            return
        except _TooBig:
            await status.edit_text(t(lang, "upload_too_big_unknown", file=file_name))
            return
        except (httpx.HTTPError, OSError) as exc:
            # Only the kind of error: its text would hold the URL, and the URL the token.
            log.warning("download of %s failed: %s", file_name, type(exc).__name__)
            await status.edit_text(t(lang, "upload_download_failed", file=file_name))
            return
        await _import_saved(context, status, lang, admin_id, request, path, file_name)


async def _import_saved(
    context: Ctx,
    status: Message,
    lang: str,
    admin_id: int,
    request: UploadRequest,
    path: Path,
    file_name: str,
) -> None:
    """Import a downloaded file and report, editing the status message."""
    cfg = context.bot_data.cfg
    last = 0.0
    edits: list[asyncio.Future] = []

    def progress(done: int, total: int) -> None:
        nonlocal last
        if total < PROGRESS_MIN_ROWS or time.monotonic() - last < PROGRESS_EVERY_SECONDS:
            return
        last = time.monotonic()
        text = t(lang, "upload_progress", file=file_name, done=done, total=total)
        edits.append(_background(context, status.edit_text(text)))

    async def upload_image(name: str, blob: bytes) -> str:
        """Send one zipped image to the admin's own chat, keep its file_id, delete it."""
        try:
            sent = await context.bot.send_photo(
                status.chat.id, blob, filename=name, disable_notification=True
            )
        except TelegramError as exc:
            log.info("image %s refused: %s", name, exc)
            raise uploads_service.ImageUploadError(name) from exc
        if not sent.photo:
            raise uploads_service.ImageUploadError(name)
        with contextlib.suppress(TelegramError):
            await sent.delete()
        return sent.photo[-1].file_id

    outcome = await uploads_service.import_file(
        context.bot_data.database,
        admin_id=admin_id,
        request=request,
        file_name=file_name,
        path=path,
        now=now(),
        defaults=cfg.labeling,
        minor_units=cfg.currency.minor_units,
        progress=progress,
        upload_image=upload_image,
    )
    if edits:
        # A progress edit still on its way would otherwise land after the report and hide it.
        await asyncio.wait(edits)
    await status.edit_text(_import_report(outcome, lang, file_name, context))
    if isinstance(outcome, ImportDone) and outcome.added:
        await alert_new_work(context, outcome.project.id)


def _background(context: Ctx, coro: Coroutine[Any, Any, object]) -> asyncio.Future:
    """Run a best-effort edit without waiting for it; failures are only logged."""
    task = asyncio.ensure_future(coro)
    context.bot_data.background.add(task)

    def done(fut: asyncio.Future) -> None:
        context.bot_data.background.discard(fut)
        if not fut.cancelled() and fut.exception() is not None:
            log.debug("progress edit failed: %s", fut.exception())

    task.add_done_callback(done)
    return task


def _import_report(
    outcome: ImportDone | ImportRejected | ArgError | SameFile,
    lang: str,
    file_name: str,
    context: Ctx,
) -> str:
    cfg = context.bot_data.cfg
    if isinstance(outcome, ArgError):
        return _arg_text(lang, outcome)
    if isinstance(outcome, SameFile):
        return t(lang, "upload_same_file", project=outcome.project)
    if isinstance(outcome, ImportRejected):
        return render.problems_text(outcome.problems, outcome.unit, file_name, lang)
    p = outcome.project
    lines = [t(lang, "upload_done", project=p.name, added=outcome.added, skipped=outcome.skipped)]
    if outcome.created:
        lines.append(
            t(
                lang,
                "upload_project_created",
                project=p.name,
                type=t(lang, "type_" + p.type),
                options=" / ".join(p.options),
                price=format_amount(p.price, cfg.currency),
                overlap=p.overlap,
                lease=p.lease_seconds // 60,
            )
        )
    elif outcome.changed:
        lines.append(t(lang, "upload_settings_changed", keys=", ".join(outcome.changed)))
    if outcome.dropped_predictions:
        lines.append(t(lang, "upload_predictions_dropped", count=outcome.dropped_predictions))
    return "\n".join(lines)


async def on_upload_file(update: Update, context: Ctx) -> None:
    """A file with the caption /upload <project> [key=value …]: import it."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None or message.document is None:
        return
    lang = await lang_of(update, context)
    document = message.document
    file_name = document.file_name or "upload"
    request = uploads_service.parse_caption(message.caption or "")
    if isinstance(request, ArgError):
        await message.reply_text(_arg_text(lang, request) + "\n\n" + t(lang, "upload_usage"))
        return
    if await _refused_as_too_big(message, document, file_name, lang):
        return
    status = await message.reply_text(t(lang, "upload_started", file=file_name))
    await _run_import(context, status, lang, user.id, request, document.file_id, file_name)


async def on_bare_file(update: Update, context: Ctx) -> None:
    """A file without an /upload caption: ask which project it is for."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None or message.document is None:
        return
    lang = await lang_of(update, context)
    document = message.document
    file_name = document.file_name or "upload"
    if await _refused_as_too_big(message, document, file_name, lang):
        return
    db = context.bot_data.database
    pending_id = await uploads_service.hold_file(
        db, user.id, document.file_id, file_name, document.file_size, now()
    )
    projects = await projects_service.all_progress(db)
    shown = projects[-PICK_PROJECT_BUTTONS:]
    rows = [
        [
            InlineKeyboardButton(
                p.project.name,
                callback_data=callbacks.PickProject(pending_id, p.project.id).pack(),
            )
        ]
        for p in shown
    ]
    rows.append(
        [
            InlineKeyboardButton(
                t(lang, "btn_cancel"), callback_data=callbacks.PickProject(pending_id, 0).pack()
            )
        ]
    )
    parts = [t(lang, "upload_which_project", file=file_name)]
    if len(projects) > len(shown):
        parts.append(t(lang, "upload_older_projects", hidden=len(projects) - len(shown)))
    parts.append(t(lang, "upload_new_project_hint"))
    text = "\n\n".join(parts)
    await message.reply_text(text, reply_markup=InlineKeyboardMarkup(rows))


async def on_pick_project(update: Update, context: Ctx) -> None:
    """The project button under a waiting file: import it there (or cancel)."""
    query = update.callback_query
    if query is None:
        return
    lang = await lang_of(update, context)
    data = callbacks.parse(query.data)
    if not isinstance(data, callbacks.PickProject) or not isinstance(query.message, Message):
        await query.answer(t(lang, "bad_button"), show_alert=True)
        return
    await query.answer()
    db = context.bot_data.database
    pending = await uploads_service.take_file(db, data.pending_id, query.from_user.id)
    if pending is None:
        await query.edit_message_text(t(lang, "upload_gone"))
        return
    if data.project_id == 0:
        await query.edit_message_text(t(lang, "upload_cancelled"))
        return
    name = await projects_service.name_of(db, data.project_id)
    if name is None:
        await query.edit_message_text(t(lang, "upload_gone"))
        return
    await query.edit_message_text(t(lang, "upload_started", file=pending.file_name))
    await _run_import(
        context,
        query.message,
        lang,
        query.from_user.id,
        UploadRequest(project=name, settings={}),
        pending.file_id,
        pending.file_name,
    )


async def on_upload_not_a_file(update: Update, context: Ctx) -> None:
    """/upload as the caption of a photo (or video …): only documents hold task files."""
    if update.effective_message is not None:
        lang = await lang_of(update, context)
        await update.effective_message.reply_text(t(lang, "upload_not_a_file"))


async def on_upload_text(update: Update, context: Ctx) -> None:
    """/upload typed without a file: explain how to send one."""
    if update.effective_message is not None:
        lang = await lang_of(update, context)
        await update.effective_message.reply_text(t(lang, "upload_usage"))


async def on_guide(update: Update, context: Ctx) -> None:
    """/guide <project> [instructions…] as text, or as the caption of an example photo."""
    message = update.effective_message
    if message is None:
        return
    lang = await lang_of(update, context)
    words = (message.text or message.caption or "").split(maxsplit=2)
    if len(words) < 2:
        await message.reply_text(t(lang, "usage_guide"))
        return
    text = words[2].strip() if len(words) > 2 else None
    photo = message.photo[-1].file_id if message.photo else None
    if text is None and photo is None:
        await message.reply_text(t(lang, "usage_guide"))
        return
    project = await projects_service.set_guide(
        context.bot_data.database, words[1], instructions=text, example_file_id=photo
    )
    if project is None:
        await message.reply_text(t(lang, "unknown_project", name=words[1][:40]))
        return
    await message.reply_text(t(lang, "guide_set", project=project.name))


async def on_projects(update: Update, context: Ctx) -> None:
    """/projects: every project with its progress."""
    message = update.effective_message
    if message is None:
        return
    lang = await lang_of(update, context)
    progress = await projects_service.all_progress(context.bot_data.database)
    if not progress:
        await message.reply_text(t(lang, "projects_empty"))
        return
    icons = {"active": "▶️", "paused": "⏸", "closed": "⏹"}
    lines = [t(lang, "projects_title")]
    for p in progress:
        _, pct = render.progress_bar(p.answers_done, p.answers_needed)
        lines.append(
            t(
                lang,
                "projects_line",
                icon=icons[p.project.status],
                name=p.project.name,
                done=p.answers_done,
                needed=p.answers_needed,
                pct=pct,
                tasks=p.tasks,
            )
        )
    await message.reply_text("\n".join(lines)[: render.MAX_MESSAGE])


def _project_arg(update: Update, context: Ctx) -> str | None:
    return context.args[0] if context.args else None


async def _need_project(update: Update, context: Ctx, command: str) -> tuple[str, str] | None:
    """(project name, language), or None after telling the admin the usage."""
    message = update.effective_message
    lang = await lang_of(update, context)
    name = _project_arg(update, context)
    if name is None:
        if message is not None:
            await message.reply_text(t(lang, "usage_project", command=command))
        return None
    return name, lang


def _day_start(tz_name: str, moment: datetime) -> datetime:
    tz = ZoneInfo(tz_name)
    local = moment.astimezone(tz)
    return datetime.combine(local.date(), dtime(0), tzinfo=tz)


async def on_stats(update: Update, context: Ctx) -> None:
    """/stats <project>: progress bar, active students today, answers per option."""
    message = update.effective_message
    got = await _need_project(update, context, "stats")
    if got is None or message is None:
        return
    name, lang = got
    cfg = context.bot_data.cfg
    stats = await projects_service.stats(
        context.bot_data.database, name, _day_start(cfg.default_timezone, now())
    )
    if stats is None:
        await message.reply_text(t(lang, "unknown_project", name=name))
        return
    p = stats.progress
    bar, pct = render.progress_bar(p.answers_done, p.answers_needed)
    lines = [
        t(
            lang,
            "stats",
            name=p.project.name,
            status=t(lang, "status_" + p.project.status),
            bar=bar,
            pct=pct,
            done=p.answers_done,
            needed=p.answers_needed,
            tasks=p.tasks,
            in_flight=p.in_flight,
            active=stats.active_today,
            price=format_amount(p.project.price, cfg.currency),
            overlap=p.project.overlap,
        ),
        "",
    ]
    if stats.per_option:
        lines.append(t(lang, "stats_options_title"))
        lines += [t(lang, "stats_option_line", value=v, count=n) for v, n in stats.per_option]
    else:
        lines.append(t(lang, "stats_no_answers"))
    if stats.first_shown_wins is not None and stats.first_shown_wins[1]:
        first, decisive = stats.first_shown_wins
        lines += [
            "",
            t(
                lang,
                "stats_position",
                first=first,
                decisive=decisive,
                pct=round(100 * first / decisive),
            ),
        ]
    # Agreement and Dawid-Skene go through every answer: in the worker process.
    db = context.bot_data.database
    report = await context.bot_data.offload.run(exports.quality_report, str(db.path), p.project)
    agreement = report.agreement
    alpha = "–" if agreement.alpha is None else f"{agreement.alpha:.2f}"
    lines += [
        "",
        t(lang, "stats_quality", alpha=alpha, level=agreement.level, controls=p.controls),
    ]
    if report.dawid_skene is not None and not report.dawid_skene.converged:
        lines.append(t(lang, "ds_not_converged", rounds=report.dawid_skene.rounds))
    await message.reply_text("\n".join(lines)[: render.MAX_MESSAGE])


def _pause_handler(paused: bool) -> Callable:
    command = "pause" if paused else "resume"

    async def handler(update: Update, context: Ctx) -> None:
        message = update.effective_message
        got = await _need_project(update, context, command)
        if got is None or message is None:
            return
        name, lang = got
        project, changed = await projects_service.set_paused(
            context.bot_data.database, name, paused, now()
        )
        if project is None:
            key = "unknown_project"
        elif changed:
            key = "paused_ok" if paused else "resumed_ok"
        else:
            key = "already_paused" if paused else "already_active"
        await message.reply_text(t(lang, key, name=project.name if project else name))
        if project is not None and changed and not paused:
            await alert_new_work(context, project.id)

    handler.__doc__ = f"/{command} <project>."
    return handler


async def on_export(update: Update, context: Ctx) -> None:
    """/export <project>: one row per answer, as CSV and as JSONL, and the aggregated labels.

    The files are built in the worker process (bot.offload) while a progress message says
    so; the loop goes on answering everyone else meanwhile."""
    message = update.effective_message
    got = await _need_project(update, context, "export")
    if got is None or message is None:
        return
    name, lang = got
    args = context.args or []
    option = args[1].lower() if len(args) > 1 else ""
    if option in ("labelstudio", "ls"):
        await _export_label_studio(update, context, name, lang)
        return
    identified = option == "identified"
    user = update.effective_user
    if identified and (user is None or not is_owner(context, user.id)):
        await message.reply_text(t(lang, "export_identified_owners_only"))
        return
    data = context.bot_data
    job = await exports.prepare_export(data.database, name, identified=identified)
    if job is None:
        await message.reply_text(t(lang, "unknown_project", name=name))
        return
    if isinstance(job, exports.NothingToExport):
        await message.reply_text(t(lang, "export_empty", name=job.project.name))
        return
    project = job.project.name
    status = await message.reply_text(t(lang, "export_working", name=project))
    try:
        files = await data.offload.run(exports.export_files, job)
    except Exception:
        log.exception("export of %s failed", project)
        await status.edit_text(t(lang, "export_failed", name=project))
        return
    export, agg = files.answers, files.aggregated
    stem = f"{project}-answers"
    for blob, ext in ((export.csv, "csv"), (export.jsonl, "jsonl")):
        await message.reply_document(
            document=io.BytesIO(blob),
            filename=f"{stem}.{ext}",
            caption=t(
                lang, "export_caption", name=project, rows=export.rows, file_format=ext.upper()
            ),
        )
    sent = 2
    if agg is not None and agg.rows:
        await message.reply_document(
            document=io.BytesIO(agg.csv),
            filename=f"{project}-aggregated.csv",
            caption=_aggregated_caption(lang, agg),
        )
        sent += 1
    await status.edit_text(t(lang, "export_done", name=project, files=sent))


def _aggregated_caption(lang: str, agg: quality.Aggregated) -> str:
    """What the aggregated file holds, its alpha, and whether Dawid-Skene converged."""
    kind = agg.project.type
    key = (
        f"export_aggregated_caption_{kind}"
        if kind in ("multilabel", "correction")
        else "export_aggregated_caption"
    )
    alpha = "–" if agg.agreement.alpha is None else f"{agg.agreement.alpha:.2f}"
    caption = t(
        lang, key, name=agg.project.name, rows=agg.rows, alpha=alpha, level=agg.agreement.level
    )
    if agg.dawid_skene is not None and not agg.dawid_skene.converged:
        caption += "\n" + t(lang, "ds_not_converged", rounds=agg.dawid_skene.rounds)
    return caption


async def _export_label_studio(update: Update, context: Ctx, name: str, lang: str) -> None:
    """/export <project> labelstudio: tasks and answers in Label Studio's JSON format."""
    message = update.effective_message
    assert message is not None
    found = await labelstudio.export(context.bot_data.database, name)
    if found is None:
        await message.reply_text(t(lang, "unknown_project", name=name))
        return
    project, data, count = found
    await message.reply_document(
        document=io.BytesIO(data),
        filename=f"{project.name}-labelstudio.json",
        caption=t(lang, "export_ls_caption", name=project.name, tasks=count),
    )


def register(app: Application) -> None:
    upload_caption = filters.CaptionRegex(re.compile(r"^/upload(?![A-Za-z0-9_])", re.I))
    # Any file from anyone but an admin is refused here: students never send files.
    app.add_handler(message_for(ADMINS, filters.Document.ALL & upload_caption, on_upload_file))
    app.add_handler(message_for(ADMINS, filters.Document.ALL, on_bare_file))
    app.add_handler(message_for(ADMINS, upload_caption, on_upload_not_a_file))
    app.add_handler(button_for(ADMINS, on_pick_project, pattern=r"^u:"))
    app.add_handler(command_for(ADMINS, "upload", on_upload_text))
    app.add_handler(command_for(ADMINS, "guide", on_guide))
    guide_caption = filters.CaptionRegex(re.compile(r"^/guide(?![A-Za-z0-9_])", re.I))
    app.add_handler(message_for(ADMINS, filters.PHOTO & guide_caption, on_guide))
    app.add_handler(command_for(ADMINS, "projects", on_projects))
    app.add_handler(command_for(REVIEWERS, "stats", on_stats))
    app.add_handler(command_for(ADMINS, "pause", _pause_handler(paused=True)))
    app.add_handler(command_for(ADMINS, "resume", _pause_handler(paused=False)))
    app.add_handler(command_for(ADMINS, "export", on_export))
