"""In-memory platform state and the record of every side effect received.

One `Store` per sandbox app. Handlers are synchronous between awaits, so the event
loop serialises access and no locking is needed.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sandbox.ads import PerformanceOverride, Timeline
from sandbox.firmographics import enrich
from sandbox.oauth import OAuthBook

EFFECT_KINDS = (
    "conversion.event",  # Meta Conversions API: one per event stored (deduplicated ones are replays)
    "conversion.upload",  # Google Ads: one per click conversion accepted
    "contact.upsert",
    "contact.update",
    "deal.upsert",
    "task.upsert",
    "association.create",
    "mail.send",
    "suppression.add",
    "chat.post",
    "post.create",
    "post.update",
    "post.delete",
    "singlesend.create",
    "singlesend.schedule",
    "singlesend.cancel",
    "singlesend.deliver",  # one per recipient of a triggered single send, with the whole message
    "list.create",
    "list.add",
    "campaign.create",
    "campaign.update",
    "campaign.delete",
    "campaign.remove",
    "adset.create",
    "adset.update",
    "adset.delete",
    "adimage.create",
    "adcreative.create",
    "adcreative.delete",
    "ad.create",
    "ad.update",
    "ad.delete",
    "budget.create",
    "budget.update",
    "budget.remove",
    # Google Ads search ads
    "ad_group.create",
    "ad_group.update",
    "ad_group.remove",
    "ad_group_ad.create",
    "ad_group_ad.update",
    "ad_group_ad.remove",
    "criterion.create",
    "criterion.update",
    "criterion.remove",
    # data protection: CRM GDPR delete, SendGrid Marketing Contacts, Braze, audiences
    "contact.delete",
    "mcontact.upsert",
    "mcontact.delete",
    "suppression.remove",
    "profile.update",
    "profile.delete",
    "audience.add",
    "audience.remove",
)

OWNERS = [  # (id, first, last, userId, archived)
    ("101", "Ava", "Patel", 9101, False),
    ("102", "Ben", "Okafor", 9102, False),
    ("103", "Chloe", "Martin", 9103, False),
    ("104", "Diego", "Alvarez", 9104, False),
    ("105", "Erin", "Walsh", 9105, False),  # sales manager
    ("106", "Frank", "Keller", 9106, True),
]
MANAGER_OWNER_ID = "105"
SEED_TIME = "2024-01-02T09:00:00.000Z"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def email_hash(email: str) -> str:
    """A stable, non-reversible key for an address (used in the effect log)."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:16]


@dataclass
class Effect:
    seq: int
    platform: str
    kind: str
    key: str | None
    at: str
    summary: dict[str, Any]


@dataclass
class CrmObject:
    id: str
    properties: dict[str, str | None]
    createdAt: str
    updatedAt: str
    archived: bool = False

    def view(self, names: list[str] | None = None) -> dict[str, Any]:
        """HubSpot's object shape, with only the requested properties (plus the defaults)."""
        props = self.properties
        if names is not None:
            wanted = set(names) | {"hs_object_id", "createdate", "lastmodifieddate"}
            props = {k: props.get(k) for k in wanted}
        return {
            "id": self.id,
            "properties": props,
            "createdAt": self.createdAt,
            "updatedAt": self.updatedAt,
            "archived": self.archived,
        }


@dataclass
class WpPost:
    """A WordPress post as the sandbox keeps it (rendered into WordPress's shape by the route)."""

    id: int
    slug: str
    status: str
    title: str
    content: str
    date_gmt: str | None  # "YYYY-MM-DDTHH:MM:SS" (UTC); None while an undated draft
    modified_gmt: str


@dataclass
class LinkedInPost:
    urn: str
    author: str
    commentary: str
    visibility: str
    lifecycle_state: str
    distribution: dict[str, Any]
    created_at: int  # epoch milliseconds, as LinkedIn reports it


@dataclass
class SingleSend:
    id: str
    name: str
    status: str  # draft | scheduled | triggered (the sandbox sends "now" at once)
    send_to: dict[str, Any]
    email_config: dict[str, Any]
    send_at: str | None
    created_at: str
    updated_at: str


@dataclass
class MetaCampaign:
    id: str
    name: str
    objective: str
    status: str  # ACTIVE | PAUSED | DELETED
    special_ad_categories: list[str]
    created_time: str
    horizon: date | None = None  # the latest `until` its insights were asked for (see sandbox.ads)


