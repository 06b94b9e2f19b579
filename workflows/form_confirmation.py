"""One pending double opt-in: a public form's post waiting for the person to follow the
emailed link (orchestration only, no I/O).

Workflow type `FormConfirmation`, id `form-confirm-<form>-<keyed hash of the address>`
(`domain/forms.py` `confirmation_id`): one per form and person, so a second post while one
is pending finds it (the gateway starts it with USE_EXISTING) and sends no second email.

1. `forms.send_confirmation` (email queue): the one confirmation email, with the signed link.
2. Wait for the `confirm` update until `expires_at` (the link's own expiry).
3. Confirmed: `forms.start_journey` (workflow queue) applies the capture as posted, its
   `captured_at` the confirmation's time, so the lead's consent record says when it was
   confirmed (its source names the form, the consent text's version and "double opt-in confirmed").
4. The workflow lives on until `expires_at` either way: a post in the window after the
   confirmation sends nothing, and following the link again answers as before (one journey).

An erasure of the person (`workflows/erasure.py`) signals `erase` before it ends the journey:
the workflow closes at once as `erased`, and a pending confirmation starts no journey. An
erase that arrives while the journey is being started lets that start finish first, so the
erasure, which ends the journey next, finds it.

Update: `confirm` (`ConfirmRequest` → `ConfirmationState`), answered once the journey has
started; refused (`confirmation_expired`) once the window has passed, and (`erased`) once
the person is being erased.
Signal: `erase` (`EraseRequest`): end now, start no journey.
Query: `state` → `ConfirmationState` (also the result).
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import contracts as act
    from activities.models import StartFormJourneyInput
    from activities.policies import INTERNAL_RETRY
    from domain.privacy import FORM_CONFIRMATION_TYPE
    from domain.refusals import Refusal
    from workflows.approval import refuse
    from workflows.common import call
    from workflows.form_confirmation_models import ConfirmationState, ConfirmRequest, FormConfirmationInput
    from workflows.privacy_models import EraseRequest


@workflow.defn(name=FORM_CONFIRMATION_TYPE)
class FormConfirmationWorkflow:
    def __init__(self) -> None:
        self._inp: FormConfirmationInput | None = None
        self._state: ConfirmationState | None = None
        self._confirmed_at: datetime | None = None
        self._erased = False

    @workflow.run
    async def run(self, inp: FormConfirmationInput) -> ConfirmationState:
        self._inp = inp
        state = self._state = ConfirmationState(form_id=inp.form_id, status="pending", expires_at=inp.expires_at)
        self._details()
        await call(act.FORMS_SEND_CONFIRMATION, inp.email, queue=inp.email_queue, summary="the confirmation email")
        state.email_sent = True
        self._details()
        # A confirmation its validator took in the same task as the timer fired still counts.
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self._confirmed_at is not None or self._erased, timeout=self._left())
        if self._erased:
            return await self._end_erased()
        if self._confirmed_at is None:
            state.status = "expired"
            self._details()
            return state
        capture = inp.capture.model_copy(update={"captured_at": self._confirmed_at})
        started = await call(
            act.FORMS_START_JOURNEY,
            StartFormJourneyInput(capture=capture, journey=inp.journey, conversions=inp.conversions),
            queue=inp.workflow_queue,
            summary="start the confirmed lead's journey",
            retry=INTERNAL_RETRY,
        )
        state.status, state.confirmed_at = "confirmed", self._confirmed_at
        state.lead_workflow_id, state.refused = started.lead_workflow_id, started.refused
        self._details()
        # Kept until the link expires: a post in the window finds this run and sends nothing.
        if (left := self._left()) > timedelta(0):
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self._erased, timeout=left)
        if self._erased:
            return await self._end_erased()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return state

    async def _end_erased(self) -> ConfirmationState:
        # The journey (if one started) is the erasure's to end; this run keeps nothing.
        state = self.state()
        state.status = "erased"
        self._details()
        await workflow.wait_condition(workflow.all_handlers_finished)  # a pending confirm is refused
        return state

    def _left(self) -> timedelta:
        assert self._inp is not None
        return max(self._inp.expires_at - workflow.now(), timedelta(0))

    @workflow.update
    async def confirm(self, req: ConfirmRequest) -> ConfirmationState:
        if self._confirmed_at is None and not self._erased:
            self._confirmed_at = workflow.now()
        await workflow.wait_condition(lambda: self.state().status != "pending")
        if self.state().status == "erased":
            refuse(Refusal.ERASED, "erased: this person's data is being deleted")
        return self.state()

    @confirm.validator
    def _may_confirm(self, req: ConfirmRequest) -> None:
        state = self.state()
        if self._erased or state.status == "erased":
            refuse(Refusal.ERASED, "erased: this person's data is being deleted")
        if state.status == "expired" or (self._confirmed_at is None and workflow.now() >= state.expires_at):
            refuse(Refusal.CONFIRMATION_EXPIRED, "expired: send the form again for a new link")

    @workflow.signal
    def erase(self, req: EraseRequest) -> None:
        self._erased = True

    @workflow.query
    def state(self) -> ConfirmationState:
        assert self._state is not None
        return self._state

    def _details(self) -> None:
        s = self.state()
        at = f" at {s.confirmed_at:%Y-%m-%d %H:%M:%S} UTC" if s.confirmed_at else ""
        until = f"{s.expires_at:%Y-%m-%d %H:%M} UTC"
        workflow.set_current_details(f"Form `{s.form_id}` · {s.status}{at} · link until {until}")
