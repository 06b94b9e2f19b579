"""mops installs cleanly outside the tree: the wheel builds without a setuptools warning,
holds every package and the data directories, and the installed `mops` finds its data
from a directory that is not a checkout (no path relative to the installed files).

The wheel goes into a fresh venv that sees this environment's dependencies but not the
checkout (its editable finder never runs there), so a module or data file the wheel
lacks fails here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PACKAGES = [p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]]
DATA_DIRS = ("journeys", "policies", "campaigns")


def run(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{cmd[:3]} failed:\n{result.stdout}\n{result.stderr}"
    return result


TEMPLATE_DIRS = ("gateway/templates", "domain/templates")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The wheel, built with the build backend installed here from a copy of what the build
    reads (so the checkout gets no build/ of its), and what the build printed."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    for name in (*PACKAGES, *DATA_DIRS):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    built = run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-v", "-w", str(out), str(source)],
        cwd=out,
    )
    (found,) = out.glob("mops-*.whl")
    return found, built.stdout + built.stderr


@pytest.fixture(scope="module")
def installed(wheel: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; returns its bin/ directory."""
    venv = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], cwd=venv)
    python = venv / "bin" / "python"
    # --system-site-packages sees the base interpreter's packages, not this venv's (the
    # dependencies). They go in as a plain path: site runs no .pth file found there, so the
    # checkout's editable finder, installed by one, stays out of the new venv.
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=venv).stdout.strip()
    here = sysconfig.get_path("purelib")
    Path(site, "mops-test-dependencies.pth").write_text(here + "\n")
    run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel[0])], cwd=venv)
    return venv / "bin"


def clean_env(tmp: Path) -> dict[str, str]:
    """The environment without MOPS_* settings or a PYTHONPATH, with a home of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOPS_") and k != "PYTHONPATH"}
    env.update(HOME=str(tmp), XDG_STATE_HOME=str(tmp / "state"))
    return env


def test_the_wheel_builds_without_setuptools_warnings(wheel: tuple[Path, str]) -> None:
    _, output = wheel
    warnings = [line for line in output.splitlines() if "Warning" in line and "byte-compiling" not in line]
    assert not warnings, "\n".join(warnings)


def test_the_wheel_holds_every_module_the_license_and_the_data(wheel: tuple[Path, str]) -> None:
    names = set(zipfile.ZipFile(wheel[0]).namelist())
    modules = {str(p.relative_to(ROOT)) for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    assert modules - names == set(), "modules missing from the wheel"
    # The approval page's and the reports' HTML templates are package data, not only files
    # in a checkout (the Docker image installs the wheel).
    templates = {str(p.relative_to(ROOT)) for d in TEMPLATE_DIRS for p in (ROOT / d).rglob("*") if p.is_file()}
    assert len(templates) > 10, templates
    assert templates - names == set(), "templates missing from the wheel"
    # The shared database's migrations: `mops db upgrade` from an installed mops applies them.
    migrations = {str(p.relative_to(ROOT)) for p in (ROOT / "mops" / "migrations").glob("*.sql")}
    assert migrations and migrations - names == set(), "migrations missing from the wheel"
    # The data files and the email templates beside them (a journey without its templates
    # does not validate, let alone send).
    data = {
        str(p.relative_to(ROOT))
        for d in DATA_DIRS
        for p in (ROOT / d).rglob("*")
        if p.is_file() and p.suffix in (".yaml", ".html", ".txt", ".png", ".jpg")
    }
    shipped = {n.split(".data/data/share/mops/", 1)[1] for n in names if ".data/data/share/mops/" in n}
    assert data == shipped
    metadata = zipfile.ZipFile(wheel[0]).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def test_installed_mops_validates_the_shipped_journeys_from_any_directory(installed: Path, tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    where = run(
        [str(installed / "python"), "-c", "import mops.settings as m; print(m.__file__)"], cwd=tmp_path, env=env
    )
    assert not where.stdout.strip().startswith(str(ROOT)), "the wheel's mops, not the checkout's"

    result = run([str(installed / "mops"), "journeys", "validate", "--json"], cwd=tmp_path, env=env)

    expected = sorted(p.stem for p in (ROOT / "journeys").glob("*.yaml"))
    assert sorted(j["id"] for j in json.loads(result.stdout)) == expected
    settings = run(
        [
            str(installed / "python"),
            "-c",
            "from mops.settings import load_settings as l; s = l(); print(s.journeys_dir, s.data_dir)",
        ],
        cwd=tmp_path,
        env=env,
    ).stdout.split()
    assert Path(settings[0]) == installed.parent / "share" / "mops" / "journeys"
    assert Path(settings[1]) == tmp_path / "state" / "mops"


def test_installed_mops_prefers_the_current_directory_and_names_a_bad_variable(installed: Path, tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    (tmp_path / "journeys").mkdir()
    for sub in ("scoring", "templates"):
        shutil.copytree(ROOT / "journeys" / sub, tmp_path / "journeys" / sub)
    shutil.copy(ROOT / "journeys" / "default-nurture.yaml", tmp_path / "journeys")

    result = run([str(installed / "mops"), "journeys", "validate", "--json"], cwd=tmp_path, env=env)
    assert [j["id"] for j in json.loads(result.stdout)] == ["default-nurture"]  # not the shipped demo too

    env["MOPS_JOURNEYS_DIR"] = str(tmp_path / "nowhere")
    bad = subprocess.run(
        [str(installed / "mops"), "journeys", "validate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode != 0
    assert f"MOPS_JOURNEYS_DIR: not a directory: {tmp_path / 'nowhere'}" in " ".join((bad.stdout + bad.stderr).split())


def test_installed_mops_workers_use_the_wheels_bytecode(installed: Path, tmp_path: Path) -> None:
    # As in the Docker image: no .pyc written at run time, the wheel's compiled at install.
    # The workers then read those as they are and compile nothing (nor need a writable dir).
    env = {**clean_env(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPYCACHEPREFIX", None)
    printed = json.loads(run([str(installed / "mops"), "worker", "--print-config"], cwd=tmp_path, env=env).stdout)
    assert printed["bytecode_cache"] == "python's own .pyc", printed
    assert printed["tuning"] is True and printed["event_loop"] == "uvloop"
