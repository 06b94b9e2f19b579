"""What the worker hosts for data protection: the contact sync, erasure and
reconciliation workflows, and their activities on the platform queues they call.

`build_workers` (workers/main.py) adds `PrivacyWorkerParts.on(queue)` to each queue's
activities (so the CRM queue's rate limit also covers sync writes to the CRM) and the
CDP's own queue when a CDP is configured, and closes the parts' HTTP clients with its own.
It hands in what it shares (the metrics observer), so this module needs nothing of main's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from temporalio.client import Client

from activities.privacy import PrivacyActivities
from activities.sync import SyncActivities
from integrations.braze import BrazeClient
from integrations.http import Observer
from integrations.hubspot_contacts import HubSpotContactsClient
from integrations.meta_audiences import MetaAudienceClient
from integrations.sendgrid_contacts import SendGridContactsClient
from mops.queues import sync_queues
from mops.settings import Settings
from workers.credentials import token_for
from workers.queue_specs import Activity, QueueSpec
from workflows.contact_sync import ContactSyncWorkflow
from workflows.erasure import LeadErasureWorkflow
from workflows.reconcile import ReconciliationWorkflow

PRIVACY_WORKFLOWS = [ContactSyncWorkflow, LeadErasureWorkflow, ReconciliationWorkflow]


@dataclass
class PrivacyClients:
    hubspot: HubSpotContactsClient
    sendgrid: SendGridContactsClient
    meta: MetaAudienceClient
    braze: BrazeClient | None

    @classmethod
    def from_settings(cls, settings: Settings) -> PrivacyClients:
        t = settings.http_timeout_seconds
        return cls(
            hubspot=HubSpotContactsClient(
                settings.hubspot_base_url, settings.hubspot_token.get_secret_value(), timeout=t
            ),
            sendgrid=SendGridContactsClient(
                settings.sendgrid_base_url, settings.sendgrid_api_key.get_secret_value(), timeout=t
            ),
            meta=MetaAudienceClient(
                settings.meta_base_url,
                token_for(settings, "meta"),
                ad_account_id=settings.meta_ad_account_id,
                api_version=settings.meta_api_version,
                timeout=t,
            ),
            braze=BrazeClient(settings.braze_base_url, settings.braze_api_key.get_secret_value(), timeout=t)
            if settings.braze_base_url
            else None,
        )

    def all(self) -> list:
        return [c for c in (self.hubspot, self.sendgrid, self.meta, self.braze) if c is not None]

    async def aclose(self) -> None:
        for c in self.all():
            await c.aclose()


@dataclass
class PrivacyWorkerParts:
    by_queue: dict[str, list[Activity]] = field(default_factory=dict)
    own_queues: list[QueueSpec] = field(default_factory=list)
    clients: PrivacyClients | None = None

    def on(self, queue: str) -> list[Activity]:
        return self.by_queue.get(queue, [])

    async def aclose(self) -> None:
        if self.clients is not None:
            await self.clients.aclose()


def privacy_parts(client: Client, settings: Settings, *, observer: Observer | None = None) -> PrivacyWorkerParts:
    """The activities per queue; `observer` counts their platform calls like the worker's
    others. The caller closes the parts (`aclose`) with its own HTTP clients."""
    clients = PrivacyClients.from_settings(settings)
    for c in clients.all():
        c.observer = observer
    queues = sync_queues(settings)
    sync = SyncActivities(
        client,
        hubspot=clients.hubspot,
        sendgrid=clients.sendgrid,
        meta=clients.meta,
        braze=clients.braze,
        queues=queues,
        audience_id=settings.meta_audience_id,
    )
    privacy = PrivacyActivities(
        client,
        hubspot=clients.hubspot,
        sendgrid=clients.sendgrid,
        meta=clients.meta,
        braze=clients.braze,
        audience_id=settings.meta_audience_id,
    )
    parts = PrivacyWorkerParts(clients=clients)
    on_queues: list[tuple[str, list[Activity]]] = [
        (queues.workflows, [sync.publish, sync.scan, sync.repair, privacy.end_lead_workflows]),
        (queues.crm, [sync.push_crm, privacy.erase_crm]),
        (queues.email, [sync.push_email, privacy.erase_email]),
        (queues.meta, [sync.push_audience, privacy.erase_audience]),
    ]
    for queue, activities in on_queues:
        parts.by_queue.setdefault(queue, []).extend(activities)
    if clients.braze is not None:
        parts.own_queues.append((queues.cdp, None, [sync.push_cdp, privacy.erase_cdp], settings.cdp_max_per_second))
    return parts
