"""Whether a person who finished a journey may enter it again: the journey's `reentry` policy.

`always` (the default: a finished lead captured again starts again, as before policies
existed), `never`, or `{after: 30d}` (not before 30 days after it finished). The person is
the lead id, a keyed hash of the email, so the rule holds for the same address across runs,
whatever its captures say; when it finished is kept where every run of that person can
read it (the contact ledger, `mops.contact_ledger`), not in a run that has ended.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import model_validator

from domain.fields import ConfigModel, Duration

_HELP = "use always, never, or {after: <duration>} (e.g. {after: 30d})"


class ReentryPolicy(ConfigModel):
    mode: Literal["always", "never", "after"] = "always"
    after: Duration | None = None  # with mode `after`: how long after the finish

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, value: Any) -> Any:
        # YAML writes the policy as a word or as `{after: 30d}`; the model keeps one shape.
        if isinstance(value, str):
            if value not in ("always", "never"):
                raise ValueError(f"unknown policy {value!r}: {_HELP}")
            return {"mode": value}
        if isinstance(value, dict) and value and "mode" not in value:
            if set(value) != {"after"}:
                raise ValueError(f"unknown policy {value!r}: {_HELP}")
            return {"mode": "after", "after": value["after"]}
        return value

    @model_validator(mode="after")
    def _after_given(self) -> ReentryPolicy:
        if (self.mode == "after") != (self.after is not None):
            raise ValueError(f"`after` goes with mode after only: {_HELP}")
        return self

    @property
    def checked(self) -> bool:
        """Whether entering needs to know when the person last finished the journey."""
        return self.mode != "always"

    def refusal(self, journey_id: str, finished_at: datetime | None, now: datetime) -> str | None:
        """Why the person may not enter `journey_id` now, or None when it may."""
        if finished_at is None or self.mode == "always":
            return None
        when = f"{finished_at:%Y-%m-%d %H:%M} UTC"
        if self.mode == "never":
            return f"{journey_id!r} takes a lead once, and this one finished it at {when}"
        assert self.after is not None, "checked by _after_given"
        again = finished_at + self.after
        if now >= again:
            return None
        return (
            f"{journey_id!r} takes a lead again {_span(self.after)} after it finished (at {when}): "
            f"not before {again:%Y-%m-%d %H:%M} UTC"
        )


def _span(d: timedelta) -> str:
    return f"{d.days}d" if d % timedelta(days=1) == timedelta(0) else str(d)
