"""The gateway's policy files are parsed once per version of the file: an edit is read by
the next request, and a missing or invalid file is refused every time, never kept."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.policy_files import current


def test_a_file_is_loaded_once_per_version_and_an_edit_is_read_next(tmp_path: Path) -> None:
    path = tmp_path / "forms.yaml"
    loads: list[str] = []

    def load(p: Path) -> str:
        text = p.read_text()
        if "bad" in text:
            raise ValueError("forms: bad")
        loads.append(text)
        return text

    path.write_text("one")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    assert current(path, load) == current(path, load) == "one"
    assert loads == ["one"], "the same version is parsed once"

    path.write_text("two")  # the same size: the modification time tells it apart
    os.utime(path, ns=(2_000_000_000, 2_000_000_000))
    assert current(path, load) == "two" and loads == ["one", "two"]

    path.write_text("bad")
    os.utime(path, ns=(3_000_000_000, 3_000_000_000))
    for _ in range(2):
        with pytest.raises(ValueError, match="forms: bad"):
            current(path, load)

    path.unlink()
    for _ in range(2):
        with pytest.raises(FileNotFoundError):
            current(path, load)
