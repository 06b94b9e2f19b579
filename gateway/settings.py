"""Gateway settings: the shared `MOPS_*` settings plus the gateway's own.

API keys are configured as hashes only: `MOPS_GATEWAY_KEYS` (a JSON list) and the key
file (`MOPS_GATEWAY_KEYS_FILE`, default `<data_dir>/gateway-keys.json`), where
`mops gateway keygen` saves the keys it mints; the gateway re-reads that file when it changes.
Webhook secrets are `SecretStr` with dev defaults, except
the SendGrid verification key, which has none: the SendGrid webhook answers 503 until
it is set.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings.exceptions import SettingsError as PydanticSettingsError

from gateway.security import ApiKeyConfig, load_public_key
from mops.settings import Settings, SettingsError

MiB = 1024 * 1024


class GatewaySettings(Settings):
    gateway_keys: list[ApiKeyConfig] = []
    gateway_keys_file: Path | None = None  # None: <data_dir>/gateway-keys.json
    gateway_rate_per_second: float = Field(10.0, gt=0)
    gateway_burst: int = Field(20, ge=1)
    gateway_max_body_bytes: int = Field(MiB, ge=1)
    # `POST /v1/imports` takes a CSV file: ~100 bytes a row, so 20 MiB is ~200,000 rows.
    gateway_max_import_bytes: int = Field(20 * MiB, ge=1)
    gateway_cors_origins: str = ""  # comma-separated; empty = CORS off
    gateway_webhook_tolerance_seconds: int = Field(300, ge=1)
    gateway_replay_cache_size: int = Field(10_000, ge=1)
    # The approval page (/approvals): HMAC key of its session cookie and CSRF tokens, and
    # how long a sign-in lasts. Set a long random secret in production.
    gateway_session_secret: SecretStr = SecretStr("mops-dev-gateway-session-secret")
    gateway_session_max_age_seconds: int = Field(1800, ge=60, le=86_400)
    # Public forms (/f/<id>): HMAC key of the token each form page carries. Set a long random one.
    gateway_form_secret: SecretStr = SecretStr("mops-dev-gateway-form-secret")

    # Webhooks in
    sendgrid_webhook_public_key: SecretStr = SecretStr("")  # base64 DER (as SendGrid shows it) or PEM
    hubspot_client_secret: SecretStr = SecretStr("mops-dev-hubspot-client-secret")
    hubspot_accepted_stage: str = "qualifiedtobuy"  # deal stage that means "sales accepted the lead"
    hubspot_rejected_stage: str = "closedlost"
    slack_signing_secret: SecretStr = SecretStr("mops-dev-slack-signing-secret")
    slack_user_map: dict[str, str] = {}  # Slack user id -> person id (policies/directory.yaml)
    # Meta Lead Ads: the token its subscription handshake echoes (set in the Meta app's Webhooks
    # product); deliveries are signed with the app secret, `meta_app_secret` in mops/settings.py.
    meta_webhook_verify_token: SecretStr = SecretStr("mops-dev-meta-verify-token")
    # LinkedIn Lead Sync signs notifications with the app's client secret: `linkedin_client_secret`
    # in mops/settings.py.

    @field_validator("gateway_keys")
    @classmethod
    def _unique_ids(cls, keys: list[ApiKeyConfig]) -> list[ApiKeyConfig]:
        seen: set[str] = set()
        for i, key in enumerate(keys):
            if key.id in seen:
                raise ValueError(f"entry {i}: duplicate key id {key.id!r}")
            seen.add(key.id)
        return keys

    @field_validator("gateway_session_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @field_validator("sendgrid_webhook_public_key")
    @classmethod
    def _ec_key(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value():
            try:
                load_public_key(value.get_secret_value())
            except ValueError as err:
                raise ValueError(str(err).removeprefix("MOPS_SENDGRID_WEBHOOK_PUBLIC_KEY: ")) from None
        return value

    @model_validator(mode="after")
    def _stages_differ(self) -> GatewaySettings:
        if self.hubspot_accepted_stage == self.hubspot_rejected_stage:
            raise ValueError("hubspot_accepted_stage and hubspot_rejected_stage must differ")
        return self

    @property
    def gateway_keys_path(self) -> Path:
        return self.gateway_keys_file or self.data_dir / "gateway-keys.json"

    @property
    def cors_origins(self) -> list[str]:
        return [o.strip() for o in self.gateway_cors_origins.split(",") if o.strip()]


def gateway_settings(base: Settings | None = None, **overrides) -> GatewaySettings:
    """Gateway settings from the environment, or from `base` (e.g. test settings) plus overrides.
    Raises `SettingsError` with one line naming the variable."""
    try:
        if base is None:
            return GatewaySettings(**overrides)
        if isinstance(base, GatewaySettings) and not overrides:
            return base
        fields = {name: getattr(base, name) for name in type(base).model_fields}
        return GatewaySettings(**{**fields, **overrides})
    except PydanticSettingsError as err:  # a JSON-valued variable that is not JSON
        match = re.search(r'field "(\w+)"', str(err))
        name = "MOPS_" + (match.group(1).upper() if match else "GATEWAY_SETTINGS")
        raise SettingsError(f"{name}: not valid JSON") from None
    except ValidationError as err:
        first = err.errors()[0]
        loc = [str(p) for p in first["loc"]]
        name = "MOPS_" + (loc[0].upper() if loc else "SETTINGS")
        where = ".".join(loc[1:])
        msg = first["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{name}: {where + ': ' if where else ''}{msg}") from None


__all__ = ["GatewaySettings", "gateway_settings", "MiB"]
