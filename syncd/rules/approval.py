"""Which vendor approval states mean an entry is still awaiting approval upstream (pure)."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["PENDING_APPROVALS", "is_pending"]

# Per vendor, the `TimeEntry.approval` values (as each connector's normalize() sets them)
# that mean "not yet approved: the figure may still move". Anything else, an unknown
# value or None, is not pending: a shop that does not use approvals must not see every
# line marked.
PENDING_APPROVALS: Mapping[str, frozenset[str]] = {
    # ConnectWise time entry `status`. Open is left out: it is where every entry sits in a
    # shop without time-sheet approval. Rejected entries are back with the technician to fix.
    "connectwise": frozenset({
        "PendingApproval", "PendingProjectApproval", "ErrorsCorrected", "ApprovedByTierOne",
        "Rejected", "RejectBySecondTier",
    }),
    # Harvest `approval_status` is unsubmitted, submitted or approved; unsubmitted is every
    # entry of an account that does not use approvals, so only submitted counts.
    "harvest": frozenset({"submitted"}),
    # Autotask's normalize() sets only "approved" (billingApprovalDateTime stamped) or None;
    # HaloPSA and Toggl set no approval at all: nothing from them is marked pending.
}


def is_pending(vendor: str | None, approval: str | None) -> bool:
    """Whether an entry from ``vendor`` with this approval state awaits approval upstream."""
    if vendor is None or approval is None:
        return False
    return approval in PENDING_APPROVALS.get(vendor, frozenset())
