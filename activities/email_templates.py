"""Email templates: Jinja2 files beside the journeys, rendered into whole messages.

Every message is two files in the templates directory, `<name>.html` and `<name>.txt`,
each extending the shared layout (`_layout.html` / `_layout.txt`, which carry the
footer: the one-click unsubscribe link, the preference centre and the sender's postal
address). A message's HTML fills the blocks `preheader` and `body`; its text part
fills `body`. The subject comes from the journey step and is a template too.

The environment is sandboxed (templates cannot reach Python internals), undefined
names fail (`StrictUndefined`: a lead field without a stated fallback is an error,
never an empty string) and HTML is autoescaped. Every problem is a `TemplateProblem`
whose message is one line, `<file>:<line>: <reason>`.

Names a template may use (lead fields are left out when unknown, so each use needs a
fallback such as `{{ first_name | default("there") }}` or an `is defined` test):

- lead: first_name, last_name, company, job_title, industry, country, employees
- journey facts: segment, score_band (cold | warm | hot), owner (name, email)
- always set: subject, journey_id, step_id, unsubscribe_url, preferences_url, postal_address
- `link(url)`: the URL with the message's UTM parameters (source, medium, campaign, content)
- campaign emails (one message to whole lists, not personalised): body_html, body_text,
  campaign_name, landing_url

A directory may be given with shared directories after it (campaign templates extend the
layout beside the journeys): names are looked up in that order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
    meta,
    nodes,
)
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup  # Jinja2's own escaping library (a dependency of jinja2)

from domain.brand import BrandRules, Finding, check_content
from domain.content import GLOBAL_REGION, Channel, ContentType, markdown_to_html, markdown_to_text

LAYOUTS = ("_layout.html", "_layout.txt")
PARTS = ("txt", "html")  # SendGrid wants text/plain before text/html
LEAD_FIELDS = ("first_name", "last_name", "company", "job_title", "industry", "country", "employees")
JOURNEY_FIELDS = ("segment", "score_band", "owner")
ALWAYS = ("subject", "journey_id", "step_id", "unsubscribe_url", "preferences_url", "postal_address", "link")
CAMPAIGN_FIELDS = ("body_html", "body_text", "campaign_name", "landing_url")
KNOWN_NAMES = frozenset(LEAD_FIELDS + JOURNEY_FIELDS + ALWAYS + CAMPAIGN_FIELDS)
# Score bands for dynamic blocks: below 20 is cold, from 45 (the default hot-lead branch) hot.
SCORE_BANDS = ((45.0, "hot"), (20.0, "warm"), (float("-inf"), "cold"))
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class TemplateProblem(ValueError):
    """A message that cannot be rendered or must not be sent; one line, `<file>:<line>: <reason>`."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    preheader: str
    html: str
    text: str


@dataclass(frozen=True)
class MessageFacts:
    """What a message is personalised with; lead fields are None when unknown."""

    journey_id: str
    step_id: str
    subject: str
    unsubscribe_url: str
    lead: Mapping[str, Any]  # LEAD_FIELDS and JOURNEY_FIELDS; None or missing = unknown
    utm_campaign: str | None = None  # default: the journey id
    utm_source: str = "mops"
    utm_medium: str = "email"
    campaign: Mapping[str, Any] | None = None  # CAMPAIGN_FIELDS, for campaign emails


def campaign_facts(name: str, body_markdown: str, landing_url: str | None) -> dict[str, Any]:
    """What a campaign email template is filled with: the channel's Markdown body as safe
    HTML (domain.content renders and escapes it) and as text, the name and landing URL."""
    return {
        "campaign_name": name,
        "body_html": Markup(markdown_to_html(body_markdown)),
        "body_text": markdown_to_text(body_markdown),
        "landing_url": landing_url,
    }


