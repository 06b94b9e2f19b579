"""Credentials the sandbox accepts; the same `MOPS_*` names the mops clients read."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SandboxTokens(BaseSettings):
    """Credentials per platform: bearer tokens (`MOPS_HUBSPOT_TOKEN`, `MOPS_SENDGRID_API_KEY`,
    `MOPS_SLACK_TOKEN`, `MOPS_LINKEDIN_TOKEN`, `MOPS_GA4_TOKEN`, `MOPS_META_TOKEN`,
    `MOPS_GOOGLE_ADS_TOKEN`), Google Ads' `developer-token` header
    (`MOPS_GOOGLE_ADS_DEVELOPER_TOKEN`) and the WordPress user with its application
    password (`MOPS_WORDPRESS_USER`, `MOPS_WORDPRESS_APP_PASSWORD`).

    `linkedin_author`, `ga4_property`, `meta_ad_account_id`, `meta_page_id` and
    `google_ads_customer_id` are the ids the mops settings default to; the sandbox accepts
    any organization or person as a LinkedIn author, and only this GA4 property, Meta ad
    account and page and Google Ads customer (others get the platform's refusal). The ad
    accounts report `meta_currency` / `google_ads_currency`. Conversions go to
    `meta_pixel_id` and `google_ads_conversion_action` only (others do not exist).

    Sandbox-only knobs: `ads_seed` (`MOPS_SANDBOX_ADS_SEED`) seeds the ad performance
    generator; `google_ads_page_size` (`MOPS_SANDBOX_GOOGLE_ADS_PAGE_SIZE`) is the fixed
    `googleAds:search` page size (10,000 rows, as Google has it since v17);
    `sendgrid_activity_lag_s` (`MOPS_SANDBOX_SENDGRID_ACTIVITY_LAG_S`) is how long after
    mail/send accepted a message SendGrid's Email Activity feed shows it, and
    `sendgrid_email_activity` (`MOPS_SANDBOX_SENDGRID_EMAIL_ACTIVITY`) whether the account
    has the Email Activity add-on at all (see `sandbox.routes.sendgrid_activity`).
    """

    model_config = SettingsConfigDict(env_prefix="MOPS_", extra="ignore")

    hubspot_token: SecretStr = SecretStr("sandbox-hubspot-token")
    sendgrid_api_key: SecretStr = SecretStr("SG.sandbox-key")
    slack_token: SecretStr = SecretStr("xoxb-sandbox-token")
    wordpress_user: str = "mops"
    wordpress_app_password: SecretStr = SecretStr("sandbox wp app pass")
    linkedin_token: SecretStr = SecretStr("sandbox-linkedin-token")
    ga4_token: SecretStr = SecretStr("sandbox-ga4-token")
    meta_token: SecretStr = SecretStr("sandbox-meta-token")
    google_ads_token: SecretStr = SecretStr("sandbox-google-ads-token")
    google_ads_developer_token: SecretStr = SecretStr("sandbox-dev-token")
    braze_api_key: SecretStr = SecretStr("sandbox-braze-key")
    linkedin_author: str = "urn:li:organization:2414183"
    # The LinkedIn app: lead notifications and the webhook's validation are signed with its
    # client secret; leads belong to the ad account.
    linkedin_client_secret: SecretStr = SecretStr("mops-dev-linkedin-client-secret")
    linkedin_ad_account: str = "urn:li:sponsoredAccount:507404993"
    ga4_property: str = "properties/123456789"
    meta_ad_account_id: str = "act_1234567890"
    meta_currency: str = "EUR"
    meta_page_id: str = "104857600000001"  # the Facebook page the ad account's creatives run as
    # The Meta app whose webhooks the page's lead forms are delivered through: Meta signs each
    # delivery with the app secret (X-Hub-Signature-256).
    meta_app_secret: SecretStr = SecretStr("mops-dev-meta-app-secret")
    google_ads_customer_id: str = "1234567890"
    google_ads_currency: str = "EUR"
    # The one Meta dataset (pixel) and Google Ads conversion action conversions may go to.
    meta_pixel_id: str = "1234567890123456"
    google_ads_conversion_action: str = "customers/1234567890/conversionActions/987654321"
    # OAuth apps and grants (sandbox.routes.oauth): the Google client (Google Ads and GA4),
    # the LinkedIn app (its client secret is the one above), the Meta app (its secret is the one
    # above), and per platform the refresh token a token endpoint accepts (for Meta, the user
    # token it exchanges). Issued access tokens expire after `oauth_access_ttl_s`
    # (`MOPS_SANDBOX_OAUTH_ACCESS_TTL_S`, an hour as Google's; tests set a second or two).
    google_client_id: str = "sandbox-client.apps.googleusercontent.com"
    google_client_secret: SecretStr = SecretStr("sandbox-google-client-secret")
    linkedin_client_id: str = "sandbox-linkedin-client"
    meta_app_id: str = "100000000000001"
    google_ads_refresh_token: SecretStr = SecretStr("sandbox-google-ads-refresh-token")
    ga4_refresh_token: SecretStr = SecretStr("sandbox-ga4-refresh-token")
    linkedin_refresh_token: SecretStr = SecretStr("sandbox-linkedin-refresh-token")
    meta_refresh_token: SecretStr = SecretStr("sandbox-meta-user-token")
    oauth_access_ttl_s: int = Field(
        3599, ge=1, validation_alias=AliasChoices("MOPS_SANDBOX_OAUTH_ACCESS_TTL_S", "oauth_access_ttl_s")
    )
    oauth_token_latency_s: float = Field(  # how long a token endpoint takes to answer
        0.0, ge=0, validation_alias=AliasChoices("MOPS_SANDBOX_OAUTH_TOKEN_LATENCY_S", "oauth_token_latency_s")
    )
    linkedin_refresh_ttl_s: int = Field(  # LinkedIn refresh tokens live a year
        31_536_000, ge=1, validation_alias=AliasChoices("MOPS_SANDBOX_LINKEDIN_REFRESH_TTL_S", "linkedin_refresh_ttl_s")
    )
    ads_seed: int = Field(7, validation_alias=AliasChoices("MOPS_SANDBOX_ADS_SEED", "ads_seed"))
    sendgrid_activity_lag_s: float = Field(
        60.0,
        ge=0,
        validation_alias=AliasChoices("MOPS_SANDBOX_SENDGRID_ACTIVITY_LAG_S", "sendgrid_activity_lag_s"),
    )
    sendgrid_email_activity: bool = Field(
        True, validation_alias=AliasChoices("MOPS_SANDBOX_SENDGRID_EMAIL_ACTIVITY", "sendgrid_email_activity")
    )
    google_ads_page_size: int = Field(
        10_000, ge=1, validation_alias=AliasChoices("MOPS_SANDBOX_GOOGLE_ADS_PAGE_SIZE", "google_ads_page_size")
    )

    def for_platform(self, platform: str) -> str:
        """The platform's secret: a bearer token, or WordPress's application password."""
        secret = {
            "hubspot": self.hubspot_token,
            "sendgrid": self.sendgrid_api_key,
            "slack": self.slack_token,
            "wordpress": self.wordpress_app_password,
            "linkedin": self.linkedin_token,
            "ga4": self.ga4_token,
            "meta": self.meta_token,
            "google_ads": self.google_ads_token,
            "braze": self.braze_api_key,
        }[platform]
        return secret.get_secret_value()

    def refresh_token_for(self, platform: str) -> str:
        """The grant the platform's token endpoint accepts (Meta: the user token it exchanges)."""
        secret = {
            "google_ads": self.google_ads_refresh_token,
            "ga4": self.ga4_refresh_token,
            "linkedin": self.linkedin_refresh_token,
            "meta": self.meta_refresh_token,
        }[platform]
        return secret.get_secret_value()

    @property
    def ga4_property_id(self) -> str:
        """The numeric property id (`ga4_property` may carry the `properties/` prefix)."""
        return self.ga4_property.removeprefix("properties/")

    @property
    def meta_account_number(self) -> str:
        """The ad account's number (`meta_ad_account_id` may carry the `act_` prefix)."""
        return self.meta_ad_account_id.removeprefix("act_")

    @property
    def google_ads_customer(self) -> str:
        """The customer id as the API wants it in paths: digits only (dashes dropped)."""
        return self.google_ads_customer_id.replace("-", "")
