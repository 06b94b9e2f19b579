"""Sales owner assignment by smooth weighted round-robin (the nginx algorithm).

Weights 3:1 give `a a b a`, interleaved rather than in bursts, and the whole state is
a dict of integers that a workflow can keep in its history.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class OwnerSlot(BaseModel):
    owner_id: str = Field(min_length=1)
    weight: int = Field(default=1, ge=1)
    available: bool = True


class RoundRobinState(BaseModel):
    current: dict[str, int] = {}


class NoOwnerAvailable(ValueError):
    """No owner is available and not excluded."""


def pick_owner(
    state: RoundRobinState,
    owners: list[OwnerSlot],
    exclude: set[str] | frozenset[str] = frozenset(),
) -> tuple[str, RoundRobinState]:
    """Pick the next owner; returns the owner id and a new state (the input is not changed)."""
    ids = [o.owner_id for o in owners]
    if len(set(ids)) != len(ids):
        raise ValueError(f"owner ids must be unique, got {sorted(ids)}")
    # Owners no longer listed are forgotten; unavailable or excluded ones keep their place.
    current = {o.owner_id: state.current.get(o.owner_id, 0) for o in owners}
    eligible = sorted((o for o in owners if o.available and o.owner_id not in exclude), key=lambda o: o.owner_id)
    if not eligible:
        raise NoOwnerAvailable(f"no owner available (owners: {sorted(ids)}, excluded: {sorted(exclude)})")
    best: OwnerSlot | None = None
    for owner in eligible:
        current[owner.owner_id] += owner.weight
        # Strict > keeps the first in id order on ties, so picks are reproducible.
        if best is None or current[owner.owner_id] > current[best.owner_id]:
            best = owner
    assert best is not None
    current[best.owner_id] -= sum(o.weight for o in eligible)
    return best.owner_id, RoundRobinState(current=current)
