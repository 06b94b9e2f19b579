"""The ad a Meta channel runs: its creative (text, call to action, image or an existing
post) and who sees it (age, interests, custom audiences), as the campaign file gives it
under `channels[i].ad`.

The creative's link is not written here: it is the campaign's UTM-tagged landing URL
(`domain.campaigns.utm_url`), so every ad click is attributed like the other channels'.

An image is a png or jpg file named relative to the campaign file; the campaign file's
directory is the campaign assets directory, and the image must sit in or under it. It is
checked (inside that directory, exists, is a png or jpg by its first bytes, is within
Meta's 30 MB) only when a file is validated: the loader passes the directory in the
validation context under `IMAGE_BASE`, and the image is then stored as an `ImageRef`
(its path relative to the directory, its SHA-256 and size). The reference is what the
workflow input carries: the worker that uploads the image may run on another machine,
and finds it under its own copy of the assets directory (`MOPS_CAMPAIGN_ASSETS`),
uploading it only when its bytes are the ones validated. A spec read back from a workflow
history is not checked again (no file I/O there); one launched before references holds
the absolute path the loader made, as a plain string.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from domain.fields import STRICT_KEYS, ConfigModel

# Validation context: the campaign assets directory, which image paths are relative to and stay within.
IMAGE_BASE = "image_base"

# Meta's call-to-action button types for link ads (AdCreativeLinkDataCallToAction `type`).
CALL_TO_ACTIONS = (
    "LEARN_MORE",
    "SIGN_UP",
    "DOWNLOAD",
    "SUBSCRIBE",
    "CONTACT_US",
    "APPLY_NOW",
    "GET_QUOTE",
    "GET_OFFER",
    "SHOP_NOW",
    "BUY_NOW",
    "ORDER_NOW",
    "BOOK_TRAVEL",
    "WATCH_MORE",
    "NO_BUTTON",
)
# Where the ads show (ad set targeting `publisher_platforms`); none listed: Meta's automatic placements.
PLACEMENTS = ("facebook", "instagram", "messenger", "audience_network")
# Ad set targeting ages: Meta takes 18..65 (65 means "65 and older").
AGE_MIN, AGE_MAX = 18, 65
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MAX_IMAGE_BYTES = 30 * 1024 * 1024  # Meta's largest image file
IMAGE_NAME_LIMIT = 100  # an ad image's `name` (its file name) in the Marketing API
PNG_MAGIC, JPEG_MAGIC = b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"
# Fields of a creative made from link data; a creative that runs an existing post takes none.
LINK_FIELDS = ("message", "headline", "description", "call_to_action")


def image_kind(head: bytes) -> str | None:
    """'png' or 'jpg' from a file's first bytes, None when it is neither."""
    if head.startswith(PNG_MAGIC):
        return "png"
    if head.startswith(JPEG_MAGIC):
        return "jpg"
    return None


class ImageRef(BaseModel):
    """An ad image as the workflow input carries it: where any machine's copy of the
    campaign assets directory holds it, and what its bytes are, so a worker never
    uploads another file that happens to sit at that path."""

    path: str  # relative to the campaign assets directory, `/`-separated, never `..` or absolute
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")  # of the file's bytes when the campaign was validated
    size: int = Field(ge=1, le=MAX_IMAGE_BYTES)  # bytes

    @field_validator("path")
    @classmethod
    def _inside(cls, value: str) -> str:
        parts = PurePosixPath(value).parts
        if not parts or value.startswith("/") or "\\" in value or ".." in parts:
            raise ValueError(f"{value!r} is not a path inside the campaign assets directory")
        return value

    @property
    def name(self) -> str:
        """The file name (what Meta's image library shows)."""
        return PurePosixPath(self.path).name


def _ids(values: list[str], what: str) -> list[str]:
    cleaned = [str(v).strip() for v in values]
    seen: set[str] = set()
    for value in cleaned:
        if not value.isdigit():
            raise ValueError(f"{value!r} is not a Meta {what} id (digits only)")
        if value in seen:
            raise ValueError(f"{value!r} is listed twice")
        seen.add(value)
    return cleaned


