"""Brand and compliance checks: the rules engine (domain/brand.py) plus a live check
of every link. Hosted on the checks task queue (it makes outbound HTTP calls)."""

from __future__ import annotations

from pathlib import Path

from temporalio import activity

from activities.contracts import CHECKS_BRAND
from activities.models import BrandCheckInput
from domain.brand import CheckResult, check_content, link_findings, load_brand_rules
from integrations.links import LinkChecker


class CheckActivities:
    def __init__(self, links: LinkChecker, rules_path: Path) -> None:
        self._links = links
        self._rules_path = rules_path

    @activity.defn(name=CHECKS_BRAND.name)
    async def brand(self, inp: BrandCheckInput) -> CheckResult:
        # Rules are read per check so an edit applies to the next check; the result
        # (with every finding) is recorded in the workflow's history.
        rules = load_brand_rules(self._rules_path)
        result = check_content(
            rules,
            title=inp.title,
            body_markdown=inp.body_markdown,
            type=inp.type,
            region=inp.region,
            channels=inp.channels,
        )
        statuses = await self._links.check_all(result.links)
        findings = result.findings + link_findings([(s.url, s.ok, s.status) for s in statuses])
        return result.model_copy(update={"findings": findings})
