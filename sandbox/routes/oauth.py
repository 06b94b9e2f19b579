"""The platforms' OAuth token endpoints, in their real request and answer shapes.

- Google (`POST /token`, oauth2.googleapis.com): form `grant_type=refresh_token`,
  `client_id`, `client_secret`, `refresh_token` -> `{"access_token", "expires_in",
  "scope", "token_type": "Bearer"}`; a wrong client is 401 `invalid_client`, an unknown or
  revoked refresh token 400 `invalid_grant` ("Token has been expired or revoked."). One
  Google client serves both Google Ads and GA4; the refresh token decides which.
- LinkedIn (`POST /oauth/v2/accessToken`, www.linkedin.com): form `grant_type=refresh_token`,
  `refresh_token`, `client_id`, `client_secret` -> `{"access_token", "expires_in",
  "refresh_token", "refresh_token_expires_in", "scope"}` (the refresh token is not rotated;
  its remaining life counts down); refusals are `{"error", "error_description"}`.
- Meta (`GET /v<N>.0/oauth/access_token`, graph.facebook.com): `grant_type=fb_exchange_token`,
  `client_id` (the app id), `client_secret`, `fb_exchange_token` (a valid user token: the
  seed, or one issued here) -> `{"access_token", "token_type": "bearer", "expires_in"}`;
  refusals are Graph errors (code 1 for the app secret, 190/463 for an expired token).

Every request is counted per platform (`/_sandbox/oauth`), refused ones too.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from sandbox.platforms import error_body, meta_expired
from sandbox.state import SandboxState, get_state

router = APIRouter(tags=["oauth"])
admin = APIRouter(prefix="/_sandbox/oauth", tags=["admin"])

GOOGLE_SCOPES = {
    "google_ads": "https://www.googleapis.com/auth/adwords",
    "ga4": "https://www.googleapis.com/auth/analytics.readonly",
}
LINKEDIN_SCOPE = "r_marketing_leadgen_automation,rw_organization_admin,w_organization_social"
OAUTH_PLATFORMS = ("google_ads", "ga4", "linkedin", "meta")
# When the sandbox started: LinkedIn refresh tokens count their life down from here.
_STARTED = time.monotonic()


def _same(given: str, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


async def _form(request: Request) -> dict[str, str]:
    await _latency(request)
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    return {k: v[0] for k, v in parse_qs((await request.body()).decode(), keep_blank_values=True).items()}


async def _latency(request: Request) -> None:
    latency = request.app.state.sandbox.tokens.oauth_token_latency_s
    if latency:
        await asyncio.sleep(latency)


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


@router.post("/token")
async def google_token(request: Request, state: SandboxState = Depends(get_state)) -> JSONResponse:
    form, tokens, book = await _form(request), state.tokens, state.store.oauth
    platform = next(
        (p for p in ("google_ads", "ga4") if _same(form.get("refresh_token", ""), tokens.refresh_token_for(p))), None
    )
    book.requests[platform or "google"] += 1
    if form.get("grant_type") != "refresh_token":
        return _oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type', '')}")
    if form.get("client_id") != tokens.google_client_id or not _same(
        form.get("client_secret", ""), tokens.google_client_secret.get_secret_value()
    ):
        return _oauth_error(401, "invalid_client", "Unauthorized")
    if platform is None or platform in book.revoked:
        return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
    ttl = tokens.oauth_access_ttl_s
    return JSONResponse(
        {
            "access_token": book.issue(platform, ttl),
            "expires_in": ttl,
            "scope": GOOGLE_SCOPES[platform],
            "token_type": "Bearer",
        }
    )


@router.post("/oauth/v2/accessToken")
async def linkedin_token(request: Request, state: SandboxState = Depends(get_state)) -> JSONResponse:
    form, tokens, book = await _form(request), state.tokens, state.store.oauth
    book.requests["linkedin"] += 1
    if form.get("grant_type") != "refresh_token":
        return _oauth_error(400, "invalid_request", 'A required parameter "grant_type" is missing or invalid')
    if form.get("client_id") != tokens.linkedin_client_id or not _same(
        form.get("client_secret", ""), tokens.linkedin_client_secret.get_secret_value()
    ):
        return _oauth_error(401, "invalid_client", "Client authentication failed")
    refresh_token = tokens.refresh_token_for("linkedin")
    left = int(tokens.linkedin_refresh_ttl_s - (time.monotonic() - _STARTED))
    if not _same(form.get("refresh_token", ""), refresh_token) or "linkedin" in state.store.oauth.revoked or left <= 0:
        return _oauth_error(400, "invalid_grant", "The provided refresh token is invalid, expired or revoked")
    ttl = tokens.oauth_access_ttl_s
    return JSONResponse(
        {
            "access_token": book.issue("linkedin", ttl),
            "expires_in": ttl,
            "refresh_token": refresh_token,
            "refresh_token_expires_in": left,
            "scope": LINKEDIN_SCOPE,
        }
    )


@router.get("/{version}/oauth/access_token")
async def meta_exchange(version: str, request: Request, state: SandboxState = Depends(get_state)) -> JSONResponse:
    await _latency(request)
    query, tokens, book = request.query_params, state.tokens, state.store.oauth
    book.requests["meta"] += 1
    if query.get("grant_type") != "fb_exchange_token" or not query.get("fb_exchange_token"):
        body = error_body("meta", 400, "100", "Missing or invalid grant_type / fb_exchange_token parameter")
        return JSONResponse(body, status_code=400)
    if query.get("client_id") != tokens.meta_app_id or not _same(
        query.get("client_secret", ""), tokens.meta_app_secret.get_secret_value()
    ):
        return JSONResponse(error_body("meta", 400, "1", "Error validating client secret."), status_code=400)
    given = query["fb_exchange_token"]
    seed = _same(given, tokens.refresh_token_for("meta")) and "meta" not in book.revoked
    if not seed and book.status("meta", given) != "valid":
        return meta_expired()
    ttl = tokens.oauth_access_ttl_s
    return JSONResponse({"access_token": book.issue("meta", ttl), "token_type": "bearer", "expires_in": ttl})


@admin.get("")
async def oauth_state(state: SandboxState = Depends(get_state)) -> dict:
    """Token requests per platform (answered with a token, and all), and the revoked grants."""
    return state.store.oauth.view()


@admin.post("/{platform}/revoke")
async def revoke(platform: str, state: SandboxState = Depends(get_state)) -> JSONResponse:
    """Revoke the platform's grant (a user removed the app): refreshes are refused from now."""
    if platform not in OAUTH_PLATFORMS:
        return JSONResponse({"detail": f"unknown platform {platform!r}; one of {list(OAUTH_PLATFORMS)}"}, 404)
    state.store.oauth.revoked.add(platform)
    return JSONResponse(state.store.oauth.view())


@admin.post("/{platform}/expire")
async def expire(platform: str, state: SandboxState = Depends(get_state)) -> JSONResponse:
    """End every access token issued for the platform now (before the life it was given)."""
    if platform not in OAUTH_PLATFORMS:
        return JSONResponse({"detail": f"unknown platform {platform!r}; one of {list(OAUTH_PLATFORMS)}"}, 404)
    return JSONResponse({"expired": state.store.oauth.expire(platform)})
