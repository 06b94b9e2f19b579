"""Which conversions a new lead reports: its campaign's, else the account's.

A capture whose `utm_campaign` is a campaign file's (`utm.campaign`, else its `id`) and
whose campaign file has a `conversions:` section pins that section's `count:` list; every
other capture pins `MOPS_CONVERSIONS_ON`. Where the conversions go (the Meta pixel, the
Google conversion action) and their value are account settings either way. Only the
fields this needs are read from the campaign files (parsed again only when a file changes),
and the section is validated as `mops campaign launch` validates it.
"""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import ValidationError

from domain.campaigns import CampaignConversions, CampaignSpecError
from domain.conversions import ConversionPlan
from domain.fields import read_yaml_mapping
from domain.leads import LeadCapture
from mops.settings import Settings, SettingsError
from starter.service.errors import InputError


class ConversionPlanError(InputError):
    pass


def campaign_rules(campaigns_dir: Path) -> dict[str, CampaignConversions]:
    """utm_campaign → the `conversions:` section, for the campaign files that have one."""
    files = sorted(Path(campaigns_dir).glob("*.yaml")) if Path(campaigns_dir).is_dir() else []
    stamp = tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    return _rules(Path(campaigns_dir), stamp)


@functools.lru_cache(maxsize=8)
def _rules(campaigns_dir: Path, stamp: tuple) -> dict[str, CampaignConversions]:
    rules: dict[str, CampaignConversions] = {}
    for name, _, _ in stamp:
        path = campaigns_dir / name
        _, data = read_yaml_mapping(path, CampaignSpecError, "campaign fields")
        section = data.get("conversions")
        if section is None:
            continue
        try:
            rule = CampaignConversions.model_validate(section)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            message = first["msg"].removeprefix("Value error, ")
            raise ConversionPlanError(f"{path}: conversions.{where}: {message}") from None
        utm = data.get("utm")
        tag = utm.get("campaign") if isinstance(utm, dict) else None
        rules[str(tag or data.get("id"))] = rule
    return rules


def plan_for_campaign(settings: Settings, rule: CampaignConversions, where: str) -> ConversionPlan:
    """The account's destinations and value with the campaign's `count:`; refused, named, when the
    account has nowhere to send them."""
    try:
        plan = settings.conversion_plan_on(rule.count)
    except SettingsError as err:
        raise ConversionPlanError(f"{where}: conversions: {err}") from None
    assert plan is not None  # `on` is never empty
    return plan


def conversion_plan(settings: Settings, capture: LeadCapture) -> ConversionPlan | None:
    """The plan a new run of this capture pins."""
    tag = capture.utm.campaign if capture.utm else None
    rule = campaign_rules(settings.campaigns_dir).get(tag) if tag else None
    if rule is None:
        return settings.conversion_plan()
    return plan_for_campaign(settings, rule, f"campaign {tag!r}")


def counts_won_deals(settings: Settings) -> ConversionPlan | None:
    """A plan for the analytics collection when any lead may count won deals (the account's
    plan, or a campaign's): each deal is then sent only if its lead's pinned plan says so."""
    plan = settings.conversion_plan()
    if plan is not None and plan.deal_won:
        return plan
    for tag, rule in campaign_rules(settings.campaigns_dir).items():
        if "deal_won" in rule.count:
            return plan_for_campaign(settings, rule, f"campaign {tag!r}")
    return None
