"""Business rule violations, one small hierarchy. Their message is for the user (Chinese, no
personal data in full) and views and commands show it; they catch these, never ``ValueError``
or other built-in errors, which mean a bug and reach the log and the error page.

    LeadDeskError
    ├── StateConflict       the object is not in a state that allows this (a batch not waiting)
    ├── NotAllowed          this user may not do this (a full export without the grant)
    ├── PartnerUnavailable  the partner may not be called now (inactive, paused, no push URL)
    └── leads.erasure.ErasureRefused  erasure cannot go ahead (nothing was changed)
"""


class LeadDeskError(Exception):
    """A business rule said no; ``str(error)`` is the message for the user."""


class StateConflict(LeadDeskError):
    """The object is not (or no longer) in a state that allows the action: someone else acted
    first, or it was never possible. Nothing was changed."""


class NotAllowed(LeadDeskError):
    """The user may not do this (a permission, or a rule about whose object it is)."""


class PartnerUnavailable(LeadDeskError):
    """The partner may not be called now (inactive, or paused after repeated failures)."""
