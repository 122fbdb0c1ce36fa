"""Blind coding: whose decisions on a document a user may see.

Agreement between coders means something only when each coder decided without seeing the others'
codes first. So, with the setting ``blind_coding`` on (the default), one rule decides it, here
and nowhere else:

- an admin sees every decision (they run the study, and open documents for discussion);
- on a document an admin has opened for discussion, everyone sees every decision;
- otherwise a coder sees only their own decisions, beside the model's suggestions.

With the setting off every document counts as open. Every read of decisions goes through this
rule: the API's document and segment answers, the pages, the agreement report and its
disagreements. Coders' names and how many segments each has decided stay visible (the progress
on the documents page): they tell who is busy, not what anyone decided.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_

from .tables import Decision, Document, User


def coding_is_blind(blind_coding: bool, discussion_opened_at: dt.datetime | None) -> bool:
    """Whether decisions on a document with this discussion state are hidden from other coders now."""
    return blind_coding and discussion_opened_at is None


def decision_is_blind(blind_coding: bool, discussion_opened_at: dt.datetime | None, coder: User) -> bool:
    """Whether a decision made now is made blind: its coder cannot see the other coders' decisions."""
    return coding_is_blind(blind_coding, discussion_opened_at) and coder.role != "admin"


@dataclass(frozen=True)
class Viewer:
    """Who is reading decisions, with what they need for the rule."""

    user_id: int
    is_admin: bool
    blind_coding: bool

    @classmethod
    def of(cls, user: User, blind_coding: bool) -> Viewer:
        return cls(user_id=user.id, is_admin=user.role == "admin", blind_coding=blind_coding)

    def sees_others_on(self, document: Document) -> bool:
        """May this viewer see other coders' decisions on this document?"""
        return self.is_admin or not coding_is_blind(self.blind_coding, document.discussion_opened_at)

    def may_see(self, document: Document, coder_id: int) -> bool:
        return coder_id == self.user_id or self.sees_others_on(document)

    def decisions_filter(self) -> ColumnElement[bool] | None:
        """The same rule as a condition on a query over Decision joined with its segment's Document;
        None when the viewer sees everything."""
        if self.is_admin or not self.blind_coding:
            return None
        return or_(Decision.coder_id == self.user_id, Document.discussion_opened_at.is_not(None))
