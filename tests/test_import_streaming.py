"""The streaming import (bot.services.uploads.import_file on a file saved to disk): all or
nothing however far into the file the problem is, ids checked by the database, texts stored
exactly, progress from the database's thread, and the download's own size limit."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config, Labeling
from bot.importing import RowError, parse_tasks
from bot.services import uploads
from db.connection import Database
from db.uploads import SeenIds
from tests.conftest import ADMIN_ID
from tests.e2e import Harness, running_bot

LABELS = Labeling()


def request(caption: str = "/upload big options=pos,neg") -> uploads.UploadRequest:
    parsed = uploads.parse_caption(caption)
    assert isinstance(parsed, uploads.UploadRequest)
    return parsed


def rows_csv(count: int, *, start: int = 0, last: str | None = None) -> bytes:
    """id,text rows t<start>… (the last line replaced by ``last`` if given)."""
    lines = ["id,text", *(f"t{i},Review number {i}" for i in range(start, start + count))]
    if last is not None:
        lines[-1] = last
    return ("\n".join(lines) + "\n").encode()


async def run_import(
    db: Database,
    t0: datetime,
    path: Path,
    *,
    name: str = "tasks.csv",
    caption: str = "/upload big options=pos,neg",
    progress: Callable[[int, int], None] | None = None,
) -> Any:
    return await uploads.import_file(
        db,
        admin_id=ADMIN_ID,
        request=request(caption),
        file_name=name,
        path=path,
        now=t0,
        defaults=LABELS,
        minor_units=2,
        progress=progress,
    )


async def counts(db: Database) -> tuple[int, int, int]:
    row = await db.fetchone(
        "SELECT (SELECT COUNT(*) FROM projects), (SELECT COUNT(*) FROM"
        " tasks), (SELECT COUNT(*) FROM uploads)"
    )
    assert row is not None
    return row[0], row[1], row[2]


class WriteCounter:
    """Counts the write transactions an import starts through Database.run."""

    def __init__(self, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        run = db.run

        async def counted(body: Any, *args: Any) -> Any:
            self.calls += 1
            return await run(body, *args)

        monkeypatch.setattr(db, "run", counted)


async def test_an_error_on_the_last_line_imports_nothing_and_takes_no_write_lock(
    db: Database, t0: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tasks.csv"
    path.write_bytes(rows_csv(12_000, last="t-last,"))  # line 12,001 has no text
    writes = WriteCounter(db, monkeypatch)
    outcome = await run_import(db, t0, path)
    assert outcome == uploads.ImportRejected(
        (RowError(12_001, "empty_value", {"column": "text"}),), "line"
    )
    assert await counts(db) == (0, 0, 0)
    assert writes.calls == 0  # checked before the transaction: taps never waited for it


async def test_a_gold_answer_that_is_not_an_option_on_the_last_line(
    db: Database, t0: datetime, tmp_path: Path
) -> None:
    path = tmp_path / "tasks.csv"
    body = "".join(f"g{i},Text {i},{'pos' if i % 2 else 'neg'}\n" for i in range(7_000))
    path.write_text("id,text,gold\n" + body + "g-last,Last,maybe\n", encoding="utf-8")
    outcome = await run_import(db, t0, path)
    assert outcome == uploads.ImportRejected(
        (RowError(7_002, "gold_not_option", {"value": "maybe", "options": "pos, neg"}),), "line"
    )
    assert await counts(db) == (0, 0, 0)


async def test_an_id_repeated_far_apart_rolls_everything_back_and_names_both_lines(
    db: Database, t0: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tasks.csv"
    path.write_bytes(rows_csv(11_000, last="t1,the second t1"))
    writes = WriteCounter(db, monkeypatch)
    outcome = await run_import(db, t0, path)
    assert outcome == uploads.ImportRejected(
        (RowError(11_001, "duplicate_id", {"id": "t1", "first_line": "3"}),), "line"
    )
    assert writes.calls == 1  # found by the database's unique index, then rolled back
    assert await counts(db) == (0, 0, 0)


async def test_ids_repeated_within_one_batch_and_across_batches(
    db: Database, t0: datetime, tmp_path: Path
) -> None:
    lines = ["id,text", *(f"k{i},Text {i}" for i in range(2_500))]
    lines[5] = "k0,again"  # line 6, same batch as line 2
    lines[2_400] = "k1500,again"  # line 2,401, a batch after line 1,502
    path = tmp_path / "tasks.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    outcome = await run_import(db, t0, path)
    assert isinstance(outcome, uploads.ImportRejected)
    assert outcome.problems == (
        RowError(6, "duplicate_id", {"id": "k0", "first_line": "2"}),
        RowError(2_401, "duplicate_id", {"id": "k1500", "first_line": "1502"}),
    )
    assert await counts(db) == (0, 0, 0)


async def test_ids_the_project_has_are_skipped_once_but_refused_twice(
    db: Database, t0: datetime, tmp_path: Path
) -> None:
    first = tmp_path / "first.csv"
    first.write_bytes(rows_csv(3_000))
    done = await run_import(db, t0, first)
    assert isinstance(done, uploads.ImportDone) and (done.added, done.skipped) == (3_000, 0)

    # t2000…t4999: 1,000 ids the project has, 2,000 new ones.
    second = tmp_path / "second.csv"
    second.write_bytes(rows_csv(3_000, start=2_000))
    done = await run_import(db, t0, second, caption="/upload big")
    assert isinstance(done, uploads.ImportDone) and (done.added, done.skipped) == (2_000, 1_000)
    assert await counts(db) == (1, 5_000, 2)
    ids = [r[0] for r in await db.fetchall("SELECT external_id FROM tasks ORDER BY id")]
    assert ids == [f"t{i}" for i in range(5_000)]

    # An id the project has, twice in a file: still a duplicate in that file.
    third = tmp_path / "third.csv"
    third.write_bytes(rows_csv(1_500, start=4_000, last="t10,old id twice"))
    third.write_bytes(third.read_bytes() + b"t10,and again\n")
    outcome = await run_import(db, t0, third, caption="/upload big")
    assert isinstance(outcome, uploads.ImportRejected)
    assert outcome.problems == (
        RowError(1_502, "duplicate_id", {"id": "t10", "first_line": "1501"}),
    )
    assert await counts(db) == (1, 5_000, 2)


async def test_the_same_file_twice_is_refused(db: Database, t0: datetime, tmp_path: Path) -> None:
    path = tmp_path / "tasks.csv"
    path.write_bytes(rows_csv(10))
    assert isinstance(await run_import(db, t0, path), uploads.ImportDone)
    assert await run_import(db, t0, path) == uploads.SameFile("big")
    assert await counts(db) == (1, 10, 1)


NASTY_TEXTS = [
    'He said "hi", then left',
    "back\\slash \\n not a newline \\u0041",
    "two\nlines\r\nand a\ttab",
    "control \x01\x02\x1f\x7f characters",
    "\u2028line separator\u2029 and \ufeff inside",
    "emoji 😀 and 中文 and ü",
    '{"looks": ["like", "json"]}',
    "null",
    "[1, 2]",
    "x" * 100_000,
]


async def test_texts_and_payloads_are_stored_exactly(
    db: Database, t0: datetime, tmp_path: Path
) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "text", "note", "explanation"])
    for i, text in enumerate(NASTY_TEXTS):
        writer.writerow([f"n{i}", text, text[::-1][:50], f"because {i}" if i % 2 else ""])
    data = out.getvalue().encode()
    path = tmp_path / "nasty.csv"
    path.write_bytes(data)
    done = await run_import(db, t0, path, name="nasty.csv")
    assert isinstance(done, uploads.ImportDone) and done.added == len(NASTY_TEXTS)
    expected = parse_tasks(data, "nasty.csv").rows
    stored = await db.fetchall(
        "SELECT external_id, text, payload, gold, explanation FROM tasks ORDER BY id"
    )
    assert [(r[0], r[1], json.loads(r[2]), r[3], r[4]) for r in stored] == [
        (
            row.external_id,
            row.text,
            {k: v for k, v in row.payload.items() if k != "explanation"},
            row.gold,
            row.payload["explanation"] or None,
        )
        for row in expected
    ]


async def test_a_file_on_disk_and_the_same_bytes_import_alike(
    tmp_path: Path, t0: datetime
) -> None:
    data = (
        "\ufeffid,text\n".encode() + "".join(f"c{i},第{i}条评论\n" for i in range(6_001)).encode()
    )
    results = []
    for how in ("path", "data"):
        db = await Database.open(tmp_path / f"{how}.db")
        try:
            source: dict[str, Any] = (
                {"path": tmp_path / "t.csv"} if how == "path" else {"data": data}
            )
            (tmp_path / "t.csv").write_bytes(data)
            done = await uploads.import_file(
                db,
                admin_id=ADMIN_ID,
                request=request(),
                file_name="t.csv",
                now=t0,
                defaults=LABELS,
                minor_units=2,
                **source,
            )
            assert isinstance(done, uploads.ImportDone) and done.added == 6_001
            results.append(await db.fetchall("SELECT external_id, text, payload FROM tasks"))
        finally:
            await db.close()
    assert [tuple(r) for r in results[0]] == [tuple(r) for r in results[1]]
    assert tuple(results[0][-1]) == ("c6000", "第6000条评论", "{}")


async def test_gbk_file_on_disk(db: Database, t0: datetime, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(
        b"id,text\n" + "".join(f"g{i},这部电影很无聊 {i}\n" for i in range(3_000)).encode("gbk")
    )
    done = await run_import(db, t0, path, name="excel.csv")
    assert isinstance(done, uploads.ImportDone) and done.added == 3_000
    assert tuple(
        await db.fetchone("SELECT text FROM tasks WHERE external_id = 'g2999'") or ()
    ) == ("这部电影很无聊 2999",)


async def test_progress_is_reported_in_the_event_loop_up_to_every_row(
    db: Database, t0: datetime, tmp_path: Path
) -> None:
    path = tmp_path / "tasks.csv"
    path.write_bytes(rows_csv(12_345))
    calls: list[tuple[int, int, bool]] = []

    def progress(done: int, total: int) -> None:
        calls.append((done, total, threading.current_thread() is threading.main_thread()))

    done = await run_import(db, t0, path, progress=progress)
    assert isinstance(done, uploads.ImportDone)
    assert calls == [(5_000, 12_345, True), (10_000, 12_345, True), (12_345, 12_345, True)]


def test_seen_ids_report_each_repeat_with_its_first_line(tmp_path: Path) -> None:
    with SeenIds(tmp_path) as seen:
        assert seen.add([("a", 2), ("b", 3), ("a", 4)]) == [(4, "a", 2)]
        assert seen.add([]) == []
        assert seen.add([("c", 5), ("b", 9), ("c", 10), ("é😀", 11)]) == [
            (9, "b", 3),
            (10, "c", 5),
        ]
        assert seen.add([("é😀", 12)]) == [(12, "é😀", 11)]
        assert list(tmp_path.iterdir())  # its scratch file is on disk, not in memory
    assert list(tmp_path.iterdir()) == []  # and removed when done


# --------------------------------------------------------------------------------------------
# The download


@pytest.fixture
async def h(cfg: Config) -> AsyncIterator[Harness]:
    async with running_bot(cfg) as harness:
        yield harness


async def test_a_download_larger_than_the_limit_is_stopped_and_refused(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
    data = rows_csv(2_000)
    # The update does not say how big the file is (Telegram may leave it out), and the file
    # turns out bigger than the limit while it streams in.
    monkeypatch.setattr(uploads, "MAX_DOWNLOAD_BYTES", len(data) // 2)
    sent = await h.server.send_document(admin, "big.csv", data, caption="/upload big options=a,b")
    message = sent.to_dict()
    del message["document"]["file_size"]
    h.server.enqueue_raw({"message": message})
    status = await h.server.wait_for_message(
        admin, lambda m: m.edit_count > 0 and not m.content.startswith("⏳") and m, after=sent
    )
    assert status.content == (
        "big.csv is larger than 20 MB, but Telegram lets bots download "
        "files of at most 20 MB. Please split it into smaller files. "
        "Nothing was imported."
    ), status.content
    assert await h.scalar("SELECT COUNT(*) FROM tasks") == 0
    assert await h.scalar("SELECT COUNT(*) FROM projects") == 0
