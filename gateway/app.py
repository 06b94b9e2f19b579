"""The gateway's FastAPI app: REST `/v1`, GraphQL `/graphql`, the approval page `/approvals`, the
email previews `/previews`, signed webhooks,
`/healthz`, OpenAPI at `/docs`.

The `/docs` page's Swagger UI scripts, stylesheet and icon are served by the gateway itself
under `/docs/assets/` (the files ship in the fastapi-offline package), so the docs work on a
machine without internet access; Swagger UI's online validator badge is off for the same reason.

    app = create_app(settings, client)   # client from mops.temporal.connect (tracing + pydantic converter)

FastAPI's native OpenTelemetry server spans stay on: an incoming `traceparent`
continues through the Temporal client's TracingInterceptor into the workflow. Span
attributes never carry personal data or credentials (see gateway.middleware).
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from temporalio.client import Client

from gateway.approvals_page import router as approvals_page
from gateway.errors import install_error_handlers
from gateway.forms_page import router as forms_page
from gateway.graphql import graphql_router
from gateway.journeys_page import router as journeys_page
from gateway.middleware import BodyLimitMiddleware, SpanScrubMiddleware
from gateway.models import Health
from gateway.previews_page import router as previews_page
from gateway.rest import approvals as approval_routes
from gateway.rest import campaigns as campaign_routes
from gateway.rest import content as content_routes
from gateway.rest import imports as import_routes
from gateway.rest import leads as lead_routes
from gateway.security import Gate, KeyRing
from gateway.settings import GatewaySettings, gateway_settings
from gateway.state import GatewayState, InProcessState
from gateway.state_pg import PostgresState
from gateway.unsubscribe_page import router as unsubscribe_page
from gateway.webhooks import hubspot, linkedin_leads, meta_leads, sendgrid, slack
from gateway.webhooks.deals import DealLookup
from integrations.linkedin import LinkedInClient
from integrations.meta_ads import MetaAdsClient
from mops.database import shared_database
from mops.settings import Settings
from starter.service.campaigns import CampaignService
from starter.service.content import ContentService
from starter.service.form_confirmations import FormConfirmationService
from starter.service.lead_imports import LeadImportService
from starter.service.leads import LeadService
from starter.service.previews import PreviewService
from starter.service.privacy import PrivacyService
from workers.credentials import token_for

VERSION = "0.1.0"
DOCS_PATH = "/docs"
DOCS_ASSETS = "/docs/assets"


def gateway_state(s: GatewaySettings) -> GatewayState:
    """The setting decides: with `MOPS_DATABASE_URL`, the shared database (unreachable:
    `DatabaseUnavailable`, never this process's memory instead); without, this process."""
    if s.database_url is not None:
        return PostgresState(shared_database(s.database_url.get_secret_value()))
    return InProcessState()


def create_app(settings: Settings, client: Client) -> FastAPI:
    s: GatewaySettings = gateway_settings(settings)
    deals = DealLookup(s.hubspot_base_url, s.hubspot_token.get_secret_value(), timeout=s.http_timeout_seconds)

    privacy = PrivacyService(client, s)  # opt-outs reach every platform
    meta = MetaAdsClient(  # Lead Ads: the leads a delivery names are read from Graph
        s.meta_base_url,
        token_for(s, "meta"),
        ad_account_id=s.meta_ad_account_id,
        api_version=s.meta_api_version,
        timeout=s.http_timeout_seconds,
    )
    linkedin = LinkedInClient(  # Lead Sync: the responses a notification names are read back
        s.linkedin_base_url,
        token_for(s, "linkedin"),
        author_urn=s.linkedin_author,
        api_version=s.linkedin_api_version,
        timeout=s.http_timeout_seconds,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        await deals.aclose()
        await meta.aclose()
        await linkedin.aclose()
        await privacy.aclose()

    app = FastAPIOffline(
        title="mops gateway",
        version=VERSION,
        summary="Drive mops lead journeys, content, campaign and budget approvals over HTTP.",
        docs_url=DOCS_PATH,
        redoc_url=None,
        static_url=DOCS_ASSETS,
        swagger_ui_parameters={"validatorUrl": None},  # the badge would load an image from swagger.io
        lifespan=lifespan,
        # Server spans on (the trace continues into the workflows); logs off: FastAPI's
        # exception logs carry messages that may quote request data.
        telemetry={"tracing": True, "metrics": True, "logs": False, "operation_spans": True},
    )
    app.state.settings = s
    app.state.client = client
    app.state.leads = LeadService(client, s)
    app.state.form_confirmations = FormConfirmationService(client, s)
    app.state.imports = LeadImportService(client, s)
    app.state.privacy = privacy
    app.state.content = ContentService(client, s)
    app.state.campaigns = CampaignService(client, s)
    app.state.previews = PreviewService(s)
    keys = KeyRing(s.gateway_keys, s.gateway_keys_path)  # the key file is re-read when it changes
    state = gateway_state(s)
    app.state.gateway_state = state
    app.state.gate = Gate(keys, state.rate_limit("api-key", s.gateway_rate_per_second, s.gateway_burst))
    ttl = s.gateway_webhook_tolerance_seconds * 2
    app.state.webhook_requests = state.replays("webhook-requests", s.gateway_replay_cache_size, ttl)
    app.state.webhook_events = state.replays("webhook-events", s.gateway_replay_cache_size, 24 * 3600)
    app.state.revoked = state.revocations()
    app.state.deals = deals
    app.state.meta_leads = meta
    app.state.linkedin_leads = linkedin

    for router in (
        lead_routes.router,
        import_routes.router,
        content_routes.router,
        campaign_routes.campaigns,
        campaign_routes.proposals,
        approval_routes.router,
        sendgrid.router,
        hubspot.router,
        slack.router,
        meta_leads.router,
        linkedin_leads.router,
    ):
        app.include_router(router)
    app.include_router(graphql_router())  # /graphql: same keys, services and error codes as REST
    app.include_router(approvals_page)  # /approvals: the approvers' page (session cookie + CSRF)
    app.include_router(previews_page)  # /previews: journey emails for reviewers (session cookie, read scope)
    app.include_router(journeys_page)  # /journeys: each journey's map with live counts (session cookie, read scope)
    app.include_router(unsubscribe_page)  # GET /v1/unsubscribe/{token}: the footer link in a browser
    app.include_router(forms_page)  # /f/{form_id}: public forms, posted by people's browsers (no key)
    app.state.form_limiters = {}

    @app.get("/healthz", response_model=Health, tags=["health"], summary="Liveness (no auth)")
    async def healthz() -> Health:
        return Health()

    install_error_handlers(app)
    # Added last = outermost: the body limit answers before anything reads the body.
    app.add_middleware(SpanScrubMiddleware)
    if s.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=s.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "traceparent", "tracestate"],
            max_age=600,
        )
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=s.gateway_max_body_bytes,
        paths={import_routes.UPLOAD_PATH: s.gateway_max_import_bytes},
    )
    return app
