"""Request-time access to what `create_app` built (kept on `app.state`).

`async def` on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread
hop (and a wait for the GIL) per dependency per request for what is an attribute read.
"""

from __future__ import annotations

from fastapi import Request
from temporalio.client import Client

from gateway.settings import GatewaySettings
from starter.service.campaigns import CampaignService
from starter.service.content import ContentService
from starter.service.lead_imports import LeadImportService
from starter.service.leads import LeadService
from starter.service.privacy import PrivacyService


async def leads(request: Request) -> LeadService:
    return request.app.state.leads


async def imports(request: Request) -> LeadImportService:
    return request.app.state.imports


async def privacy(request: Request) -> PrivacyService:
    return request.app.state.privacy


async def content(request: Request) -> ContentService:
    return request.app.state.content


async def campaigns(request: Request) -> CampaignService:
    return request.app.state.campaigns


async def settings(request: Request) -> GatewaySettings:
    return request.app.state.settings


async def client(request: Request) -> Client:
    return request.app.state.client
