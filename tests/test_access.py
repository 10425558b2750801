"""Invite-only access over real HTTP: invite links register and limit; bad codes refused."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.botapi import button_texts
from tests.conftest import ADMIN_ID, make_config
from tests.e2e import Harness, running_bot


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_bot(make_config(tmp_path, access="invite")) as harness:
        yield harness


async def seed(h: Harness) -> None:
    admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
    for name in ("alpha", "beta"):
        body = "".join(f"{name}{i},Secret {name} item {i}\n" for i in range(3))
        reply = await h.upload(
            admin,
            f"{name}.csv",
            f"id,text\n{body}".encode(),
            f"/upload {name} options=yes,no price=0.05",
        )
        assert "3 tasks added" in reply.content, reply.content


async def invite(h: Harness, args: str = "") -> str:
    admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
    reply = await h.say(admin, f"/invite {args}".strip())
    found = re.search(r"https://t\.me/[^?\s]+\?start=([A-Za-z0-9_-]+)", reply.content)
    assert found, reply.content
    code = found.group(1)
    assert len(code) <= 64
    return code


async def test_invite_link_registers_and_limits_to_its_project(h: Harness) -> None:
    await seed(h)
    code = await invite(h, "beta")
    student = h.server.add_user(2001, "Li", language_code="en")
    welcome = await h.say(student, f"/start {code}")
    assert "Welcome to Labelgram" in welcome.content
    assert await h.scalar("SELECT project_id FROM workers WHERE id = 2001") == await h.scalar(
        "SELECT id FROM projects WHERE name = 'beta'"
    )
    # alpha comes first among active projects, but the student only ever sees beta.
    await h.tap(student, welcome, button_texts(welcome)[0])
    task = await h.server.wait_for_message(student, after=welcome)
    assert "beta" in task.content and "alpha" not in task.content
    admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
    listing = await h.say(admin, "/invites")
    assert "No invite links are usable" in listing.content  # single use: used up


async def test_used_expired_and_made_up_codes_are_refused(h: Harness) -> None:
    await seed(h)
    code = await invite(h)
    first = h.server.add_user(2001, "Li", language_code="en")
    assert "Welcome to Labelgram" in (await h.say(first, f"/start {code}")).content
    second = h.server.add_user(2002, "Wang", language_code="en")
    used = await h.say(second, f"/start {code}")
    assert "can't be used" in used.content

    expired = await invite(h, "3")
    async with h.db.transaction() as tx:
        await tx.execute(
            "UPDATE invites SET expires_at = '2020-01-01T00:00:00.000+00:00' WHERE code = ?",
            (expired,),
        )
    assert "can't be used" in (await h.say(second, f"/start {expired}")).content
    assert "can't be used" in (await h.say(second, "/start madeUpCode_123")).content

    revoked = await invite(h)
    admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
    assert "revoked" in (await h.say(admin, f"/revoke {revoked}")).content
    assert "can't be used" in (await h.say(second, f"/start {revoked}")).content
    assert await h.scalar("SELECT COUNT(*) FROM workers WHERE id = 2002") == 0


async def test_a_stranger_learns_nothing_in_invite_mode(h: Harness) -> None:
    await seed(h)
    stranger = h.server.add_user(3001, "Eve", language_code="en")
    for text in ("/start", "/next", "/help", "/projects", "/balance"):
        reply = await h.say(stranger, text)
        assert "ask your coordinator for an invite link" in reply.content, (text, reply)
        for secret in ("alpha", "beta", "Secret", "item"):
            assert secret not in reply.content
        assert not button_texts(reply)
    assert await h.scalar("SELECT COUNT(*) FROM workers WHERE id = 3001") == 0


async def test_invite_usage_and_listing(h: Harness) -> None:
    await seed(h)
    admin = h.server.add_user(ADMIN_ID, "Ada", language_code="en")
    assert "no project called nope" in (await h.say(admin, "/invite nope")).content
    assert "Usage: /invite" in (await h.say(admin, "/invite 0")).content
    code = await invite(h, "5 alpha 14")
    listing = await h.say(admin, "/invites")
    assert code in listing.content and "5/5 uses left" in listing.content
    assert "alpha" in listing.content
    student = h.server.add_user(2001, "Li", language_code="en")
    refused = await h.say(student, "/invites")
    assert code not in refused.content


def test_config_access_defaults_to_invite_and_names_the_key(tmp_path: Path) -> None:
    from bot.config import ConfigError, load_config

    path = tmp_path / "config.toml"
    path.write_text('[bot]\ntoken = "1:x"\n', encoding="utf-8")
    assert load_config(path, env={}).access == "invite"
    path.write_text('[bot]\ntoken = "1:x"\naccess = "closed"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^bot\.access must be"):
        load_config(path, env={})
