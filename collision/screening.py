"""Who may not be sent to a partner at all, checked or pushed: a person on the do-not-contact
list (免打扰名单), or a lead outside the partner's 接收条件. One screen for both services, so no
path (admin, command, job, distribution) checks or pushes someone it should not.

The screen reads plain columns and the list's reason through one annotation; the ID number is
decrypted (for the age) only when the partner has an age rule.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from leads.do_not_contact import listed_reason, reason_label
from leads.models import Lead
from partners.eligibility import LEAD_COLUMNS, EligibilityRules, age_on
from partners.models import Partner

DO_NOT_CONTACT = "do_not_contact"
NOT_ELIGIBLE = "not_eligible"


@dataclass(frozen=True)
class Screen:
    rules: EligibilityRules
    today: date

    @classmethod
    def of(cls, partner: Partner) -> "Screen":
        return cls(EligibilityRules.of(partner), timezone.localdate())

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns ``refusal`` reads from a row of ``annotate``'s queryset."""
        return ("do_not_contact", *LEAD_COLUMNS, *(("pii",) if self.rules.needs_age else ()))

    def annotate(self, leads: QuerySet[Lead]) -> QuerySet[Lead]:
        return leads.annotate(do_not_contact=listed_reason())

    def refusal(self, row: Mapping[str, Any]) -> tuple[str, str] | None:
        """``(DO_NOT_CONTACT | NOT_ELIGIBLE, detail)``, or ``None`` when the lead may go."""
        if row["do_not_contact"]:
            return DO_NOT_CONTACT, reason_label(row["do_not_contact"])
        if self.rules.is_empty:
            return None
        age = age_on(row["pii"].get("id_number", ""), self.today) if self.rules.needs_age else None
        if reason := self.rules.refusal(row, age=age):
            return NOT_ELIGIBLE, reason
        return None

    def split(self, leads: QuerySet[Lead]) -> tuple[list[int], list[tuple[int, str, str]]]:
        """The ids that may go (ascending), and ``(id, reason, detail)`` for those that may not."""
        allowed, refused = [], []
        rows = self.annotate(leads).order_by("pk").values("pk", *self.columns)
        for row in rows.iterator(chunk_size=2000):
            if refusal := self.refusal(row):
                refused.append((row["pk"], *refusal))
            else:
                allowed.append(row["pk"])
        return allowed, refused
