"""Roles kept in the database: admins and reviewers. Owners are the config's admin_ids and
are never stored here; every change is logged in role_changes with who made it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db.connection import Database, Tx
from db.timefmt import to_db

ROLES = ("admin", "reviewer")


@dataclass(frozen=True, slots=True)
class RoleChange:
    changed_by: int
    user_id: int
    old_role: str | None
    new_role: str | None


async def all_roles(db: Database | Tx) -> dict[int, str]:
    """Every stored role, by Telegram user id (a handful of rows: read once at start)."""
    rows = await db.fetchall("SELECT user_id, role FROM roles")
    return {int(r["user_id"]): str(r["role"]) for r in rows}


async def set_role(tx: Tx, user_id: int, role: str | None, by: int, now: datetime) -> RoleChange:
    """Give `user_id` the role (None: no role) and log the change if there was one."""
    row = await tx.fetchone("SELECT role FROM roles WHERE user_id = ?", (user_id,))
    old = str(row["role"]) if row else None
    change = RoleChange(changed_by=by, user_id=user_id, old_role=old, new_role=role)
    if old == role:
        return change
    if role is None:
        await tx.execute("DELETE FROM roles WHERE user_id = ?", (user_id,))
    else:
        await tx.execute(
            "INSERT INTO roles (user_id, role, granted_by, granted_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET role = excluded.role,"
            " granted_by = excluded.granted_by, granted_at = excluded.granted_at",
            (user_id, role, by, to_db(now)),
        )
    await tx.execute(
        "INSERT INTO role_changes (changed_by, user_id, old_role, new_role, changed_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (by, user_id, old, role, to_db(now)),
    )
    return change
