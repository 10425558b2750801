"""The labeling loop's rules, tested on the services and a real SQLite file."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Labeling
from bot.services import labeling, projects, uploads
from bot.services.labeling import Refusal, Refused, Saved
from db.connection import Database

LABELS = Labeling(lease_minutes=10, overlap=1, sweep_seconds=30)


async def seed(
    db: Database, t0: datetime, n: int = 3, caption: str = "/upload demo options=pos,neg"
) -> None:
    rows = "\n".join(f"t{i},text number {i}" for i in range(1, n + 1))
    request = uploads.parse_caption(caption)
    assert isinstance(request, uploads.UploadRequest)
    done = await uploads.import_file(
        db,
        admin_id=1,
        request=request,
        file_name="tasks.csv",
        data=f"id,text\n{rows}\n".encode(),
        now=t0,
        defaults=LABELS,
        minor_units=2,
    )
    assert isinstance(done, uploads.ImportDone), done


async def student(db: Database, user_id: int, t0: datetime) -> None:
    await labeling.register(
        db,
        user_id=user_id,
        first_name=f"s{user_id}",
        username=None,
        language="en",
        timezone="UTC",
        now=t0,
    )


async def count(db: Database, sql: str) -> int:
    row = await db.fetchone(sql)
    assert row is not None
    return row[0]


async def test_overlap_two_students_each_see_every_task_once(db: Database, t0: datetime) -> None:
    await seed(db, t0, n=4, caption="/upload demo options=pos,neg overlap=2 price=0.05")
    await student(db, 1, t0)
    await student(db, 2, t0)
    seen: dict[int, list[str]] = {1: [], 2: []}
    cards = {w: await labeling.next_task(db, w, t0) for w in (1, 2)}
    now = t0
    while any(cards.values()):
        for w, card in list(cards.items()):
            if card is None:
                continue
            seen[w].append(card.text)
            now += timedelta(seconds=3)
            out = await labeling.answer(
                db,
                worker_id=w,
                assignment_id=card.assignment_id,
                option=0,
                chat_id=w,
                message_id=10,
                now=now,
            )
            assert isinstance(out, Saved)
            assert out.price == 5
            cards[w] = out.next
    for w in (1, 2):
        assert sorted(seen[w]) == [f"text number {i}" for i in range(1, 5)]
    assert await count(db, "SELECT COUNT(*) FROM answers") == 8
    assert await count(db, "SELECT COUNT(*) FROM tasks WHERE status = 'done' AND answers = 2") == 4
    assert await count(db, "SELECT SUM(amount) FROM ledger WHERE kind = 'earning'") == 40


async def test_double_tap_records_once(db: Database, t0: datetime) -> None:
    await seed(db, t0)
    await student(db, 1, t0)
    card = await labeling.next_task(db, 1, t0)
    assert card is not None
    first = await labeling.answer(
        db,
        worker_id=1,
        assignment_id=card.assignment_id,
        option=1,
        chat_id=1,
        message_id=5,
        now=t0 + timedelta(seconds=4),
    )
    second = await labeling.answer(
        db,
        worker_id=1,
        assignment_id=card.assignment_id,
        option=0,
        chat_id=1,
        message_id=5,
        now=t0 + timedelta(seconds=4),
    )
    assert isinstance(first, Saved) and first.value == "neg"
    assert second == Refused(Refusal.ANSWERED)
    row = await db.fetchone("SELECT COUNT(*), MIN(value), MIN(seconds) FROM answers")
    assert tuple(row) == (1, "neg", 4.0)


async def test_other_students_assignment_is_refused(db: Database, t0: datetime) -> None:
    await seed(db, t0)
    await student(db, 1, t0)
    await student(db, 2, t0)
    card = await labeling.next_task(db, 1, t0)
    assert card is not None
    out = await labeling.answer(
        db,
        worker_id=2,
        assignment_id=card.assignment_id,
        option=0,
        chat_id=2,
        message_id=1,
        now=t0,
    )
    assert out == Refused(Refusal.NOT_YOURS)
    bad = await labeling.answer(
        db,
        worker_id=1,
        assignment_id=card.assignment_id,
        option=7,
        chat_id=1,
        message_id=1,
        now=t0,
    )
    assert isinstance(bad, Refused) and bad.reason is Refusal.BAD_OPTION
    missing = await labeling.answer(
        db, worker_id=1, assignment_id=9999, option=0, chat_id=1, message_id=1, now=t0
    )
    assert missing == Refused(Refusal.NOT_FOUND)
    assert await count(db, "SELECT COUNT(*) FROM answers") == 0


async def test_expired_lease_is_refused_released_and_reissued(db: Database, t0: datetime) -> None:
    await seed(db, t0, n=1)
    await student(db, 1, t0)
    await student(db, 2, t0)
    card = await labeling.next_task(db, 1, t0)
    assert card is not None
    assert await labeling.next_task(db, 2, t0) is None  # the only task is held
    late = t0 + timedelta(minutes=10, seconds=1)
    out = await labeling.answer(
        db,
        worker_id=1,
        assignment_id=card.assignment_id,
        option=0,
        chat_id=1,
        message_id=1,
        now=late,
    )
    assert isinstance(out, Refused) and out.reason is Refusal.EXPIRED
    assert await labeling.release_expired(db, late) == 1
    other = await labeling.next_task(db, 2, late)
    assert other is not None and other.text == card.text
    assert await count(db, "SELECT COUNT(*) FROM answers") == 0


async def test_one_open_task_per_student_and_skip_is_final(db: Database, t0: datetime) -> None:
    await seed(db, t0, n=2)
    await student(db, 1, t0)
    first = await labeling.next_task(db, 1, t0)
    again = await labeling.next_task(db, 1, t0)
    assert first is not None and again is not None
    assert again.assignment_id == first.assignment_id
    out = await labeling.skip(
        db, worker_id=1, assignment_id=first.assignment_id, chat_id=1, message_id=1, now=t0
    )
    assert isinstance(out, Saved) and out.next is not None
    assert out.next.text != first.text
    last = await labeling.skip(
        db, worker_id=1, assignment_id=out.next.assignment_id, chat_id=1, message_id=1, now=t0
    )
    assert isinstance(last, Saved) and last.next is None
    assert await count(db, "SELECT COUNT(*) FROM tasks WHERE status = 'open'") == 2


async def test_pause_takes_tasks_back_and_refuses_old_buttons(db: Database, t0: datetime) -> None:
    await seed(db, t0)
    await student(db, 1, t0)
    card = await labeling.next_task(db, 1, t0)
    assert card is not None
    project, changed = await projects.set_paused(db, "demo", True, t0)
    assert project is not None and changed and project.status == "paused"
    out = await labeling.answer(
        db,
        worker_id=1,
        assignment_id=card.assignment_id,
        option=0,
        chat_id=1,
        message_id=1,
        now=t0,
    )
    assert isinstance(out, Refused) and out.reason is Refusal.PAUSED
    assert await labeling.next_task(db, 1, t0) is None
    assert await count(db, "SELECT SUM(in_flight) FROM tasks") == 0
    await projects.set_paused(db, "demo", False, t0)
    assert await labeling.next_task(db, 1, t0) is not None


async def test_price_is_locked_when_the_task_is_handed_out(db: Database, t0: datetime) -> None:
    await seed(db, t0, caption="/upload demo options=pos,neg price=0.05")
    await student(db, 1, t0)
    card = await labeling.next_task(db, 1, t0)
    assert card is not None and card.price == 5
    await seed(db, t0, n=4, caption="/upload demo price=0.10")  # one new task, higher price
    out = await labeling.answer(
        db,
        worker_id=1,
        assignment_id=card.assignment_id,
        option=0,
        chat_id=1,
        message_id=1,
        now=t0,
    )
    assert isinstance(out, Saved) and out.price == 5
    assert out.next is not None and out.next.price == 10


@pytest.mark.parametrize("size", [20_000])
async def test_next_task_query_uses_the_partial_index(
    db: Database, t0: datetime, size: int
) -> None:
    await seed(db, t0, n=size)
    await student(db, 1, t0)
    plan = await db.fetchall(
        "EXPLAIN QUERY PLAN " + labeling.tasks_repo.NEXT_OPEN_TASK_SQL, (1, 1)
    )
    details = [row["detail"] for row in plan]
    assert any("tasks_open" in d for d in details), details
    assert not any("TEMP B-TREE" in d for d in details), details
    assert not any(d.startswith("SCAN") and "INDEX" not in d for d in details), details


async def test_task_taken_back_by_a_pause_returns_to_its_holder(
    db: Database, t0: datetime
) -> None:
    await seed(db, t0, n=1)
    await student(db, 1, t0)
    card = await labeling.next_task(db, 1, t0)
    assert card is not None
    await projects.set_paused(db, "demo", True, t0)
    await projects.set_paused(db, "demo", False, t0)
    again = await labeling.next_task(db, 1, t0 + timedelta(minutes=1))
    assert again is not None
    assert again.text == card.text
    out = await labeling.answer(
        db,
        worker_id=1,
        assignment_id=again.assignment_id,
        option=0,
        chat_id=1,
        message_id=1,
        now=t0 + timedelta(minutes=2),
    )
    assert isinstance(out, Saved)
    assert await count(db, "SELECT COUNT(*) FROM answers") == 1
    assert await count(db, "SELECT seconds FROM answers") == 60  # timed from the re-issue


async def test_adaptive_overlap_asks_for_more_answers_only_where_they_disagree(
    db: Database, t0: datetime
) -> None:
    await seed(db, t0, n=2, caption="/upload demo options=pos,neg overlap=2 max_overlap=3")
    for w in (1, 2, 3):
        await student(db, w, t0)
    # Task 1: students 1 and 2 disagree; task 2: they agree.
    for w, choices in ((1, (0, 0)), (2, (1, 0))):
        card = await labeling.next_task(db, w, t0)
        for option in choices:
            assert card is not None
            out = await labeling.answer(
                db,
                worker_id=w,
                assignment_id=card.assignment_id,
                option=option,
                chat_id=w,
                message_id=1,
                now=t0,
            )
            assert isinstance(out, Saved)
            card = out.next
    rows = await db.fetchall("SELECT needed, answers, status FROM tasks ORDER BY id")
    assert [tuple(r) for r in rows] == [(3, 2, "open"), (2, 2, "done")]
    third = await labeling.next_task(db, 3, t0)
    assert third is not None
    assert third.text == "text number 1"  # the disputed task gets a third answer
    out = await labeling.answer(
        db,
        worker_id=3,
        assignment_id=third.assignment_id,
        option=1,
        chat_id=3,
        message_id=1,
        now=t0,
    )
    assert isinstance(out, Saved)
    assert out.next is None  # the cap is reached: no fourth answer
    rows = await db.fetchall("SELECT needed, answers, status FROM tasks ORDER BY id")
    assert [tuple(r) for r in rows] == [(3, 3, "done"), (2, 2, "done")]


async def test_plenty_of_tasks_is_remembered_briefly_and_per_database(
    db: Database, t0: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(db, t0, n=labeling.PLENTY + 1)
    project_id = await count(db, "SELECT id FROM projects")
    assert await db.run(labeling._has_plenty, project_id) is True
    async with db.transaction() as tx:  # the project runs short behind the memo's back
        await tx.execute("UPDATE tasks SET status = 'withdrawn' WHERE id > 10")
    assert await db.run(labeling._has_plenty, project_id) is True  # remembered
    later = labeling._monotonic() + labeling.PLENTY_RECHECK + 0.1
    monkeypatch.setattr(labeling, "_monotonic", lambda: later)
    assert await db.run(labeling._has_plenty, project_id) is False  # looked again
    # Another database with the same project id learns nothing from this one's memo.
    other = await Database.open(tmp_path / "other.db")
    try:
        await seed(other, t0, n=5)
        assert await other.run(labeling._has_plenty, project_id) is False
    finally:
        await other.close()
