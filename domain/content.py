"""Content briefs: what to publish, where, and who approves it; plus the people directory,
approval policies and a small Markdown renderer. Pure (no I/O except the YAML loaders)."""

from __future__ import annotations

import html
import re
import string
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from domain.fields import (
    STRICT_KEYS,
    ConfigModel,
    Duration,
    SpecError,
    UtcDatetime,
    first_error,
    load_yaml_model,
)
from domain.leads import normalise_email

PERSON_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
CONTENT_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{2,62}$"
STAGE_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
REGION_PATTERN = r"^[a-z][a-z0-9-]*$"
GLOBAL_REGION = "global"
LEGAL_STAGE = "legal"

PersonId = Annotated[str, Field(pattern=PERSON_ID_PATTERN)]


class ContentType(StrEnum):
    BLOG = "blog"
    EMAIL = "email"
    SOCIAL = "social"
    LANDING_PAGE = "landing_page"


class Channel(StrEnum):
    CMS = "cms"  # WordPress post
    LINKEDIN = "linkedin"  # LinkedIn organisation post
    EMAIL = "email"  # SendGrid send to marketing lists


# Max length, in characters, of the rendered body for each channel.
CHANNEL_LIMITS: dict[Channel, int] = {
    Channel.LINKEDIN: 3000,
    Channel.EMAIL: 100_000,
    Channel.CMS: 200_000,
}


# --- people ------------------------------------------------------------------------------


class Person(ConfigModel):
    id: PersonId
    name: str = Field(min_length=1)
    email: str  # work address: used to reach them in chat, never put in logs
    roles: list[str] = []
    backup: PersonId | None = None  # who may decide in their place once a stage is escalated

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        try:
            return normalise_email(value)
        except ValueError as err:
            raise ValueError(str(err).removeprefix("email: ")) from None


class Directory(ConfigModel):
    """The people who write and approve content (a snapshot is pinned in each workflow)."""

    people: list[Person]

    @model_validator(mode="after")
    def _references(self) -> Directory:
        index: dict[str, int] = {}
        for i, person in enumerate(self.people):
            if person.id in index:
                first = index[person.id]
                raise ValueError(f"people.{i}.id: duplicate person id {person.id!r} (first used at people.{first})")
            index[person.id] = i
        for i, person in enumerate(self.people):
            if person.backup == person.id:
                raise ValueError(f"people.{i}.backup: {person.id!r} cannot be their own backup")
            if person.backup is not None and person.backup not in index:
                raise ValueError(f"people.{i}.backup: {person.backup!r} is not in the directory")
        return self

    def get(self, person_id: str) -> Person | None:
        return next((p for p in self.people if p.id == person_id), None)

    def with_role(self, role: str) -> list[Person]:
        return [p for p in self.people if role in p.roles]

    def backup_of(self, person_id: str) -> str | None:
        person = self.get(person_id)
        return person.backup if person else None


class DirectoryError(SpecError):
    """A directory file that cannot be used: `<path>: <field.path>: <reason>` on one line."""


def load_directory(path: Path) -> Directory:
    """Load and validate a directory YAML file (`people: [...]`); raises DirectoryError."""
    return load_yaml_model(path, Directory, DirectoryError, "directory fields (people)")


# --- approval stages and policies ---------------------------------------------------------


class ApprovalMode(StrEnum):
    ALL = "all"  # every approver (or, once escalated, their backup)
    ANY = "any"  # one approval is enough
    QUORUM = "quorum"  # `quorum` distinct approvals


