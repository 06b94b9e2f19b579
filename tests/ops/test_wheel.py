"""The wheel (what the Docker image installs with `pip install .`) carries the HTML templates:
the approval page's and the reports' templates are package data, not only files in a checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIRS = ("gateway/templates", "domain/templates")


def test_the_wheel_carries_every_template(tmp_path: Path) -> None:
    # Build from a copy, so the build leaves nothing in the checkout.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    for pattern in packages["include"]:
        shutil.copytree(
            ROOT / pattern.rstrip("*"), src / pattern.rstrip("*"), ignore=shutil.ignore_patterns("__pycache__")
        )
    out = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = out.glob("mops-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {p.relative_to(ROOT).as_posix() for d in TEMPLATE_DIRS for p in (ROOT / d).rglob("*") if p.is_file()}
    assert len(templates) > 10, templates
    assert templates <= names, sorted(templates - names)
