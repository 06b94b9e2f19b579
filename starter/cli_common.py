"""What every `mops` command module shares: the consoles, common options, the error-to-exit
mapping (`run_async`, `fail`) and the Temporal client.

`starter.cli`, `starter.cli_privacy` and `starter.cli_reports` all import from here and
never from each other, so none of them needs the others half-imported.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.markup import escape

from domain.refusals import Refused
from mops.settings import Settings, SettingsError, get_settings
from starter.render import make_console
from starter.service.errors import failure

if TYPE_CHECKING:
    from workers.tuning import WorkerConfig

out = make_console()
err = make_console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
EmailOpt = Annotated[str | None, typer.Option("--email", help="The lead's email address.")]
LeadOpt = Annotated[str | None, typer.Option("--lead", help="The lead id (lead-… or the bare key).")]


class CliError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def error_line(message: str) -> None:
    # The message is text, not markup: a field's pattern such as `^[a-z0-9]...$` must show
    # its brackets instead of being read as rich style tags.
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    error_line(message)
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        return get_settings()
    except SettingsError as e:
        fail(str(e))


def worker_settings() -> Settings:
    """Settings for a command that runs the workers: they also need the email footer."""
    s = settings()
    try:
        s.mail_footer()
    except SettingsError as e:
        fail(str(e))
    return s


def upgrade_database(s: Settings) -> None:
    """With `MOPS_DATABASE_URL`, bring its schema up to date before the process serves (as the
    gateway does); an unreachable database stops the command with exit 2, never runs on local files."""
    if s.database_url is None:
        return
    from mops.database import DatabaseUnavailable, upgrade

    try:
        upgrade(s.database_url.get_secret_value())
    except DatabaseUnavailable as e:
        fail(str(e))


def worker_config(s: Settings) -> WorkerConfig:
    """The configuration of a command that runs the workers (workers/tuning.py), or one line and exit 2."""
    from workers.tuning import worker_config as decide

    try:
        return decide(s)
    except SettingsError as e:
        fail(str(e))


def run_async(span_name: str) -> Callable:
    """Run an async command inside one trace span, mapping known errors to one line."""

    def decorate(fn: Callable[..., Coroutine[Any, Any, Any]]) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            from mops.telemetry import setup_tracing, tracer

            provider = setup_tracing("mops-cli")
            try:
                with tracer().start_as_current_span(span_name):
                    return asyncio.run(fn(*args, **kwargs))
            except CliError as e:
                fail(str(e), e.code)
            except RuntimeError as e:
                if "Failed client connect" in str(e) or "connect" in str(e).lower():
                    fail(f"cannot reach Temporal at {settings().temporal_address} (is `mops up` running?)", 1)
                raise
            except Exception as e:
                answer = failure(e)  # the services' one error map: input 2, refused 3, not found 1
                if answer is None:
                    raise
                fail(f"refused: {answer.message}" if isinstance(e, Refused) else answer.message, answer.exit_code)
            finally:
                provider.force_flush()

        return wrapper

    return decorate


async def temporal_client():
    from mops.temporal import connect

    s = settings()
    try:
        return await connect(s)
    except RuntimeError:
        raise CliError(f"cannot reach Temporal at {s.temporal_address} (is `mops up` running?)") from None


def emit(data: Any, as_json: bool, human: Callable[[], object]) -> None:
    if as_json:
        payload = data.model_dump(mode="json") if hasattr(data, "model_dump") else data
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        human()
