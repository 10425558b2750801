"""Callback data: tiny frozen dataclasses with pack() and a strict parse().

The client chooses callback data, so nothing here is trusted: parse() accepts exactly the
shapes below (ids as bounded ASCII decimal numbers: [0-9], as the regex
digit class would also take "١" or "１") and returns None for anything else.
Each kind has its own prefix; a changed format gets a new prefix, so old buttons fail cleanly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ID = r"([1-9][0-9]{0,11})"


@dataclass(frozen=True, slots=True)
class Answer:
    """a:<assignment id>:<option index>: answer a task."""

    assignment_id: int
    option: int

    def pack(self) -> str:
        return f"a:{self.assignment_id}:{self.option}"


@dataclass(frozen=True, slots=True)
class Skip:
    """s:<assignment id>: give a task back."""

    assignment_id: int

    def pack(self) -> str:
        return f"s:{self.assignment_id}"


@dataclass(frozen=True, slots=True)
class NextTask:
    """n (send the task as a new message) or n:e (edit this message into the task)."""

    in_place: bool = False

    def pack(self) -> str:
        return "n:e" if self.in_place else "n"


@dataclass(frozen=True, slots=True)
class PickProject:
    """u:<pending file id>:<project id>: import a waiting file into a project (0 cancels)."""

    pending_id: int
    project_id: int

    def pack(self) -> str:
        return f"u:{self.pending_id}:{self.project_id}"


@dataclass(frozen=True, slots=True)
class SetLanguage:
    """l:<en|zh>: switch the interface language."""

    language: str

    def pack(self) -> str:
        return f"l:{self.language}"


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """h:<page>: a page of the student's ledger history."""

    page: int

    def pack(self) -> str:
        return f"h:{self.page}"


@dataclass(frozen=True, slots=True)
class OpenDispute:
    """d:<ledger entry id>: the student disputes a deduction."""

    entry_id: int

    def pack(self) -> str:
        return f"d:{self.entry_id}"


@dataclass(frozen=True, slots=True)
class ResolveDispute:
    """r:<dispute id>:<0 uphold | 1 refund>: an admin's decision."""

    dispute_id: int
    refund: int

    def pack(self) -> str:
        return f"r:{self.dispute_id}:{self.refund}"


@dataclass(frozen=True, slots=True)
class Setting:
    """g:<m|a|q|z>[:<value>]: the settings menu, alerts on/off, a quiet-hours preset or a
    time zone (by index in a fixed list); no value opens that sub-menu."""

    what: str
    value: int | None = None

    def pack(self) -> str:
        return f"g:{self.what}" if self.value is None else f"g:{self.what}:{self.value}"


@dataclass(frozen=True, slots=True)
class Review:
    """v:<answer id>:<0 reject | 1 accept>: a reviewer's decision on a held answer."""

    answer_id: int
    accept: int

    def pack(self) -> str:
        return f"v:{self.answer_id}:{self.accept}"


@dataclass(frozen=True, slots=True)
class Page:
    """p:<assignment id>:<page>: show a page of a long task (also "back to the task")."""

    assignment_id: int
    page: int

    def pack(self) -> str:
        return f"p:{self.assignment_id}:{self.page}"


@dataclass(frozen=True, slots=True)
class Guide:
    """i:<assignment id>: the project's instructions in place of the task."""

    assignment_id: int

    def pack(self) -> str:
        return f"i:{self.assignment_id}"


@dataclass(frozen=True, slots=True)
class Toggle:
    """t:<assignment id>:<option>: tick or untick one option of a multi-label task."""

    assignment_id: int
    option: int

    def pack(self) -> str:
        return f"t:{self.assignment_id}:{self.option}"


@dataclass(frozen=True, slots=True)
class Correct:
    """e:<assignment id>: the student will type a corrected text."""

    assignment_id: int

    def pack(self) -> str:
        return f"e:{self.assignment_id}"


@dataclass(frozen=True, slots=True)
class Comment:
    """k:<answer id>: the student will type a comment on an answer of theirs."""

    answer_id: int

    def pack(self) -> str:
        return f"k:{self.answer_id}"


CallbackData = (
    Answer
    | Skip
    | NextTask
    | PickProject
    | SetLanguage
    | HistoryPage
    | OpenDispute
    | ResolveDispute
    | Setting
    | Review
    | Page
    | Guide
    | Toggle
    | Correct
    | Comment
)

_PATTERNS: list[tuple[re.Pattern[str], type]] = [
    (re.compile(rf"a:{_ID}:(0|[1-9][0-9]?)"), Answer),
    (re.compile(rf"s:{_ID}"), Skip),
    (re.compile(rf"u:{_ID}:(0|{_ID[1:-1]})"), PickProject),
    (re.compile(r"h:(0|[1-9][0-9]{0,5})"), HistoryPage),
    (re.compile(rf"d:{_ID}"), OpenDispute),
    (re.compile(rf"r:{_ID}:([01])"), ResolveDispute),
    (re.compile(rf"v:{_ID}:([01])"), Review),
    (re.compile(rf"p:{_ID}:(0|[1-9][0-9]{{0,3}})"), Page),
    (re.compile(rf"i:{_ID}"), Guide),
    (re.compile(rf"t:{_ID}:(0|[1-9][0-9]?)"), Toggle),
    (re.compile(rf"e:{_ID}"), Correct),
    (re.compile(rf"k:{_ID}"), Comment),
]


def parse(data: str | None) -> CallbackData | None:
    """The callback data as a dataclass, or None if it is not exactly one of ours."""
    if not data or len(data) > 64:
        return None
    if data == "n":
        return NextTask()
    if data == "n:e":
        return NextTask(in_place=True)
    if data in ("l:en", "l:zh"):
        return SetLanguage(data[2:])
    setting = re.fullmatch(r"g:([maqz])(?::(0|[1-9][0-9]?))?", data)
    if setting:
        value = setting.group(2)
        return Setting(setting.group(1), int(value) if value is not None else None)
    for pattern, kind in _PATTERNS:
        match = pattern.fullmatch(data)
        if match:
            return kind(*(int(g) for g in match.groups()))
    return None
