"""Which arm of a split a lead falls in: a keyed hash of the lead id, the same on every run.

The bucket is a pure function of the journey, the split and the lead id (itself a keyed
hash of the email), so a replay, a continue-as-new or another worker always computes the
same arm, and two splits (or the same split id in two journeys) sort leads independently.
No randomness is drawn, so nothing has to be seeded or carried between runs.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

HOLDOUT = "holdout"  # the arm that gets nothing; reserved, no variant may be called so
PERCENT = 100.0
_SCALE = 2**64


def bucket(journey_id: str, split_id: str, lead_id: str) -> float:
    """Where the lead falls on [0, 100): HMAC-SHA256 keyed by the journey and split ids."""
    key = f"mops-split/{journey_id}/{split_id}".encode()
    digest = hmac.new(key, lead_id.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE * PERCENT


def choose(point: float, holdout: float, arms: Sequence[tuple[str, float]]) -> str:
    """The arm at `point` (0 <= point < 100): the holdout first, then the variants in the
    order written, each taking its weight (percent) of the line."""
    edge = holdout
    if point < edge:
        return HOLDOUT
    for arm_id, weight in arms:
        edge += weight
        if point < edge:
            return arm_id
    # Weights sum to 100 with the holdout (validated); rounding can leave the last sliver.
    return arms[-1][0]