class ApprovalStage(ConfigModel):
    name: str = Field(pattern=STAGE_NAME_PATTERN)
    approvers: list[PersonId] = Field(min_length=1)
    mode: ApprovalMode = ApprovalMode.ALL
    quorum: int | None = Field(default=None, validate_default=True)
    remind_after: Duration = timedelta(days=1)
    escalate_after: Duration = Field(default=timedelta(days=2), validate_default=True)
    expire_after: Duration = Field(default=timedelta(days=5), validate_default=True)

    @field_validator("approvers")
    @classmethod
    def _unique(cls, approvers: list[str]) -> list[str]:
        seen: set[str] = set()
        for approver in approvers:
            if approver in seen:
                raise ValueError(f"{approver!r} is listed twice")
            seen.add(approver)
        return approvers

    @field_validator("quorum")
    @classmethod
    def _quorum(cls, quorum: int | None, info: ValidationInfo) -> int | None:
        mode, approvers = info.data.get("mode"), info.data.get("approvers")
        if mode is None or approvers is None:
            return quorum  # reported on its own field
        if mode != ApprovalMode.QUORUM:
            if quorum is not None:
                raise ValueError(f"quorum is only used with mode 'quorum' (mode is {mode.value!r})")
            return quorum
        if quorum is None:
            raise ValueError("required when mode is 'quorum'")
        if not 1 <= quorum <= len(approvers):
            raise ValueError(f"must be between 1 and the number of approvers ({len(approvers)}), got {quorum}")
        return quorum

    @field_validator("escalate_after")
    @classmethod
    def _after_reminder(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        remind = info.data.get("remind_after")
        if remind is not None and value <= remind:
            raise ValueError(f"must be longer than remind_after ({_show(remind)}), got {_show(value)}")
        return value

    @field_validator("expire_after")
    @classmethod
    def _after_escalation(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        escalate = info.data.get("escalate_after")
        if escalate is not None and value <= escalate:
            raise ValueError(f"must be longer than escalate_after ({_show(escalate)}), got {_show(value)}")
        return value

    @property
    def needed(self) -> int:
        """How many approvals the stage needs (ALL: every approver)."""
        if self.mode == ApprovalMode.ALL:
            return len(self.approvers)
        if self.mode == ApprovalMode.QUORUM and self.quorum is not None:
            return self.quorum
        return 1


def _show(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    parts = [(seconds // 86400, "d"), (seconds % 86400 // 3600, "h"), (seconds % 3600 // 60, "m"), (seconds % 60, "s")]
    return "".join(f"{n}{unit}" for n, unit in parts if n) or "0s"


def _unique_names(stages: list[ApprovalStage], where: str) -> None:
    seen: dict[str, int] = {}
    for i, stage in enumerate(stages):
        if stage.name in seen:
            first = f"{where}.{seen[stage.name]}"
            raise ValueError(f"{where}.{i}.name: duplicate stage {stage.name!r} (first used at {first})")
        seen[stage.name] = i


class ApprovalPolicies(ConfigModel):
    """Default approval stages per content type, and the legal stage added when claims are found."""

    defaults: dict[ContentType, list[ApprovalStage]]
    legal_stage: ApprovalStage

    @model_validator(mode="after")
    def _complete(self) -> ApprovalPolicies:
        missing = [t.value for t in ContentType if t not in self.defaults]
        if missing:
            raise ValueError(f"defaults: no stages for content type {missing[0]!r} (use [] for none)")
        for content_type, stages in self.defaults.items():
            _unique_names(stages, f"defaults.{content_type.value}")
        if self.legal_stage.name != LEGAL_STAGE:
            raise ValueError(f"legal_stage.name: must be {LEGAL_STAGE!r}, got {self.legal_stage.name!r}")
        return self

    def stages_for(self, content_type: ContentType) -> list[ApprovalStage]:
        return [s.model_copy(deep=True) for s in self.defaults.get(content_type, [])]


class PolicyError(SpecError):
    """An approval policy file that cannot be used: `<path>: <field.path>: <reason>` on one line."""


def load_policies(path: Path) -> ApprovalPolicies:
    """Load and validate the approval policy YAML file; raises PolicyError."""
    return load_yaml_model(path, ApprovalPolicies, PolicyError, "approval policy fields")


def with_legal_stage(stages: list[ApprovalStage], policies: ApprovalPolicies) -> list[ApprovalStage]:
    """`stages` plus the policy's legal stage at the end, unless a stage named 'legal' is there already."""
    if any(s.name == LEGAL_STAGE for s in stages):
        return list(stages)
    return [*stages, policies.legal_stage.model_copy(deep=True)]


# --- briefs ------------------------------------------------------------------------------


class BriefError(SpecError):
    """A brief that cannot be used; the message is one line: `<field>: <reason>`."""

    def __init__(self, field: str, reason: str, *, path: Path | str = "") -> None:
        super().__init__(path, field, reason)

    @property
    def field(self) -> str:
        return self.loc


_PLACEHOLDER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _placeholders(template: str) -> list[str]:
    """Names of the `{name}` placeholders in order (`{{`/`}}` are literal braces); ValueError if malformed."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as err:
        raise ValueError(f"not a valid template ({err}); use {{name}} placeholders and {{{{ }}}} for braces") from None
    names: list[str] = []
    for _literal, name, spec, conv in parsed:
        if name is None:
            continue
        if not _PLACEHOLDER_NAME.fullmatch(name) or spec or conv:
            shown = "{" + name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
            raise ValueError(f"placeholder {shown} is not a plain {{name}}")
        if name not in names:
            names.append(name)
    return names


def render_template(template: str, variables: dict[str, str]) -> str:
    """Fill `{name}` placeholders from `variables`; ValueError naming the first missing one."""
    out: list[str] = []
    names = _placeholders(template)
    missing = [n for n in names if n not in variables]
    if missing:
        raise ValueError(f"no value for template variable {missing[0]!r}")
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        out.append(literal)
        if name is not None:
            out.append(variables[name])
    return "".join(out)


class ContentBrief(ConfigModel):
    """One piece of content: what it says, where it goes, who approves it."""

    content_id: str = Field(pattern=CONTENT_ID_PATTERN)
    title: str
    type: ContentType
    audience: str = ""
    channels: list[Channel] = Field(min_length=1)
    body: str | None = None  # Markdown
    template: str | None = Field(default=None, validate_default=True)  # Markdown with {name} placeholders
    variables: dict[str, str] = Field(default={}, validate_default=True)
    due: date | None = None
    publish_at: UtcDatetime | None = None  # scheduled publication; None = as soon as approved
    author: PersonId
    region: str = Field(default=GLOBAL_REGION, pattern=REGION_PATTERN)
    approval: list[ApprovalStage] = []  # empty = the policy's defaults for the content type
    email_list_ids: list[str] = []
    tags: list[str] = []

    @field_validator("title")
    @classmethod
    def _title(cls, title: str) -> str:
        title = title.strip()
        if not title:
            raise ValueError("must not be blank")
        if len(title) > 200:
            raise ValueError(f"{len(title)} characters is over the limit of 200")
        return title

    @field_validator("channels")
    @classmethod
    def _unique_channels(cls, channels: list[Channel]) -> list[Channel]:
        for i, channel in enumerate(channels):
            if channel in channels[:i]:
                raise ValueError(f"{channel.value!r} is listed twice")
        return channels

    @field_validator("body")
    @classmethod
    def _body(cls, body: str | None) -> str | None:
        if body is not None and not body.strip():
            raise ValueError("must not be blank (leave it out to use a template)")
        return body

    @field_validator("template")
    @classmethod
    def _one_source(cls, template: str | None, info: ValidationInfo) -> str | None:
        if "body" not in info.data:
            return template  # the body itself was invalid
        body = info.data["body"]
        if body is not None and template is not None:
            raise ValueError("give either body or template, not both")
        if body is None and template is None:
            raise ValueError("a body or a template is required")
        if template is not None:
            if not template.strip():
                raise ValueError("must not be blank")
            _placeholders(template)
        return template

    @field_validator("variables")
    @classmethod
    def _variables(cls, variables: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        template = info.data.get("template")
        if template is None:
            if variables and info.data.get("body") is not None:
                raise ValueError("variables are only used with a template")
            return variables
        render_template(template, variables)  # names the first missing variable
        return variables

    @field_validator("approval")
    @classmethod
    def _stage_names(cls, stages: list[ApprovalStage]) -> list[ApprovalStage]:
        seen: set[str] = set()
        for stage in stages:
            if stage.name in seen:
                raise ValueError(f"stage {stage.name!r} is listed twice")
            seen.add(stage.name)
        return stages

    def rendered_body(self) -> str:
        """The Markdown body: `body`, or `template` filled with `variables` (BriefError if one is missing)."""
        if self.body is not None:
            return self.body
        try:
            return render_template(self.template or "", self.variables)
        except ValueError as err:
            raise BriefError("variables" if "variable" in str(err) else "template", str(err)) from None


def _brief_error(err: ValidationError, path: Path | str = "") -> BriefError:
    where, reason = first_error(err, split_path=True)
    return BriefError(where, reason, path=path)


def build_brief(data: dict[str, Any]) -> ContentBrief:
    """Validate a YAML/JSON-shaped brief (unknown keys refused); raises BriefError (one line)."""
    if not isinstance(data, dict):
        raise BriefError("", "a brief is a mapping of fields")
    try:
        return ContentBrief.model_validate(data, context={STRICT_KEYS: True})
    except ValidationError as err:
        raise _brief_error(err) from None


def load_brief(path: Path) -> ContentBrief:
    """Load a brief from a YAML file; raises BriefError `<path>: <field>: <reason>`."""
    return load_yaml_model(path, ContentBrief, _BriefFileError, "brief fields")


class _BriefFileError(BriefError):
    def __init__(self, path: Path | str, loc: str, reason: str) -> None:
        super().__init__(loc, reason, path=path)


def _never_approvable(stage: ApprovalStage, directory: Directory, author: str) -> bool:
    """True when the stage cannot be approved even after escalation, since authors cannot decide."""
    if stage.mode == ApprovalMode.ALL:
        # The author's slot can only be filled by their backup.
        return author in stage.approvers and directory.backup_of(author) in (None, author)
    backups = [directory.backup_of(a) for a in stage.approvers]
    possible = {p for p in [*stage.approvers, *backups] if p is not None and p != author}
    return len(possible) < stage.needed


def validate_brief(brief: ContentBrief, directory: Directory, policies: ApprovalPolicies) -> list[ApprovalStage]:
    """Check a brief against the directory and policies; return its effective approval stages.

    Raises BriefError for: an author or approver not in the directory, a stage that can
    never be approved because the author is one of its approvers, a body over a
    channel's limit, an email channel without list ids.
    """
    if directory.get(brief.author) is None:
        raise BriefError("author", f"{brief.author!r} is not in the directory")
    stages = [s.model_copy(deep=True) for s in brief.approval] or policies.stages_for(brief.type)
    for i, stage in enumerate(stages):
        for approver in stage.approvers:
            if directory.get(approver) is None:
                raise BriefError(f"approval.{i}.approvers", f"{approver!r} is not in the directory")
        if _never_approvable(stage, directory, brief.author):
            raise BriefError(
                f"approval.{i}.approvers",
                f"stage {stage.name!r} can never be approved: the author {brief.author!r} cannot decide "
                "on their own content and too few other approvers or backups are left",
            )
    for approver in policies.legal_stage.approvers:
        if directory.get(approver) is None:
            raise BriefError("legal_stage.approvers", f"{approver!r} is not in the directory")
    body = brief.rendered_body()
    for channel in brief.channels:
        limit = CHANNEL_LIMITS[channel]
        if len(body) > limit:
            raise BriefError("body", f"{len(body)} characters is over the {channel.value} limit of {limit}")
    if Channel.EMAIL in brief.channels and not brief.email_list_ids:
        raise BriefError("email_list_ids", "the email channel needs at least one list id")
    return stages


# --- Markdown ----------------------------------------------------------------------------
# A deliberately small subset: headings (# to ###), paragraphs, **bold**, *italic*,
# [links](url), ![images](url), unordered lists (-, *, +). Everything else is text.

_HEADING = re.compile(r"^(#{1,3})\s+(.*?)\s*#*\s*$")
_ITEM = re.compile(r"^\s{0,3}[-*+]\s+(.*)$")
_INLINE = re.compile(r"(!?)\[([^\]]*)\]\(\s*([^()\s]*)\s*\)")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![*\w])")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_TOKEN = re.compile("\x00(\\d+)\x00")


def _safe_url(url: str, *, image: bool = False) -> bool:
    """http(s), mailto (links only) and relative URLs; never javascript:, data: and the like."""
    if not url or any(ord(c) < 32 or ord(c) == 127 for c in url):
        return False
    match = _SCHEME.match(url)
    if match is None:
        return True  # relative
    return match[1].lower() in (("http", "https") if image else ("http", "https", "mailto"))


def _blocks(md: str) -> list[tuple[str, Any]]:
    """Split Markdown into ("h1".."h3", text), ("p", text) and ("ul", [item, ...]) blocks."""
    blocks: list[tuple[str, Any]] = []
    paragraph: list[str] = []
    items: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append(("p", "\n".join(paragraph)))
            paragraph.clear()
        if items:
            blocks.append(("ul", list(items)))
            items.clear()

    for line in md.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").split("\n"):
        if not line.strip():
            flush()
        elif heading := _HEADING.match(line):
            flush()
            blocks.append((f"h{len(heading[1])}", heading[2]))
        elif item := _ITEM.match(line):
            if paragraph:
                flush()
            items.append(item[1].strip())
        elif items and line[:1].isspace():
            items[-1] += " " + line.strip()  # continuation of a list item
        else:
            if items:
                flush()
            paragraph.append(line.strip())
    flush()
    return blocks


def _inline_html(text: str) -> str:
    rendered: list[str] = []

    def stash(match: re.Match[str]) -> str:
        is_image, label, url = match[1] == "!", match[2], match[3]
        if is_image:
            out = (
                f'<img src="{html.escape(url)}" alt="{html.escape(label)}">'
                if _safe_url(url, image=True)
                else html.escape(label)
            )
        else:
            inner = _emphasis(html.escape(label))
            out = f'<a href="{html.escape(url)}">{inner}</a>' if _safe_url(url) else inner
        rendered.append(out)
        return f"\x00{len(rendered) - 1}\x00"

    text = _emphasis(html.escape(_INLINE.sub(stash, text), quote=False))
    return _TOKEN.sub(lambda m: rendered[int(m[1])], text)


def _emphasis(escaped: str) -> str:
    escaped = _BOLD.sub(r"<strong>\1</strong>", escaped)
    return _ITALIC.sub(r"<em>\1</em>", escaped)


def markdown_to_html(md: str) -> str:
    """Render the brief subset of Markdown to HTML; all text is escaped, unsafe URLs dropped."""
    out: list[str] = []
    for kind, content in _blocks(md):
        if kind == "ul":
            out.append("<ul>\n" + "\n".join(f"<li>{_inline_html(i)}</li>" for i in content) + "\n</ul>")
        else:
            out.append(f"<{kind}>{_inline_html(content)}</{kind}>")
    return "\n".join(out)


def _inline_text(text: str) -> str:
    text = _INLINE.sub(lambda m: m[2], text)
    text = _BOLD.sub(r"\1", text)
    return _ITALIC.sub(r"\1", text)


def markdown_to_text(md: str) -> str:
    """The visible text of the Markdown subset: link text and image alt kept, URLs and markers dropped.

    Blocks are separated by a blank line and list items by a newline.
    """
    out: list[str] = []
    for kind, content in _blocks(md):
        if kind == "ul":
            out.append("\n".join(_inline_text(i) for i in content))
        else:
            out.append(_inline_text(" ".join(content.split("\n"))))
    return "\n\n".join(out)


def images(md: str) -> list[tuple[str, str]]:
    """(alt, url) of every image, in order."""
    return [(m[2], m[3]) for m in _INLINE.finditer(md.replace("\x00", "")) if m[1] == "!"]
