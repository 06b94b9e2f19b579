"""Credentials the sandbox accepts; the same `MOPS_*` names the mops clients read."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SandboxTokens(BaseSettings):
    """Credentials per platform: bearer tokens (`MOPS_HUBSPOT_TOKEN`, `MOPS_SENDGRID_API_KEY`,
    `MOPS_SLACK_TOKEN`, `MOPS_LINKEDIN_TOKEN`, `MOPS_GA4_TOKEN`) and the WordPress user with
    its application password (`MOPS_WORDPRESS_USER`, `MOPS_WORDPRESS_APP_PASSWORD`).

    `linkedin_author` and `ga4_property` are the ids the mops settings default to; the
    sandbox accepts any organization or person as a LinkedIn author, and only this GA4
    property (others are PERMISSION_DENIED, as for a property the token cannot read).
    """

    model_config = SettingsConfigDict(env_prefix="MOPS_", extra="ignore")

    hubspot_token: SecretStr = SecretStr("sandbox-hubspot-token")
    sendgrid_api_key: SecretStr = SecretStr("SG.sandbox-key")
    slack_token: SecretStr = SecretStr("xoxb-sandbox-token")
    wordpress_user: str = "mops"
    wordpress_app_password: SecretStr = SecretStr("sandbox wp app pass")
    linkedin_token: SecretStr = SecretStr("sandbox-linkedin-token")
    ga4_token: SecretStr = SecretStr("sandbox-ga4-token")
    linkedin_author: str = "urn:li:organization:2414183"
    ga4_property: str = "properties/123456789"

    def for_platform(self, platform: str) -> str:
        """The platform's secret: a bearer token, or WordPress's application password."""
        secret = {
            "hubspot": self.hubspot_token, "sendgrid": self.sendgrid_api_key, "slack": self.slack_token,
            "wordpress": self.wordpress_app_password, "linkedin": self.linkedin_token, "ga4": self.ga4_token,
        }[platform]
        return secret.get_secret_value()

    @property
    def ga4_property_id(self) -> str:
        """The numeric property id (`ga4_property` may carry the `properties/` prefix)."""
        return self.ga4_property.removeprefix("properties/")