@dataclass
class MetaAdSet:
    id: str
    name: str
    campaign_id: str
    status: str  # ACTIVE | PAUSED | DELETED
    daily_budget: int  # minor units of the account currency
    billing_event: str
    optimization_goal: str
    targeting: dict[str, Any]
    start_time: datetime | None
    end_time: datetime | None
    created_time: str
    timeline: Timeline = field(default_factory=Timeline)


@dataclass
class MetaImage:
    hash: str  # the md5 of the bytes, as Meta's image hashes are: the same image uploads once
    name: str
    width: int
    height: int
    size: int  # bytes
    created_time: str


@dataclass
class MetaCreative:
    id: str
    name: str
    status: str  # ACTIVE | DELETED
    object_story_spec: dict[str, Any] | None
    object_story_id: str | None
    created_time: str


@dataclass
class MetaAd:
    id: str
    name: str
    adset_id: str
    campaign_id: str
    creative_id: str
    status: str  # ACTIVE | PAUSED | DELETED
    created_time: str


@dataclass
class MetaLead:
    """A Lead Ads form submission, as Graph keeps it (`/<lead id>`)."""

    id: str
    form_id: str
    page_id: str
    created_time: str
    field_data: list[dict[str, Any]]  # [{"name": question key, "values": [answer, ...]}]
    custom_disclaimer_responses: list[dict[str, Any]] | None = None  # [{"checkbox_key", "is_checked"}]
    ad_id: str | None = None
    adset_id: str | None = None
    campaign_id: str | None = None
    is_organic: bool = False
    platform: str = "fb"


@dataclass
class LinkedInLeadForm:
    """A Lead Gen form (`/rest/leadForms/<id>`): its questions by id, and its consent checkboxes."""

    id: str
    owner: str  # urn:li:sponsoredAccount:<id>
    questions: list[dict[str, Any]]  # [{"questionId", "name", "predefinedField"}]
    consents: list[dict[str, Any]]  # [{"consentId", "name"}]


@dataclass
class LinkedInLeadResponse:
    """One member's submission (`/rest/leadFormResponses/<id>`)."""

    id: str
    form_id: str
    owner: str
    submitted_at: int  # epoch ms
    answers: list[dict[str, Any]]  # [{"questionId", "answerDetails": {"textQuestionAnswer": {"answer"}}}]
    consents: list[dict[str, Any]]  # [{"consentId", "accepted"}]
    lead_type: str = "SPONSORED"
    creative: str | None = None  # urn:li:sponsoredCreative:<id>
    campaign: str | None = None  # urn:li:sponsoredCampaign:<id>


@dataclass
class GoogleBudget:
    id: str
    resource_name: str
    name: str
    amount_micros: int
    delivery_method: str
    explicitly_shared: bool
    status: str = "ENABLED"  # ENABLED | REMOVED


@dataclass
class GoogleCampaign:
    id: str
    resource_name: str
    name: str
    status: str  # ENABLED | PAUSED | REMOVED
    budget: str  # the campaign budget's resource name
    channel_type: str
    bidding_strategy_type: str
    start_date: date | None
    end_date: date | None
    horizon: date | None = None
    timeline: Timeline = field(default_factory=Timeline)


@dataclass
class GoogleAdGroup:
    id: str
    resource_name: str
    name: str
    campaign: str  # the campaign's resource name
    status: str  # ENABLED | PAUSED | REMOVED
    type: str


@dataclass
class GoogleAdGroupAd:
    """A responsive search ad in an ad group (`adGroupAds/{ad group id}~{ad id}`)."""

    ad_id: str
    resource_name: str
    ad_group: str  # the ad group's resource name
    status: str  # ENABLED | PAUSED | REMOVED
    headlines: list[dict[str, Any]]  # AdTextAsset: {"text", "pinnedField"?}
    descriptions: list[dict[str, Any]]
    path1: str | None
    path2: str | None
    final_urls: list[str]


@dataclass
class GoogleCriterion:
    """A keyword of an ad group (`adGroupCriteria/{ad group id}~{criterion id}`), negative or not."""

    criterion_id: str
    resource_name: str
    ad_group: str
    status: str  # ENABLED | PAUSED | REMOVED
    text: str
    match_type: str
    negative: bool


