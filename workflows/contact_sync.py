"""One lead's contact record, kept consistent between CRM, email platform and CDP.

Workflow type `ContactSync`, id `contact-sync-<lead id>` (lead-scoped: encrypted under
the lead's own key). Started by signal-with-start from whoever sees a change first: the
lead's journey (`sync.publish`), a CRM webhook, an opt-out (`starter.service.privacy`).
A journey's first change comes with `origin="crm"`: its own CRM upsert wrote it there.

Signals
- `change(ContactChange)`: owned fields and/or consent as a source saw them. Merged
  into the golden record by `domain.sync.merge` (latest source timestamp per field;
  consent: latest record, withdrawal wins ties); duplicates (same `change_id`) ignored.
- `reconcile(ReconcileRequest)`: the platforms drifted; write the record to them again.
- `erase(EraseRequest)`: end now (the erasure workflow deletes the platforms' copies).

Queries
- `state() -> SyncView` (holds the address: for mops's own use, never served).

Each platform has its own loop that writes the platform's view of the record
(`domain.sync.platform_state`, absolute values) whenever it differs from what that
platform was last sent, so a slow platform never delays the others. A change read from
a platform is not written back to it unless part of it lost the merge.
"""

from __future__ import annotations

import asyncio
import hashlib
import json

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from activities.contracts import ErrorType
    from activities.privacy_models import ContactSyncInput, PushContactInput, SyncView
    from domain.sync import MAX_SEEN_CHANGES, ContactChange, SyncSnapshot, merge, platform_state
    from workflows.common import call, continue_as_new_due, is_type, reason
    from workflows.contact_sync_models import ContactSyncResult, ReconcileRequest
    from workflows.privacy_models import EraseRequest

PUSH_ACTIVITY = {
    "crm": act.SYNC_PUSH_CRM,
    "email": act.SYNC_PUSH_EMAIL,
    "cdp": act.SYNC_PUSH_CDP,
    "ads": act.SYNC_PUSH_AUDIENCE,
}


@workflow.defn(name="ContactSync")
class ContactSyncWorkflow:
    @workflow.init
    def __init__(self, inp: ContactSyncInput) -> None:
        self._s = inp.snapshot or SyncSnapshot()
        self._inp = inp
        self._platforms = [p for p in inp.platforms if p in PUSH_ACTIVITY]
        self._busy: set[str] = set()
        self._stopping = False
        self._errors: dict[str, str] = {}

    @workflow.run
    async def run(self, inp: ContactSyncInput) -> ContactSyncResult:
        loops = [asyncio.create_task(self._platform_loop(p)) for p in self._platforms]
        self._publish_details()
        await workflow.wait_condition(
            lambda: self._s.erased or (continue_as_new_due(inp.continue_as_new_after_events) and not self._dirty_any())
        )
        self._stopping = True
        # Never leave a write in flight: an erasure deletes the platforms' copies right
        # after this run ends, and a late write would bring one back.
        await workflow.wait_condition(lambda: not self._busy)
        await asyncio.gather(*loops, return_exceptions=True)
        if not self._s.erased:
            await workflow.wait_condition(workflow.all_handlers_finished)
            workflow.continue_as_new(inp.model_copy(update={"snapshot": self._s}))
        return ContactSyncResult(lead_id=inp.lead_id, erased=True, version=self._s.version)

    # ------------------------------------------------------------- handlers

    @workflow.signal(name="change")
    def change(self, c: ContactChange) -> None:
        s = self._s
        if s.erased or c.change_id in s.seen:
            return
        s.seen = (s.seen + [c.change_id])[-MAX_SEEN_CHANGES:]
        if c.contact_id and not s.contact_id:
            s.contact_id = c.contact_id
        origin = c.origin if c.origin in self._platforms else None
        origin_was_current = origin is not None and s.pushed.get(origin) == self._fingerprint(origin)
        result = merge(s.record, c)
        s.changes_applied += 1
        if result.changed:
            s.version += 1
        if origin is not None and origin_was_current and result.origin_current:
            s.pushed[origin] = self._fingerprint(origin) or ""  # it already holds what it sent us
        self._publish_details()

    @workflow.signal(name="reconcile")
    def reconcile(self, req: ReconcileRequest) -> None:
        for p in req.platforms or self._platforms:
            self._s.pushed.pop(p, None)

    @workflow.signal(name="erase")
    def erase(self, req: EraseRequest) -> None:
        self._s.erased = True

    @workflow.query(name="state")
    def state(self) -> SyncView:
        s = self._s
        return SyncView(
            lead_id=self._inp.lead_id,
            email=self._inp.email,
            fields=s.record.fields,
            consent=s.record.consent,
            version=s.version,
            pushed=s.pushed,
            pending=[p for p in self._platforms if self._dirty(p)],
            contact_id=s.contact_id,
            changes_applied=s.changes_applied,
            platforms=self._platforms,
        )

    # ---------------------------------------------------------------- pushes

    def _fingerprint(self, platform: str) -> str | None:
        view = platform_state(self._s.record, platform)
        if view is None:
            return None
        text = json.dumps(view, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _dirty(self, platform: str) -> bool:
        fingerprint = self._fingerprint(platform)
        return fingerprint is not None and self._s.pushed.get(platform) != fingerprint

    def _dirty_any(self) -> bool:
        return any(self._dirty(p) for p in self._platforms) or bool(self._busy)

    async def _platform_loop(self, platform: str) -> None:
        while True:
            await workflow.wait_condition(lambda: self._stopping or self._dirty(platform))
            if self._stopping:
                return
            self._busy.add(platform)
            try:
                await self._push(platform)
            finally:
                self._busy.discard(platform)
            # Not in the finally: when the worker evicts this run, the coroutine is closed
            # with GeneratorExit outside the workflow's event loop, where no workflow API works.
            self._publish_details()

    async def _push(self, platform: str) -> None:
        s = self._s
        fingerprint = self._fingerprint(platform)
        inp = PushContactInput(
            lead_id=self._inp.lead_id,
            email=self._inp.email,
            values=s.record.values(),
            consent=s.record.consent,
            contact_id=s.contact_id,
            audience_id=self._inp.audience_id,
            version=s.version,
        )
        queue = {
            "crm": self._inp.queues.crm,
            "email": self._inp.queues.email,
            "cdp": self._inp.queues.cdp,
            "ads": self._inp.queues.meta,
        }[platform]
        try:
            res = await call(
                PUSH_ACTIVITY[platform],
                inp,
                queue=queue,
                summary=f"sync contact to {platform} (v{s.version})",
            )
        except ActivityError as err:
            if not is_type(err, ErrorType.PLATFORM_REJECTED):
                raise
            # The platform refuses this record (retrying cannot help): noted, and left
            # for reconciliation to report; the next change is tried again.
            self._errors[platform] = reason(err)
            s.pushed[platform] = fingerprint or ""
            return
        self._errors.pop(platform, None)
        if res.contact_id and not s.contact_id:
            s.contact_id = res.contact_id
        s.pushed[platform] = fingerprint or ""

    def _publish_details(self) -> None:
        pending = [p for p in self._platforms if self._dirty(p)]
        lines = [
            f"**Version:** {self._s.version}  ·  **Changes:** {self._s.changes_applied}",
            f"**Pending:** {', '.join(pending) or 'none'}",
        ]
        if self._errors:
            lines.append("**Refused:** " + ", ".join(f"{p} ({code})" for p, code in sorted(self._errors.items())))
        workflow.set_current_details("\n\n".join(lines))
