"""The CLI answers every refusal code with exit code 3 and the one line naming the field,
and other service errors with their own exit codes, all from starter.service.errors."""

from __future__ import annotations

import pytest

from domain.refusals import Refusal, Refused
from starter.service.content import ContentInputError, ContentNotFound, ContentService
from tests.e2e.conftest import Stack
from tests.e2e.test_cli import run_cli

REWORDED = "nothing to stop; authors cannot decide on their own content"


@pytest.mark.parametrize(
    ("error", "exit_code", "line"),
    [
        *[(Refused(code, REWORDED), 3, f"error: refused: {Refused(code, REWORDED).message}") for code in Refusal],
        (ContentInputError("revision: must be 1 or more"), 2, "error: revision: must be 1 or more"),
        (ContentNotFound("content: no item 'x'"), 1, "error: content: no item 'x'"),
    ],
    ids=[*(code.value for code in Refusal), "invalid_input", "not_found"],
)
async def test_each_service_error_has_its_exit_code(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, error: Exception, exit_code: int, line: str
) -> None:
    async def failing(self, content_id: str, **_) -> None:
        raise error

    monkeypatch.setattr(ContentService, "decide", failing)
    result = await run_cli(stack, "content", "approve", "some-item", "--as", "omar")
    assert result.exit_code == exit_code, result.output
    assert result.output.strip() == line
