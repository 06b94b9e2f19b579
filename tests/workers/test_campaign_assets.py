"""Where workers read ad images from (MOPS_CAMPAIGN_ASSETS): no default a worker elsewhere
could use, a wrong directory refused at start naming the variable, and the embedded stack
(`mops up`, `mops demo`), whose CLI sits beside its workers, reading the project's campaigns."""

from __future__ import annotations

from pathlib import Path

import pytest

from mops.settings import Settings, SettingsError, load_settings
from starter.stack import embedded_settings

ROOT = Path(__file__).resolve().parents[2]


def test_a_worker_has_no_assets_directory_unless_told():
    assert Settings(campaigns_dir=ROOT / "campaigns").campaign_assets is None


def test_a_directory_that_is_not_there_is_refused_naming_the_variable(tmp_path: Path):
    with pytest.raises(SettingsError) as err:
        load_settings(campaign_assets=tmp_path / "nope")
    assert str(err.value) == f"MOPS_CAMPAIGN_ASSETS: not a directory: {tmp_path / 'nope'}"


def test_the_embedded_stack_reads_the_projects_campaigns_unless_told_otherwise(tmp_path: Path):
    plain = Settings(campaigns_dir=ROOT / "campaigns")
    assert embedded_settings(plain).campaign_assets == ROOT / "campaigns"
    told = Settings(campaigns_dir=ROOT / "campaigns", campaign_assets=tmp_path)
    assert embedded_settings(told).campaign_assets == tmp_path