class MetaTargeting(ConfigModel):
    """Who the ad set reaches beside its countries (`channels[i].countries`)."""

    age_min: int = Field(default=AGE_MIN, ge=AGE_MIN, le=AGE_MAX)
    age_max: int = Field(default=AGE_MAX, ge=AGE_MIN, le=AGE_MAX)
    interests: list[str] = []  # Meta interest ids (Targeting Search)
    # Custom Audience ids, e.g. the audience the contact sync fills (MOPS_META_AUDIENCE_ID)
    custom_audiences: list[str] = []
    placements: list[str] = []  # of PLACEMENTS; empty: every placement Meta picks (automatic placements)

    @field_validator("placements")
    @classmethod
    def _placements(cls, values: list[str]) -> list[str]:
        cleaned = [v.strip().lower() for v in values]
        seen: set[str] = set()
        for value in cleaned:
            if value not in PLACEMENTS:
                raise ValueError(f"unknown placement {value!r} (expected one of: {', '.join(PLACEMENTS)})")
            if value in seen:
                raise ValueError(f"{value!r} is listed twice")
            seen.add(value)
        return cleaned

    @field_validator("interests")
    @classmethod
    def _interests(cls, values: list[str]) -> list[str]:
        return _ids(values, "interest")

    @field_validator("custom_audiences")
    @classmethod
    def _audiences(cls, values: list[str]) -> list[str]:
        return _ids(values, "custom audience")

    @model_validator(mode="after")
    def _ages(self) -> MetaTargeting:
        if self.age_max < self.age_min:
            raise ValueError(f"age_max: {self.age_max} is below age_min ({self.age_min})")
        return self


class MetaAd(ConfigModel):
    """A Meta channel's ad: link data with an image, or an existing page post."""

    message: str | None = None  # primary text
    headline: str | None = None  # link_data `name`
    description: str | None = None  # optional line under the headline
    call_to_action: str | None = None  # one of CALL_TO_ACTIONS
    # png/jpg relative to the campaign file; an ImageRef once loaded. A str read back from
    # a workflow is the absolute path of a campaign launched before references (the worker
    # refuses to upload it: nothing says which bytes were validated).
    image: ImageRef | str | None = None
    object_story_id: str | None = Field(default=None, pattern=r"^\d+_\d+$")  # <page id>_<post id>
    targeting: MetaTargeting = Field(default_factory=MetaTargeting)

    @field_validator("message", "headline", "description")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("call_to_action")
    @classmethod
    def _cta(cls, value: str | None) -> str | None:
        if value is None:
            return None
        cta = value.strip().upper()
        if cta not in CALL_TO_ACTIONS:
            raise ValueError(f"unknown call to action {value!r} (expected one of: {', '.join(CALL_TO_ACTIONS)})")
        return cta

    @field_validator("image", mode="before")
    @classmethod
    def _image(cls, value: Any, info: ValidationInfo) -> Any:
        context = info.context or {}
        if value is None or not context.get(STRICT_KEYS):
            return value  # read back from a workflow: checked when its file was loaded
        if not isinstance(value, str):
            raise ValueError("give the image as the path of a png or jpg file, relative to the campaign file")
        return check_image(value, context.get(IMAGE_BASE))

    @model_validator(mode="after")
    def _creative(self) -> MetaAd:
        if self.image is not None and self.object_story_id is not None:
            raise ValueError("image: give image or object_story_id, not both")
        if self.object_story_id is not None:
            for name in LINK_FIELDS:
                if getattr(self, name) is not None:
                    raise ValueError(f"{name}: not used with object_story_id (the post runs with its own text)")
            return self
        if self.image is None:
            raise ValueError("image: required: a png or jpg file, or object_story_id for an existing post")
        for name in ("message", "headline", "call_to_action"):
            if getattr(self, name) is None:
                raise ValueError(f"{name}: required for an ad with an image")
        return self


def check_image(value: str, base: Path | str | None) -> ImageRef:
    """The image named `value` (relative to `base`, the campaign assets directory, or an
    absolute path inside it) as a reference, checked to be a png or jpg Meta takes.

    Inside means by the path as written (`..` resolved, symlinks not): the worker finds
    the file by that relative path under its own copy of the directory."""
    if Path(value).suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"{value!r} is not a png or jpg file")
    if base is None:
        raise ValueError(
            f"{value!r}: the campaign came from no file, so there is no campaign assets directory to find it in"
        )
    root = Path(os.path.abspath(Path(base).expanduser()))
    path = Path(os.path.normpath(root / Path(value).expanduser()))  # an absolute value stays itself
    try:
        relative = path.relative_to(root)
    except ValueError:
        raise ValueError(
            f"{value!r} is outside the campaign assets directory {root} (keep the image in or under it)"
        ) from None
    if not path.is_file():
        raise ValueError(f"{value!r} does not exist (looked for {path})")
    if len(path.name) > IMAGE_NAME_LIMIT:
        raise ValueError(f"the file name is {len(path.name)} characters, over Meta's limit of {IMAGE_NAME_LIMIT}")
    size = path.stat().st_size
    if size > MAX_IMAGE_BYTES:
        raise ValueError(f"{value!r} is {size} bytes, over Meta's limit of 30 MB")
    data = path.read_bytes()
    if image_kind(data[:8]) is None:
        raise ValueError(f"{value!r} is not a png or jpg image (its first bytes say otherwise)")
    return ImageRef(path=relative.as_posix(), sha256=hashlib.sha256(data).hexdigest(), size=len(data))
