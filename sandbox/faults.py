"""Fault injection: latency, failures, error rates and 429 storms, per platform.

A `FaultSpec` is posted to `/_sandbox/faults`; the middleware asks `Faults.decide()`
once per platform request. Counters (`fail_next`, `rate_limit_next`) count down, and
`error_rate` draws from `random.Random(seed)`, so a run is reproducible.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from sandbox.platforms import PLATFORMS


class FaultSpec(BaseModel):
    platform: Literal["hubspot", "sendgrid", "slack", "wordpress", "linkedin", "ga4", "meta", "google_ads", "*"] = "*"
    latency_ms: int = Field(0, ge=0, le=60_000)
    fail_next: int = Field(0, ge=0)
    error_status: int = Field(500, ge=400, le=599)
    error_rate: float = Field(0.0, ge=0.0, le=1.0)
    rate_limit_next: int = Field(0, ge=0)
    retry_after_s: float = Field(1.0, gt=0)
    fail_after_apply: bool = False  # the effect happens, then the response is "lost"
    # Spend `latency_ms` after the effect is applied (a slow answer the caller may
    # never see, e.g. when its worker dies), instead of before.
    latency_after_apply: bool = False
    # Only requests whose path starts with this are affected (e.g. "/v3/mail/send"),
    # so a test can target the side effect and not the reads around it.
    path_prefix: str | None = None
    # Only requests for exactly this path (when a prefix would also catch its siblings,
    # e.g. Meta's `/act_<id>/ads` beside `/act_<id>/adsets`).
    path: str | None = None
    seed: int = 0


@dataclass(frozen=True)
class Decision:
    action: Literal["pass", "fail", "rate_limit"] = "pass"
    status: int = 200
    retry_after_s: float = 1.0
    after_apply: bool = False
    latency_s: float = 0.0
    latency_after_apply: bool = False


class Faults:
    """The active fault spec per platform (with counters counting down)."""

    def __init__(self) -> None:
        self._specs: dict[str, FaultSpec] = {}
        self._rngs: dict[str, random.Random] = {}

    def set(self, spec: FaultSpec) -> None:
        """Replace the faults of `spec.platform` (or of every platform for "*")."""
        for platform in PLATFORMS if spec.platform == "*" else (spec.platform,):
            self._specs[platform] = spec.model_copy(update={"platform": platform})
            self._rngs[platform] = random.Random(spec.seed)

    def clear(self) -> None:
        self._specs.clear()
        self._rngs.clear()

    def snapshot(self) -> dict[str, dict]:
        return {platform: spec.model_dump() for platform, spec in self._specs.items()}

    def decide(self, platform: str, path: str = "/") -> Decision:
        spec = self._specs.get(platform)
        if (
            spec is None
            or (spec.path_prefix and not path.startswith(spec.path_prefix))
            or spec.path not in (None, path)
        ):
            return Decision()
        latency = spec.latency_ms / 1000
        if spec.latency_after_apply and not (spec.rate_limit_next or spec.fail_next or spec.error_rate):
            return Decision(latency_s=latency, latency_after_apply=True)
        if spec.rate_limit_next:
            spec.rate_limit_next -= 1
            return Decision("rate_limit", 429, spec.retry_after_s, latency_s=latency)
        failing = bool(spec.fail_next)
        if failing:
            spec.fail_next -= 1
        elif spec.error_rate:
            failing = self._rngs[platform].random() < spec.error_rate
        if failing:
            return Decision("fail", spec.error_status, after_apply=spec.fail_after_apply, latency_s=latency)
        return Decision(latency_s=latency)