def lead_context(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A send's lead fields (activities.models.EmailLead) as the names templates use:
    `score` becomes `score_band`, `owner_name`/`owner_email` become `owner`."""
    lead = dict(fields)
    lead["score_band"] = score_band(lead.pop("score", None))
    owner_name, owner_email = lead.pop("owner_name", None), lead.pop("owner_email", None)
    if owner_name:
        lead["owner"] = {"name": owner_name, "email": owner_email}
    return lead


def score_band(score: float | None) -> str | None:
    if score is None:
        return None
    return next(band for floor, band in SCORE_BANDS if score >= floor)


def tag_link(url: str, utm: Mapping[str, str]) -> str:
    """`url` with `utm_*` parameters added; parameters the URL already has are kept."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"link({url!r}): only absolute http(s) URLs are tagged")
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {k for k, _ in query}
    query += [(f"utm_{k}", v) for k, v in utm.items() if f"utm_{k}" not in present]
    return urlunsplit(parts._replace(query=urlencode(query)))


class EmailTemplates:
    """The templates in one directory, with the footer facts every message carries."""

    def __init__(
        self, directory: Path, *, postal_address: str, preferences_url: str, shared: tuple[Path, ...] = ()
    ) -> None:
        self.directory = Path(directory)
        self._search = (self.directory, *(Path(d) for d in shared))
        self._postal_address = postal_address
        self._preferences_url = preferences_url
        loader = FileSystemLoader([str(d) for d in self._search])
        self._html = SandboxedEnvironment(
            loader=loader, undefined=StrictUndefined, autoescape=True, trim_blocks=True, lstrip_blocks=True
        )
        self._text = SandboxedEnvironment(
            loader=loader, undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True
        )
        self._subject = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)

    def path(self, name: str, part: str) -> Path:
        return self.directory / f"{name}.{part}"

    # ------------------------------------------------------------------ checks

    def check(self, name: str, subject: str, where: str, campaign: Mapping[str, Any] | None = None) -> None:
        """Refuse a message that cannot render: a missing file, a syntax error, a name no
        message has, or a lead field used without a fallback. `where` names the step;
        `campaign` is given for a campaign email."""
        if not _NAME.fullmatch(name):
            raise TemplateProblem(f"{where}: template {name!r} is not a valid name (a-z, 0-9, - and _)")
        for part in PARTS:
            path = self.path(name, part)
            if not path.is_file():
                raise TemplateProblem(f"{where}: template {path} does not exist (every email needs .html and .txt)")
            env = self._html if part == "html" else self._text
            self._check_names(env, f"{name}.{part}", set())
        _check_subject_names(self._subject, subject, where)
        # Render for a lead we know nothing about: every lead field must have its fallback.
        self.render(name, _sample_facts(name, subject, {}, campaign))

    def _check_names(self, env: SandboxedEnvironment, template: str, seen: set[str]) -> None:
        if template in seen:
            return
        seen.add(template)
        file = next((d / template for d in self._search if (d / template).is_file()), self.directory / template)
        try:
            source = file.read_text()
        except FileNotFoundError:
            raise TemplateProblem(f"{file}: template does not exist") from None
        try:
            tree = env.parse(source, name=template, filename=str(file))
        except TemplateSyntaxError as err:
            raise TemplateProblem(f"{file}:{err.lineno}: syntax error: {err.message}") from None
        for name in sorted(meta.find_undeclared_variables(tree) - KNOWN_NAMES):
            line = next((n.lineno for n in tree.find_all(nodes.Name) if n.name == name), 0)
            raise TemplateProblem(f"{file}:{line}: {name!r} is undefined (known: {', '.join(sorted(KNOWN_NAMES))})")
        for parent in meta.find_referenced_templates(tree):
            if parent is None:
                raise TemplateProblem(f"{file}: extends or includes a template by a computed name")
            self._check_names(env, parent, seen)

    # ------------------------------------------------------------------ render

    def render(self, name: str, facts: MessageFacts) -> RenderedEmail:
        """The whole message; raises TemplateProblem naming file:line."""
        context = self._context(facts)
        subject = self._render_subject(facts.subject, context, name)
        context["subject"] = subject
        html_template = self._load(self._html, f"{name}.html")
        text_template = self._load(self._text, f"{name}.txt")
        html = self._run(lambda: html_template.render(context))
        text = self._run(lambda: text_template.render(context))
        preheader = ""
        if "preheader" in html_template.blocks:
            block = html_template.blocks["preheader"]
            preheader = " ".join(self._run(lambda: "".join(block(html_template.new_context(context)))).split())
        for part, body in (("txt", text), ("html", html)):
            if not body.strip():
                raise TemplateProblem(f"{self.path(name, part)}: renders to an empty message")
        return RenderedEmail(subject=subject, preheader=preheader, html=html, text=text)

    def _context(self, facts: MessageFacts) -> dict[str, Any]:
        utm = {
            "source": facts.utm_source,
            "medium": facts.utm_medium,
            "campaign": facts.utm_campaign or facts.journey_id,
            "content": facts.step_id,
        }
        context: dict[str, Any] = {k: v for k, v in facts.lead.items() if k in LEAD_FIELDS + JOURNEY_FIELDS}
        context.update({k: v for k, v in (facts.campaign or {}).items() if k in CAMPAIGN_FIELDS})
        context = {k: v for k, v in context.items() if v is not None and v != ""}
        context.update(
            subject=facts.subject,
            journey_id=facts.journey_id,
            step_id=facts.step_id,
            unsubscribe_url=facts.unsubscribe_url,
            preferences_url=self._preferences_url,
            postal_address=self._postal_address,
            link=lambda url: tag_link(str(url), utm),
        )
        return context

    def _render_subject(self, subject: str, context: dict[str, Any], name: str) -> str:
        try:
            text = self._subject.from_string(subject).render(context)
        except TemplateError as err:
            raise TemplateProblem(f"subject of {name}: {_reason(err)}") from None
        text = " ".join(text.split())
        if not text:
            raise TemplateProblem(f"subject of {name}: renders empty")
        return text

    def _load(self, env: SandboxedEnvironment, template: str):
        try:
            return env.get_template(template)
        except TemplateNotFound as err:
            raise TemplateProblem(f"{self.directory / str(err.name)}: template does not exist") from None
        except TemplateSyntaxError as err:
            raise TemplateProblem(f"{err.filename or template}:{err.lineno}: syntax error: {err.message}") from None

    def _run(self, render) -> str:
        try:
            return render()
        except TemplateError as err:
            file, line = self._template_frame(err)
            raise TemplateProblem(f"{file}:{line}: {_reason(err)}") from None
        except (ValueError, TypeError) as err:  # e.g. link() given a relative URL
            file, line = self._template_frame(err)
            raise TemplateProblem(f"{file}:{line}: {err}") from None

    def _template_frame(self, err: BaseException) -> tuple[str, int]:
        # Jinja rewrites tracebacks so that template frames name the template file and line.
        found: tuple[str, int] = (str(self.directory), 0)
        for filename, line in _frames(err):
            if Path(filename).parent in self._search:
                found = (filename, line)
        return found

    # ------------------------------------------------------------------ brand

    def brand_findings(self, rules: BrandRules, message: RenderedEmail) -> list[Finding]:
        """Brand and compliance rules on what the lead reads: subject, preheader and text part.
        Checked as global content, so every regional rule applies."""
        result = check_content(
            rules,
            title=message.subject,
            body_markdown=f"{message.preheader}\n\n{message.text}",
            type=ContentType.EMAIL,
            region=GLOBAL_REGION,
            channels=[Channel.EMAIL],
        )
        return result.findings

    def check_brand(
        self, rules: BrandRules, name: str, subject: str, where: str, campaign: Mapping[str, Any] | None = None
    ) -> list[Finding]:
        """Findings on the message as sample leads would get it (an unknown lead and a known
        one in each score band); a blocking finding is raised, warnings are returned."""
        warnings: list[Finding] = []
        for lead in _SAMPLE_LEADS if campaign is None else ({},):
            message = self.render(name, _sample_facts(name, subject, lead, campaign))
            for finding in self.brand_findings(rules, message):
                if finding.severity == "blocking":
                    raise TemplateProblem(f"{where}: template {name}: brand: {finding.rule}: {finding.message}")
                if finding not in warnings:
                    warnings.append(finding)
        return warnings


