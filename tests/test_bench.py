"""The benchmark works: `python -m bench.run --quick` runs a tiny version of every measurement
(taps, import, next task, fair share, broadcast) and each one's result is correct: every tap
recorded once, every imported row present once, the next task an open one the student never
held, every task answered exactly `overlap` times, every student given the broadcast exactly
once without a 429. Timings are not asserted (this machine may be busy)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench import broadcast, fair_share, harness, imports, next_task
from bench.stats import gini

ROOT = Path(__file__).resolve().parent.parent


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, dict[str, Any], bool]:
    """`bench.run --quick` once for the module: exit code, output, figures by measurement."""
    figures = tmp_path_factory.mktemp("bench") / "bench.json"
    # Its own process group, so the bots it starts can be killed whatever happens.
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bench.run", "--quick", "--json", str(figures)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output = proc.communicate(timeout=60)[0].decode(errors="replace")
        left_behind = _group_alive(proc.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    results = json.loads(figures.read_text())["results"] if figures.exists() else {}
    by_name = {key.split("/", 1)[0]: section for key, section in results.items()}
    return proc.returncode, output, by_name, left_behind


@pytest.mark.timeout(75)
def test_quick_benchmark_runs_every_measurement(quick: tuple[int, str, dict, bool]) -> None:
    code, output, sections, left_behind = quick
    assert code == 0, output
    assert not left_behind, "the benchmark left processes running"
    assert set(sections) == {"taps", "import", "next_task", "fair_share", "broadcast"}, output
    for heading in (
        "**Tap loop**",
        "**Import**",
        "**Next-task query**",
        "**Fair share**",
        "**Broadcast**",
    ):
        assert heading in output


@pytest.mark.timeout(75)
def test_quick_taps_measure_both_bots_and_record_every_tap_once(
    quick: tuple[int, str, dict, bool],
) -> None:
    _, output, sections, _ = quick
    section = sections["taps"]
    (run,) = section["runs"]
    assert set(run) == {"labelgram", "bare"}
    for name, result in run.items():
        assert result["errors"] == 0, (name, result["error_detail"], result["problems"], output)
        assert result["correct"], (name, result["problems"], output)
        assert result["taps_measured"] > 0, (name, output)
        assert result["p99_ms"] is not None, (name, output)
        assert result["taps_acked"] == result["taps_total"] > 0, (name, result)
    ours = run["labelgram"]
    assert ours["answers_in_db"] == ours["taps_acked"]  # every acknowledged tap, exactly once
    assert section["ratio"]["taps_per_s"] is not None
    assert "| Labelgram |" in output
    assert "ours / bare" in output


@pytest.mark.timeout(75)
def test_quick_import_measures_both_and_stores_every_row_once(
    quick: tuple[int, str, dict, bool],
) -> None:
    _, output, sections, _ = quick
    section = sections["import"]
    (run,) = section["runs"]
    assert run["correct"], (run["problems"], output)
    assert f"{section['options']['rows']} tasks added" in run["report"]
    assert run["raw_s"] > 0
    assert run["seconds"] > 0
    assert run["ratio"] is not None
    assert run["peak_rss_after_mb"] >= run["peak_rss_before_mb"] > 0


@pytest.mark.timeout(75)
def test_quick_next_task_measures_every_size_correctly(quick: tuple[int, str, dict, bool]) -> None:
    _, output, sections, _ = quick
    section = sections["next_task"]
    assert [s["tasks"] for s in section["sizes"]] == section["options"]["sizes"]
    for size in section["sizes"]:
        assert size["correct"], (size["problems"], output)
        assert size["query_p99_ms"] is not None
        assert size["issue_p99_ms"] is not None
        assert size["held_now"] == section["options"]["students"]
    assert section["ratio"]["query_p99_ms"] is not None


@pytest.mark.timeout(75)
def test_quick_fair_share_finishes_both_modes(quick: tuple[int, str, dict, bool]) -> None:
    _, output, sections, _ = quick
    section = sections["fair_share"]
    o = section["options"]
    assert set(section["modes"]) == {"fifo", "fair"}
    for mode, result in section["modes"].items():
        assert result["correct"], (mode, result["problems"], output)
        assert result["answers"] == o["tasks"] * o["overlap"]
        assert 0 < result["active"] <= o["students"]


@pytest.mark.timeout(75)
def test_quick_broadcast_reaches_every_student_once_under_the_flood_limits(
    quick: tuple[int, str, dict, bool],
) -> None:
    _, output, sections, _ = quick
    section = sections["broadcast"]
    o = section["options"]
    (run,) = section["runs"]
    assert run["errors"] == 0, (run["error_detail"], run["problems"], output)
    assert run["correct"], (run["problems"], output)
    assert run["exactly_once"]  # every student one message, nobody two, nobody else any
    assert run["delivered"] == o["students"] > 0
    assert run["outbox"]["sent"] == o["students"] == sum(run["outbox"].values())
    assert run["flood_429"] == run["http_429"] == 0
    assert 0 < run["max_in_any_second"] <= o["server_limit"]
    assert run["during"]["taps"] > 0  # students tapped while it went out
    assert run["during"]["p99_ms"] is not None
    assert run["baseline"]["p99_ms"] is not None
    assert run["answers_in_db"] == run["taps_acked"] == run["taps_total"] > 0
    assert "| broadcast to" in output


# --------------------------------------------------------------------------------------------
# The measurements' own checks, repeated here on their databases
# --------------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
async def test_import_stores_every_row_exactly_once(tmp_path: Path) -> None:
    rows = imports.task_rows(1_500)
    opts = imports.ImportOptions(rows=len(rows), runs=1)
    result = await imports.upload_run(opts, imports.task_csv(rows), tmp_path / "bot", "-test")
    assert f"{len(rows)} tasks added" in result["report"], result
    con = sqlite3.connect(tmp_path / "bot" / "labelgram.db")
    try:
        stored = Counter(con.execute("SELECT external_id, text FROM tasks").fetchall())
    finally:
        con.close()
    assert stored == Counter(rows)  # each row once, with its text, nothing else
    assert imports.verify_bot_db(tmp_path / "bot", rows) == []
    assert imports.raw_executemany(tmp_path / "raw.db", rows) > 0


def test_next_task_query_gives_an_open_task_the_student_never_held(tmp_path: Path) -> None:
    from db.tasks import NEXT_OPEN_TASK_SQL

    opts = next_task.QueryOptions(students=15, live_answers_per_student=8)
    built = next_task.build(tmp_path / "tasks.db", 2_000, opts)
    veteran, skipper, withdrawn = built.students[:3]
    con = sqlite3.connect(built.path, isolation_level=None)
    try:
        assert (
            con.execute("SELECT COUNT(*) FROM assignments WHERE status = 'open'").fetchone()[0]
            == opts.students
        )  # everyone holds a task now
        front = [
            r[0]
            for r in con.execute(
                "SELECT id FROM tasks WHERE status = 'open' AND gold IS NULL AND in_flight = 0"
                " AND answers = 0 ORDER BY id LIMIT 5"
            )
        ]
        # The veteran answered the first five open tasks, the skipper skipped the first one,
        # and one student's first was taken back by a pause (withdrawn: may come again).
        held = [(t, veteran, "answered") for t in front] + [
            (front[0], skipper, "skipped"),
            (front[0], withdrawn, "withdrawn"),
        ]
        con.executemany(
            "INSERT INTO assignments (task_id, worker_id, project_id, price, issued_at,"
            " expires_at, status) VALUES (?, ?, ?, 0, '2026-11-27T10:00:00.000+00:00',"
            " '2026-11-27T10:10:00.000+00:00', ?)",
            [(t, w, built.project_id, status) for t, w, status in held],
        )
        con.executemany(
            "UPDATE tasks SET answers = answers + 1 WHERE id = ?", [(t,) for t in front]
        )
        for student in built.students:
            (task,) = con.execute(NEXT_OPEN_TASK_SQL, (built.project_id, student)).fetchone()
            status, gold = con.execute(
                "SELECT status, gold FROM tasks WHERE id = ?", (task,)
            ).fetchone()
            assert (status, gold) == ("open", None)
            assert (
                con.execute(
                    "SELECT COUNT(*) FROM assignments WHERE task_id = ? AND worker_id = ?"
                    " AND status != 'withdrawn'",
                    (task, student),
                ).fetchone()[0]
                == 0
            )
            # The first such task, by a scan that uses no index.
            (first,) = con.execute(
                "SELECT MIN(t.id) FROM tasks t NOT INDEXED WHERE t.project_id = ? AND"
                " t.status = 'open' AND t.gold IS NULL AND t.id NOT IN (SELECT task_id FROM"
                " assignments WHERE worker_id = ? AND status != 'withdrawn')",
                (built.project_id, student),
            ).fetchone()
            assert task == first
            if student not in (veteran, skipper):
                assert task == built.expected_next(student)  # the simulation agrees
        assert (
            con.execute(NEXT_OPEN_TASK_SQL, (built.project_id, veteran)).fetchone()[0] > front[-1]
        )
        assert (
            con.execute(NEXT_OPEN_TASK_SQL, (built.project_id, skipper)).fetchone()[0] > front[0]
        )
        assert (
            con.execute(NEXT_OPEN_TASK_SQL, (built.project_id, withdrawn)).fetchone()[0]
            == front[0]
        )
    finally:
        con.close()


async def test_issue_samples_are_rolled_back(tmp_path: Path) -> None:
    import random

    opts = next_task.QueryOptions(students=10, live_answers_per_student=5)
    built = next_task.build(tmp_path / "tasks.db", 1_000, opts)

    def state() -> list[tuple]:
        con = sqlite3.connect(built.path)
        try:
            return con.execute(
                "SELECT COUNT(*), SUM(answers), SUM(in_flight) FROM tasks"
                " UNION ALL SELECT COUNT(*), 0, 0 FROM assignments"
            ).fetchall()
        finally:
            con.close()

    before = state()
    times, problems = await next_task.time_issue(built, random.Random(1), 20)
    assert problems == []
    assert len(times) == 20
    assert state() == before


@pytest.mark.parametrize("mode", ["fifo", "fair"])
async def test_fair_share_answers_each_task_exactly_overlap_times(
    tmp_path: Path, mode: str
) -> None:
    opts = fair_share.FairOptions(students=12, tasks=30, overlap=2)
    result = await fair_share.simulate(opts, mode, tmp_path / "fair.db")
    assert result["correct"], result["problems"]
    con = sqlite3.connect(tmp_path / "fair.db")
    try:
        per_task = con.execute(
            "SELECT t.id, COUNT(a.id), COUNT(DISTINCT a.worker_id), t.status FROM tasks t"
            " LEFT JOIN answers a ON a.task_id = t.id GROUP BY t.id"
        ).fetchall()
        per_student = dict(
            con.execute("SELECT worker_id, COUNT(*) FROM answers GROUP BY worker_id").fetchall()
        )
        (allocation,) = con.execute("SELECT allocation FROM projects").fetchone()
    finally:
        con.close()
    assert allocation == mode
    assert len(per_task) == opts.tasks
    assert all(row[1:] == (2, 2, "done") for row in per_task), per_task
    assert result["active"] == len(per_student)
    assert result["max"] == max(per_student.values())
    assert sum(per_student.values()) == result["answers"] == opts.tasks * opts.overlap


def test_gini() -> None:
    assert gini([3, 3, 3]) == 0
    assert gini([0, 0, 0, 4]) == pytest.approx(0.75)
    assert gini([1, 2, 3, 4]) == pytest.approx(0.25)
    assert gini([]) is None


def test_fresh_db_has_the_bot_schema(tmp_path: Path) -> None:
    from db.migrations import MIGRATIONS

    con = harness.fresh_db(tmp_path / "x.db")
    try:
        assert con.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        project_id, upload_id = harness.raw_project(con, "p", overlap=2)
        assert (project_id, upload_id) == (1, 1)
    finally:
        con.close()


def test_max_per_window_counts_half_open_windows() -> None:
    assert broadcast.max_per_window([]) == 0
    assert broadcast.max_per_window([0.0, 0.5, 0.99, 1.0, 1.5]) == 3  # (0, 1] holds 3
    assert broadcast.max_per_window([0.0, 1.0, 2.0]) == 1  # exactly a second apart: one each
    assert broadcast.max_per_window([3.0, 0.1, 0.2]) == 2  # order does not matter
