"""Settings from `MOPS_*` environment variables, validated once at start.

A bad value fails with one line naming the variable (see `load_settings`).
Secrets are `SecretStr`, so they never show up in reprs or logs.
"""

from __future__ import annotations

import os
import sysconfig
from datetime import timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import (
    AliasChoices,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.conversions import ConversionPlan
from domain.decision_proofs import ProofKeyError, parse_private_key, parse_public_keys
from domain.fields import parse_duration
from mops.master_keys import CodecKeyError, parse_master_keys

if TYPE_CHECKING:
    from temporalio.envconfig import ClientConnectConfig


class SettingsError(ValueError):
    """A `MOPS_*` variable holds a value we cannot use."""


# Data directories: where each comes from when its variable is not set. Never from where
# this file is installed: a wheel puts it in site-packages, beside none of the data.
def project_data(name: str) -> Path:
    """`./<name>` when the current directory holds it (a checkout, or a project laid out
    like one), else the copy the installed wheel ships (`<environment>/share/mops/<name>`);
    else a one-line error naming the variable."""
    here = Path.cwd() / name
    if here.is_dir():
        return here
    for shipped in _shipped(name):
        if shipped.is_dir():
            return shipped
    raise SettingsError(f"MOPS_{name.upper()}_DIR: not set, and neither ./{name} nor the installed mops has {name}/")


def _shipped(name: str) -> list[Path]:
    """Where pip puts the wheel's data files: the environment's prefix, or the user's base
    for `pip install --user`."""
    schemes = [sysconfig.get_default_scheme(), sysconfig.get_preferred_scheme("user")]
    return [Path(sysconfig.get_path("data", scheme)) / "share" / "mops" / name for scheme in dict.fromkeys(schemes)]


def state_dir() -> Path:
    """Where mops keeps its state (dev server database, key store, reports): `./.mops` in a
    project directory (one holding `.mops/` or `journeys/`), else the user's state directory
    (`$XDG_STATE_HOME/mops`, by default `~/.local/state/mops`)."""
    here = Path.cwd()
    if (here / ".mops").is_dir() or (here / "journeys").is_dir():
        return here / ".mops"
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "mops"


# The settings whose default depends on where mops runs (a container sets each).
DATA_DIR_SETTINGS = ("data_dir", "journeys_dir", "policies_dir", "campaigns_dir")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MOPS_", extra="ignore")

    # Temporal
    temporal_address: str = Field(
        "127.0.0.1:7233", validation_alias=AliasChoices("MOPS_TEMPORAL_ADDRESS", "TEMPORAL_ADDRESS")
    )
    temporal_namespace: str = Field(
        "default", validation_alias=AliasChoices("MOPS_TEMPORAL_NAMESPACE", "TEMPORAL_NAMESPACE")
    )
    temporal_ui_port: int = Field(8233, ge=1, le=65535)
    # The rest of the connection is the SDK's environment configuration (temporalio.envconfig):
    # TEMPORAL_API_KEY, TEMPORAL_TLS_* (server CA, client certificate and key for mTLS, server
    # name), TEMPORAL_GRPC_META_*, and profiles in a TOML file (TEMPORAL_CONFIG_FILE,
    # TEMPORAL_PROFILE). A profile's address and namespace fill the two fields above when
    # they are not set; set both ways to different values, they are refused.
    _temporal_connect: dict = PrivateAttr(default_factory=dict)
    data_dir: Path = Field(default_factory=state_dir)

    # Task queues: one for workflows, one per platform so the server-side
    # `max_task_queue_activities_per_second` enforces each platform's rate limit
    # across every worker process.
    workflow_task_queue: str = "mops-workflows"
    crm_task_queue: str = "mops-crm"
    email_task_queue: str = "mops-email"
    chat_task_queue: str = "mops-chat"
    # The one workflow that owns sales round-robin state; it runs on the workflow
    # queue it was first started on.
    owner_router_id: str = "owner-router"
    cms_task_queue: str = "mops-cms"
    social_task_queue: str = "mops-social"
    analytics_task_queue: str = "mops-analytics"
    checks_task_queue: str = "mops-checks"  # brand checks and link checks (outbound HTTP)
    meta_task_queue: str = "mops-meta"
    google_ads_task_queue: str = "mops-google-ads"
    # HubSpot allows 100 requests / 10 s for private apps; SendGrid mail/send is
    # generous; Slack chat.postMessage is ~1/s per channel, bursts allowed.
    crm_max_per_second: float = Field(9.0, gt=0)
    email_max_per_second: float = Field(50.0, gt=0)
    chat_max_per_second: float = Field(5.0, gt=0)
    cms_max_per_second: float = Field(10.0, gt=0)
    # LinkedIn's posting limits are per day; keep a gentle pace.
    social_max_per_second: float = Field(1.0, gt=0)
    analytics_max_per_second: float = Field(10.0, gt=0)
    # Meta throttles ad accounts by a business-use-case score; Google Ads by
    # operations per day for the developer token. Both are far above what one
    # campaign's launch, monitoring and budget changes need.
    meta_max_per_second: float = Field(5.0, gt=0)
    google_ads_max_per_second: float = Field(5.0, gt=0)

    # Operations: metrics, worker versioning, integration health and alerting.
    metrics_host: str = "127.0.0.1"  # 0.0.0.0 in a container, so Prometheus can scrape it
    metrics_port: int = Field(9464, ge=0, le=65535)  # Prometheus /metrics of the worker process
    # Export metrics by OTLP instead of the Prometheus endpoint (e.g. http://otel-collector:4317).
    # (Traces use OTEL_EXPORTER_OTLP_ENDPOINT; metrics stay on the Prometheus endpoint unless this is set.)
    otlp_metrics_endpoint: str | None = None
    build_id: str = "dev"  # this build's id, announced by the workers (Worker Deployment version)
    deployment_name: str = "mops"
    # Route workflow tasks by deployment version (needs `temporal worker deployment set-current-version`
    # after each rollout); off by default, so a plain `mops up` needs no deployment steps.
    worker_versioning: bool = False
    health_task_queue: str = "mops-health"
    health_registry_id: str = "integration-health"
    health_check_schedule_id: str = "integration-health-check"
    health_probe_requests: int = Field(10, ge=1, le=100)  # requests per platform per check
    health_max_error_rate: float = Field(0.3, gt=0, le=1)  # a check this bad marks the platform degraded
    health_max_latency_ms: float = Field(2000.0, gt=0)  # median probe latency above this: degraded
    health_recover_checks: int = Field(2, ge=1)  # consecutive healthy checks before "recovered"
    # Availability (domain/availability.py): of each platform, of mops' workers (the checks
    # themselves), and of the gateway when its URL is given (`mops up` gives its own).
    health_gateway_url: str | None = None
    availability_objective: float = Field(0.999, gt=0, lt=1)
    health_gate_ttl_seconds: float = Field(5.0, ge=0)  # how long a worker trusts its view of degraded platforms
    health_hold_seconds: float = Field(5.0, gt=0)  # first wait of an activity held for a degraded platform
    health_hold_max_seconds: float = Field(60.0, gt=0)  # the wait doubles up to this
    alert_chat_channel: str = "#mops-alerts"
    alert_webhook_url: str | None = None  # also POST every alert/recovery here (JSON), e.g. a pager

    # Worker tuning (defaults sized for thousands of open journeys; applied with the rest of
    # the "Performance tuning" block below by workers/tuning.py, unless worker_tuning is false).
    max_cached_workflows: int = Field(5000, ge=0)
    max_concurrent_activities: int = Field(200, ge=1)

    # Platforms (the sandbox by default; point at the real services by config).
    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = Field(8100, ge=1, le=65535)
    hubspot_base_url: str = "http://127.0.0.1:8100"
    hubspot_token: SecretStr = SecretStr("sandbox-hubspot-token")
    sendgrid_base_url: str = "http://127.0.0.1:8100"
    sendgrid_api_key: SecretStr = SecretStr("SG.sandbox-key")
    slack_base_url: str = "http://127.0.0.1:8100"
    slack_token: SecretStr = SecretStr("xoxb-sandbox-token")
    wordpress_base_url: str = "http://127.0.0.1:8100"
    wordpress_user: str = "mops"
    wordpress_app_password: SecretStr = SecretStr("sandbox wp app pass")
    linkedin_base_url: str = "http://127.0.0.1:8100"
    linkedin_token: SecretStr = SecretStr("sandbox-linkedin-token")
    linkedin_author: str = "urn:li:organization:2414183"
    # LinkedIn retires API versions after about a year (then answers 426): keep current.
    linkedin_api_version: str = "202405"
    ga4_base_url: str = "http://127.0.0.1:8100"
    ga4_token: SecretStr = SecretStr("sandbox-ga4-token")
    ga4_property: str = "123456789"
    meta_base_url: str = "http://127.0.0.1:8100"
    meta_token: SecretStr = SecretStr("sandbox-meta-token")
    meta_ad_account_id: str = "act_1234567890"
    meta_api_version: str = "v21.0"
    meta_page_id: str = Field("104857600000001", pattern=r"^\d+$")  # the Facebook page a Meta channel's ads run as
    google_ads_base_url: str = "http://127.0.0.1:8100"
    google_ads_token: SecretStr = SecretStr("sandbox-google-ads-token")
    google_ads_developer_token: SecretStr = SecretStr("sandbox-dev-token")
    google_ads_customer_id: str = "1234567890"
    google_ads_login_customer_id: str | None = None
    google_ads_api_version: str = "v18"
    # How each OAuth platform is authenticated (README "Platform credentials"): `static` uses
    # its access token above as it is (the sandbox's, or one an operator renews by hand);
    # `oauth` refreshes access tokens before they expire (integrations/oauth.py) from the
    # grant kept encrypted in the token store, seeded by `mops auth set` or the
    # `*_REFRESH_TOKEN` below (for Meta: the user token that is exchanged for a long-lived one).
    google_ads_auth: Literal["static", "oauth"] = "static"
    ga4_auth: Literal["static", "oauth"] = "static"
    linkedin_auth: Literal["static", "oauth"] = "static"
    meta_auth: Literal["static", "oauth"] = "static"
    google_ads_refresh_token: SecretStr | None = None
    ga4_refresh_token: SecretStr | None = None
    linkedin_refresh_token: SecretStr | None = None
    meta_refresh_token: SecretStr | None = None
    # The OAuth apps: Google's client (Google Ads and GA4), LinkedIn's app (its client secret
    # also signs Lead Sync notifications), Meta's app (its secret also signs lead deliveries).
    # Meta's token exchange is <meta_base_url>/<meta_api_version>/oauth/access_token.
    google_client_id: str | None = None
    google_client_secret: SecretStr | None = None
    google_token_url: str = "http://127.0.0.1:8100/token"  # https://oauth2.googleapis.com/token
    linkedin_client_id: str | None = None
    linkedin_client_secret: SecretStr = SecretStr("mops-dev-linkedin-client-secret")
    linkedin_token_url: str = "http://127.0.0.1:8100/oauth/v2/accessToken"  # https://www.linkedin.com/...
    meta_app_id: str | None = None
    meta_app_secret: SecretStr = SecretStr("mops-dev-meta-app-secret")
    # An access token is refreshed this long before it expires (and once on a 401).
    oauth_refresh_margin_seconds: float = Field(300.0, ge=0)
    oauth_store_path: Path | None = None  # refresh and access tokens, encrypted; None: <data_dir>/oauth.db
    # Conversions sent back to the ad platforms (domain/conversions.py): the Meta dataset
    # (pixel) the Conversions API events go to, the Google Ads conversion action
    # (customers/<id>/conversionActions/<id>), the value reported with each, and last the
    # lead stages that count, comma-separated ("mql,converted"; empty: none are sent).
    meta_pixel_id: str | None = None
    google_ads_conversion_action: str | None = None
    conversion_value: Decimal | None = None
    conversion_currency: str | None = None
    conversions_on: str = ""
    sendgrid_sender_id: int = 1
    # How long after SendGrid accepted an email its Email Activity feed surely shows it.
    # SendGrid publishes no bound (about a minute is reported): a retried send concludes
    # "the earlier attempt sent nothing" only this long after that attempt ended
    # (activities/email_once.py). Needs the Email Activity add-on on the account.
    sendgrid_activity_settle_seconds: float = Field(600.0, gt=0)
    http_timeout_seconds: float = Field(10.0, gt=0)

    # Leads
    journeys_dir: Path = Field(default_factory=lambda: project_data("journeys"))
    # Email templates (Jinja2), beside the journeys that use them; None = <journeys_dir>/templates.
    email_templates_dir: Path | None = None
    # Every marketing email's footer names the sender's postal address (CAN-SPAM) and
    # links to the preference centre. No defaults: the workers refuse to start without them.
    mail_sender_postal: str | None = None
    mail_preferences_url: str | None = None
    # Keyed hash for lead ids, so workflow ids carry no personal data and cannot
    # be reversed by hashing a list of addresses. Change it in production.
    lead_id_secret: SecretStr = SecretStr("mops-dev-lead-id-secret")
    default_journey: str = "default-nurture"

    # The HTTP gateway (gateway/settings.py adds its own knobs). The workers need
    # these too: every email carries a one-click unsubscribe link to the gateway.
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(8000, ge=0, le=65535)
    # Where callers reach the gateway (unsubscribe links, HubSpot's signed URI behind
    # a proxy); unset = the local gateway (links) / the incoming request (signatures).
    gateway_public_url: str | None = None
    gateway_unsubscribe_secret: SecretStr = SecretStr("mops-dev-unsubscribe-secret")

    # Content: people who author and approve, approval defaults, brand rules.
    policies_dir: Path = Field(default_factory=lambda: project_data("policies"))
    campaigns_dir: Path = Field(default_factory=lambda: project_data("campaigns"))  # example and demo campaigns
    # Campaign email templates, beside the campaigns; None = <campaigns_dir>/templates. They
    # extend the shared layout in the journeys' templates directory.
    campaign_templates_dir: Path | None = None
    # The worker's copy of the campaign assets directory: campaign files name their ads'
    # images relative to their own directory, and the workflow input carries that relative
    # path with the image's SHA-256 and size; the worker reads the image from here and
    # uploads it only if those match. No default (the CLI validating a file may run on
    # another machine): unset, the worker refuses every ad with an image, naming this.
    # `mops up` and `mops demo` set it to campaigns_dir.
    campaign_assets: Path | None = None

    # Performance tuning: used by workers/tuning.py (`worker_config`, for every process that
    # runs workers) and starter/stack.py; each default was chosen by a measurement in bench/
    # (figures in bench/RESULTS.md).
    # false: the SDK's defaults for every worker (cache 1000, 5 pollers, 100 slots, asyncio loop;
    # the benchmark baseline); the worker knobs here and above are then not used.
    worker_tuning: bool = True
    worker_workflow_pollers: int = Field(10, ge=1)  # workflow-task long polls (sticky and not)
    worker_activity_pollers: int = Field(10, ge=1)  # activity-task long polls per task queue
    worker_max_concurrent_workflow_tasks: int = Field(100, ge=1)
    # uvloop configured but not installed: the worker refuses to start (never a quiet asyncio loop)
    worker_event_loop: str = Field("uvloop", pattern="^(uvloop|asyncio)$")
    gateway_event_loop: str = Field("uvloop", pattern="^(uvloop|asyncio)$")  # `python -m gateway` process
    # Opt-in: share mops' workflow modules across runs instead of importing them per run (less CPU
    # and memory; the sandbox then no longer checks those modules for non-deterministic calls).
    worker_sandbox_passthrough_workflows: bool = False
    # `mops up`: the dev server's measured --dynamic-config-value set (starter/stack.py), and
    # more KEY: value pairs on top (JSON, e.g. {"history.cacheMaxSize": 20000}).
    temporal_dev_tuning: bool = True
    temporal_dev_dynamic_config: dict[str, object] = {}
    # DURABILITY-REDUCING, off by default: SQLite synchronous=off. A power loss or OS crash
    # can lose the last transactions or corrupt the database (a process crash cannot).
    temporal_dev_unsafe_sqlite_no_sync: bool = False

    # Analytics: the analytics store, the reports queue, what reports count in
    # and where they go. The store file and rendered reports live under data_dir by default.
    analytics_store_path: Path | None = None  # None: <data_dir>/analytics.duckdb
    reports_dir: Path | None = None  # dashboards and executive reports (HTML); None: <data_dir>/reports
    # Collection, attribution and report building (they read and write the store).
    reports_task_queue: str = "mops-reports"
    report_currency: str = "EUR"  # rows in other currencies are refused (no exchange rates)
    report_timezone: str = "UTC"  # what a day is in collection and reports
    report_email_from: str = "reports@mops.example"
    report_recipients: str = ""  # comma-separated addresses for `mops report schedule`
    report_chat_channel: str | None = "#marketing-leadership"
    report_schedule_id: str = "exec-report"
    attribution_half_life_days: float = Field(7.0, gt=0)
    attribution_lookback_days: int = Field(90, ge=1)
    collection_retry_window_minutes: int = Field(360, ge=0)  # a stale source is retried this long
    collection_retry_every_minutes: int = Field(30, ge=1)

    @field_validator("journeys_dir", "policies_dir", "campaigns_dir", "campaign_assets")
    @classmethod
    def _existing_dir(cls, value: Path | None) -> Path | None:
        # A wrong path would otherwise read as an empty directory (no journeys, no people).
        if value is not None and not value.is_dir():
            raise ValueError(f"not a directory: {value}")
        return value

    @field_validator("report_timezone")
    @classmethod
    def _report_timezone(cls, value: str) -> str:
        from domain.fields import check_timezone

        return check_timezone(value)

    @field_validator("report_currency")
    @classmethod
    def _report_currency(cls, value: str) -> str:
        from domain.money import check_currency

        return check_currency(value)

    @property
    def analytics_store_file(self) -> Path:
        return self.analytics_store_path or self.data_dir / "analytics.duckdb"

    @property
    def reports_path(self) -> Path:
        return self.reports_dir or self.data_dir / "reports"

    # Published journey versions (mops/journey_versions.py): what captures pin.
    journey_versions_path: Path | None = None  # None: <data_dir>/journeys.db

    @property
    def journey_versions_file(self) -> Path:
        return self.journey_versions_path or self.data_dir / "journeys.db"

    # List imports (`mops lead import`, `POST /v1/imports`; mops/lead_imports.py): the
    # validated rows staged until the import's workflow has captured them. A per-machine
    # SQLite file, like the journey versions: the workers that run imports must share it.
    lead_imports_path: Path | None = None  # None: <data_dir>/imports.db
    # Captures per second of one import unless the command says otherwise: well under the
    # CRM's 100 requests / 10 s (a new lead costs one CRM upsert, then its journey's calls).
    import_rows_per_second: float = Field(5.0, gt=0, le=100)
    import_batch_rows: int = Field(100, ge=1, le=1000)  # rows one capture activity takes

    @property
    def lead_imports_file(self) -> Path:
        return self.lead_imports_path or self.data_dir / "imports.db"

    # The contact ledger (mops/contact_ledger.py): every email sent per lead, and each
    # lead's budget facts, read by bulk sends and the journey's email.send.
    contact_ledger_path: Path | None = None  # None: <data_dir>/contacts.db

    @property
    def contact_ledger_file(self) -> Path:
        return self.contact_ledger_path or self.data_dir / "contacts.db"

    # Data protection: payload encryption, per-lead keys, the codec server, the
    # CDP, ad audiences and compliance monitoring (mops/codec.py, mops/keystore.py).
    # Master keys `id:base64(32 bytes)`, comma-separated, newest first: new writes use the
    # first, the others still decrypt (rotation). The dev key is public: set your own.
    codec_keys: SecretStr = SecretStr("dev-1:hi06cj0/e1kxh9aStUMzLb7KPkaolTNIPW2p1WiGYcI=")
    keystore_path: Path | None = None  # per-lead data keys + erasure log; None: <data_dir>/keys.db
    # Shared state for several machines (mops/database.py): a postgresql:// URL puts the key
    # store and the gateway's rate limits, webhook replay cache and sign-outs in PostgreSQL;
    # unset, they stay in the SQLite files and each gateway process.
    database_url: SecretStr | None = None
    key_cache_seconds: float = Field(30.0, ge=0)  # how long a process caches a data key
    codec_server_host: str = "127.0.0.1"
    codec_server_port: int = Field(8888, ge=0, le=65535)
    codec_server_token: SecretStr = SecretStr("mops-dev-codec-server-token")  # set a long random one
    codec_server_ui_origin: str | None = None  # Web UI origin(s) allowed by CORS, comma-separated; None: the UI
    # A codec server on a network address admits the Web UI's browsers by the access token the
    # UI forwards (codec.passAccessToken), asked of the identity provider's userinfo endpoint.
    codec_server_oidc_userinfo_url: str | None = None
    codec_server_oidc_cache_seconds: float = Field(60.0, ge=0)
    # The CDP-shaped profile store (Braze REST API); unset = no CDP in the sync.
    braze_base_url: str | None = None
    braze_api_key: SecretStr = SecretStr("sandbox-braze-key")
    cdp_task_queue: str = "mops-cdp"
    cdp_max_per_second: float = Field(50.0, gt=0)
    meta_audience_id: str = "23851234567890001"  # the Custom Audience contacts with ad consent join
    compliance_alert_channel: str = "#marketing-compliance"
    compliance_schedule_id: str = "compliance-check"
    # Data accuracy watched (workers/accuracy.py): every worker process makes sure these two
    # Schedules exist; an interval like 1h or 1d, or `off` for none.
    compliance_check_every: str = "1h"
    reconcile_every: str = "1d"
    reconcile_schedule_id: str = "data-reconciliation"
    data_accuracy_objective: float = Field(0.995, gt=0, le=1)

    # Proof of who made an approval decision (domain/decision_proofs.py, mops/approval_keys.py).
    # The signers (gateway, CLI, services that decide) hold the Ed25519 private key, base64 of
    # its 32 bytes; unset, a dev key is made on first use in <data_dir>/approval-signing.key,
    # which every process of one `mops up` / `mops demo` shares. The workflows get the public
    # keys (base64, comma-separated, newest first) in their start input; unset: the signing
    # key's own. A starter that signs nothing (a service that only submits) needs only these.
    approval_signing_key: SecretStr | None = None
    approval_verify_keys: str | None = None
    approval_proof_seconds: int = Field(300, ge=10, le=86_400)  # how long a signed decision stays valid

    @model_validator(mode="after")
    def _oauth_apps(self) -> Settings:
        """An `oauth` platform needs its app's client id (the secrets have dev defaults or are checked here)."""
        for platform, app, variable in (
            ("google_ads", self.google_client_id and self.google_client_secret, "MOPS_GOOGLE_CLIENT_ID and _SECRET"),
            ("ga4", self.google_client_id and self.google_client_secret, "MOPS_GOOGLE_CLIENT_ID and _SECRET"),
            ("linkedin", self.linkedin_client_id, "MOPS_LINKEDIN_CLIENT_ID"),
            ("meta", self.meta_app_id, "MOPS_META_APP_ID"),
        ):
            if getattr(self, f"{platform}_auth") == "oauth" and not app:
                raise ValueError(f"MOPS_{platform.upper()}_AUTH=oauth needs {variable}")
        return self

    @property
    def oauth_store_file(self) -> Path:
        return self.oauth_store_path or self.data_dir / "oauth.db"

    @model_validator(mode="after")
    def _temporal_profile(self) -> Settings:
        config: dict = dict(temporal_profile_config())
        for field, key, variable, label in (
            ("temporal_address", "target_host", "MOPS_TEMPORAL_ADDRESS", "address"),
            ("temporal_namespace", "namespace", "MOPS_TEMPORAL_NAMESPACE", "namespace"),
        ):
            if key not in config:
                continue
            ours, theirs = getattr(self, field), config[key]
            if field in self.model_fields_set and ours != theirs:
                raise ValueError(
                    f"{variable}: {ours!r} disagrees with the Temporal profile's {label} {theirs!r} "
                    "(TEMPORAL_* variables or the profile file): set it in one place"
                )
            object.__setattr__(self, field, theirs)
        self._temporal_connect = config
        return self

    def temporal_connect_config(self) -> ClientConnectConfig:
        """The keyword arguments of `Client.connect`: this address and namespace, with the
        profile's API key, TLS and gRPC metadata."""
        config: dict = {**self._temporal_connect, "target_host": self.temporal_address}
        config["namespace"] = self.temporal_namespace
        return config  # type: ignore[return-value]

    def temporal_secured(self) -> bool:
        """Whether the connection asks for TLS or an API key (a local dev server has neither)."""
        return bool(self._temporal_connect.get("tls")) or "api_key" in self._temporal_connect

    @field_validator("conversions_on")
    @classmethod
    def _conversions_on(cls, value: str, info: ValidationInfo) -> str:
        # Built here once so that a wrong stage, pixel id or conversion action stops the
        # process at start, named, instead of failing each lead's upload later.
        data = dict(info.data)
        try:
            _conversion_plan(value, data)
        except ValidationError as err:
            first = err.errors()[0]
            where = {"on": "", "meta_pixel_id": "MOPS_META_PIXEL_ID: ", "currency": "MOPS_CONVERSION_CURRENCY: "}
            prefix = where.get(str(first["loc"][0]) if first["loc"] else "", "")
            raise ValueError(prefix + first["msg"].removeprefix("Value error, ")) from None
        return value

    def conversion_plan_on(self, on: list[str]) -> ConversionPlan | None:
        """This account's destinations and value with another `on:` list (a campaign's)."""
        try:
            return _conversion_plan(",".join(on), self.__dict__)
        except ValidationError as err:
            raise SettingsError(err.errors()[0]["msg"].removeprefix("Value error, ")) from None

    def conversion_plan(self) -> ConversionPlan | None:
        """The conversions the lead journeys send (None: `MOPS_CONVERSIONS_ON` is empty)."""
        return _conversion_plan(self.conversions_on, self.__dict__)

    @field_validator("compliance_check_every", "reconcile_every")
    @classmethod
    def _accuracy_interval(cls, value: str) -> str:
        if value.strip().lower() != "off":
            parse_duration(value)  # a ValueError names the problem
        return value

    @property
    def compliance_check_interval(self) -> timedelta | None:
        return _interval(self.compliance_check_every)

    @property
    def reconcile_interval(self) -> timedelta | None:
        return _interval(self.reconcile_every)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        if not value.get_secret_value().startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL (unset it to keep the state in local files)")
        return value

    @field_validator("approval_signing_key")
    @classmethod
    def _approval_signing_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                parse_private_key(value.get_secret_value())
            except ProofKeyError as err:
                raise ValueError(str(err)) from None
        return value

    @field_validator("approval_verify_keys")
    @classmethod
    def _approval_verify_keys(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_public_keys(value)
            except ProofKeyError as err:
                raise ValueError(str(err)) from None
        return value

    @field_validator("codec_keys")
    @classmethod
    def _codec_keys(cls, value: SecretStr) -> SecretStr:
        try:
            parse_master_keys(value.get_secret_value())
        except CodecKeyError as err:
            raise ValueError(str(err)) from None
        return value

    @property
    def codec_ui_origins(self) -> list[str]:
        """Origins the codec server answers (CORS): the configured ones (comma-separated),
        else the Web UI as 127.0.0.1 and as localhost."""
        if self.codec_server_ui_origin:
            return [o.strip().rstrip("/") for o in self.codec_server_ui_origin.split(",") if o.strip()]
        ui = self.web_ui_url
        return [ui, ui.replace("://127.0.0.1:", "://localhost:")] if "://127.0.0.1:" in ui else [ui]

    @property
    def web_ui_url(self) -> str:
        host = self.temporal_address.rsplit(":", 1)[0]
        return f"http://{host}:{self.temporal_ui_port}"

    @property
    def email_templates_path(self) -> Path:
        return self.email_templates_dir or self.journeys_dir / "templates"

    @property
    def campaign_templates_path(self) -> Path:
        return self.campaign_templates_dir or self.campaigns_dir / "templates"

    def mail_footer(self) -> tuple[str, str]:
        """(postal address, preference-centre URL); raises SettingsError naming the missing one."""
        address, preferences = (self.mail_sender_postal or "").strip(), (self.mail_preferences_url or "").strip()
        if not address:
            raise SettingsError("MOPS_MAIL_SENDER_POSTAL: required: the sender's postal address every email carries")
        if not preferences.startswith(("https://", "http://")):
            raise SettingsError("MOPS_MAIL_PREFERENCES_URL: required: the preference centre's http(s) URL")
        return address, preferences

    def unsubscribe_base_url(self) -> str:
        return self.gateway_public_url or f"http://{self.gateway_host}:{self.gateway_port}"

    def workflow_url(self, workflow_id: str) -> str:
        return f"{self.web_ui_url}/namespaces/{self.temporal_namespace}/workflows/{workflow_id}"


def _interval(text: str) -> timedelta | None:
    """A Schedule's interval from a setting; None for `off`."""
    return None if text.strip().lower() == "off" else parse_duration(text)


def _conversion_plan(stages: str, values: dict) -> ConversionPlan | None:
    on = [s.strip().lower() for s in stages.split(",") if s.strip()]
    if not on:
        return None
    action = values.get("google_ads_conversion_action")
    return ConversionPlan.model_validate(
        {
            "on": on,
            "meta_pixel_id": values.get("meta_pixel_id"),
            "google_customer_id": str(values.get("google_ads_customer_id", "")).replace("-", "") if action else None,
            "google_conversion_action": action,
            "value": values.get("conversion_value"),
            "currency": values.get("conversion_currency"),
        }
    )


def temporal_profile_config() -> ClientConnectConfig:
    """The SDK's connection profile from the environment and the profile file, read once
    per settings load; a certificate file that cannot be read is refused here, named."""
    from temporalio.envconfig import ClientConfigProfile

    try:
        return ClientConfigProfile.load().to_client_connect_config()
    except (OSError, ValueError, RuntimeError) as err:
        raise ValueError(f"Temporal profile (TEMPORAL_* variables, TEMPORAL_CONFIG_FILE): {err}") from None


def load_settings(**overrides) -> Settings:
    """Read settings from the environment; raise `SettingsError` with one line on bad input."""
    try:
        return Settings(**overrides)
    except ValidationError as err:
        first = err.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if not first["loc"]:  # a check across fields: its message names them
            raise SettingsError(message) from None
        name = "MOPS_" + "_".join(str(p) for p in first["loc"]).upper()
        raise SettingsError(f"{name}: {message}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
