"""Credentials the sandbox accepts; the same `MOPS_*` names the mops clients read."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SandboxTokens(BaseSettings):
    """Tokens per platform (`MOPS_HUBSPOT_TOKEN`, `MOPS_SENDGRID_API_KEY`, `MOPS_SLACK_TOKEN`)."""

    model_config = SettingsConfigDict(env_prefix="MOPS_", extra="ignore")

    hubspot_token: SecretStr = SecretStr("sandbox-hubspot-token")
    sendgrid_api_key: SecretStr = SecretStr("SG.sandbox-key")
    slack_token: SecretStr = SecretStr("xoxb-sandbox-token")

    def for_platform(self, platform: str) -> str:
        secret = {"hubspot": self.hubspot_token, "sendgrid": self.sendgrid_api_key, "slack": self.slack_token}[platform]
        return secret.get_secret_value()
