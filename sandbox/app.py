"""The sandbox FastAPI app: HubSpot, SendGrid, Slack, WordPress, LinkedIn, GA4, Meta
Marketing API and Google Ads stand-ins on one port, plus link targets (`/_links/...`)
for the link checker.

A test double in the spirit of stripe-mock: same paths, payloads, auth and error
bodies as the real APIs, state in memory, every side effect recorded, faults on demand.
No business logic lives here.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from sandbox.middleware import PlatformMiddleware
from sandbox.platforms import VALIDATION_CODES, SandboxError, error_response, platform_for_path
from sandbox.routes import (
    admin,
    braze,
    conversions_admin,
    ga4,
    google_ads,
    google_ads_conversions,
    hubspot,
    linkedin,
    linkedin_leads,
    links,
    meta,
    meta_capi,
    meta_leads,
    oauth,
    privacy,
    sendgrid,
    sendgrid_activity,
    sendgrid_lists,
    slack,
    wordpress,
)
from sandbox.settings import SandboxTokens
from sandbox.state import SandboxState


def create_app(tokens: SandboxTokens | None = None) -> FastAPI:
    app = FastAPI(
        title="mops sandbox",
        version="0.1.0",
        docs_url="/_sandbox/docs",
        openapi_url="/_sandbox/openapi.json",
        redoc_url=None,
        # The sandbox stands in for third-party SaaS: its own server spans do not
        # belong in mops traces (and its paths hold addresses, e.g. suppressions).
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.sandbox = SandboxState(tokens=tokens or SandboxTokens())
    # The token endpoints first: Meta's exchange sits under the Graph API's version prefix.
    app.include_router(oauth.router)
    app.include_router(oauth.admin)
    for module in (hubspot, sendgrid, slack, wordpress, linkedin, ga4, meta, google_ads, links, admin, braze):
        app.include_router(module.router)
    for router in (privacy.hubspot, privacy.sendgrid, privacy.audiences, privacy.admin, sendgrid_lists.router):
        app.include_router(router)
    app.include_router(sendgrid_activity.router)  # the Email Activity feed
    # Conversion uploads (Meta Conversions API, Google Ads click conversions) and what they kept.
    for router in (
        meta_capi.router,
        meta_leads.router,
        linkedin_leads.admin,
        linkedin_leads.router,
        google_ads_conversions.router,
        conversions_admin.router,
    ):
        app.include_router(router)
    for router in (sendgrid_lists.downloads,):
        app.include_router(router)
    app.add_middleware(PlatformMiddleware)

    @app.exception_handler(SandboxError)
    async def sandbox_error(request: Request, exc: SandboxError) -> JSONResponse:
        platform = platform_for_path(request.url.path) or "hubspot"
        return error_response(platform, exc.status, exc.code, exc.message, exc.data)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        platform = platform_for_path(request.url.path)
        if platform is None:
            return JSONResponse({"detail": exc.errors()}, status_code=422)
        first = exc.errors()[0] if exc.errors() else {}
        loc = first.get("loc", ())
        if platform == "wordpress":  # WordPress routes match ids by pattern; a bad body is bad JSON
            if loc[:1] == ("path",):
                return error_response("wordpress", 404)
            return error_response("wordpress", 400, "rest_invalid_json", "Invalid JSON body passed.")
        where = ".".join(str(p) for p in loc if p != "body")
        code = (where or None) if platform == "sendgrid" else VALIDATION_CODES[platform]
        message = first.get("msg", "invalid request")
        return error_response(platform, 400, code, f"{where}: {message}" if where else message)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        platform = platform_for_path(request.url.path)
        if platform is None:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        return error_response(platform, exc.status_code)

    return app
