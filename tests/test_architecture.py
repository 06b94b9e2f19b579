"""The import contracts of pyproject.toml (`[tool.importlinter]`) hold: imports flow one way
from the processes down to domain, no package has a circle, the sandbox and the product
share no code, workflows do no I/O, and the service API loads without the worker.

`lint-imports` reads the code, it runs nothing. The second test breaks a copy of the tree
on purpose, so a contract that stopped checking anything would be noticed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    # No cache: it would be written into the tree, and a stale one could hide a change.
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tree, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_import_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(CONFIG['contracts'])} kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # a back-arrow: an integration reaching up into the workflows
        ("integrations/http.py", "import workflows.common", "integrations is not allowed to import workflows"),
        # a circle inside one package: settings import security, security would import settings
        ("gateway/security.py", "import gateway.settings", "No cycles are allowed in gateway"),
        # a workflow doing HTTP
        ("workflows/common.py", "import httpx", "workflows is not allowed to import httpx"),
        # the sandbox borrowing product code
        ("sandbox/faults.py", "import domain.money", "sandbox is not allowed to import domain"),
    ],
)
def test_an_import_against_the_contracts_fails(tmp_path: Path, module: str, line: str, broken: str) -> None:
    for package in CONFIG["root_packages"]:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")

    result = lint_imports(tmp_path)

    assert result.returncode != 0, result.stdout
    assert broken in result.stdout, result.stdout
