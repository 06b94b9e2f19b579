"""The shape of what a worker process hosts per task queue, shared by the worker's
assembly (workers/main.py) and the parts it adds from elsewhere (workers/privacy.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Activity = Callable[..., Any]
# (task queue, platform it calls or None, activities, server-side rate limit per second or None)
QueueSpec = tuple[str, str | None, list[Activity], float | None]
