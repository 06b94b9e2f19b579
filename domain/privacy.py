"""Which workflows hold one lead's personal data: ids scoped to a lead.

Every workflow that carries a lead's address or name has an id made of a prefix and
the lead id (a keyed hash of the address, 24 hex):

    lead-<id>           the lead's journey (workflows/lead_journey.py)
    contact-sync-<id>   the lead's contact record kept in sync (workflows/contact_sync.py)
    erasure-<id>        the lead's right-to-erasure run (workflows/erasure.py)
    form-confirm-<form>-<id>  a public form's pending double opt-in (workflows/form_confirmation.py)

The payload codec reads the lead from the workflow id (mops/codec.py), so everything
these workflows store is encrypted under that lead's own data key and is shredded with
it. Workflows of anything else (content, campaigns, the owner router, reconciliation
runs) never carry a lead's address or name: they name leads by id only.
"""

from __future__ import annotations

import re

LEAD_ID_PATTERN = re.compile(r"^[0-9a-f]{24}$")
# The workflow type of the `form-confirm-` runs: an erasure lists them, as their ids name a form.
FORM_CONFIRMATION_TYPE = "FormConfirmation"
# Every form's pending double opt-ins; an erasure keeps those of its lead (`lead_of_workflow`).
RUNNING_CONFIRMATIONS = f"WorkflowType = '{FORM_CONFIRMATION_TYPE}' AND ExecutionStatus = 'Running'"
LEAD_SCOPED_PREFIXES = ("lead", "contact-sync", "erasure")
# A pending double opt-in is one per form and person: its prefix names the form (FORM_ID_PATTERN).
_FORM_CONFIRM = r"form-confirm-[a-z0-9][a-z0-9-]{0,62}"
_SCOPED = re.compile(
    r"^(?:" + "|".join([*(re.escape(p) for p in LEAD_SCOPED_PREFIXES), _FORM_CONFIRM]) + r")-([0-9a-f]{24})$"
)


def lead_of_workflow(workflow_id: str | None) -> str | None:
    """The lead whose data a workflow holds, from its id; None for any other workflow."""
    if not workflow_id:
        return None
    match = _SCOPED.fullmatch(workflow_id)
    return match.group(1) if match else None


def bare_lead_id(lead_id: str) -> str:
    """`lead-<id>` or `<id>` -> `<id>`; ValueError for anything else."""
    bare = lead_id.removeprefix("lead-")
    if not LEAD_ID_PATTERN.fullmatch(bare):
        raise ValueError("lead: expected the 24-hex lead id (with or without `lead-`)")
    return bare


def contact_sync_workflow_id(lead_id: str) -> str:
    return f"contact-sync-{bare_lead_id(lead_id)}"


def erasure_workflow_id(lead_id: str) -> str:
    return f"erasure-{bare_lead_id(lead_id)}"


__all__ = [
    "FORM_CONFIRMATION_TYPE",
    "LEAD_SCOPED_PREFIXES",
    "lead_of_workflow",
    "bare_lead_id",
    "contact_sync_workflow_id",
    "erasure_workflow_id",
]
