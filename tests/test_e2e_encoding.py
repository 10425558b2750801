"""An admin uploads CSV files saved in the encodings spreadsheets use, over real HTTP: the
texts are stored as written, a file whose encoding cannot be told is refused with how each
candidate reads it (and changes nothing), and `encoding=` in the caption settles it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.config import Config
from tests.botapi import FakeUser
from tests.conftest import ADMIN_ID
from tests.e2e import Harness, running_bot

TASKS_SQL = "SELECT external_id, text FROM tasks ORDER BY id"
TABLES = ("projects", "tasks", "uploads", "pending_files")


@pytest.fixture
async def h(cfg: Config) -> AsyncIterator[Harness]:
    async with running_bot(cfg) as harness:
        yield harness


def admin_of(h: Harness, language_code: str = "en") -> FakeUser:
    return h.server.add_user(ADMIN_ID, "Ada", language_code=language_code)


def csv_file(texts: list[str]) -> str:
    return "id,text\n" + "".join(f"r{i},{text}\n" for i, text in enumerate(texts, start=1))


async def snapshot(h: Harness) -> dict[str, list[tuple[Any, ...]]]:
    return {table: await h.query(f"SELECT * FROM {table} ORDER BY id") for table in TABLES}  # noqa: S608


FILES = [
    # (texts, saved as)
    (["La façade est belle", "Très bien merci", "Ça va"], "cp1252"),
    (["Die Größe der Straße", "Über den Wolken", "Schön"], "latin-1"),
    (["快递很快，包装完好。", "质量一般；客服态度不错", "“引号”和逗号都在"], "gbk"),
    (["生僻字𠀀也能存", "部首⺁在这里", "普通的一行"], "gb18030"),
    (["快遞很快，包裝完好。", "品質一般；客服態度不錯", "這部電影很無聊"], "big5"),
    (["La façade", "中文也行", "Ça va"], "utf-16"),
    (["La façade", "中文也行", "Ça va"], "utf-8"),
]


@pytest.mark.parametrize(("texts", "saved"), FILES, ids=[saved for _, saved in FILES])
async def test_a_short_file_in_each_encoding_is_stored_as_written(
    h: Harness, texts: list[str], saved: str
) -> None:
    data = csv_file(texts).encode(saved)
    reply = await h.upload(admin_of(h), "reviews.csv", data, "/upload reviews options=good,bad")
    assert reply.content.startswith("✅ reviews: 3 tasks added, 0 skipped"), reply.content
    assert await h.query(TASKS_SQL) == [(f"r{i}", text) for i, text in enumerate(texts, 1)]


async def test_cp1252_facade_is_not_stored_as_chinese(h: Harness) -> None:
    data = csv_file(["La façade est belle", "Très bien", "Ça va"]).encode("cp1252")
    assert "fa鏰de" in data.decode("gbk")  # what the bot stored before it looked at evidence
    reply = await h.upload(admin_of(h), "fr.csv", data, "/upload fr options=good,bad")
    assert reply.content.startswith("✅ fr: 3 tasks added"), reply.content
    assert await h.scalar("SELECT text FROM tasks WHERE external_id = 'r1'") == (
        "La façade est belle"
    )


async def test_an_unsure_file_is_refused_with_its_readings_then_encoding_settles_it(
    h: Harness,
) -> None:
    admin = admin_of(h)
    await h.upload_tasks("/upload other options=a,b", 2)  # something that must stay as it is
    before = await snapshot(h)
    # One character a row: GBK reads "好" and "坏", Big5 "疑" and "輓", both everyday ones.
    data = "id,text\n1,好\n2,坏\n".encode("gbk")
    reply = await h.upload(admin, "short.csv", data, "/upload short options=a,b")
    assert reply.content == "\n".join(
        [
            "❌ Nothing was imported from short.csv. 1 problem(s):",
            "• I can't tell which encoding this file is in. Line 2 reads like this in each "
            "one it could be:",
            "  encoding=gbk → 1,好",
            "  encoding=big5 → 1,疑",
            "  encoding=cp1252 → 1,ºÃ",
            "If one of them reads right, send the file again with it in the caption, for "
            "example /upload <project> encoding=gbk",
        ]
    ), reply.content
    assert await snapshot(h) == before  # no project, no task, no upload recorded

    reply = await h.upload(admin, "short.csv", data, "/upload short options=a,b encoding=gbk")
    assert reply.content.startswith("✅ short: 2 tasks added, 0 skipped"), reply.content
    assert await h.query(
        "SELECT t.external_id, t.text FROM tasks t JOIN projects p ON p.id = t.project_id"
        " WHERE p.name = 'short' ORDER BY t.id"
    ) == [("1", "好"), ("2", "坏")]


async def test_the_refusal_in_chinese(h: Harness) -> None:
    admin = admin_of(h, "zh-hans")
    data = "id,text\n1,好\n2,坏\n".encode("gbk")
    reply = await h.upload(admin, "short.csv", data, "/upload short options=a,b")
    assert "无法确定这个文件的编码。第 2 行按各个可能的编码读出来是：" in reply.content
    assert "  encoding=big5 → 1,疑" in reply.content
    assert "例如 /upload <项目> encoding=gbk" in reply.content
    assert await h.query("SELECT COUNT(*) FROM projects") == [(0,)]


async def test_a_wrong_or_unknown_encoding_in_the_caption_changes_nothing(h: Harness) -> None:
    admin = admin_of(h)
    data = csv_file(["La façade", "Très bien", "Ça va"]).encode("cp1252")
    before = await snapshot(h)
    reply = await h.upload(admin, "fr.csv", data, "/upload fr options=a,b encoding=klingon")
    assert reply.content.startswith(
        "“klingon” is not a text encoding I know. Try utf-8, gbk, gb18030, big5, cp1252, "
        "latin-1 or utf-16."
    ), reply.content
    reply = await h.upload(admin, "fr.csv", data, "/upload fr options=a,b encoding=utf-8")
    assert reply.content == (
        "❌ Nothing was imported from fr.csv. 1 problem(s):\n"
        "• line 2 is not utf-8 text, the encoding the caption names; name another one, or "
        "leave encoding= out and I will work it out"
    ), reply.content
    assert await snapshot(h) == before
    # Named right, it goes in (Latin-1 reads these bytes as Windows-1252 does).
    reply = await h.upload(admin, "fr.csv", data, "/upload fr options=a,b encoding=latin-1")
    assert reply.content.startswith("✅ fr: 3 tasks added"), reply.content
    assert [text for _, text in await h.query(TASKS_SQL)] == ["La façade", "Très bien", "Ça va"]
