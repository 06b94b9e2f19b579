"""A Meta channel's ad as campaign files give it, for tests that build campaigns from dicts."""

from __future__ import annotations

from pathlib import Path

IMAGE = Path(__file__).resolve().parent.parent / "campaigns" / "images" / "spring-launch.png"

# Absolute, so campaigns built without a file (build_campaign(data)) find it too.
META_AD = {
    "message": "Five ready-made workflows for launches, approvals and budget reviews.",
    "headline": "Spring launch",
    "call_to_action": "LEARN_MORE",
    "image": str(IMAGE),
}