# The contact properties of the sandbox's HubSpot portal. HubSpot's own (those mops and its
# tests read or write), and the custom properties a real portal must have created before mops
# writes them (Settings → Properties → Contact, or POST /crm/v3/properties/contacts):
# mops_lead_id, mops_source (capture), mops_score (the journey's current score),
# mops_nurture_status (the shipped journeys' update_crm steps), mops_consent_* (one per
# consent purpose, the contact sync).
HUBSPOT_CONTACT_PROPERTIES = frozenset(
    {
        "email",
        "firstname",
        "lastname",
        "company",
        "jobtitle",
        "industry",
        "numberofemployees",
        "website",
        "phone",
        "city",
        "state",
        "country",
        "lifecyclestage",
        "hs_lead_status",
        "hs_email_optout",
        "hs_object_id",
        "createdate",
        "lastmodifieddate",
    }
)
MOPS_CONTACT_PROPERTIES = frozenset(
    {
        "mops_lead_id",
        "mops_source",
        "mops_score",
        "mops_nurture_status",
        "mops_consent_email_marketing",
        "mops_consent_ad_audiences",
        "mops_consent_profiling",
    }
)
CONTACT_PROPERTIES = HUBSPOT_CONTACT_PROPERTIES | MOPS_CONTACT_PROPERTIES


