"""Roles kept in the database, over real HTTP: owners (the config's admin_ids) grant and
take admin and reviewer roles with /role; reviewers may /review, /stats and tap review
buttons and nothing else of the admin's; every change is logged with who made it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Config
from tests.botapi import FakeUser, button_texts
from tests.conftest import ADMIN_ID, make_config
from tests.e2e import Harness, running_bot
from tests.test_e2e_quality import first_task, upload

NOT_ALLOWED = "Sorry, only project admins can do that."
RITA = 5001


@pytest.fixture
async def h(cfg: Config) -> AsyncIterator[Harness]:
    async with running_bot(cfg) as harness:
        yield harness


def owner_of(h: Harness) -> FakeUser:
    return h.server.add_user(ADMIN_ID, "Ada", language_code="en")


async def rita(h: Harness) -> FakeUser:
    """A registered student with a username, who will be given roles."""
    user = h.server.add_user(RITA, "Rita", language_code="en", username="rita")
    assert "Welcome to Labelgram" in (await h.say(user, "/start")).content
    return user


async def held_answer(h: Harness) -> None:
    """Project `fast` with one answer held for review (answered too fast)."""
    await upload(
        h,
        "fast",
        [["f1", "Item one", "", ""], ["f2", "Item two", "", ""]],
        "options=yes,no price=0.05 min_seconds=5",
    )
    task = await first_task(h, 1001)
    toast, _ = await h.tap_and_wait_edit(h.server.users[1001], task, "yes")
    assert toast["text"] == "Saved · +¥0.05"
    assert await h.query("SELECT review FROM answers") == [("flagged",)]


async def test_owner_grants_reviewer_then_admin_then_none(h: Harness) -> None:
    owner = owner_of(h)
    await held_answer(h)
    user = await rita(h)
    assert (await h.say(user, "/review fast")).content == NOT_ALLOWED

    reply = await h.say(owner, "/role @rita reviewer")
    assert reply.content == f"Role of {RITA} changed: none → reviewer."
    assert await h.query("SELECT user_id, role, granted_by FROM roles") == [
        (RITA, "reviewer", ADMIN_ID)
    ]

    # A reviewer may see stats, review and tap the review buttons.
    assert (await h.say(user, "/stats fast")).content.startswith("📊 fast")
    review = await h.say(user, "/review fast")
    assert review.content.startswith("🔎 fast: 1 answer(s) held for review")
    assert button_texts(review) == ["✓ Accept", "✗ Reject"]
    toast = await h.tap(user, review, "✓ Accept")
    assert toast["text"] == "Accepted: its earning will be approved as usual."
    assert await h.query("SELECT review FROM answers") == [("accepted",)]

    # …and nothing else: no upload, no payout, no other admin command, no /role.
    before = await h.query("SELECT id, name FROM projects")
    refused = await h.upload(
        user, "rev.csv", b"id,text\nr1,Item r1\n", "/upload rev options=yes,no price=0.05"
    )
    assert refused.content == NOT_ALLOWED
    assert (await h.say(user, "/payout all")).content == NOT_ALLOWED
    for text in (
        "/projects",
        "/workers fast",
        "/pause fast",
        "/export fast",
        "/role 1001 admin",
        "/bonus 1001 1 thanks",
    ):
        assert (await h.say(user, text)).content == NOT_ALLOWED, text
    assert await h.query("SELECT id, name FROM projects") == before
    assert await h.scalar("SELECT COUNT(*) FROM uploads WHERE admin_id = ?", (RITA,)) == 0
    assert await h.scalar("SELECT COUNT(*) FROM payouts") == 0
    assert await h.scalar("SELECT status FROM projects WHERE name = 'fast'") == "active"

    # Admin: the same person may now upload.
    reply = await h.say(owner, f"/role {RITA} admin")
    assert reply.content == f"Role of {RITA} changed: reviewer → admin."
    done = await h.upload(
        user, "rev.csv", b"id,text\nr1,Item r1\n", "/upload rev options=yes,no price=0.05"
    )
    assert "1 tasks added" in done.content, done.content
    # …but an admin who is not an owner may not change roles.
    assert (await h.say(user, "/role 1001 admin")).content == NOT_ALLOWED
    assert await h.scalar("SELECT COUNT(*) FROM roles WHERE user_id = 1001") == 0

    # Asking again changes nothing and logs nothing; none removes the role.
    assert "already has the role admin" in (await h.say(owner, f"/role {RITA} admin")).content
    reply = await h.say(owner, "/role @rita none")
    assert reply.content == f"Role of {RITA} changed: admin → none."
    assert await h.query("SELECT * FROM roles") == []
    assert (await h.say(user, "/review fast")).content == NOT_ALLOWED
    again = await h.upload(user, "rev2.csv", b"id,text\nr2,Item r2\n", "/upload rev2")
    assert again.content == NOT_ALLOWED

    assert await h.query(
        "SELECT changed_by, user_id, old_role, new_role FROM role_changes ORDER BY id"
    ) == [
        (ADMIN_ID, RITA, None, "reviewer"),
        (ADMIN_ID, RITA, "reviewer", "admin"),
        (ADMIN_ID, RITA, "admin", None),
    ]
    assert await h.scalar("SELECT COUNT(*) FROM role_changes WHERE changed_at IS NULL") == 0


async def test_role_usage_owners_and_unknown_users(h: Harness) -> None:
    owner = owner_of(h)
    assert (await h.say(owner, "/role")).content.startswith("Usage: /role")
    assert (await h.say(owner, "/role 5001 boss")).content.startswith("Usage: /role")
    assert "No user @nobody" in (await h.say(owner, "/role @nobody admin")).content
    assert "owners can't be changed" in (await h.say(owner, f"/role {ADMIN_ID} none")).content
    stranger = h.server.add_user(6001, "Eve", language_code="en")
    assert (await h.say(stranger, "/role 6001 admin")).content == NOT_ALLOWED
    assert await h.query("SELECT * FROM role_changes") == []
    assert await h.query("SELECT * FROM roles") == []


async def test_roles_survive_a_restart(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    async with running_bot(cfg) as h:
        await upload(h, "kept", [["k1", "Item k1", "", ""]], "options=yes,no price=0.05")
        await rita(h)
        assert "→ reviewer" in (await h.say(owner_of(h), f"/role {RITA} reviewer")).content
    async with running_bot(cfg) as h:
        user = h.server.add_user(RITA, "Rita", language_code="en", username="rita")
        assert (await h.say(user, "/stats kept")).content.startswith("📊 kept")
        assert (await h.say(user, "/projects")).content == NOT_ALLOWED
