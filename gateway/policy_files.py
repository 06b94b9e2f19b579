"""The policy files the gateway reads on requests (`forms.yaml`, `lead-ad-forms.yaml`):
parsed and validated once per version of the file, not on every request. A version is the
file's modification time and size, so an edit applies to the next request, as before; a
file that is missing or invalid is not kept, so its one-line error is raised each time."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def current(path: Path, load: Callable[[Path], T]) -> T:
    """`load(path)`, or what it gave for this version of the file. Treat it as read-only:
    every request shares it."""
    try:
        st = path.stat()
    except OSError:
        return load(path)  # raises the loader's own error for a missing file
    return _loaded(path, (st.st_mtime_ns, st.st_size), load)


@functools.lru_cache(maxsize=16)
def _loaded(path: Path, stamp: tuple[int, int], load: Callable[[Path], T]) -> T:
    return load(path)