@dataclass
class Store:
    effects: list[Effect] = field(default_factory=list)
    replays: Counter = field(default_factory=Counter)
    requests: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    objects: dict[str, dict[str, CrmObject]] = field(default_factory=lambda: defaultdict(dict))
    unique: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (type, prop, value) -> id
    associations: set[tuple[str, str, str, str]] = field(default_factory=set)
    owners: list[dict[str, Any]] = field(default_factory=list)
    slack_users: dict[str, dict[str, Any]] = field(default_factory=dict)  # by lower-case email
    group_suppressions: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    global_suppressions: set[str] = field(default_factory=set)
    messages: list[dict[str, Any]] = field(default_factory=list)
    slack_channels: dict[str, str] = field(default_factory=dict)  # id -> name, of the channels posted to by name
    wp_posts: dict[int, WpPost] = field(default_factory=dict)
    linkedin_posts: dict[str, LinkedInPost] = field(default_factory=dict)
    single_sends: dict[str, SingleSend] = field(default_factory=dict)
    meta_campaigns: dict[str, MetaCampaign] = field(default_factory=dict)
    meta_adsets: dict[str, MetaAdSet] = field(default_factory=dict)
    meta_images: dict[str, MetaImage] = field(default_factory=dict)  # by hash
    meta_creatives: dict[str, MetaCreative] = field(default_factory=dict)
    meta_ads: dict[str, MetaAd] = field(default_factory=dict)
    meta_leads: dict[str, MetaLead] = field(default_factory=dict)
    linkedin_lead_forms: dict[str, LinkedInLeadForm] = field(default_factory=dict)
    linkedin_lead_responses: dict[str, LinkedInLeadResponse] = field(default_factory=dict)
    google_budgets: dict[str, GoogleBudget] = field(default_factory=dict)  # by resource name
    google_campaigns: dict[str, GoogleCampaign] = field(default_factory=dict)  # by resource name
    google_ad_groups: dict[str, GoogleAdGroup] = field(default_factory=dict)  # by resource name
    google_ads: dict[str, GoogleAdGroupAd] = field(default_factory=dict)  # by resource name
    google_criteria: dict[str, GoogleCriterion] = field(default_factory=dict)  # by resource name
    ads_overrides: list[PerformanceOverride] = field(default_factory=list)
    oauth: OAuthBook = field(default_factory=OAuthBook)  # access tokens the token endpoints issued
    activity_queries: list[float] = field(default_factory=list)  # SendGrid Email Activity requests (epoch s)
    marketing_contacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # SendGrid, by lower-case email
    # SendGrid Marketing Campaigns lists: id -> list; id -> lower-case member emails;
    # contact import jobs and contacts exports by id (asynchronous, as on SendGrid).
    marketing_lists: dict[str, dict[str, Any]] = field(default_factory=dict)
    list_members: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    contact_jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    contact_exports: dict[str, dict[str, Any]] = field(default_factory=dict)
    braze_users: dict[str, dict[str, Any]] = field(default_factory=dict)  # by external_id
    audiences: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # Meta: id -> hashed emails
    # Conversions: Meta server events as stored (after deduplication), Google click conversions accepted.
    capi_events: list[dict[str, Any]] = field(default_factory=list)
    click_conversions: list[dict[str, Any]] = field(default_factory=list)
    # HubSpot contact properties the portal defines (a value for any other is refused);
    # the defaults are HubSpot's own plus the custom ones mops needs, more by the properties API.
    contact_properties: set[str] = field(default_factory=lambda: set(CONTACT_PROPERTIES))

    def __post_init__(self) -> None:
        self._ids: dict[int, itertools.count] = {}
        self._last_ts = 0.0
        self.seed()

    def reset(self) -> None:
        """Forget everything received and reseed owners and chat users."""
        fresh = Store()
        self.__dict__.update(fresh.__dict__)

    def seed(self) -> None:
        for owner_id, first, last, user_id, archived in OWNERS:
            email = f"{first}.{last}@mops.example".lower()
            self.owners.append(
                {
                    "id": owner_id,
                    "email": email,
                    "type": "PERSON",
                    "firstName": first,
                    "lastName": last,
                    "userId": user_id,
                    "userIdIncludingInactive": user_id,
                    "createdAt": SEED_TIME,
                    "updatedAt": SEED_TIME,
                    "archived": archived,
                    "teams": [
                        {
                            "id": "7002" if owner_id == MANAGER_OWNER_ID else "7001",
                            "name": "Sales Management" if owner_id == MANAGER_OWNER_ID else "Sales",
                            "primary": True,
                        }
                    ],
                }
            )
            if not archived:
                self.slack_users[email] = {
                    "id": f"U{int(owner_id):08d}",
                    "team_id": "T0SANDBOX",
                    "name": f"{first}.{last}".lower(),
                    "real_name": f"{first} {last}",
                    "deleted": False,
                    "is_bot": False,
                    "profile": {"email": email, "real_name": f"{first} {last}", "display_name": first},
                }

    # bookkeeping

    def next_id(self, start: int) -> str:
        """Sequential ids per range: contacts 1001.., deals 5001.., tasks 9001..,
        WordPress posts 101.., LinkedIn shares 7100000000000000001.., Meta campaigns
        120210000000000001.., ad sets 120211000000000001.., ad creatives 120212000000000001..
        and ads 120213000000000001.., Google Ads budgets 13000000001.., campaigns
        21000000001.., ad groups 15000000001.., ads 70000000001.. and criteria 40000000001.."""
        return str(start + next(self._ids.setdefault(start, itertools.count(1))))

    def next_ts(self) -> str:
        """A unique, increasing Slack message timestamp."""
        self._last_ts = max(time.time(), self._last_ts + 0.000001)
        return f"{self._last_ts:.6f}"

    def record(self, platform: str, kind: str, key: str | None, summary: dict[str, Any]) -> Effect:
        assert kind in EFFECT_KINDS, kind
        effect = Effect(len(self.effects) + 1, platform, kind, key, now_iso(), summary)
        self.effects.append(effect)
        return effect

    def count_replay(self, platform: str) -> None:
        self.replays[platform] += 1

    # CRM objects

    def find(self, object_type: str, prop: str, value: str) -> CrmObject | None:
        object_id = self.unique.get((object_type, prop, _norm(prop, value)))
        return self.objects[object_type].get(object_id) if object_id else None

    def upsert(
        self, object_type: str, id_property: str, id_value: str, properties: dict[str, str]
    ) -> tuple[CrmObject, bool, dict[str, str]]:
        """Create or update by a unique property; return (object, created, changed properties)."""
        existing = self.find(object_type, id_property, id_value)
        if existing is None:
            stamp = now_iso()
            object_id = self.next_id({"contacts": 1000, "deals": 5000, "tasks": 9000}.get(object_type, 100))
            props: dict[str, str | None] = {id_property: id_value, **properties}
            if object_type == "contacts":
                props = {**enrich(id_value), **props}
            props.update(hs_object_id=object_id, createdate=stamp, lastmodifieddate=stamp)
            obj = CrmObject(object_id, props, stamp, stamp)
            self.objects[object_type][object_id] = obj
            self.unique[(object_type, id_property, _norm(id_property, id_value))] = object_id
            return obj, True, dict(properties)
        return existing, False, self.update(existing, properties)

    def update(self, obj: CrmObject, properties: dict[str, str]) -> dict[str, str]:
        """Apply changed properties only; return them (empty when nothing changed)."""
        changed = {k: v for k, v in properties.items() if obj.properties.get(k) != v}
        if changed:
            stamp = now_iso()
            obj.properties.update(changed, lastmodifieddate=stamp)
            obj.updatedAt = stamp
        return changed


def _norm(prop: str, value: str) -> str:
    return value.strip().lower() if prop == "email" else value
