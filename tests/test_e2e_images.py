"""Image tasks over real HTTP: a zip of images uploaded once, URL images, unsafe zips."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.config import Config
from bot.render import paginate
from tests.botapi import ChatMessage, button_texts
from tests.conftest import ADMIN_ID
from tests.e2e import Harness, running_bot, until

CAPTION = "/upload pics type=image options=cat,dog"


@pytest.fixture
async def h(cfg: Config) -> AsyncIterator[Harness]:
    async with running_bot(cfg) as harness:
        yield harness


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A small valid PNG of one colour, built by hand."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def make_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


THREE = {
    "tasks.csv": b"id,image,text\np1,img/one.png,First picture\np2,two.png,\np3,three.png,Third\n",
    "img/one.png": png(4, 3, (255, 0, 0)),
    "two.png": png(5, 5, (0, 255, 0)),
    "three.png": png(2, 6, (0, 0, 255)),
}


async def upload_zip(
    h: Harness, files: dict[str, bytes], name: str = "pics.zip", caption: str = CAPTION
) -> str:
    admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
    return (await h.upload(admin, name, make_zip(files), caption)).content


async def kept_file_id(h: Harness, external_id: str) -> str | None:
    """The file_id stored for a task's image (the bot stores it right after the send)."""

    async def payload() -> dict[str, Any]:
        sql = "SELECT payload FROM tasks WHERE external_id = ?"
        return dict(json.loads(await h.scalar(sql, (external_id,))))

    kept = await until(payload, lambda p: "image_file_id" in p, description="the kept file_id")
    return kept["image_file_id"]


def photo_id(message: ChatMessage) -> str:
    assert message.photo, message.describe()
    return message.photo[-1]["file_id"]


async def test_zip_of_images_is_uploaded_once_and_sent_by_file_id(h: Harness) -> None:
    report = await upload_zip(h, THREE)
    assert "3 tasks added" in report, report
    assert "New project pics: image labels" in report
    # Each image went to Telegram once (to the admin's chat, then deleted).
    uploads = h.server.calls("sendPhoto")
    assert len(uploads) == 3
    assert all(isinstance(c.params["photo"], dict) for c in uploads)  # real uploads
    assert all(m.deleted for m in h.server.chat(ADMIN_ID) if m.photo)
    payloads = [json.loads(p) for (p,) in await h.query("SELECT payload FROM tasks ORDER BY id")]
    file_ids = [p["image_file_id"] for p in payloads]
    assert len(set(file_ids)) == 3 and all(f in h.server.files for f in file_ids)
    assert [p["image"] for p in payloads] == ["img/one.png", "two.png", "three.png"]

    task = await h.start_labeling(4001)
    assert photo_id(task) == file_ids[0]
    assert "First picture" in task.content
    assert task.content.endswith("Look at the picture and choose the label that fits best.")
    assert button_texts(task) == ["cat", "dog", "Skip ⏭"]
    send = h.server.calls("sendPhoto")[-1]
    assert send.params["photo"] == file_ids[0]  # a file_id, no new upload

    _, task = await h.tap_and_wait_edit(h.server.users[4001], task, "dog")
    assert await h.query("SELECT value FROM answers") == [("dog",)]
    edit = h.server.calls("editMessageMedia")[-1]
    media = edit.params["media"]
    media = json.loads(media) if isinstance(media, str) else media
    assert media["type"] == "photo"
    assert media["media"] == file_ids[1]  # a file_id string, not attach:// or an upload
    assert photo_id(task) == file_ids[1]
    assert task.content.startswith("✓ Saved: dog")  # what was saved, then the next task
    assert button_texts(task) == ["cat", "dog", "Skip ⏭"]
    assert len(h.server.calls("sendPhoto")) == 4  # the next image came by edit, not a send

    _, task = await h.tap_and_wait_edit(h.server.users[4001], task, "cat")
    assert photo_id(task) == file_ids[2]
    assert "Third" in task.content
    assert await h.query("SELECT value FROM answers ORDER BY id") == [("dog",), ("cat",)]


async def test_url_images_first_by_url_then_by_file_id(h: Harness) -> None:
    urls = [f"https://img.example.com/{i}.png" for i in range(2)]
    for i, url in enumerate(urls):
        h.server.web_files[url] = png(3, 3, (i * 100, 0, 0))
    admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
    rows = "".join(f"u{i},{url}\n" for i, url in enumerate(urls))
    reply = await h.upload(
        admin,
        "urls.csv",
        f"id,image\n{rows}".encode(),
        "/upload web type=image options=yes,no overlap=2",
    )
    assert "2 tasks added" in reply.content, reply.content
    assert not h.server.calls("sendPhoto")  # nothing is uploaded for links

    first = await h.start_labeling(4101)
    assert h.server.calls("sendPhoto")[-1].params["photo"] == urls[0]
    kept = photo_id(first)
    assert await kept_file_id(h, "u0") == kept
    _, first = await h.tap_and_wait_edit(h.server.users[4101], first, "yes")
    media = h.server.calls("editMessageMedia")[-1].params["media"]
    media = json.loads(media) if isinstance(media, str) else media
    assert media["media"] == urls[1]  # u1's first send is by URL ...
    kept_second = await kept_file_id(h, "u1")
    assert kept_second == photo_id(first)  # ... and its file_id is kept

    # A second student (overlap=2) gets both images by file_id.
    second = await h.start_labeling(4102)
    assert h.server.calls("sendPhoto")[-1].params["photo"] == kept
    _, second = await h.tap_and_wait_edit(h.server.users[4102], second, "no")
    media = h.server.calls("editMessageMedia")[-1].params["media"]
    media = json.loads(media) if isinstance(media, str) else media
    assert media["media"] == kept_second
    assert await h.scalar("SELECT COUNT(*) FROM answers") == 2


