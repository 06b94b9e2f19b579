"""A journey's map with live counts: the graph (`domain.journey_map`) of the version new
leads pin (`journey_spec`: the latest published, else the file), and per step the leads
there now, counted by Temporal visibility on the `JourneyVersion` / `JourneyStep` search
attributes the lead journey upserts, each with the Web UI's list filtered the same way.

Counts come from visibility, which lags a running workflow's upsert by a moment; a lead
that has left is at no step (its JourneyStep is unset).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import quote

from temporalio.client import Client

from domain.journey_map import JourneyMap, layout
from domain.journeys import list_journeys
from mops.settings import Settings
from starter.service.errors import NotFound
from starter.service.leads import journey_spec


@dataclass(frozen=True)
class StepHere:
    step_id: str
    position: int
    leads: int  # running leads at this step now
    query: str  # the visibility query that counted them
    url: str  # the Web UI's workflow list filtered by that query


def step_query(journey_id: str, version: int, position: int) -> str:
    # journey ids are lower-case letters, digits and dashes (JOURNEY_ID_PATTERN): safe in a quoted literal
    return (
        f"WorkflowType = 'LeadJourney' AND ExecutionStatus = 'Running' AND JourneyId = '{journey_id}' "
        f"AND JourneyVersion = {version} AND JourneyStep = {position}"
    )


class JourneyMapService:
    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    def journey_ids(self) -> list[str]:
        return list_journeys(self._settings.journeys_dir)

    def map(self, journey_id: str) -> JourneyMap:
        """The graph of the version new leads of `journey_id` pin; NotFound for no such journey,
        an InputError naming the problem for a file that does not load."""
        if journey_id not in self.journey_ids():
            raise NotFound(f"journey: no journey {journey_id!r}")
        return layout(journey_spec(self._settings, journey_id))

    def workflows_url(self, query: str) -> str:
        s = self._settings
        return (
            f"{s.web_ui_url}/namespaces/{quote(s.temporal_namespace, safe='')}/workflows?query={quote(query, safe='')}"
        )

    async def here(self, graph: JourneyMap) -> dict[str, StepHere]:
        """Step id -> the running leads at that step now (one visibility count per step)."""

        async def count(step_id: str, position: int) -> StepHere:
            query = step_query(graph.journey_id, graph.version, position)
            found = await self._client.count_workflows(query)
            return StepHere(step_id, position, found.count, query, self.workflows_url(query))

        counted = await asyncio.gather(*(count(n.step_id, n.position) for n in graph.nodes))
        return {c.step_id: c for c in counted}
