"""The order in which an exclusive plan offers a lead to its partners: the highest priority
first, then the highest price, and among partners equal in both, a draw weighted by their weights.

The draw is rendezvous hashing: each (lead, partner) pair gets a fixed pseudo-random score from a
hash, scaled by the partner's weight, and the best score wins. Over many leads each partner wins
in proportion to its weight, and a lead's order never changes between two looks at it: a round
planned again after a crash offers every lead to the same partner as before.
"""

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Terms:
    partner_id: int
    priority: int
    price: Decimal
    weight: int

    @classmethod
    def of(cls, partner) -> "Terms":
        return cls(partner.pk, partner.priority, partner.price_per_push, max(partner.weight, 1))


def draw(lead_id: int, terms: Terms) -> float:
    """The weighted score of a pair: larger wins (-1/ln(u) grows with u, scaled by the weight,
    so P(win) is proportional to weight among equals)."""
    digest = hashlib.blake2b(f"{lead_id}:{terms.partner_id}".encode(), digest_size=8).digest()
    u = (int.from_bytes(digest, "big") + 0.5) / 2**64  # in (0, 1)
    return terms.weight / -math.log(u)


def ranked(lead_id: int, candidates: Iterable[Terms]) -> list[Terms]:
    """The candidates, the one to offer the lead to first at the head."""
    return sorted(
        candidates,
        key=lambda t: (t.priority, t.price, draw(lead_id, t)),
        reverse=True,
    )


def best(lead_id: int, candidates: Iterable[Terms]) -> Terms | None:
    order = ranked(lead_id, candidates)
    return order[0] if order else None
