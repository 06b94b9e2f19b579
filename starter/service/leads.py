"""Python API for other services: capture leads, record events, decide, inspect.

Everything here validates input before it talks to Temporal, so bad input starts
nothing. The CLI (`mops lead ...`) and the gateway are thin layers over this.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from domain.click_ids import ClickIds
from domain.conversions import DealConversion
from domain.journeys import JourneyError, JourneySpec, load_journey
from domain.leads import EngagementEvent, LeadCapture, Utm, lead_key, lead_workflow_id
from domain.refusals import Refusal, Refused
from mops.settings import Settings
from starter.service.conversion_plans import conversion_plan
from starter.service.errors import InputError, NotFound
from starter.service.journeys import published_spec
from starter.service.updates import execute_update
from workers.lead_start import start_or_touch
from workflows.lead_journey import LeadJourneyWorkflow
from workflows.lead_models import (
    CaptureResult,
    LeadState,
    SalesDecision,
    SalesDecisionResult,
    UnsubscribeRequest,
)


class LeadInputError(InputError):
    """Input we refuse, with a one-line message naming the field."""


class LeadNotFound(NotFound):
    """No running journey for that lead."""

    code = "lead_not_found"


def first_error(err: ValidationError) -> str:
    e = err.errors()[0]
    field = ".".join(str(p) for p in e["loc"]) or "input"
    msg = e["msg"].removeprefix("Value error, ")
    return f"{field}: {msg}"


def build_capture(settings: Settings, *, journey: JourneySpec | None = None, **fields) -> LeadCapture:
    """Validate raw fields into a LeadCapture (LeadInputError on bad input). A
    `landing_url` gives the utm_* parameters and ad click ids its query carries; fields
    given explicitly win over the URL's. `journey`: the spec of the capture's journey when
    the caller has resolved it already (an import, once for its whole file)."""
    fields = {k: v for k, v in fields.items() if v is not None}
    if (landing_url := fields.pop("landing_url", None)) is not None:
        fields.update(_from_landing_url(str(landing_url), fields))
    fields.setdefault("capture_id", str(uuid.uuid4()))
    fields.setdefault("captured_at", datetime.now(UTC))
    fields.setdefault("journey_id", settings.default_journey)
    try:
        capture = LeadCapture(**fields)
    except ValidationError as err:
        raise LeadInputError(first_error(err)) from None
    if journey is None or journey.id != capture.journey_id:
        journey = journey_spec(settings, capture.journey_id)
    if journey.requires_consent and not capture.consent:
        raise LeadInputError(f"consent: journey '{journey.id}' requires marketing consent (pass --consent)")
    return capture


def _from_landing_url(url: str, fields: dict) -> dict:
    found: dict = {}
    if "utm" not in fields and (utm := Utm.from_url(url)) is not None:
        found["utm"] = utm
    try:
        from_url = ClickIds.from_url(url)
    except ValidationError as err:
        raise LeadInputError("landing_url." + first_error(err)) from None
    if from_url is not None:
        explicit = fields.get("click_ids")
        try:
            given = ClickIds.model_validate(explicit) if explicit is not None else None
        except ValidationError as err:
            raise LeadInputError("click_ids." + first_error(err)) from None
        found["click_ids"] = from_url.merged(given)
    return found


def journey_spec(settings: Settings, journey_id: str) -> JourneySpec:
    """The journey a new run pins: its latest published version (`mops journeys publish`),
    or, for a journey never published, its files as they are now (LeadInputError when they
    do not load; parsed once per version of the files)."""
    published = published_spec(settings, journey_id)
    if published is not None:
        return published
    journeys_dir = Path(settings.journeys_dir)
    try:
        files = [journeys_dir / f"{journey_id}.yaml", *sorted((journeys_dir / "scoring").glob("*.yaml"))]
        stamp = tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files if f.is_file())
        return _parsed_journey(journeys_dir, journey_id, stamp)
    except JourneyError as err:
        raise LeadInputError(f"journey: {err}") from None


@functools.lru_cache(maxsize=64)
def _parsed_journey(journeys_dir: Path, journey_id: str, stamp: tuple) -> JourneySpec:
    return load_journey(journeys_dir, journey_id)  # `stamp` keys the cache on the files' versions


def build_event(**fields) -> EngagementEvent:
    fields = {k: v for k, v in fields.items() if v is not None}
    fields.setdefault("event_id", str(uuid.uuid4()))
    fields.setdefault("at", datetime.now(UTC))
    try:
        return EngagementEvent(**fields)
    except ValidationError as err:
        raise LeadInputError(first_error(err)) from None


class LeadService:
    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    # ids ------------------------------------------------------------------

    def lead_id(self, email: str) -> str:
        try:
            return lead_key(email, self._settings.lead_id_secret.get_secret_value())
        except ValueError as err:
            raise LeadInputError(str(err)) from None

    def workflow_id(self, *, email: str | None = None, lead_id: str | None = None) -> str:
        if lead_id:
            return lead_id if lead_id.startswith("lead-") else lead_workflow_id(lead_id)
        if email:
            return lead_workflow_id(self.lead_id(email))
        raise LeadInputError("lead: give an email or a lead id")

    # capture ---------------------------------------------------------------

    async def capture(self, capture: LeadCapture) -> CaptureResult:
        """Start the lead's journey, or record a touch on the running one (update-with-start).

        Raises `Refused` (`reentry_refused`) when the journey's `reentry` policy does not take
        this person again yet: the run that was started to decide it has ended, touching nothing."""
        self.lead_id(capture.email)  # a missing id secret is refused here, before anything starts
        result = await start_or_touch(
            self._client,
            self._settings,
            capture,
            journey=journey_spec(self._settings, capture.journey_id),
            conversions=conversion_plan(self._settings, capture),
        )
        if result.refused is not None:
            raise Refused(Refusal.REENTRY_REFUSED, result.refused)
        return result

    # messages ----------------------------------------------------------------

    def handle(self, *, email: str | None = None, lead_id: str | None = None) -> WorkflowHandle:
        return self._client.get_workflow_handle(self.workflow_id(email=email, lead_id=lead_id))

    async def record_event(
        self, event: EngagementEvent, *, email: str | None = None, lead_id: str | None = None
    ) -> None:
        await self._signal(self.handle(email=email, lead_id=lead_id), LeadJourneyWorkflow.event, event)

    async def unsubscribe(self, *, email: str | None = None, lead_id: str | None = None, source: str = "api") -> None:
        req = UnsubscribeRequest(source=source, at=datetime.now(UTC))
        await self._signal(self.handle(email=email, lead_id=lead_id), LeadJourneyWorkflow.unsubscribe, req)

    async def sales_decision(
        self, decision: SalesDecision, *, email: str | None = None, lead_id: str | None = None
    ) -> SalesDecisionResult:
        """Raises `Refused` (not_the_owner, not_waiting_for_sales_decision) when the journey refuses."""
        return await execute_update(
            self.handle(email=email, lead_id=lead_id),
            LeadJourneyWorkflow.decide_sales,
            decision,
            not_found=LeadNotFound("lead: no running journey for that lead (never captured, or already ended)"),
        )

    async def state(self, *, email: str | None = None, lead_id: str | None = None) -> LeadState:
        try:
            return await self.handle(email=email, lead_id=lead_id).query(LeadJourneyWorkflow.state)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise LeadNotFound("lead: no journey found for that lead") from None
            raise

    async def deal_conversions(self, *, email: str | None = None, lead_id: str | None = None) -> list[DealConversion]:
        """The lead's won deals as sent to the ad platforms (or why not), from the analytics
        store where the collection records them: the journey has usually ended by then,
        so they are not in its state. None before any collection made the store."""
        wf_id = self.workflow_id(email=email, lead_id=lead_id)
        path = self._settings.analytics_store_file
        if not path.exists():
            return []
        from integrations.analytics_store import DuckDBStore  # DuckDB only for this call: the gateway never loads it

        return await asyncio.to_thread(DuckDBStore(path).deal_conversions, wf_id)

    async def _signal(self, handle: WorkflowHandle, signal, arg) -> None:
        try:
            await handle.signal(signal, arg)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise LeadNotFound(
                    "lead: no running journey for that lead (never captured, or already ended)"
                ) from None
            raise
