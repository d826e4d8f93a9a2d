"""Which vendor approval states mark a line as pending."""

from __future__ import annotations

import pytest

from syncd.rules.approval import is_pending


@pytest.mark.parametrize(
    ("vendor", "approval", "pending"),
    [
        pytest.param("connectwise", "PendingApproval", True, id="cw-pending-approval"),
        pytest.param("connectwise", "PendingProjectApproval", True, id="cw-pending-project-approval"),
        pytest.param("connectwise", "ApprovedByTierOne", True, id="cw-awaiting-second-tier"),
        pytest.param("connectwise", "ErrorsCorrected", True, id="cw-resubmitted"),
        pytest.param("connectwise", "Rejected", True, id="cw-rejected-back-for-fixing"),
        pytest.param("connectwise", "RejectBySecondTier", True, id="cw-rejected-by-second-tier"),
        pytest.param("connectwise", "Open", False, id="cw-open-is-every-entry-without-approvals"),
        pytest.param("connectwise", "ReadyToBill", False, id="cw-ready-to-bill"),
        pytest.param("connectwise", "Billed", False, id="cw-billed"),
        pytest.param("harvest", "submitted", True, id="harvest-submitted"),
        pytest.param("harvest", "unsubmitted", False, id="harvest-unsubmitted"),
        pytest.param("harvest", "approved", False, id="harvest-approved"),
        pytest.param("autotask", "approved", False, id="autotask-approved"),
        pytest.param("autotask", None, False, id="autotask-not-posted-yet"),
        pytest.param("halopsa", "PendingApproval", False, id="other-vendor-values-mean-nothing"),
        pytest.param("connectwise", "SomethingNew", False, id="unknown-value"),
        pytest.param(None, "PendingApproval", False, id="unknown-account"),
        pytest.param("connectwise", None, False, id="no-approval"),
    ],
)
def test_is_pending(vendor: str | None, approval: str | None, pending: bool) -> None:
    assert is_pending(vendor, approval) is pending
