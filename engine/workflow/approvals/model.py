"""Approval processes as the state machine reads them: defaults, the decision rule of a step, and
the outcome of a step from its votes. Pure functions, no database.

A step's votes are counted per *slot*: each approver the step started with holds one slot; the
manager a deadline escalates to and the user an item is reassigned to answer for the same slot,
so a vote is never counted twice.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_LOCK = "approvers_and_admins"
ACTION_KEYS = ("on_submit", "on_approve", "on_reject", "on_recall")


def label_of(doc):
    return doc.get("label") or doc["name"]


def active_processes(object_doc):
    """The active approval processes of an object document, in the order they are tried."""
    docs = [d for d in object_doc.get("approval_processes") or [] if isinstance(d, dict)]
    ordered = sorted(enumerate(docs), key=lambda p: (p[1].get("order", 0), p[0]))
    return [d for _i, d in ordered if d.get("active", True)]


def lock_mode(process):
    return process.get("lock", DEFAULT_LOCK)


@dataclass(frozen=True)
class Decision:
    """How a step decides: ``rule`` (first | unanimous | quorum | percent) and its number."""

    rule: str
    number: int = 0           # quorum: approvals needed; percent: the percentage

    def required(self, slots):
        """Approvals needed when the step starts with ``slots`` approvers."""
        if self.rule == "first":
            return 1
        if self.rule == "unanimous":
            return slots
        if self.rule == "quorum":
            return self.number
        return max(1, math.ceil(self.number * slots / 100))

    def describe(self):
        return {"first": "first answer decides", "unanimous": "all must approve",
                "quorum": f"{self.number} approvals", "percent": f"{self.number}% of the approvers"}[self.rule]


def parse_decision(value):
    """``(Decision, None)`` or ``(None, problem)`` for a step's ``decision`` (default ``"first"``)."""
    if value is None or value == "first":
        return Decision("first"), None
    if value == "unanimous":
        return Decision("unanimous"), None
    if isinstance(value, dict) and len(value) == 1:
        (key, number), = value.items()
        if key == "quorum":
            if isinstance(number, int) and not isinstance(number, bool) and 1 <= number <= 100:
                return Decision("quorum", number), None
            return None, f"quorum must be a whole number of approvals between 1 and 100 (got {number!r})"
        if key == "percent":
            if isinstance(number, (int, float)) and not isinstance(number, bool) and 0 < number <= 100:
                return Decision("percent", math.ceil(number)), None
            return None, f"percent must be a number above 0 and at most 100 (got {number!r})"
    shown = value if isinstance(value, str) else str(value)[:60]
    return None, (f"must be \"first\", \"unanimous\", {{\"quorum\": N}} or {{\"percent\": P}} "
                  f"(got '{shown}')")


def step_outcome(rule, required, votes):
    """``"approved"``, ``"rejected"`` or None (undecided) for a step whose slots voted ``votes``
    (a list with one entry per slot: ``"approved"``, ``"rejected"`` or None when still open)."""
    approvals = sum(1 for v in votes if v == "approved")
    rejections = sum(1 for v in votes if v == "rejected")
    open_slots = sum(1 for v in votes if v is None)
    if rule == "first":
        if approvals:
            return "approved"
        return "rejected" if rejections else None
    if approvals >= required:
        return "approved"
    if approvals + open_slots < required:
        return "rejected"
    return None
