"""The mops worker process: hosts the workflows and every platform's activities.

One `Worker` per task queue. Platform queues carry a server-side rate limit
(`max_task_queue_activities_per_second`), enforced across every worker process
polling that queue, so scaling out workers never breaks a platform's limit.

Every `Worker` here is built with the options of `workers.tuning.worker_config(settings)`
(or the `WorkerConfig` a caller passes): no other path builds workers with other defaults.
`running_workers` applies the rest of that configuration (the workflow bytecode cache) and
logs, once, the configuration the process really runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import Worker, WorkerDeploymentConfig

from activities.ads import GoogleAdsActivities, MetaActivities
from activities.analytics import AnalyticsActivities
from activities.analytics_collect import AnalyticsCollectActivities, ReportMailActivities
from activities.campaigns import CampaignActivities
from activities.chat import ChatActivities
from activities.checks import CheckActivities
from activities.cms import CmsActivities
from activities.conversions import ConversionActivities
from activities.crm import CrmActivities
from activities.deal_conversions import DealConversionActivities, DealLedgerActivities
from activities.email import EmailActivities
from activities.email_once import EmailOnce
from activities.form_confirmation import FormConfirmationActivities
from activities.health import HealthActivities
from activities.journeys import JourneyActivities
from activities.routing import RoutingActivities
from activities.social import SocialActivities
from domain.brand import load_brand_rules
from domain.unsubscribe import unsubscribe_url
from integrations.analytics_store import DuckDBStore
from integrations.ga4 import GA4Client
from integrations.google_conversions import GoogleConversionsClient
from integrations.hubspot import HubSpotClient
from integrations.linkedin import LinkedInClient
from integrations.links import LinkChecker
from integrations.meta_conversions import MetaConversionsClient
from integrations.sendgrid import SendGridClient
from integrations.slack import SlackClient
from integrations.wordpress import WordPressClient
from mops.contact_ledger import SqliteContactLedger
from mops.metrics import MopsMetrics, build_runtime
from mops.queues import platform_queues
from mops.settings import Settings
from workers.accuracy import ensure_accuracy_schedules
from workers.credentials import token_for
from workers.experiments import ExperimentActivities
from workers.form_journeys import FormJourneyActivities
from workers.gc_pauses import watching_gc_pauses
from workers.health_gate import HealthGate, HoldIfDegraded
from workers.health_registry import ensure_health
from workers.journey_migration import MigrationActivities
from workers.lead_import import LeadImportActivities
from workers.privacy import PRIVACY_WORKFLOWS, privacy_parts
from workers.queue_specs import QueueSpec
from workers.tuning import (
    WorkerConfig,
    cache_workflow_bytecode,
    freeze_started_heap,
    running_config,
    share_workflow_code,
    worker_config,
)
from workflows.analytics import AnalyticsCollectionWorkflow, ExecutiveReportWorkflow
from workflows.budget import BudgetReallocationWorkflow
from workflows.campaign import CampaignWorkflow
from workflows.content import ContentWorkflow
from workflows.experiment import JourneyExperimentWorkflow
from workflows.form_confirmation import FormConfirmationWorkflow
from workflows.health import IntegrationHealthCheckWorkflow, IntegrationHealthWorkflow
from workflows.journey_migration import JourneyMigrationWorkflow
from workflows.lead_import import LeadImportWorkflow
from workflows.lead_journey import LeadJourneyWorkflow
from workflows.owner_router import OwnerRouterWorkflow

log = logging.getLogger("mops.worker")

WORKFLOWS = [
    LeadJourneyWorkflow,
    OwnerRouterWorkflow,
    ContentWorkflow,
    CampaignWorkflow,
    BudgetReallocationWorkflow,
    IntegrationHealthWorkflow,
    IntegrationHealthCheckWorkflow,
    LeadImportWorkflow,
    JourneyMigrationWorkflow,
    JourneyExperimentWorkflow,
]
WORKFLOWS += [AnalyticsCollectionWorkflow, ExecutiveReportWorkflow]
WORKFLOWS += [FormConfirmationWorkflow]  # a public form's pending double opt-in
WORKFLOWS += PRIVACY_WORKFLOWS  # contact sync, erasure, reconciliation
GRACEFUL_SHUTDOWN = timedelta(seconds=20)

# One activity worker: its task queue, the platform whose degradation holds its activities
# (None: never held), the activities and the server-side rate limit per second (None: none).


@dataclass
class PlatformClients:
    hubspot: HubSpotClient
    sendgrid: SendGridClient
    slack: SlackClient
    wordpress: WordPressClient
    linkedin: LinkedInClient
    ga4: GA4Client
    links: LinkChecker
    # The ads clients also upload conversions (the Conversions API, click conversions).
    meta: MetaConversionsClient
    google_ads: GoogleConversionsClient
    extra_closers: list[Callable[[], Awaitable[None]]] = field(
        default_factory=list
    )  # other things the worker opened with these

    @classmethod
    def from_settings(cls, settings: Settings, metrics: MopsMetrics | None = None) -> PlatformClients:
        t = settings.http_timeout_seconds
        clients = cls(
            hubspot=HubSpotClient(settings.hubspot_base_url, settings.hubspot_token.get_secret_value(), timeout=t),
            sendgrid=SendGridClient(
                settings.sendgrid_base_url, settings.sendgrid_api_key.get_secret_value(), timeout=t
            ),
            slack=SlackClient(settings.slack_base_url, settings.slack_token.get_secret_value(), timeout=t),
            wordpress=WordPressClient(
                settings.wordpress_base_url,
                settings.wordpress_user,
                settings.wordpress_app_password.get_secret_value(),
                timeout=t,
            ),
            linkedin=LinkedInClient(
                settings.linkedin_base_url,
                token_for(settings, "linkedin"),
                author_urn=settings.linkedin_author,
                api_version=settings.linkedin_api_version,
                timeout=t,
            ),
            ga4=GA4Client(
                settings.ga4_base_url,
                token_for(settings, "ga4"),
                property_id=settings.ga4_property,
                timeout=t,
            ),
            links=LinkChecker(timeout=min(t, 5.0)),
            meta=MetaConversionsClient(
                settings.meta_base_url,
                token_for(settings, "meta"),
                ad_account_id=settings.meta_ad_account_id,
                page_id=settings.meta_page_id,
                api_version=settings.meta_api_version,
                timeout=t,
            ),
            google_ads=GoogleConversionsClient(
                settings.google_ads_base_url,
                token_for(settings, "google_ads"),
                customer_id=settings.google_ads_customer_id,
                developer_token=settings.google_ads_developer_token.get_secret_value(),
                login_customer_id=settings.google_ads_login_customer_id,
                api_version=settings.google_ads_api_version,
                timeout=t,
            ),
        )
        if metrics is not None:  # every platform call counted by outcome, with its latency
            for c in clients.platform_clients():
                c.observer = metrics.platform_call
        return clients

    def platform_clients(self) -> list:
        return [
            self.hubspot,
            self.sendgrid,
            self.slack,
            self.wordpress,
            self.linkedin,
            self.ga4,
            self.meta,
            self.google_ads,
        ]

    async def aclose(self) -> None:
        for c in [*self.platform_clients(), self.links]:
            await c.aclose()
        for close in self.extra_closers:
            await close()


def deployment(settings: Settings) -> WorkerDeploymentConfig:
    """The Worker Deployment version this process announces (its build id). With
    `MOPS_WORKER_VERSIONING` on, the server routes workflow tasks by version and new
    workflows auto-upgrade to the current version; off, the version only identifies."""
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(deployment_name=settings.deployment_name, build_id=settings.build_id),
        use_worker_versioning=settings.worker_versioning,
        default_versioning_behavior=(
            VersioningBehavior.AUTO_UPGRADE if settings.worker_versioning else VersioningBehavior.UNSPECIFIED
        ),
    )


def build_workers(
    client: Client,
    settings: Settings,
    platforms: PlatformClients,
    *,
    metrics: MopsMetrics | None = None,
    config: WorkerConfig | None = None,
) -> list[Worker]:
    """One Worker per task queue, with the options of `config` (default: `worker_config(settings)`)."""
    config = config or worker_config(settings)
    q = platform_queues(settings)
    crm = CrmActivities(platforms.hubspot)
    ledger = SqliteContactLedger(settings.contact_ledger_file)  # sends, budget facts, journey exits
    secret = settings.gateway_unsubscribe_secret.get_secret_value()
    postal_address, preferences_url = settings.mail_footer()
    # SendGrid keeps no idempotency: retried sends look in its Email Activity feed first.
    email_once = EmailOnce(platforms.sendgrid, settle=timedelta(seconds=settings.sendgrid_activity_settle_seconds))
    email = EmailActivities(
        platforms.sendgrid,
        settings.email_templates_path,
        settings.sendgrid_sender_id,
        unsubscribe_link=functools.partial(unsubscribe_url, settings.unsubscribe_base_url(), secret),
        postal_address=postal_address,
        preferences_url=preferences_url,
        campaign_templates_dir=settings.campaign_templates_path,
        brand_rules=load_brand_rules(settings.policies_dir / "brand.yaml"),
        ledger=ledger,
        lead_id_secret=settings.lead_id_secret.get_secret_value(),
        once=email_once,
    )
    chat = ChatActivities(platforms.slack)
    cms = CmsActivities(platforms.wordpress)
    social = SocialActivities(platforms.linkedin)
    analytics = AnalyticsActivities(platforms.ga4)
    checks = CheckActivities(platforms.links, settings.policies_dir / "brand.yaml")
    meta, google = MetaActivities(platforms.meta, settings.campaign_assets), GoogleAdsActivities(platforms.google_ads)
    health = HealthActivities(platforms, client, metrics, gateway_url=settings.health_gateway_url)
    store = DuckDBStore(settings.analytics_store_file)
    reports = AnalyticsCollectActivities(  # collection, journeys, report building (store I/O)
        store,
        meta=platforms.meta,
        google_ads=platforms.google_ads,
        sendgrid=platforms.sendgrid,
        ga4=platforms.ga4,
        hubspot=platforms.hubspot,
        client=client,
        reports_dir=settings.reports_path,
    )
    report_mail = ReportMailActivities(platforms.sendgrid, once=email_once, store=store)
    form_mail = FormConfirmationActivities(platforms.sendgrid, once=email_once)
    deal_ledger = DealLedgerActivities(store)  # which won deals are due, what was sent
    platforms.extra_closers.append(health.aclose)
    # Per platform queue: the platform (its activities hold while it is degraded), its
    # activities and the server-side rate limit (None = none).
    queue_specs: list[QueueSpec] = [
        (
            q.crm,
            "hubspot",
            [crm.upsert_lead, crm.update_contact, crm.list_owners, crm.upsert_handoff],
            settings.crm_max_per_second,
        ),
        (
            q.email,
            "sendgrid",
            [
                email.send,
                email.suppress,
                email.send_to_lists,
                email.cancel_list_send,
                report_mail.send_email,
                form_mail.send_confirmation,
            ],
            settings.email_max_per_second,
        ),
        (q.chat, "slack", [chat.notify], settings.chat_max_per_second),
        (
            q.cms,
            "wordpress",
            [cms.create_draft, cms.update_draft, cms.publish, cms.unpublish],
            settings.cms_max_per_second,
        ),
        (q.social, "linkedin", [social.post, social.delete], settings.social_max_per_second),
        (q.analytics, "ga4", [analytics.page_metrics], settings.analytics_max_per_second),
        (q.checks, None, [checks.brand], None),
        (
            q.meta,
            "meta",
            [meta.account, meta.create, meta.set_status, meta.set_budget, meta.remove, meta.remove_named, meta.figures],
            settings.meta_max_per_second,
        ),
        (
            q.google_ads,
            "google_ads",
            [
                google.account,
                google.create,
                google.set_status,
                google.set_budget,
                google.remove,
                google.remove_named,
                google.figures,
            ],
            settings.google_ads_max_per_second,
        ),
        # Not held: a platform that is down marks its source stale; the others still load.
        (
            settings.reports_task_queue,
            None,
            [
                reports.collect,
                reports.collect_journeys,
                reports.build_report,
                reports.record_distribution,
                deal_ledger.deals_to_convert,
                deal_ledger.record_deal_conversions,
            ],
            None,
        ),
        # Never held: the probes must see a degraded platform recover.
        (settings.health_task_queue, None, [health.probe, health.notify, health.gauges], None),
    ]
    privacy = privacy_parts(client, settings, observer=platforms.hubspot.observer)  # sync + erasure activities
    platforms.extra_closers.append(privacy.aclose)
    conversions = ConversionActivities(platforms.meta, platforms.google_ads)
    deal_won = DealConversionActivities(client, platforms.meta, platforms.google_ads)
    # Conversion uploads run on their platform's queue: its rate limit and degraded hold apply.
    uploads: dict[str, list[Callable[..., Any]]] = {
        q.meta: [conversions.meta, deal_won.meta],
        q.google_ads: [conversions.google_ads, deal_won.google_ads],
    }
    queue_specs = [
        (queue, platform, activities + privacy.on(queue) + uploads.get(queue, []), rate)
        for queue, platform, activities, rate in queue_specs
    ] + privacy.own_queues
    imports = LeadImportActivities(client, settings)
    gate = HealthGate(client, settings.health_registry_id, ttl=settings.health_gate_ttl_seconds)
    hold = dict(first=settings.health_hold_seconds, longest=settings.health_hold_max_seconds)
    common: dict[str, Any] = dict(
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        deployment_config=deployment(settings),
        **config.worker_options(),  # cache, slots, pollers, sandbox (workers/tuning.py)
    )
    journeys = JourneyActivities(settings.journeys_dir, ledger)
    experiments = ExperimentActivities(client)
    workflow_worker = Worker(
        client,
        task_queue=q.workflows,
        workflows=WORKFLOWS,
        activities=[
            journeys.load,
            journeys.last_exit,
            journeys.record_exit,
            RoutingActivities(client, q.workflows, settings.owner_router_id).assign_owner,
            CampaignActivities(client).snapshot,
            imports.capture_batch,  # the staged rows are on this machine (mops/lead_imports.py)
            imports.finish,
            FormJourneyActivities(client, settings).start_journey,  # a confirmed double opt-in
            MigrationActivities(client).batch,  # sends the lead journeys' migrate update
            experiments.enter,  # local activities of the lead journey (workflows/experiment.py)
            experiments.report,
            *privacy.on(q.workflows),
        ],
        **common,
    )
    return [workflow_worker] + [
        Worker(
            client,
            task_queue=queue,
            activities=activities,
            max_task_queue_activities_per_second=rate,
            interceptors=[HoldIfDegraded(gate, platform, metrics, **hold)] if platform else [],
            **common,
        )
        for queue, platform, activities, rate in queue_specs
    ]


@contextlib.asynccontextmanager
async def running_workers(
    client: Client,
    settings: Settings,
    *,
    metrics: MopsMetrics | None = None,
    config: WorkerConfig | None = None,
) -> AsyncIterator[list[Worker]]:
    """Start every worker with `config` (default: `worker_config(settings)`), after the
    workflow bytecode cache; log the configuration they run; on exit, shut them down
    gracefully and close HTTP clients."""
    config = config or worker_config(settings)
    cache_workflow_bytecode(settings, config)  # before any workflow module is sandbox-imported
    share_workflow_code(config)
    platforms = PlatformClients.from_settings(settings, metrics)
    workers = build_workers(client, settings, platforms, metrics=metrics, config=config)
    freeze_started_heap()  # in a worker process (workers.tuning.run): the workers just built too
    running = running_config(config, workers)
    log.info("mops worker configuration %s", json.dumps(running))
    held = f"a workflow cache of up to {running['max_cached_workflows']} runs"
    with watching_gc_pauses(metrics.gc_pause if metrics else _unrecorded, held=held):
        tasks = [asyncio.create_task(w.run()) for w in workers]
        try:
            yield workers
        finally:
            await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
            await asyncio.gather(*tasks, return_exceptions=True)
            await platforms.aclose()


def _unrecorded(generation: int, seconds: float) -> None:
    """No metrics in this process (a test's workers): the slow pauses are still logged."""


def configure_logging() -> None:
    """mops' own log lines (`mops.*`, INFO and up) on stderr for a process that runs workers;
    other libraries stay at WARNING (httpx would log every platform request at INFO)."""
    logger = logging.getLogger("mops")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


async def serve(settings: Settings, config: WorkerConfig | None = None) -> None:
    """Run until SIGINT/SIGTERM, then drain in-flight activities and stop. The caller runs
    it on `config`'s event loop: `workers.tuning.run(serve(settings, config), config)`."""
    from mops.telemetry import setup_tracing
    from mops.temporal import connect

    settings.mail_footer()  # refuse to start before connecting: no email may go out without its footer
    setup_tracing("mops-worker")
    runtime = build_runtime(settings)  # SDK + mops metrics: Prometheus /metrics, or OTLP when configured
    client = await connect(settings, runtime)
    metrics = MopsMetrics(runtime.metric_meter)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running_workers(client, settings, metrics=metrics, config=config):
        await ensure_health(client, settings)  # the health registry and its every-minute check
        await ensure_accuracy_schedules(client, settings)  # the compliance check and the data reconciliation
        log.info("mops worker polling %s", ", ".join(platform_queues(settings).model_dump().values()))
        await stop.wait()
