"""Request-time access to what `create_app` built (kept on `app.state`)."""

from __future__ import annotations

from fastapi import Request
from temporalio.client import Client

from gateway.settings import GatewaySettings
from starter.campaigns import CampaignService
from starter.content import ContentService
from starter.leads import LeadService
from starter.privacy import PrivacyService


def leads(request: Request) -> LeadService:
    return request.app.state.leads


def privacy(request: Request) -> PrivacyService:
    return request.app.state.privacy


def content(request: Request) -> ContentService:
    return request.app.state.content


def campaigns(request: Request) -> CampaignService:
    return request.app.state.campaigns


def settings(request: Request) -> GatewaySettings:
    return request.app.state.settings


def client(request: Request) -> Client:
    return request.app.state.client
