"""Who may work: invite links (in invite-only mode) and joining through one."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from db import invites as invites_repo
from db import projects as projects_repo
from db import workers as workers_repo
from db.connection import Database
from db.invites import Invite
from db.workers import Worker

CODE_BYTES = 12  # token_urlsafe: 16 characters of A-Z a-z 0-9 _ - (a start parameter: ≤ 64)
MAX_USES = 10_000
MAX_DAYS = 365


class UnknownProject(Exception):
    pass


async def create_invite(
    db: Database, *, uses: int, project: str | None, days: int, created_by: int, now: datetime
) -> tuple[str, Invite]:
    async with db.transaction() as tx:
        project_id = None
        if project is not None:
            found = await projects_repo.get_by_name(tx, project)
            if found is None:
                raise UnknownProject(project)
            project_id = found.id
        code = secrets.token_urlsafe(CODE_BYTES)
        await invites_repo.create(
            tx, code, project_id, uses, now + timedelta(days=days), created_by, now
        )
    listed = [i for i in await invites_repo.usable(db, now) if i.code == code]
    return code, listed[0]


async def usable_invites(db: Database, now: datetime) -> list[Invite]:
    return await invites_repo.usable(db, now)


async def revoke(db: Database, code: str, now: datetime) -> bool:
    async with db.transaction() as tx:
        return await invites_repo.revoke(tx, code, now)


async def join(
    db: Database,
    code: str,
    *,
    user_id: int,
    first_name: str,
    username: str | None,
    language: str,
    timezone: str,
    now: datetime,
) -> tuple[Worker, Invite] | None:
    """Register a stranger through an invite code, taking one use; None if the code is
    made up, used up, expired or revoked (and then nobody is registered)."""
    async with db.transaction() as tx:
        invite = await invites_repo.use(tx, code, now)
        if invite is None:
            return None
        worker, _ = await workers_repo.insert_or_refresh(
            tx, user_id, first_name, username, language, timezone, now
        )
        await workers_repo.limit_to(tx, user_id, invite.project_id, code)
        return worker, invite