async def test_image_then_text_task_sends_a_new_message(h: Harness) -> None:
    await upload_zip(h, {"t.csv": b"image\na.png\n", "a.png": png(2, 2, (1, 2, 3))})
    admin = h.server.users[ADMIN_ID]
    reply = await h.upload(admin, "words.csv", b"id,text\nw1,Hello\n", "/upload words options=x,y")
    assert "1 tasks added" in reply.content or "1 task added" in reply.content, reply.content
    task = await h.start_labeling(4201)
    first_is_photo = bool(task.photo)
    await h.tap(h.server.users[4201], task, button_texts(task)[0])
    nxt = await h.server.wait_for_message(h.server.users[4201], after=task)
    assert bool(nxt.photo) != first_is_photo  # photo → text or text → photo: a new message
    old = h.server.message(4201, task.message_id)
    assert old.inline_markup is None  # the old message's buttons are gone
    assert button_texts(nxt)[-1] == "Skip ⏭"
    assert await h.scalar("SELECT COUNT(*) FROM answers") == 1


def bomb() -> bytes:
    return b"\x00" * (5 * 1024 * 1024)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"t.csv": b"image\na.png\n", "a.png": bomb()}, "zip bomb"),
        (
            {"t.csv": b"image\n../a.png\n", "../a.png": png(2, 2, (0, 0, 0))},
            "not a safe file name",
        ),
        (
            {"t.csv": b"image\na.png\nb.png\n", "a.png": png(2, 2, (0, 0, 0))},
            "line 3: the image “b.png” is not in the zip",
        ),
        ({"a.png": png(2, 2, (0, 0, 0))}, "exactly one tasks file"),
    ],
)
async def test_unsafe_or_incomplete_zip_is_refused(
    h: Harness, files: dict[str, bytes], expected: str
) -> None:
    report = await upload_zip(h, files)
    assert "Nothing was imported" in report, report
    assert expected in report, report
    assert await h.scalar("SELECT COUNT(*) FROM tasks") == 0
    assert await h.scalar("SELECT COUNT(*) FROM projects") == 0
    assert not h.server.calls("sendPhoto")  # nothing was sent to Telegram either


async def test_zip_limits_are_checked_before_unpacking(h: Harness) -> None:
    from bot.services import uploads

    many = make_zip({f"f{i}.png": b"x" for i in range(uploads.ZIP_MAX_FILES + 1)})
    problems = uploads.read_zip(many)
    assert isinstance(problems, list) and problems[0].code == "zip_too_many_files"
    absolute = make_zip({"/etc/passwd": b"x", "t.csv": b"image\n"})
    problems = uploads.read_zip(absolute)
    assert isinstance(problems, list) and problems[0].code == "zip_bad_name"
    big = make_zip({"big.png": b"\x01" * (uploads.ZIP_MAX_MEMBER_BYTES + 1)})
    problems = uploads.read_zip(big)
    assert isinstance(problems, list)
    assert {p.code for p in problems} & {"zip_member_too_big"}


async def test_image_names_need_a_zip_and_a_zip_needs_an_image_project(h: Harness) -> None:
    admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
    reply = await h.upload(admin, "t.csv", b"image\nlocal.png\n", CAPTION)
    assert "line 2: “local.png” is not an https:// link" in reply.content, reply.content
    report = await upload_zip(h, THREE, caption="/upload plain options=a,b")
    assert "A zip is for image projects" in report, report
    assert await h.scalar("SELECT COUNT(*) FROM tasks") == 0


async def test_a_long_caption_pages_on_the_photo_and_keeps_its_buttons(h: Harness) -> None:
    url = "https://img.example.com/long.png"
    h.server.web_files[url] = png(3, 3, (0, 0, 200))
    admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
    text = " ".join(f"w{i:04d}" for i in range(240))  # 1,439 characters
    data = json.dumps({"id": "L", "image": url, "text": text}).encode()
    reply = await h.upload(admin, "long.jsonl", data, "/upload longpic type=image options=yes,no")
    assert "1 tasks added" in reply.content, reply.content
    task = await h.start_labeling(4301)
    user = h.server.users[4301]
    assert task.photo
    assert "— page 1 of 3: ◀ ▶ below —" in task.content
    assert len(task.content) <= 1024
    assert button_texts(task) == ["yes", "no", "1/3", "▶", "Skip ⏭"]
    seen = []
    for n in (2, 3):
        _, task = await h.tap_and_wait_edit(user, task, "▶")
        assert f"— page {n} of 3: ◀ ▶ below —" in task.content
        assert len(task.content) <= 1024
        seen.append(n)
    assert h.server.calls("editMessageCaption")  # the photo stays; only its caption pages
    words = " ".join(p for p in paginate(text, 500)).split()
    assert words == text.split()  # nothing is cut
    await h.tap(user, task, "no")  # a photo cannot turn into text: "nothing left" comes new
    done = await h.server.wait_for_message(user, lambda m: "no tasks are waiting" in m.content)
    assert not done.photo
    assert await h.query("SELECT value FROM answers") == [("no",)]
    assert seen == [2, 3]