_SAMPLE_LEADS: tuple[dict[str, Any], ...] = (
    {},
    *(
        {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "company": "Analytical Engines Ltd",
            "job_title": "Head of Marketing Operations",
            "industry": "software",
            "country": "GB",
            "employees": 250,
            "segment": segment,
            "score_band": band,
            "owner": {"name": "Sam Seller", "email": "sam.seller@mops.example"},
        }
        for segment, band in (("enterprise", "hot"), ("mid_market", "warm"), ("smb", "cold"))
    ),
)


def _sample_facts(
    name: str, subject: str, lead: Mapping[str, Any], campaign: Mapping[str, Any] | None = None
) -> MessageFacts:
    return MessageFacts(
        journey_id="validate",
        step_id=name,
        subject=subject,
        unsubscribe_url="https://gateway.invalid/v1/unsubscribe/sample-token",
        lead=lead,
        campaign=campaign,
    )


def _check_subject_names(env: SandboxedEnvironment, subject: str, where: str) -> None:
    try:
        tree = env.parse(subject)
    except TemplateSyntaxError as err:
        raise TemplateProblem(f"{where}: subject: syntax error: {err.message}") from None
    unknown = sorted(meta.find_undeclared_variables(tree) - KNOWN_NAMES)
    if unknown:
        raise TemplateProblem(f"{where}: subject: {unknown[0]!r} is undefined")


def _reason(err: TemplateError) -> str:
    if isinstance(err, UndefinedError):
        name = re.match(r"'([^']+)' is undefined$", err.message or "")
        if name and name[1] not in KNOWN_NAMES:
            return f"{err.message} (no message has it; known: {', '.join(sorted(KNOWN_NAMES))})"
        return f"{err.message} (give it a fallback, e.g. | default(...), or test it with `is defined`)"
    return err.message or type(err).__name__


def _frames(err: BaseException) -> Iterator[tuple[str, int]]:
    tb = err.__traceback__
    while tb is not None:
        yield tb.tb_frame.f_code.co_filename, tb.tb_lineno
        tb = tb.tb_next


def check_journey_emails(
    spec: Any, journey_file: Path, templates: EmailTemplates, rules: BrandRules | None
) -> list[str]:
    """Every email step of a journey (a `JourneySpec`): raises TemplateProblem for the first
    that cannot render or breaks a blocking brand rule; returns the warnings, one line each."""
    warnings: list[str] = []
    for i, step in enumerate(spec.steps):
        if step.type != "send_email":
            continue
        where = f"{journey_file}: steps.{i}.template"
        templates.check(step.template, step.subject, where)
        if rules is not None:
            for finding in templates.check_brand(rules, step.template, step.subject, where):
                warnings.append(f"{where}: {step.template}: brand warning: {finding.rule}: {finding.message}")
    return warnings


def check_campaign_emails(
    spec: Any, campaign_file: Path, templates: EmailTemplates, rules: BrandRules | None
) -> list[str]:
    """The email channel of a campaign (a `CampaignSpec`), rendered as its lists will get it:
    raises TemplateProblem when it cannot render or breaks a blocking brand rule; returns
    the warnings, one line each."""
    warnings: list[str] = []
    for i, channel in enumerate(spec.channels):
        if channel.kind != "email":
            continue
        where = f"{campaign_file}: channels.{i}.template"
        if channel.template is None:
            raise TemplateProblem(f"{where}: required: the email's template (e.g. campaign-email)")
        facts = campaign_facts(spec.name, channel.body or "", spec.landing_url)
        templates.check(channel.template, channel.subject or "", where, campaign=facts)
        if rules is not None:
            for finding in templates.check_brand(rules, channel.template, channel.subject or "", where, facts):
                warnings.append(f"{where}: {channel.template}: brand warning: {finding.rule}: {finding.message}")
    return warnings


def validation_templates(
    directory: Path, postal_address: str | None, preferences_url: str | None, shared: tuple[Path, ...] = ()
) -> EmailTemplates:
    """Templates for checking (nothing is sent): the configured footer, or stand-ins for it."""
    return EmailTemplates(
        directory,
        postal_address=postal_address or "(postal address: MOPS_MAIL_SENDER_POSTAL)",
        preferences_url=preferences_url or "https://preferences.invalid/",
        shared=shared,
    )
